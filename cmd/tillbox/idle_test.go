package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment/sim"
)

// idleFor is how long BenchmarkIdle watches the idle box.
const idleFor = 20 * time.Second

// BenchmarkIdle is a till box doing nothing: the tillbox binary (built
// here, as `make build` builds it, without the static flags) runs with a
// configuration of the tests' kind against the simulator on loopback, its
// customer display on; once it is serving, nothing happens for 20 s.
// idle-cpu-% is the CPU time it used in that time (user + system, from
// /proc) over the wall time; rss-MB its VmRSS at the end, peak-rss-MB its
// VmHWM. Goals (issue 6): RSS under 20 MB, CPU under 1 % of a core.
//
//	go test -run '^$' -bench Idle -benchtime 1x ./cmd/tillbox/
func BenchmarkIdle(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Fatal("reads /proc: Linux only")
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "tillbox")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	s := sim.New(sim.Options{})
	simHTTP := httptest.NewServer(s)
	defer func() { simHTTP.Close(); s.Close() }()
	cfg := testConfig(b, dir, simHTTP.URL, "127.0.0.1:0", "")
	var cpu, rss, hwm float64
	for b.Loop() {
		cmd := exec.Command(bin, "run", "--config", cfg)
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		var logs bytes.Buffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(out) // the log, then the notices
		for sc.Scan() && !strings.Contains(sc.Text(), "POS API on") {
		}
		if sc.Err() != nil || !strings.Contains(sc.Text(), "POS API on") {
			b.Fatalf("tillbox run did not start: %q\n%s", sc.Text(), logs.String())
		}
		go func() {
			for sc.Scan() {
			}
		}()
		time.Sleep(time.Second) // start-up done
		t0, err := procCPU(cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		time.Sleep(idleFor)
		t1, err := procCPU(cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		wall := time.Since(start)
		st, err := procStatusKB(cmd.Process.Pid, "VmRSS", "VmHWM")
		if err != nil {
			b.Fatal(err)
		}
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		cpu += float64(t1-t0) / float64(wall) * 100
		rss += float64(st["VmRSS"]) / 1024
		hwm += float64(st["VmHWM"]) / 1024
	}
	n := float64(b.N)
	b.ReportMetric(cpu/n, "idle-cpu-%")
	b.ReportMetric(rss/n, "rss-MB")
	b.ReportMetric(hwm/n, "peak-rss-MB")
}

// procCPU is a process's user + system CPU time so far.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q %q", pid, f[11], f[12])
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / hz, nil
}

// procStatusKB reads kB figures from /proc/PID/status.
func procStatusKB(pid int, keys ...string) (map[string]int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for line := range strings.SplitSeq(string(data), "\n") {
		for _, k := range keys {
			if v, ok := strings.CutPrefix(line, k+":"); ok {
				n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				if err != nil {
					return nil, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
				}
				out[k] = n
			}
		}
	}
	for _, k := range keys {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("/proc/%d/status has no %s", pid, k)
		}
	}
	return out, nil
}
