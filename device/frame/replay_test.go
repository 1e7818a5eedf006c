package frame

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .want files of testdata/streams")

// TestReplay replays the recorded streams of testdata/streams: NAME.in is
// the bytes a scanner sent, the terminator is the part of NAME before the
// first dash ("stx-etx" in NAME strips an STX prefix and an ETX suffix), and
// NAME.want holds the frames, one Go-quoted string a line, then the number
// of dropped frames. Each stream is fed whole, byte by byte and in random
// chunks: the result must be the same.
func TestReplay(t *testing.T) {
	ins, err := filepath.Glob("testdata/streams/*.in")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no recorded streams: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			c := Config{Terminator: term(t, strings.SplitN(name, "-", 2)[0])}
			if strings.Contains(name, "stx-etx") {
				c.Affixes = Affixes{"\x02", "\x03"}
			}
			var golden string
			rng := rand.New(rand.NewPCG(1, uint64(len(data))))
			for i, sizes := range [][]int{{len(data)}, {1}, {rng.IntN(9) + 1, rng.IntN(100) + 1, rng.IntN(3000) + 1}} {
				s := mustNew(t, c)
				var b strings.Builder
				for _, f := range feedChunks(s, data, sizes...) {
					b.WriteString(strconv.Quote(f) + "\n")
				}
				fmt.Fprintf(&b, "dropped %d\n", s.Dropped())
				if i == 0 {
					golden = b.String()
				} else if b.String() != golden {
					t.Fatalf("chunks %v give\n%s\nwhole gives\n%s", sizes, b.String(), golden)
				}
			}
			wantFile := strings.TrimSuffix(in, ".in") + ".want"
			if *update {
				if err := os.WriteFile(wantFile, []byte(golden), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if golden != string(want) {
				t.Errorf("got\n%s\nwant\n%s", golden, want)
			}
		})
	}
}
