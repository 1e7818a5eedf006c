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

// BenchmarkPeakRSSDraining100kCommands: draining 100 000 queued commands of
// 1 KB reads through some 150 MB of file. The store's RSS must follow its
// working set, not the file (the agent's budget for the whole process is
// 64 MB). A child process drains the file and reports its peak RSS, which is
// reported as peak-RSS-MB.
//
//	go test -run '^$' -bench PeakRSS -benchtime 1x ./store/
func BenchmarkPeakRSSDraining100kCommands(b *testing.B) {
	body := json.RawMessage(`{"receipt":"` + strings.Repeat("x", 1000) + `"}`)
	path := buildFixture(b, func(tx *Tx, i int) error {
		c := testCommand(fmt.Sprintf("till-1-%08d", i), "capture")
		c.Body = body
		return tx.Enqueue(c)
	}, 100_000)
	fi, _ := os.Stat(path)
	var kb int
	for b.Loop() {
		copyPath := filepath.Join(b.TempDir(), "drain.db")
		copyFile(b, path, copyPath)
		child, stdin, out := startChild(b, "drain", copyPath)
		stdin.Close()
		if !out.Scan() {
			b.Fatalf("the child said nothing: %v", out.Err())
		}
		if err := child.Wait(); err != nil {
			b.Fatalf("child: %v", err)
		}
		var err error
		if kb, err = strconv.Atoi(out.Text()); err != nil {
			b.Fatalf("the child said %q", out.Text())
		}
	}
	b.ReportMetric(float64(kb)/1024, "peak-RSS-MB")
	b.ReportMetric(float64(fi.Size())/(1<<20), "file-MB")
}
