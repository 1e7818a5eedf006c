package natstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// readyTimeout bounds the wait for a node to be ready; on a busy 2-core
// machine a cluster elects its meta leader within seconds, this is only
// there so that a broken start fails instead of hanging.
const readyTimeout = 2 * time.Minute

// stopTimeout is how long a node may take to shut down on SIGTERM before it
// is killed.
const stopTimeout = 30 * time.Second

// errPortInUse says a listener's port was taken between choosing it and
// the server binding it.
var errPortInUse = errors.New("a port was taken")

// process is one run of nats-server.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's, valid once done is closed
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Kill() // it may have just exited
	}
	<-p.done
}

func (p *process) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM) // it may have just exited
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.kill()
	}
}

// startAll starts every node and waits until all are ready; when a port
// was taken it tries again with new ones.
func (e *env) startAll() {
	e.t.Helper()
	for attempt := 1; ; attempt++ {
		err := e.tryStartAll()
		if err == nil {
			return
		}
		for _, s := range e.nodes {
			if s.proc != nil {
				s.proc.kill()
			}
		}
		if !errors.Is(err, errPortInUse) || attempt == 5 {
			for _, s := range e.nodes {
				e.t.Logf("nats-server %s log:\n%s", s.name, s.log.String())
			}
			e.t.Fatalf("natstest: start: %v", err)
		}
		for _, s := range e.nodes {
			// A fresh store: nothing of the failed attempt may linger.
			if err := os.RemoveAll(filepath.Join(s.storeDir(), "jetstream")); err != nil {
				e.t.Fatalf("natstest: %v", err)
			}
			s.log.Reset()
		}
	}
}

func (e *env) tryStartAll() error {
	per := 2 // client and monitoring
	if e.opts.WebSocket {
		per++
	}
	if len(e.nodes) > 1 {
		per++
	}
	free, err := pickPorts(per * len(e.nodes))
	if err != nil {
		return err
	}
	for _, s := range e.nodes {
		next := func() int { p := free[0]; free = free[1:]; return p }
		s.ports = ports{client: next(), http: next()}
		if e.opts.WebSocket {
			s.ports.ws = next()
		}
		if len(e.nodes) > 1 {
			s.ports.route = next()
		}
	}
	for _, s := range e.nodes {
		if err := s.writeConfig(); err != nil {
			return err
		}
	}
	for _, s := range e.nodes {
		if err := s.start(); err != nil {
			return err
		}
	}
	for _, s := range e.nodes {
		if err := s.waitReady(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	if len(e.nodes) > 1 {
		return e.waitFormed()
	}
	return nil
}

// start starts the node's process (it must not run).
func (s *Server) start() error {
	cmd := exec.Command(s.bin, "-c", s.confFile())
	cmd.Dir = s.dir
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	// The server must not outlive a test binary that dies (a timeout panic).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.proc = p
	return nil
}

// waitReady polls the node's monitoring endpoint until JetStream is
// enabled (a single node), or until the node knows JetStream's meta leader
// and says it is healthy (a cluster node: current with the meta group and
// its streams). It fails at once when the process exits.
func (s *Server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = s.ready(ctx, client); last == nil {
			return nil
		}
		select {
		case <-s.proc.done:
			if strings.Contains(s.log.String(), "address already in use") {
				return errPortInUse
			}
			return fmt.Errorf("nats-server exited before it was ready: %v", s.proc.err)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %v", readyTimeout, last)
		case <-tick.C:
		}
	}
}

func (s *Server) ready(ctx context.Context, client *http.Client) error {
	if len(s.nodes) == 1 {
		return s.get(ctx, client, "/healthz?js-enabled-only=true", nil)
	}
	if _, err := s.metaLeader(ctx, client); err != nil {
		return err
	}
	return s.get(ctx, client, "/healthz", nil)
}

// metaLeader is the name of JetStream's meta leader as the node sees it.
func (s *Server) metaLeader(ctx context.Context, client *http.Client) (string, error) {
	var jsz struct {
		Meta *struct {
			Leader string `json:"leader"`
		} `json:"meta_cluster"`
	}
	if err := s.get(ctx, client, "/jsz", &jsz); err != nil {
		return "", err
	}
	if jsz.Meta == nil || jsz.Meta.Leader == "" {
		return "", errors.New("JetStream has no meta leader yet")
	}
	return jsz.Meta.Leader, nil
}

// WaitMetaLeader waits until the running nodes form a cluster again (see
// waitFormed): after a node was killed, JetStream's API answers
// "temporarily unavailable" (10008), or not at all, until every node names
// the same running meta leader and that leader counts the others current.
func (c *Cluster) WaitMetaLeader() {
	c.t.Helper()
	if err := c.waitFormed(); err != nil {
		c.t.Fatalf("natstest: %v", err)
	}
}

// get fetches path from the monitoring endpoint; a status other than 200
// is an error; the JSON body goes into v when v is not nil.
func (s *Server) get(ctx context.Context, client *http.Client, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.MonitorURL()+path, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	if v != nil {
		return json.Unmarshal(body, v)
	}
	return nil
}

// tailBuffer keeps the last 256 KiB written to it, safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 256 << 10

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - tailMax; over > 0 {
		b.buf = append(b.buf[:0:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func (b *tailBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = nil
}
