package frame

import (
	"bytes"
	"slices"
	"testing"

	"github.com/tillbox/tillbox/device"
)

// reference splits in all at once by the rules of Splitter, with
// bytes.Split: the pieces between terminators, the last one incomplete.
func reference(in []byte, term string, max int) (frames [][]byte, dropped uint64) {
	pieces := bytes.Split(in, []byte(term))
	// The last piece is incomplete; it counts as dropped once it is over
	// max, not counting a byte that may begin the terminator.
	last := pieces[len(pieces)-1]
	if term == "\r" && len(pieces) > 1 {
		last = bytes.TrimPrefix(last, []byte("\n"))
	}
	m := 0
	if len(term) == 2 && bytes.HasSuffix(last, []byte(term[:1])) {
		m = 1
	}
	if len(last)-m > max {
		dropped++
	}
	pieces = pieces[:len(pieces)-1]
	for i, p := range pieces {
		if term == "\r" && i > 0 {
			p = bytes.TrimPrefix(p, []byte("\n"))
		}
		if len(p) > max {
			dropped++
			continue
		}
		if term == "\n" {
			p = bytes.TrimSuffix(p, []byte("\r"))
		}
		if len(p) > 0 {
			frames = append(frames, p)
		}
	}
	return frames, dropped
}

// FuzzSplitter checks the streaming Splitter against reference, for each
// terminator, with the input fed in chunks the fuzzer chooses. Its
// interesting inputs are kept in testdata/fuzz/FuzzSplitter.
func FuzzSplitter(f *testing.F) {
	f.Add([]byte(vipps+"\r"), uint8(0), uint8(3))
	f.Add([]byte("a\r\nb\r\n\r\n"), uint8(2), uint8(1))
	f.Add([]byte("a\r\r\nb\r\r"), uint8(0), uint8(2))
	f.Add([]byte("\xff\x00\r\n\n\r"), uint8(1), uint8(5))
	f.Add(bytes.Repeat([]byte("x\r"), 40), uint8(2), uint8(7))
	f.Add(append(bytes.Repeat([]byte{0xff}, 70), "\r\nok\r\n"...), uint8(2), uint8(9))
	f.Fuzz(func(t *testing.T, in []byte, which, chunk uint8) {
		const max = 32
		terms := []string{"\r", "\n", "\r\n"}
		tm := terms[int(which)%len(terms)]
		s, err := New(Config{Terminator: device.Terminator{Bytes: tm}, Max: max})
		if err != nil {
			t.Fatal(err)
		}
		size := int(chunk)%17 + 1
		var got [][]byte
		for rest := in; len(rest) > 0; {
			n := min(size, len(rest))
			for _, fr := range s.Feed(rest[:n], t0) {
				if len(fr.Data) == 0 || len(fr.Data) > max {
					t.Fatalf("frame of %d bytes", len(fr.Data))
				}
				got = append(got, fr.Data)
			}
			rest = rest[n:]
		}
		want, dropped := reference(in, tm, max)
		if !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("terminator %q, chunks of %d: got %q, want %q", tm, size, got, want)
		}
		if s.Dropped() != dropped {
			t.Fatalf("dropped %d, want %d", s.Dropped(), dropped)
		}
		if s.Buffered() > max+len(tm) {
			t.Fatalf("buffered %d bytes", s.Buffered())
		}
	})
}
