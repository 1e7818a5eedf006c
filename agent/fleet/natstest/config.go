package natstest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// account is the one NATS account of headquarters and every box, with
// JetStream enabled.
const account = "TILLBOX"

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
		"accounts":    map[string]any{account: e.account()},
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
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep the '>' of wildcards as it is
	enc.SetIndent("", "  ")
	if err := enc.Encode(conf); err != nil {
		return err
	}
	if err := os.WriteFile(s.confFile(), b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("natstest: write %s: %w", s.confFile(), err)
	}
	return nil
}

// account is the account block: headquarters with every permission, each
// box with wire.BoxPermissions.
func (e *env) account() map[string]any {
	users := []map[string]any{{"user": e.hq.User, "password": e.hq.Password}}
	for _, t := range e.opts.Tills {
		c := e.boxes[t]
		p := wire.BoxPermissions(t)
		users = append(users, map[string]any{
			"user":     c.User,
			"password": c.Password,
			"permissions": map[string]any{
				"publish":   map[string]any{"allow": p.Publish},
				"subscribe": map[string]any{"allow": p.Subscribe},
			},
		})
	}
	return map[string]any{"jetstream": "enabled", "users": users}
}
