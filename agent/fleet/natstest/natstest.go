// Package natstest starts real nats-server processes on 127.0.0.1 for tests:
// a single node ([Start]) or a cluster ([StartCluster]), JetStream on every
// node with its store in the test's temporary folder, optionally TLS with a
// certificate authority made for the test and a WebSocket listener, and the
// users of the chain tier: headquarters with every permission and one user
// per box with exactly [wire.BoxPermissions]. A node can be killed with
// SIGKILL and restarted on the same ports with the same store. The server is
// built from the Go module go.mod requires ([Binary]); its log is printed
// when the test fails.
package natstest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// Options say what the servers offer.
type Options struct {
	// TLS makes the client and WebSocket listeners TLS only, with a server
	// certificate for 127.0.0.1 and localhost signed by a CA made for the
	// test ([Server.CAFile]).
	TLS bool
	// WebSocket adds a WebSocket listener (wss:// with TLS, ws:// without).
	WebSocket bool
	// Tills get a user each, allowed wire.BoxPermissions and nothing more.
	Tills []wire.Till
}

// env is what the nodes of one server or cluster share: the test, the
// options, the CA and the users.
type env struct {
	t           testing.TB
	opts        Options
	bin         string
	dir         string
	ca          *testCA
	hq          Creds
	boxes       map[wire.Till]Creds
	clusterName string
	nodes       []*Server
}

func newEnv(t testing.TB, opts Options, n int) *env {
	t.Helper()
	e := &env{t: t, opts: opts, bin: Binary(t), dir: t.TempDir(), hq: newCreds("hq"), boxes: map[wire.Till]Creds{}}
	for _, till := range opts.Tills {
		if err := till.Check(); err != nil {
			t.Fatalf("natstest: %v", err)
		}
		c := newCreds(till.String())
		c.InboxPrefix = till.InboxPrefix()
		e.boxes[till] = c
	}
	if opts.TLS {
		ca, err := newTestCA(e.dir)
		if err != nil {
			t.Fatalf("natstest: test CA: %v", err)
		}
		e.ca = ca
	}
	if n > 1 {
		e.clusterName = "tillbox-test"
	}
	for i := range n {
		s := &Server{env: e, index: i, name: fmt.Sprintf("n%d", i), log: &tailBuffer{}}
		s.dir = filepath.Join(e.dir, s.name)
		if err := os.MkdirAll(s.dir, 0o700); err != nil {
			t.Fatalf("natstest: %v", err)
		}
		e.nodes = append(e.nodes, s)
	}
	t.Cleanup(e.cleanup)
	return e
}

// cleanup stops every node and, when the test failed, prints their logs.
func (e *env) cleanup() {
	for _, s := range e.nodes {
		s.stop()
	}
	if e.t.Failed() {
		for _, s := range e.nodes {
			e.t.Logf("nats-server %s (%s) log:\n%s", s.name, s.dir, s.log.String())
		}
	}
}

// HQ is headquarters' user: every permission in the account.
func (e *env) HQ() Creds { return e.hq }

// Box is till's user; the test fails when Options.Tills lacks till.
func (e *env) Box(till wire.Till) Creds {
	c, ok := e.boxes[till]
	if !ok {
		e.t.Fatalf("natstest: no user for %s: list it in Options.Tills", till)
	}
	return c
}

// CAFile is the PEM file of the test CA (empty without TLS): a client's
// only root.
func (e *env) CAFile() string {
	if e.ca == nil {
		return ""
	}
	return e.ca.caFile
}

// ConnectOptions are the nats.go options for c: user and password, the
// test CA as the only root with TLS, the box's inbox prefix, and
// reconnecting for ever, every 100 ms.
func (e *env) ConnectOptions(c Creds) []nats.Option {
	o := []nats.Option{
		nats.UserInfo(c.User, c.Password), nats.Name("natstest " + c.User),
		nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond),
	}
	if e.ca != nil {
		o = append(o, nats.Secure(e.ca.clientConfig()))
	}
	if c.InboxPrefix != "" {
		o = append(o, nats.CustomInboxPrefix(c.InboxPrefix))
	}
	return o
}

// Connect connects to urls (comma-separated) as c with ConnectOptions and
// more; the connection is closed when the test ends.
func (e *env) Connect(t testing.TB, urls string, c Creds, more ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(urls, append(e.ConnectOptions(c), more...)...)
	if err != nil {
		t.Fatalf("natstest: connect to %s as %s: %v", urls, c.User, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Server is one nats-server process.
type Server struct {
	*env
	index int
	name  string
	dir   string
	ports ports
	log   *tailBuffer
	proc  *process
}

// Start starts a single nats-server with JetStream and waits until
// JetStream is enabled. It is stopped when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	e := newEnv(t, opts, 1)
	e.startAll()
	return e.nodes[0]
}

// Name is the node's server_name (n0, n1, ...), as JetStream names peers
// and leaders.
func (s *Server) Name() string { return s.name }

// URL is the node's client URL: tls://127.0.0.1:port with TLS, else
// nats://127.0.0.1:port.
func (s *Server) URL() string {
	scheme := "nats"
	if s.ca != nil {
		scheme = "tls"
	}
	return scheme + "://" + hostPort(s.ports.client)
}

// WebSocketURL is the node's WebSocket URL (wss:// with TLS), empty
// without Options.WebSocket.
func (s *Server) WebSocketURL() string {
	if !s.opts.WebSocket {
		return ""
	}
	scheme := "ws"
	if s.ca != nil {
		scheme = "wss"
	}
	return scheme + "://" + hostPort(s.ports.ws)
}

// MonitorURL is the node's monitoring endpoint (http://127.0.0.1:port).
func (s *Server) MonitorURL() string { return "http://" + hostPort(s.ports.http) }

// Log is what the node has written to stderr so far (its tail).
func (s *Server) Log() string { return s.log.String() }

// Kill kills the node with SIGKILL and waits until it is gone.
func (s *Server) Kill() {
	s.t.Helper()
	if s.proc != nil {
		s.proc.kill()
	}
}

// Stop stops the node (SIGTERM, SIGKILL when it does not exit in time) and
// waits until it is gone.
func (s *Server) Stop() { s.stop() }

// Restart stops the node if it runs, starts it again on the same ports
// with the same store, and waits until it is ready again (in a cluster:
// until the running nodes have formed the cluster again, the node a
// current peer of JetStream's meta group).
func (s *Server) Restart() {
	s.t.Helper()
	s.stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("natstest: restart %s: %v\n%s", s.name, err, s.log.String())
	}
	if err := s.waitReady(); err != nil {
		s.t.Fatalf("natstest: restart %s: %v\n%s", s.name, err, s.log.String())
	}
	if len(s.nodes) > 1 {
		if err := s.waitFormed(); err != nil {
			s.t.Fatalf("natstest: restart %s: %v", s.name, err)
		}
	}
}

// Running reports whether the node's process runs.
func (s *Server) Running() bool { return s.proc != nil && !s.proc.exited() }

// storeDir is the node's JetStream store_dir (the server adds "jetstream").
func (s *Server) storeDir() string { return s.dir }
func (s *Server) confFile() string { return filepath.Join(s.dir, "nats-server.conf") }

func (s *Server) stop() {
	if s.proc != nil {
		s.proc.stop()
	}
}

// Cluster is a cluster of nats-server processes routed on loopback, with
// JetStream on every node.
type Cluster struct {
	*env
}

// StartCluster starts n nodes routed to each other in one cluster and
// waits until the cluster has formed: every node routed to every other and
// healthy, all naming the same JetStream meta leader, which counts every
// other node as a current peer. They are stopped when the test ends.
func StartCluster(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("natstest: a cluster of %d nodes", n)
	}
	e := newEnv(t, opts, n)
	e.startAll()
	return &Cluster{env: e}
}

// Servers are the nodes, in order.
func (c *Cluster) Servers() []*Server { return c.nodes }

// Server is node i.
func (c *Cluster) Server(i int) *Server { return c.nodes[i] }

// Index is the index of the node named name (a JetStream peer or leader
// name), or -1.
func (c *Cluster) Index(name string) int {
	for i, s := range c.nodes {
		if s.name == name {
			return i
		}
	}
	return -1
}

// Kill kills node i with SIGKILL.
func (c *Cluster) Kill(i int) { c.nodes[i].Kill() }

// Restart restarts node i on its ports with its store and waits until it
// has rejoined.
func (c *Cluster) Restart(i int) { c.nodes[i].Restart() }

// Stop stops every node.
func (c *Cluster) Stop() {
	for _, s := range c.nodes {
		s.stop()
	}
}

// URLs are the client URLs of every node, comma-separated as nats.Connect
// takes them.
func (c *Cluster) URLs() string {
	var u []string
	for _, s := range c.nodes {
		u = append(u, s.URL())
	}
	return strings.Join(u, ",")
}

// WebSocketURLs are the WebSocket URLs of every node, comma-separated.
func (c *Cluster) WebSocketURLs() string {
	var u []string
	for _, s := range c.nodes {
		u = append(u, s.WebSocketURL())
	}
	return strings.Join(u, ",")
}
