package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/agent/posapi"
)

// The secret headquarters holds (the simulator accepts no other); the
// subscription key is testConfig's, on the box as on headquarters.
const (
	brokerSecret = "client-secret-of-the-tests"
	brokerSubKey = "subscription-key-of-the-tests"
	// tokenLife is the simulator's token life: long enough for a sale or
	// two on a busy machine, short enough to outlive in a test.
	tokenLife = 10 * time.Second
)

// broker plays headquarters' token broker: it holds the client secret,
// fetches tokens from the simulator, and answers the chain's token
// subjects in the queue group while started.
type broker struct {
	t     *testing.T
	nc    *nats.Conn
	vipps *epayment.Client

	mu    sync.Mutex
	sub   *nats.Subscription
	given []string
	exp   time.Time
}

func startBroker(t *testing.T, ns *natstest.Server, simURL string) *broker {
	t.Helper()
	v, err := epayment.New(epayment.Config{BaseURL: simURL, ClientID: "6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d",
		ClientSecret: brokerSecret, SubscriptionKey: brokerSubKey, MSN: "123456"})
	if err != nil {
		t.Fatal(err)
	}
	b := &broker{t: t, nc: ns.Connect(t, ns.URL(), ns.HQ()), vipps: v}
	b.start()
	return b
}

func (b *broker) start() {
	b.t.Helper()
	sub, err := b.nc.QueueSubscribe(wire.TokenSubjects("acme"), wire.TokenQueue, b.answer)
	if err == nil {
		err = b.nc.Flush()
	}
	if err != nil {
		b.t.Fatal(err)
	}
	b.mu.Lock()
	b.sub = sub
	b.mu.Unlock()
}

func (b *broker) stop() {
	b.t.Helper()
	b.mu.Lock()
	sub := b.sub
	b.mu.Unlock()
	if err := sub.Unsubscribe(); err != nil {
		b.t.Fatal(err)
	}
	if err := b.nc.Flush(); err != nil {
		b.t.Fatal(err)
	}
}

func (b *broker) answer(m *nats.Msg) {
	var req wire.TokenRequest
	_ = json.Unmarshal(m.Data, &req)
	b.mu.Lock()
	var refused epayment.Secret
	if len(b.given) > 0 && !req.After.IsZero() && req.After.Equal(b.exp) {
		refused = epayment.Secret(b.given[len(b.given)-1])
	}
	b.mu.Unlock()
	r := wire.TokenReply{MSN: req.MSN}
	tok, exp, err := b.vipps.AccessToken(context.Background(), refused)
	if err != nil {
		r.Code, r.Message = wire.TokenUnavailable, "Vipps MobilePay does not answer"
	} else {
		r.Token, r.ExpiresAt = tok.Reveal(), exp
		b.mu.Lock()
		b.given, b.exp = append(b.given, tok.Reveal()), exp
		b.mu.Unlock()
	}
	_ = m.Respond(r.Marshal())
}

func (b *broker) tokens() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.given...)
}

// brokerBox runs `tillbox run` for till with [fleet]; withSecret keeps
// the client secret on the box (to fall back on), else it has none.
func brokerBox(t *testing.T, ns *natstest.Server, simURL string, till wire.Till, withSecret bool) (*posapi.Client, *agenttest.Logs, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(t, dir, simURL, "127.0.0.1:0", "")
	box := ns.Box(till)
	editFile(t, cfg, func(s string) string {
		if !withSecret {
			s = strings.Replace(s, "client_secret = \""+brokerSecret+"\"\n", "", 1)
			s = strings.Replace(s, "client_id = \"6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d\"\n", "", 1)
		}
		s = strings.Replace(s, `till = "t1"`, fmt.Sprintf("till = %q", till.Till), 1)
		return s + fmt.Sprintf("\n[fleet]\nchain = %q\nstore = %q\nservers = [%q]\nuser = %q\npassword = %q\nca_file = %q\nheartbeat = \"1s\"\n",
			till.Chain, till.Store, ns.URL(), box.User, box.Password, ns.CAFile())
	})
	logs := &agenttest.Logs{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"run", "--config", cfg}, logs, logs) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("tillbox run did not stop\n%s", logs)
		}
	})
	url := waitPrinted(t, logs, done, `POS API on (http://127\.0\.0\.1:\d+)/api/v1/`)
	return &posapi.Client{BaseURL: url, Token: testToken}, logs, cfg
}

// untilSale waits for the sale's state (long bound: a busy machine).
func untilSale(t *testing.T, c *posapi.Client, logs *agenttest.Logs, ref string, want agent.State) agent.Sale {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s, err := c.GetSale(t.Context(), ref)
		if err != nil {
			t.Fatal(err)
		}
		if s.State == want {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sale %s is %s, want %s\n%s", ref, s.State, want, logs)
		}
		time.Sleep(10 * time.Millisecond) // the agent's polling is 20 ms
	}
}

// heartbeat waits for till's heartbeat at headquarters to satisfy ok.
func heartbeat(t *testing.T, js jetstream.JetStream, till wire.Till, what string, ok func(wire.Heartbeat) bool) wire.Heartbeat {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	hb, err := js.Stream(ctx, wire.HeartbeatStream)
	if err != nil {
		t.Fatal(err)
	}
	var h wire.Heartbeat
	for {
		if m, err := hb.GetLastMsgForSubject(ctx, till.HeartbeatSubject()); err == nil {
			h = wire.Heartbeat{}
			_ = json.Unmarshal(m.Data, &h)
			if ok(h) {
				return h
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("no heartbeat with %s; the last: %+v", what, h)
		}
		time.Sleep(100 * time.Millisecond) // heartbeats come every second
	}
}

// TestRunTokenBroker: boxes take payments with the token headquarters'
// broker gives. A box without a client secret sells with it; with the
// broker gone for longer than a token's life it sells while its token is
// valid, then its sales queue, and they go through once the broker is
// back. A box with its own secret falls back on it. The heartbeat says
// where each token comes from and until when; no secret nor token in a
// log.
func TestRunTokenBroker(t *testing.T) {
	t1 := wire.Till{Chain: "acme", Store: "oslo-1", Till: "t1"}
	t2 := wire.Till{Chain: "acme", Store: "oslo-1", Till: "t2"}
	ns := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{t1, t2}})
	ctx := t.Context()
	js, err := jetstream.New(ns.Connect(t, ns.URL(), ns.HQ()))
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []jetstream.StreamConfig{
		{Name: wire.JournalStream, Subjects: []string{"tillbox.*.journal.>"}, AllowDirect: true, Duplicates: time.Minute},
		{Name: wire.RelayStream, Subjects: []string{"tillbox.*.relay.>"}},
		{Name: wire.HeartbeatStream, Subjects: []string{"tillbox.*.heartbeat.>"}, MaxMsgsPerSubject: 1, AllowDirect: true},
	} {
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	vs := sim.New(sim.Options{ClientSecret: brokerSecret, SubscriptionKey: brokerSubKey, TokenLifetime: tokenLife,
		App: sim.AppPolicy{Action: sim.Approve, Delay: 30 * time.Millisecond}})
	simHTTP := httptest.NewServer(vs)
	t.Cleanup(func() { simHTTP.Close(); vs.Close() })
	b := startBroker(t, ns, simHTTP.URL)
	sale := func(c *posapi.Client, amount int64) string {
		t.Helper()
		s, _, err := c.CreateSale(ctx, agent.SaleRequest{Amount: amount, Currency: "NOK", Customer: &agent.Customer{PersonalQR: personalQR}})
		if err != nil {
			t.Fatal(err)
		}
		return s.Reference
	}

	c1, logs1, cfg1 := brokerBox(t, ns, simHTTP.URL, t1, false)
	var all []string
	t.Run("no secret on the box", func(t *testing.T) {
		untilSale(t, c1, logs1, sale(c1, 4990), agent.Completed)
		h := heartbeat(t, js, t1, "a token from headquarters", func(h wire.Heartbeat) bool {
			return h.TokenSource == wire.TokenFromHQ && h.TokenExpires.After(time.Now())
		})
		if len(b.tokens()) == 0 {
			t.Fatal("the broker gave no token")
		}

		// The broker goes away; the token the box holds goes on (the box
		// has no other way to a token: this sale completes with it).
		b.stop()
		given := len(b.tokens())
		untilSale(t, c1, logs1, sale(c1, 5990), agent.Completed)
		if len(b.tokens()) != given {
			t.Fatal("the broker gave a token while stopped")
		}

		// Past its expiry, sales wait in the queue: nothing is lost.
		h = heartbeat(t, js, t1, "the token's expiry", func(h wire.Heartbeat) bool { return !h.TokenExpires.IsZero() })
		time.Sleep(time.Until(h.TokenExpires)) // the token's expiry is the event
		queued := sale(c1, 6990)
		untilSale(t, c1, logs1, queued, agent.Queued)
		st, err := c1.Status(ctx)
		if err != nil || st.Queued < 1 {
			t.Fatalf("status with no token: %+v %v", st, err)
		}

		// The broker is back: the queue drains.
		b.start()
		untilSale(t, c1, logs1, queued, agent.Completed)
		heartbeat(t, js, t1, "a new token from headquarters", func(h wire.Heartbeat) bool {
			return h.TokenSource == wire.TokenFromHQ && h.TokenExpires.After(time.Now())
		})

		// The doctor asks headquarters too, and says what happens then.
		var out agenttest.Logs
		_ = run(ctx, []string{"doctor", "--config", cfg1, "--user", "root"}, &out, io.Discard)
		all = append(all, out.String())
		if !strings.Contains(out.String(), "the access token comes from headquarters (valid until") ||
			!strings.Contains(out.String(), "payments wait") || !strings.Contains(out.String(), "the subscription key and MSN are accepted") {
			t.Errorf("doctor:\n%s", out.String())
		}
	})
	all = append(all, logs1.String())

	t.Run("own secret to fall back on", func(t *testing.T) {
		b.stop()
		c2, logs2, _ := brokerBox(t, ns, simHTTP.URL, t2, true)
		untilSale(t, c2, logs2, sale(c2, 7990), agent.Completed)
		heartbeat(t, js, t2, "a token of the box's own", func(h wire.Heartbeat) bool {
			return h.TokenSource == wire.TokenFromBox && h.TokenExpires.After(time.Now())
		})
		all = append(all, logs2.String())
	})

	for _, l := range all {
		for _, s := range append(b.tokens(), brokerSecret, brokerSubKey) {
			if strings.Contains(l, s) {
				t.Fatalf("a secret or token in a box's log")
			}
		}
	}
}
