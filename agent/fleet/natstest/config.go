package natstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/tillbox/tillbox/agent/fleet/natsconf"
)

// Creds are a NATS user's name and password. A box's carry its inbox prefix
// (wire.Till.InboxPrefix), which its permissions require.
type Creds struct {
	User, Password string
	// InboxPrefix is empty for headquarters.
	InboxPrefix string
}

func newCreds(user string) Creds {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return Creds{User: user, Password: hex.EncodeToString(b)}
}

// ports are a node's listeners on 127.0.0.1; zero when not used.
type ports struct {
	client, http, ws, route int
}

// pickPorts is freePorts; a test of the retry replaces it.
var pickPorts = freePorts

// freePorts reserves n ports on 127.0.0.1 at once (so that they differ),
// then frees them for the server. Another process may take one in between:
// Start retries with new ports when the server says so.
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	out := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func hostPort(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }

// writeConfig writes node s's configuration file (JSON, which the NATS
// configuration format accepts).
func (s *Server) writeConfig() error {
	e := s.env
	tlsBlock := map[string]any{}
	if e.ca != nil {
		tlsBlock = map[string]any{"cert_file": e.ca.certFile, "key_file": e.ca.keyFile, "timeout": 5}
	}
	conf := map[string]any{
		"server_name": s.name,
		"listen":      hostPort(s.ports.client),
		"http":        hostPort(s.ports.http),
		"jetstream":   map[string]any{"store_dir": s.storeDir()},
		"accounts":    e.account(),
	}
	if e.ca != nil {
		conf["tls"] = tlsBlock
	}
	if e.opts.WebSocket {
		ws := map[string]any{"listen": hostPort(s.ports.ws)}
		if e.ca != nil {
			ws["tls"] = tlsBlock
		} else {
			ws["no_tls"] = true
		}
		conf["websocket"] = ws
	}
	if len(e.nodes) > 1 {
		var routes []string
		for _, o := range e.nodes {
			if o != s {
				routes = append(routes, "nats-route://"+hostPort(o.ports.route))
			}
		}
		conf["cluster"] = map[string]any{"name": e.clusterName, "listen": hostPort(s.ports.route), "routes": routes}
	}
	b, err := natsconf.Encode(conf)
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.confFile(), b, 0o600); err != nil {
		return fmt.Errorf("natstest: write %s: %w", s.confFile(), err)
	}
	return nil
}

// account is the account block: headquarters with every permission, each
// box with wire.BoxPermissions (natsconf renders it).
func (e *env) account() map[string]any {
	boxes := make([]natsconf.Box, 0, len(e.opts.Tills))
	for _, t := range e.opts.Tills {
		c := e.boxes[t]
		boxes = append(boxes, natsconf.Box{Till: t, User: natsconf.User{Name: c.User, Password: c.Password}})
	}
	return natsconf.Accounts(natsconf.User{Name: e.hq.User, Password: e.hq.Password}, boxes)
}
