package store

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// peakRSSkB is this process's peak resident set, in kB.
func peakRSSkB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return -1
}

// Draining 100 000 queued commands of 1 KB reads through some 150 MB of
// file. The store's RSS must follow its working set, not the file: the
// agent's budget for the whole process is 64 MB.
func TestPeakRSSDraining100kCommands(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("a resource measurement: builds a 150 MB file; meaningless under -race")
	}
	body := json.RawMessage(`{"receipt":"` + strings.Repeat("x", 1000) + `"}`)
	path := buildFixture(t, func(tx *Tx, i int) error {
		c := testCommand(fmt.Sprintf("till-1-%08d", i), "capture")
		c.Body = body
		return tx.Enqueue(c)
	}, 100_000)
	child, stdin, out := startChild(t, "drain", filepath.Clean(path))
	stdin.Close()
	if !out.Scan() {
		t.Fatalf("the child said nothing: %v", out.Err())
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	kb, err := strconv.Atoi(out.Text())
	if err != nil {
		t.Fatalf("the child said %q", out.Text())
	}
	fi, _ := os.Stat(path)
	t.Logf("peak RSS %d MB draining a %d MB file", kb>>10, fi.Size()>>20)
	if kb > 48<<10 {
		t.Errorf("peak RSS %d MB, want at most 48 MB for the store", kb>>10)
	}
	mustVerifyFile(t, path)
}
