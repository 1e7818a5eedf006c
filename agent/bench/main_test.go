package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/gcpolicy"
)

// The test binary doubles as the child processes of the benchmarks: run with
// roleEnv set, it plays that part instead of running tests. A child talks
// to the benchmark in lines: it prints what it has to say on stdout, reads
// requests on stdin, and ends when its stdin closes.
const (
	roleEnv = "TILLBOX_BENCH_ROLE" // roleSim or roleAgent

	roleSim   = "sim"   // the simulator on loopback
	roleAgent = "agent" // a till box: store, agent, POS API
)

var errUnsupported = errors.New("bench: Linux only")

func TestMain(m *testing.M) {
	// The benchmarks measure the agent with the garbage collector as
	// tillbox runs it (agent/gcpolicy), in this process and in an agent
	// child; the simulator child keeps Go's default.
	switch role := os.Getenv(roleEnv); role {
	case "":
		gcpolicy.Apply()
		os.Exit(m.Run())
	case roleSim:
		os.Exit(simChild())
	case roleAgent:
		gcpolicy.Apply()
		os.Exit(agentChild())
	default:
		fmt.Fprintf(os.Stderr, "bench: unknown child role %q\n", role)
		os.Exit(2)
	}
}

// child is a running child process. stop ends it (closing its stdin, then
// killing it if it does not exit in time) and reaps it; stop also runs in
// the test's cleanup.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string   // its stdout, line by line; closed at its end
	quit  chan struct{} // closed by stop: what the child still says is dropped

	reader   sync.WaitGroup
	stopOnce sync.Once
	err      error
}

// startChild runs the test binary in role with the extra environment env.
func startChild(tb testing.TB, role string, env ...string) *child {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(append(os.Environ(), roleEnv+"="+role), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, lines: make(chan string, 16), quit: make(chan struct{})}
	c.reader.Go(func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case c.lines <- sc.Text():
			case <-c.quit:
			}
		}
	})
	tb.Cleanup(func() {
		if err := c.stop(); err != nil {
			tb.Errorf("child %s: %v", role, err)
		}
	})
	return c
}

// Pid is the child's process id.
func (c *child) Pid() int { return c.cmd.Process.Pid }

// expect waits for the child's next line, which must start with word, and
// returns the rest of it.
func (c *child) expect(tb testing.TB, word string, timeout time.Duration) string {
	tb.Helper()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case line, ok := <-c.lines:
		if !ok {
			tb.Fatalf("the child ended before saying %q", word)
		}
		rest, found := strings.CutPrefix(line, word+" ")
		if !found {
			tb.Fatalf("the child said %q, want %q first", line, word)
		}
		return rest
	case <-t.C:
		tb.Fatalf("the child said nothing in %v (waiting for %q)", timeout, word)
	}
	return ""
}

// send writes one line to the child's stdin.
func (c *child) send(tb testing.TB, line string) {
	tb.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		tb.Fatal(err)
	}
}

// stop closes the child's stdin, waits up to 30 s for it to exit, then
// kills it; it always reaps it. It returns how the child ended: nil for a
// clean exit.
func (c *child) stop() error {
	c.stopOnce.Do(func() {
		_ = c.stdin.Close()
		close(c.quit)
		exited := make(chan error, 1)
		var waiter sync.WaitGroup
		waiter.Go(func() {
			c.reader.Wait() // Wait must follow the last read of stdout
			exited <- c.cmd.Wait()
		})
		t := time.NewTimer(30 * time.Second)
		defer t.Stop()
		select {
		case c.err = <-exited:
		case <-t.C:
			_ = c.cmd.Process.Kill()
			c.err = errors.Join(errors.New("did not exit within 30 s: killed"), <-exited)
		}
		waiter.Wait()
	})
	return c.err
}
