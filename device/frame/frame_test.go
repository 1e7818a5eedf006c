package frame

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/device"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const vipps = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"

func mustNew(t testing.TB, c Config) *Splitter {
	t.Helper()
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func term(t testing.TB, s string) device.Terminator {
	t.Helper()
	tm, err := device.ParseTerminator(s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func datas(fs []Frame) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, string(f.Data))
	}
	return out
}

// feedChunks feeds in in pieces of the given sizes (cycled), all at t0.
func feedChunks(s *Splitter, in []byte, sizes ...int) []string {
	var out []string
	for i := 0; len(in) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(in))
		out = append(out, datas(s.Feed(in[:n], t0))...)
		in = in[n:]
	}
	return out
}

func TestTerminators(t *testing.T) {
	for _, tc := range []struct {
		name, term string
		in         string
		want       []string
	}{
		{"CR", "CR", vipps + "\r", []string{vipps}},
		{"LF", "LF", vipps + "\n", []string{vipps}},
		{"CRLF", "CRLF", vipps + "\r\n", []string{vipps}},
		{"CR joined", "CR", "a1\rb2\rc3\r", []string{"a1", "b2", "c3"}},
		{"LF joined", "LF", "a1\nb2\nc3\n", []string{"a1", "b2", "c3"}},
		{"CRLF joined", "CRLF", "a1\r\nb2\r\nc3\r\n", []string{"a1", "b2", "c3"}},
		{"unterminated tail waits", "CR", "a1\rb2", []string{"a1"}},
		{"empty frames skipped", "CR", "\r\ra\r\r", []string{"a"}},
		{"CR setting, CRLF scanner", "CR", "a\r\nb\r\n", []string{"a", "b"}},
		{"LF setting, CRLF scanner", "LF", "a\r\nb\r\n", []string{"a", "b"}},
		{"CR setting keeps LF inside", "CR", "a\nb\r", []string{"a\nb"}},
		{"CRLF keeps lone CR", "CRLF", "a\rb\r\n", []string{"a\rb"}},
		{"CRLF keeps lone LF", "CRLF", "a\nb\r\n", []string{"a\nb"}},
		{"CRLF after CR CR", "CRLF", "a\r\r\nb\r\n", []string{"a\r", "b"}},
		{"LF setting trims only one CR", "LF", "a\r\r\n", []string{"a\r"}},
		{"not UTF-8 kept", "CR", "\xff\xfe\x00bl\xe5b\xe6r\r", []string{"\xff\xfe\x00bl\xe5b\xe6r"}},
		{"NUL and controls kept", "LF", "\x00\x01\x02\x1b[A\n", []string{"\x00\x01\x02\x1b[A"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			// Whole, byte by byte, and in chunks of 2, 3 and 7 bytes: all the same.
			for _, sizes := range [][]int{{len(in)}, {1}, {2}, {3}, {7}, {1, 5, 2}} {
				s := mustNew(t, Config{Terminator: term(t, tc.term)})
				got := feedChunks(s, in, sizes...)
				if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
					t.Errorf("chunks %v: got %q, want %q", sizes, got, tc.want)
				}
				if s.Dropped() != 0 {
					t.Errorf("chunks %v: dropped %d", sizes, s.Dropped())
				}
			}
		})
	}
}

func TestFrameTime(t *testing.T) {
	s := mustNew(t, Config{Terminator: term(t, "CRLF")})
	if fs := s.Feed([]byte("abc\r"), t0); len(fs) != 0 {
		t.Fatalf("frame before the LF: %q", datas(fs))
	}
	t1 := t0.Add(3 * time.Millisecond)
	fs := s.Feed([]byte("\nde"), t1)
	if len(fs) != 1 || string(fs[0].Data) != "abc" || !fs[0].At.Equal(t1) {
		t.Fatalf("got %+v, want abc at the LF's time", fs)
	}
}

func TestFramesOwnTheirBytes(t *testing.T) {
	s := mustNew(t, Config{Terminator: term(t, "CR")})
	fs := s.Feed([]byte("first\r"), t0)
	s.Feed([]byte("XXXXXXXX\r"), t0)
	if string(fs[0].Data) != "first" {
		t.Fatalf("frame changed by later input: %q", fs[0].Data)
	}
}

func TestOversize(t *testing.T) {
	const max = 16
	ok := strings.Repeat("x", max)
	long := strings.Repeat("y", max+1)
	huge := strings.Repeat("z", 10*max)
	for _, tc := range []struct {
		name, term, in string
		want           []string
		dropped        uint64
	}{
		{"exactly max", "CR", ok + "\r", []string{ok}, 0},
		{"exactly max CRLF", "CRLF", ok + "\r\n", []string{ok}, 0},
		{"exactly max LF", "LF", ok + "\n", []string{ok}, 0},
		{"one over", "CR", long + "\r", nil, 1},
		{"one over CRLF", "CRLF", long + "\r\n", nil, 1},
		{"resync CR", "CR", "a\r" + huge + "\rb\r", []string{"a", "b"}, 1},
		{"resync CRLF", "CRLF", "a\r\n" + huge + "\r\nb\r\n", []string{"a", "b"}, 1},
		{"resync LF", "LF", huge + "\n" + huge + "\nc\n", []string{"c"}, 2},
		{"CR inside a dropped CRLF frame", "CRLF", huge + "\r" + huge + "\r\nd\r\n", []string{"d"}, 1},
		{"dropped frame ends in CR CR LF", "CRLF", huge + "\r\r\ne\r\n", []string{"e"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			for _, sizes := range [][]int{{len(in)}, {1}, {3}, {max + 1}} {
				s := mustNew(t, Config{Terminator: term(t, tc.term), Max: max})
				got := feedChunks(s, in, sizes...)
				if strings.Join(got, "|") != strings.Join(tc.want, "|") {
					t.Errorf("chunks %v: got %q, want %q", sizes, got, tc.want)
				}
				if s.Dropped() != tc.dropped {
					t.Errorf("chunks %v: dropped %d, want %d", sizes, s.Dropped(), tc.dropped)
				}
				if s.Buffered() > max+1 {
					t.Errorf("buffered %d bytes, more than the bound", s.Buffered())
				}
			}
		})
	}
}

func TestDefaultMaxIs4KiB(t *testing.T) {
	s := mustNew(t, Config{Terminator: term(t, "CR")})
	ok := bytes.Repeat([]byte("a"), 4096)
	if fs := s.Feed(append(ok, '\r'), t0); len(fs) != 1 || len(fs[0].Data) != 4096 {
		t.Fatalf("4096-byte frame not delivered whole")
	}
	if fs := s.Feed(append(append(ok, 'b'), '\r'), t0); len(fs) != 0 || s.Dropped() != 1 {
		t.Fatalf("4097-byte frame: got %d frames, dropped %d", len(fs), s.Dropped())
	}
}

func TestAffixes(t *testing.T) {
	for _, tc := range []struct {
		name           string
		prefix, suffix string
		in             string
		want           []string
	}{
		{"both", "]Q1", "#", "]Q1" + vipps + "#\r", []string{vipps}},
		{"absent kept", "]Q1", "#", vipps + "\r", []string{vipps}},
		{"prefix only", "\x02", "", "\x02abc\r", []string{"abc"}},
		{"suffix only", "", "\x03", "abc\x03\r", []string{"abc"}},
		{"only affixes is no scan", "<", ">", "<>\r<x>\r", []string{"x"}},
		{"inside kept", "<", ">", "a<b>c\r", []string{"a<b>c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustNew(t, Config{Terminator: term(t, "CR"), Affixes: Affixes{tc.prefix, tc.suffix}})
			got := feedChunks(s, []byte(tc.in), 1)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestIdle(t *testing.T) {
	s := mustNew(t, Config{Terminator: term(t, "idle:50ms"), Max: 8})
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	if _, ok := s.Deadline(); ok {
		t.Fatal("deadline with nothing pending")
	}
	// A scan in three reads 10 ms apart, not split.
	for i, p := range []string{"ab", "cd", "ef"} {
		if fs := s.Feed([]byte(p), ms(10*i)); len(fs) != 0 {
			t.Fatalf("frame within the gap: %q", datas(fs))
		}
	}
	if d, ok := s.Deadline(); !ok || !d.Equal(ms(70)) {
		t.Fatalf("deadline %v %v, want 70ms", d, ok)
	}
	if _, ok := s.Tick(ms(69)); ok {
		t.Fatal("frame before the gap ended")
	}
	f, ok := s.Tick(ms(70))
	if !ok || string(f.Data) != "abcdef" || !f.At.Equal(ms(20)) {
		t.Fatalf("Tick = %q %v at %v, want abcdef at 20ms", f.Data, ok, f.At)
	}
	if _, ok := s.Tick(ms(200)); ok {
		t.Fatal("second frame from one gap")
	}
	// Feed after a gap ends the previous frame before taking the new bytes.
	s.Feed([]byte("gh"), ms(300))
	fs := s.Feed([]byte("ij"), ms(400))
	if got := datas(fs); len(got) != 1 || got[0] != "gh" {
		t.Fatalf("got %q, want [gh]", got)
	}
	// Oversize: dropped up to the next gap.
	s.Feed([]byte("0123456789"), ms(500)) // ends "ij", then overflows
	s.Feed([]byte("more"), ms(510))
	if _, ok := s.Tick(ms(600)); ok || s.Dropped() != 1 {
		t.Fatalf("oversize frame delivered or not counted (dropped %d)", s.Dropped())
	}
	s.Feed([]byte("ok"), ms(700))
	if f, ok := s.Tick(ms(800)); !ok || string(f.Data) != "ok" {
		t.Fatalf("no resync after oversize: %q %v", f.Data, ok)
	}
	// Idle frames keep CR and LF: they are data.
	s.Feed([]byte("a\r\nb"), ms(900))
	if f, _ := s.Tick(ms(1000)); string(f.Data) != "a\r\nb" {
		t.Fatalf("got %q", f.Data)
	}
}

func TestReset(t *testing.T) {
	s := mustNew(t, Config{Terminator: term(t, "CRLF"), Max: 4})
	s.Feed([]byte("abc\r"), t0)
	s.Reset()
	if fs := s.Feed([]byte("\nxy\r\n"), t0); strings.Join(datas(fs), "|") != "\nxy" {
		t.Fatalf("after Reset: %q", datas(fs))
	}
	s.Feed([]byte("toolong"), t0)
	s.Reset()
	if fs := s.Feed([]byte("ok\r\n"), t0); strings.Join(datas(fs), "|") != "ok" {
		t.Fatalf("after Reset of a dropped frame: %q", datas(fs))
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Config{}); err != ErrNoTerminator {
		t.Errorf("no terminator: %v", err)
	}
	if _, err := New(Config{Terminator: device.Terminator{Bytes: "\r", Idle: time.Second}}); err == nil {
		t.Error("bytes and idle: no error")
	}
}

func TestMultiByteTerminator(t *testing.T) {
	// Any byte sequence works, with overlaps: "aab" inside "aaab".
	s := mustNew(t, Config{Terminator: device.Terminator{Bytes: "aab"}})
	got := feedChunks(s, []byte("xaaabyaabaab"), 1)
	if strings.Join(got, "|") != "xa|y" {
		t.Fatalf("got %q, want [xa y]", got)
	}
}
