package hidreport

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// descriptor is one file of testdata/descriptors: the bytes of a report
// descriptor in hex, "#" comments, and a "# want PAGE:USAGE" or
// "# want error TEXT" line.
type descriptor struct {
	name      string
	data      []byte
	want      string // "0x008c:0x0002", or "" when an error is wanted
	wantError string
}

func readDescriptors(t testing.TB) []descriptor {
	t.Helper()
	files, err := filepath.Glob("testdata/descriptors/*.hex")
	if err != nil || len(files) == 0 {
		t.Fatalf("no descriptors in testdata: %v", err)
	}
	var out []descriptor
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := descriptor{name: filepath.Base(f)}
		var digits strings.Builder
		for line := range strings.SplitSeq(string(text), "\n") {
			code, comment, _ := strings.Cut(line, "#")
			if w, ok := strings.CutPrefix(strings.TrimSpace(comment), "want "); ok {
				if e, isErr := strings.CutPrefix(w, "error "); isErr {
					d.wantError = e
				} else {
					d.want = w
				}
			}
			digits.WriteString(strings.Join(strings.Fields(code), ""))
		}
		if d.data, err = hex.DecodeString(digits.String()); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.want == "" && d.wantError == "" {
			t.Fatalf("%s has no \"# want\" line", f)
		}
		out = append(out, d)
	}
	return out
}

func TestTopLevel(t *testing.T) {
	for _, d := range readDescriptors(t) {
		u, err := TopLevel(d.data)
		switch {
		case d.wantError != "":
			if err == nil || !strings.Contains(err.Error(), d.wantError) {
				t.Errorf("%s: %v, %v; want an error with %q", d.name, u, err, d.wantError)
			}
		case err != nil || u.String() != d.want:
			t.Errorf("%s: %v, %v; want %s", d.name, u, err, d.want)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		hex  string
		want error
	}{
		{"", ErrNoCollection},
		{"0501", ErrNoCollection},
		{"06", ErrTruncated},
		{"07010000", ErrTruncated},
		{"fe", ErrTruncated},
		{"a101", ErrNoUsagePage},
		{"0500a101", ErrNoUsagePage},
	} {
		b, _ := hex.DecodeString(tc.hex)
		if _, err := TopLevel(b); !errors.Is(err, tc.want) {
			t.Errorf("%q: %v, want %v", tc.hex, err, tc.want)
		}
	}
}

// FuzzTopLevel: any bytes give an answer without panicking; an answer
// does not depend on what follows the collection; a descriptor that parses
// cleanly to its end without a collection gets one when a Collection item
// is appended.
func FuzzTopLevel(f *testing.F) {
	for _, d := range readDescriptors(f) {
		f.Add(d.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := TopLevel(data)
		switch {
		case err == nil:
			if u.Page == 0 {
				t.Fatalf("%x: usage page 0 without an error", data)
			}
			u2, err2 := TopLevel(append(bytes.Clone(data), 0x05, 0x99, 0xa1, 0x01))
			if err2 != nil || u2 != u {
				t.Fatalf("%x: %v; with more after it %v, %v", data, u, u2, err2)
			}
		case errors.Is(err, ErrNoCollection):
			_, err2 := TopLevel(append(bytes.Clone(data), 0xa1, 0x01))
			if err2 != nil && !errors.Is(err2, ErrNoUsagePage) {
				t.Fatalf("%x + Collection: %v", data, err2)
			}
		}
	})
}
