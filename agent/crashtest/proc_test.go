package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// agentProcess is one life of the agent: a child process started on the
// data directory, later killed with SIGKILL and reaped.
type agentProcess struct {
	cmd     *exec.Cmd
	stdin   io.Closer
	url     string        // the base URL of its POS API
	exited  chan struct{} // closed once the process is reaped
	waitErr error         // what Wait returned; read after exited
}

// startAgent starts the agent process and waits (up to timeout) until it
// listens. Its stdout and stderr go to logw, which must be an *os.File or
// safe for concurrent writes.
func startAgent(cfg childConfig, logw io.Writer, timeout time.Duration) (*agentProcess, error) {
	env, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	ready := &readyWatcher{w: logw, ready: make(chan string, 1)}
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.timeout=0")
	cmd.Env = append(os.Environ(), childEnv+"="+string(env))
	cmd.Stdout = ready
	cmd.Stderr = logw
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the agent process: %w", err)
	}
	p := &agentProcess{cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	go func() { // owned by p: it ends when the process does, which kill ensures
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case p.url = <-ready.ready:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("the agent process %d exited before it listened: %v", cmd.Process.Pid, p.waitErr)
	case <-timer.C:
		p.kill()
		return nil, fmt.Errorf("the agent process %d did not listen within %v", cmd.Process.Pid, timeout)
	}
}

// pid is the process id.
func (p *agentProcess) pid() int { return p.cmd.Process.Pid }

// kill sends SIGKILL and reaps the process. It reports an error when the
// process had already exited by itself: the agent must run until killed.
func (p *agentProcess) kill() error {
	select {
	case <-p.exited:
		_ = p.stdin.Close()
		return fmt.Errorf("the agent process %d exited by itself: %v", p.pid(), p.waitErr)
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	_ = p.stdin.Close()
	return nil
}

// readyWatcher passes a child's output on to w and sends the URL of the
// first ready line on ready.
type readyWatcher struct {
	w     io.Writer
	ready chan string
	mu    sync.Mutex
	line  []byte // the start of the current line, until the ready one
	found bool
}

func (r *readyWatcher) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.found {
		r.line = append(r.line, b...)
		for {
			i := bytes.IndexByte(r.line, '\n')
			if i < 0 {
				break
			}
			line := string(r.line[:i])
			r.line = r.line[i+1:]
			if url, ok := strings.CutPrefix(line, readyPrefix); ok {
				r.found, r.line = true, nil
				r.ready <- url
				break
			}
		}
	}
	return r.w.Write(b)
}

// endpoint is where the POS finds the agent: the URL of the running agent
// process, "" while there is none.
type endpoint struct {
	mu      sync.Mutex
	url     string
	changed chan struct{} // closed at the next change
}

func newEndpoint() *endpoint { return &endpoint{changed: make(chan struct{})} }

func (e *endpoint) set(url string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.url = url
	close(e.changed)
	e.changed = make(chan struct{})
}

// get returns the current URL and a channel closed when it changes.
func (e *endpoint) get() (string, <-chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.url, e.changed
}

// await returns the agent's URL, waiting while there is none until ctx ends.
func (e *endpoint) await(ctx context.Context) (string, error) {
	for {
		url, changed := e.get()
		if url != "" {
			return url, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// afterFailure waits, after a call to url failed, until another agent
// process is up, or at most max (the failure may not have been a kill).
func (e *endpoint) afterFailure(ctx context.Context, url string, max time.Duration) {
	timer := time.NewTimer(max)
	defer timer.Stop()
	for {
		cur, changed := e.get()
		if cur != url && cur != "" {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}
