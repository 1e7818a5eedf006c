package posapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/store"
)

// qrCode is a personal QR code the simulator knows.
const qrCode = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"

// rigOptions configure a rig; the zero value is a fast sales unit: the
// simulated customer approves after 50 ms, the agent polls every 100 ms.
type rigOptions struct {
	agent agent.Options
	sim   sim.Options
	store store.Options
	// noRun leaves the agent's loops stopped: commands stay queued.
	noRun bool
	// server adjusts the POS API server (its keepalive) before it serves.
	server func(*server)
	// httpTimeout, when set, is the http.Server's ReadTimeout and
	// WriteTimeout.
	httpTimeout time.Duration
	// before, when set, makes the database file at path before the rig
	// opens it (storetest.DamageEvent marks a file damaged on purpose).
	before func(t testing.TB, path string)
}

// rig is the whole stack on loopback: the till of agent/agenttest (the
// simulator over real HTTP, a real bbolt file, a real agent with its
// loops), and the POS API over real HTTP behind a client that checks every
// exchange against openapi.yaml.
type rig struct {
	t      testing.TB
	db     *store.DB
	agent  *agent.Agent
	sim    *sim.Server
	api    *server
	url    string // the POS API's base URL
	token  epayment.Secret
	logs   *agenttest.Logs
	spec   *apiSpec
	hc     *http.Client // validating
	client *Client      // over hc
	// stopStreams ends the base context of the POS API's requests, as a
	// shutdown does.
	stopStreams context.CancelFunc
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, spec: loadSpec(t), token: epayment.Secret("pos-" + randomHex(16))}
	if o.sim.App.Action == 0 {
		o.sim.App = sim.AppPolicy{Action: sim.Approve, Delay: 50 * time.Millisecond}
	}
	ao := o.agent
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&ao.PollDelay, 100*time.Millisecond)
	def(&ao.PollEvery, 100*time.Millisecond)
	def(&ao.RetryBase, 50*time.Millisecond)
	def(&ao.RetryMax, time.Second)
	path := filepath.Join(t.TempDir(), "tillbox.db")
	if o.before != nil {
		o.before(t, path)
	}
	k := agenttest.New(t, agenttest.Options{Sim: o.sim, Agent: ao, Store: o.store, Path: path, NoRun: o.noRun})
	r.db, r.agent, r.sim, r.logs = k.DB, k.Agent, k.Sim, k.Logs

	r.api = newServer(r.agent, r.token, k.Log.With("part", "posapi"))
	if o.server != nil {
		o.server(r.api)
	}
	base, stop := context.WithCancel(context.Background())
	r.stopStreams = stop
	srv := httptest.NewUnstartedServer(r.api)
	srv.Config.BaseContext = func(net.Listener) context.Context { return base }
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = o.httpTimeout, o.httpTimeout
	srv.Start()
	t.Cleanup(func() {
		stop()
		srv.Close()
		r.checkLogs()
	})
	r.url = srv.URL
	r.hc = &http.Client{Transport: &validatingTransport{spec: r.spec, tb: t, next: srv.Client().Transport}}
	r.client = &Client{BaseURL: r.url, Token: r.token, HTTPClient: r.hc}
	return r
}

// checkLogs fails the test when the token, or any token a test sent,
// appears in the logs.
func (r *rig) checkLogs() {
	logs := r.logs.String()
	for _, secret := range append([]string{r.token.Reveal()}, sentTokens...) {
		if strings.Contains(logs, secret) {
			r.t.Errorf("a token appears in the logs:\n%s", logs)
		}
	}
}

// sentTokens are the wrong tokens tests sent; none may be logged either.
var sentTokens = []string{"wrong-token-a7f3", "Basic-dXNlcjpwYXNz"}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// call is one raw request.
type call struct {
	method, path string
	body         []byte // nil: none
	ct           string // Content-Type; "" is application/json when there is a body, "-" none
	auth         string // Authorization; "" is the rig's bearer token, "-" none
	malformed    bool   // deliberately wrong: the request is not checked against the document
	ctx          context.Context
}

// answer is what came back.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) error(t testing.TB) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(a.body, &e); err != nil || e.Code == "" || e.Message == "" {
		t.Fatalf("answer %d is not an error: %s", a.status, a.body)
	}
	return e
}

func (r *rig) send(c call) answer {
	r.t.Helper()
	ctx := c.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if c.malformed {
		ctx = withMalformed(ctx)
	}
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, r.url+c.path, body)
	if err != nil {
		r.t.Fatal(err)
	}
	switch c.ct {
	case "":
		if c.body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
	case "-":
	default:
		req.Header.Set("Content-Type", c.ct)
	}
	switch c.auth {
	case "":
		req.Header.Set("Authorization", "Bearer "+r.token.Reveal())
	case "-":
	default:
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func jsonOf(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode[T any](t testing.TB, a answer) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("answer %d: %v: %s", a.status, err, a.body)
	}
	return v
}

// sale is a good sale request of amount NOK with the QR code.
func sale(ref string, amount int64) agent.SaleRequest {
	return agent.SaleRequest{Reference: ref, Amount: amount, Currency: "NOK", Description: "Groceries",
		Customer: &agent.Customer{PersonalQR: qrCode}}
}

// waitState waits until the sale is in one of the states.
func (r *rig) waitState(ref string, states ...agent.State) agent.Sale {
	r.t.Helper()
	var s agent.Sale
	defer func() {
		if !slices.Contains(states, s.State) {
			r.t.Logf("sale %s is %s (message %q)", ref, s.State, s.Message)
		}
	}()
	agenttest.Until(r.t, fmt.Sprintf("sale %s to be one of %v", ref, states), func() bool {
		var err error
		s, err = r.client.GetSale(context.Background(), ref)
		if err != nil {
			r.t.Fatal(err)
		}
		return slices.Contains(states, s.State)
	})
	return s
}

// nothingWritten checks that no sale and no event exist.
func (r *rig) nothingWritten() {
	r.t.Helper()
	sales, err := r.agent.ListSales("", 0)
	if err != nil {
		r.t.Fatal(err)
	}
	st, err := r.agent.Status()
	if err != nil {
		r.t.Fatal(err)
	}
	if len(sales) != 0 || st.LastSeq != 0 || st.Queued != 0 {
		r.t.Fatalf("a refused request wrote: %d sales, last seq %d, %d queued", len(sales), st.LastSeq, st.Queued)
	}
}

// simIgnore is a simulator whose customer never acts on a push.
func simIgnore() sim.Options {
	return sim.Options{App: sim.AppPolicy{Action: sim.Ignore}}
}
