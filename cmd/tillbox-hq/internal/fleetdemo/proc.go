package fleetdemo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one run of a program (a box or headquarters): in a process group
// of its own, killed with the orchestrator if it dies, its output (stdout
// and stderr, line by line) kept in a tail, copied to a writer with its
// name in front, and shown to a watcher.
type proc struct {
	name string
	pid  int
	done chan struct{} // closed when the process has exited and its output is read
	err  error         // its exit, once done is closed
}

// startProc starts bin with args in dir. Each line of its output goes to
// tail, to out (when not nil) as "name | line", and to watch (when not
// nil).
func startProc(name, bin string, args []string, dir string, env []string, tail *tailBuffer, out io.Writer, watch func(string)) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	// Its own process group, so that a kill reaches everything it started;
	// and never outliving the orchestrator.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, bin, err)
	}
	w.Close() // the child holds its copy
	p := &proc{name: name, pid: cmd.Process.Pid, done: make(chan struct{})}
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			tail.WriteLine(line)
			if out != nil {
				fmt.Fprintf(out, "%-14s| %s\n", name, line)
			}
			if watch != nil {
				watch(line)
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		// The output ends when every process holding the pipe has gone;
		// a grandchild might keep it: do not wait for it for ever.
		select {
		case <-read:
		case <-time.After(2 * time.Second):
		}
		p.err = err
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill kills the process group with SIGKILL and waits until the process
// has exited.
func (p *proc) kill() {
	_ = syscall.Kill(-p.pid, syscall.SIGKILL) // it may have exited already
	<-p.done
}

// stop asks the process to stop (SIGTERM) and waits up to timeout, then
// kills it. It reports the exit status of a stop that was not clean.
func (p *proc) stop(timeout time.Duration) error {
	if p.exited() {
		return nil
	}
	_ = syscall.Kill(p.pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s did not stop within %v after SIGTERM: killed", p.name, timeout)
	}
}

// exitError describes how a process ended, for an error message.
func (p *proc) exitError() error {
	if p.err == nil {
		return errors.New("exited with status 0")
	}
	return p.err
}

// tailBuffer keeps the last lines written to it (about 256 KiB), safe for
// concurrent use.
type tailBuffer struct {
	mu    sync.Mutex
	lines []string
	size  int
}

const tailMax = 256 << 10

// WriteLine adds one line.
func (b *tailBuffer) WriteLine(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, s)
	b.size += len(s) + 1
	for b.size > tailMax && len(b.lines) > 1 {
		b.size -= len(b.lines[0]) + 1
		b.lines = b.lines[1:]
	}
}

// String is the lines kept, each ending in a newline.
func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.lines) == 0 {
		return ""
	}
	return strings.Join(b.lines, "\n") + "\n"
}
