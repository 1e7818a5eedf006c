package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment/sim"
)

// TestJournaldPriorities runs `tillbox run` as a child process with its
// stdout on a file: when $JOURNAL_STREAM names that file, each log line
// starts with its syslog priority and has no time of its own (SIGUSR1's
// notice is a warning: <4>); when it names another stream, the log is as
// it always was.
func TestJournaldPriorities(t *testing.T) {
	s := sim.New(sim.Options{})
	simHTTP := httptest.NewServer(s)
	t.Cleanup(func() { simHTTP.Close(); s.Close() })

	for _, journald := range []bool{true, false} {
		t.Run(fmt.Sprintf("journald=%v", journald), func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, dir, simHTTP.URL, "127.0.0.1:0", "")
			out, err := os.Create(filepath.Join(dir, "stdout"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			stream := "1:1" // not this file
			if journald {
				fi, err := out.Stat()
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				stream = fmt.Sprintf("%d:%d", st.Dev, st.Ino)
			}
			cmd := exec.Command(os.Args[0], "run", "--config", cfg)
			cmd.Env = append(os.Environ(), "TILLBOX_TEST_AS_TILLBOX=1", "JOURNAL_STREAM="+stream)
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() }) // when the test failed before stopping it
			read := func() string {
				b, err := os.ReadFile(out.Name())
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
			waitFor := func(what string) {
				t.Helper()
				deadline := time.Now().Add(30 * time.Second)
				for !strings.Contains(read(), what) {
					if time.Now().After(deadline) {
						t.Fatalf("the log never said %q:\n%s", what, read())
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			waitFor(`msg="tillbox running"`)
			if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
				t.Fatal(err)
			}
			waitFor(`msg="log level changed"`)
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("tillbox run: %v\n%s", err, read())
			}

			logged := read()
			records := 0
			for l := range strings.SplitSeq(logged, "\n") {
				if !strings.Contains(l, "msg=") {
					continue // a notice, or the end
				}
				records++
				hasTime := strings.Contains(l, "time=")
				switch {
				case journald && strings.Contains(l, `msg="tillbox running"`) && !strings.HasPrefix(l, "<6>level=INFO "),
					journald && strings.Contains(l, `msg="log level changed"`) && !strings.HasPrefix(l, "<4>level=WARN "),
					journald && (hasTime || !strings.HasPrefix(l, "<")),
					!journald && (!strings.HasPrefix(l, "time=") || strings.HasPrefix(l, "<")):
					t.Errorf("log line %q", l)
				}
			}
			if records < 3 {
				t.Errorf("%d log lines:\n%s", records, logged)
			}
		})
	}
}
