package natstest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

var (
	tillA = wire.Till{Chain: "acme", Store: "oslo-1", Till: "t1"}
	tillB = wire.Till{Chain: "acme", Store: "oslo-1", Till: "t2"}
)

// createStreams creates the journal and relay streams as headquarters
// would, with replicas copies.
func createStreams(t *testing.T, js jetstream.JetStream, replicas int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:        wire.JournalStream,
		Subjects:    []string{"tillbox.*.journal.>"},
		AllowDirect: true,
		Duplicates:  2 * time.Minute,
		Replicas:    replicas,
	}); err != nil {
		t.Fatalf("create %s: %v", wire.JournalStream, err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     wire.RelayStream,
		Subjects: []string{"tillbox.*.relay.>"},
		Replicas: replicas,
	}); err != nil {
		t.Fatalf("create %s: %v", wire.RelayStream, err)
	}
}

// ship publishes event seq of till as the box does: its message id and the
// subject's expected last sequence.
func ship(ctx context.Context, js jetstream.JetStream, till wire.Till, seq, last uint64) (*jetstream.PubAck, error) {
	m := nats.NewMsg(till.JournalSubject())
	m.Header.Set(wire.HeaderSeq, strconv.FormatUint(seq, 10))
	m.Data = []byte("event " + strconv.FormatUint(seq, 10))
	return js.PublishMsg(ctx, m, jetstream.WithMsgID(till.MsgID(seq)), jetstream.WithExpectLastSequencePerSubject(last))
}

// asyncErrors collects a connection's asynchronous errors.
func asyncErrors() (chan error, nats.Option) {
	ch := make(chan error, 64)
	return ch, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case ch <- err:
		default:
		}
	})
}

// wantViolation waits for the server's permissions violation naming
// subject.
func wantViolation(t *testing.T, errs <-chan error, subject string) {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case err := <-errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+subject+`"`) {
				return
			}
			t.Logf("other asynchronous error: %v", err)
		case <-deadline:
			t.Fatalf("the server did not refuse %s", subject)
		}
	}
}

func TestBoxPermissions(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{tillA, tillB}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hqnc := s.Connect(t, s.URL(), s.HQ())
	hq, err := jetstream.New(hqnc)
	if err != nil {
		t.Fatal(err)
	}
	createStreams(t, hq, 1)

	errs, onErr := asyncErrors()
	nc := s.Connect(t, s.URL(), s.Box(tillA), onErr)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// A box that never shipped finds nothing for its subject.
	if m := lastMsg(ctx, t, nc, tillA); m.Header.Get("Status") != "404" {
		t.Fatalf("last message of an empty subject: status %q, data %q; want 404", m.Header.Get("Status"), m.Data)
	}
	shipAndResume(ctx, t, js, nc)
	relayToBox(ctx, t, hq, js)

	// What a box must not do: the server refuses each.
	nc.Publish(tillB.JournalSubject(), []byte("forged"))
	wantViolation(t, errs, tillB.JournalSubject())
	nc.Publish(tillB.HeartbeatSubject(), []byte("forged"))
	wantViolation(t, errs, tillB.HeartbeatSubject())
	if _, err := nc.Subscribe(tillB.RelaySubject(), func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	wantViolation(t, errs, tillB.RelaySubject())
	if _, err := nc.Subscribe("tillbox.acme.relay.>", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	wantViolation(t, errs, "tillbox.acme.relay.>")
	steal := "$JS.API.CONSUMER.CREATE." + wire.RelayStream + "." + tillA.RelayConsumer() + "." + tillB.RelaySubject()
	nc.Publish(steal, []byte("{}"))
	wantViolation(t, errs, steal)
	direct := "$JS.API.DIRECT.GET." + wire.JournalStream + "." + tillB.JournalSubject()
	nc.Publish(direct, nil)
	wantViolation(t, errs, direct)
	del := "$JS.API.STREAM.DELETE." + wire.JournalStream
	nc.Publish(del, nil)
	wantViolation(t, errs, del)
	streamInfoRefused(t, hqnc, nc, errs)
	if _, err := nc.Subscribe("_INBOX.>", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	wantViolation(t, errs, "_INBOX.>")
}

// shipAndResume ships events as box A, with the de-duplication and the
// expected last sequence doing their work, and resumes from a direct get.
func shipAndResume(ctx context.Context, t *testing.T, js jetstream.JetStream, nc *nats.Conn) {
	t.Helper()
	var last uint64
	for seq := uint64(1); seq <= 3; seq++ {
		ack, err := ship(ctx, js, tillA, seq, last)
		if err != nil {
			t.Fatalf("ship event %d: %v", seq, err)
		}
		if ack.Duplicate {
			t.Fatalf("event %d stored as a duplicate", seq)
		}
		last = ack.Sequence
	}
	// A replay inside the de-duplication window is a duplicate ...
	ack, err := ship(ctx, js, tillA, 3, last)
	if err != nil || !ack.Duplicate {
		t.Fatalf("replay of event 3: ack %+v, %v; want a duplicate", ack, err)
	}
	// ... and one with a stale expected sequence is refused.
	var apiErr *jetstream.APIError
	if _, err := ship(ctx, js, tillA, 4, last-1); !errors.As(err, &apiErr) || apiErr.ErrorCode != wire.ErrWrongLastSequence {
		t.Fatalf("append with a stale expected sequence: %v; want error %d", err, wire.ErrWrongLastSequence)
	}
	msg := lastMsg(ctx, t, nc, tillA)
	streamSeq := msg.Header.Get(wire.HeaderStreamSeq)
	if msg.Header.Get(wire.HeaderSeq) != "3" || streamSeq != strconv.FormatUint(last, 10) || string(msg.Data) != "event 3" {
		t.Fatalf("last message: seq header %q, stream seq %s (want %d), data %q", msg.Header.Get(wire.HeaderSeq), streamSeq, last, msg.Data)
	}
	if _, err := ship(ctx, js, tillA, 4, last); err != nil {
		t.Fatalf("resume after the last message: %v", err)
	}
}

// lastMsg reads the last message of till's journal subject as the box
// does: a plain direct get (its permissions allow no stream information).
// The answer carries the message with its stream sequence in a header, or
// a status 404 when the subject holds none.
func lastMsg(ctx context.Context, t *testing.T, nc *nats.Conn, till wire.Till) *nats.Msg {
	t.Helper()
	m, err := nc.RequestWithContext(ctx, till.JournalLastSubject(), nil)
	if err != nil {
		t.Fatalf("direct get of %s's last message: %v", till, err)
	}
	return m
}

// streamInfoRefused: stream information with a subjects filter names every
// till and counts its messages (headquarters gets it); a box may not ask.
func streamInfoRefused(t *testing.T, hq, box *nats.Conn, errs <-chan error) {
	t.Helper()
	filter := []byte(`{"subjects_filter":">"}`)
	for _, stream := range []string{wire.JournalStream, wire.RelayStream, wire.HeartbeatStream} {
		info := "$JS.API.STREAM.INFO." + stream
		if stream == wire.JournalStream {
			m, err := hq.Request(info, filter, time.Minute)
			if err != nil || !strings.Contains(string(m.Data), `"`+tillA.JournalSubject()+`":`) {
				t.Fatalf("headquarters: stream info with a subjects filter: %v; want %s's subject", err, tillA)
			}
		}
		if err := box.PublishRequest(info, box.NewInbox(), filter); err != nil {
			t.Fatal(err)
		}
		wantViolation(t, errs, info)
	}
}

// relayToBox publishes a webhook for each box as headquarters and has box A
// take its own through its durable consumer.
func relayToBox(ctx context.Context, t *testing.T, hq, js jetstream.JetStream) {
	t.Helper()
	for _, till := range []wire.Till{tillB, tillA} {
		if _, err := hq.Publish(ctx, till.RelaySubject(), []byte("webhook for "+till.String())); err != nil {
			t.Fatalf("hq: relay: %v", err)
		}
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       tillA.RelayConsumer(),
		FilterSubject: tillA.RelaySubject(),
		AckPolicy:     jetstream.AckExplicitPolicy,
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, wire.RelayStream, cfg)
	if err != nil {
		t.Fatalf("box: create its relay consumer: %v", err)
	}
	got := make(chan jetstream.Msg, 4)
	cc, err := cons.Consume(func(m jetstream.Msg) { got <- m })
	if err != nil {
		t.Fatalf("box: consume: %v", err)
	}
	defer cc.Stop()
	select {
	case m := <-got:
		if string(m.Data()) != "webhook for "+tillA.String() {
			t.Fatalf("box A received %q", m.Data())
		}
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatalf("box: ack: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("box A received no webhook")
	}
	// The consumer is still the box's after a reconnect: looked up by name,
	// nothing left to deliver.
	again, err := js.Consumer(ctx, wire.RelayStream, tillA.RelayConsumer())
	if err != nil {
		t.Fatalf("box: consumer info: %v", err)
	}
	info, err := again.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.NumPending != 0 || info.Delivered.Consumer != 1 {
		t.Fatalf("relay consumer after the ack: %d waiting for ack, %d pending, %d delivered", info.NumAckPending, info.NumPending, info.Delivered.Consumer)
	}
}

func TestTLSAndWebSocket(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, WebSocket: true, Tills: []wire.Till{tillA}})
	if !strings.HasPrefix(s.URL(), "tls://127.0.0.1:") || !strings.HasPrefix(s.WebSocketURL(), "wss://127.0.0.1:") {
		t.Fatalf("URLs %s and %s", s.URL(), s.WebSocketURL())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hq, err := jetstream.New(s.Connect(t, s.URL(), s.HQ()))
	if err != nil {
		t.Fatal(err)
	}
	createStreams(t, hq, 1)

	var last uint64
	for i, url := range []string{s.URL(), s.WebSocketURL()} {
		nc := s.Connect(t, url, s.Box(tillA))
		if !nc.TLSRequired() {
			t.Errorf("%s: the server does not require TLS", url)
		}
		if _, err := nc.TLSConnectionState(); err != nil {
			t.Errorf("%s: no TLS: %v", url, err)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		ack, err := ship(ctx, js, tillA, uint64(i+1), last)
		if err != nil {
			t.Fatalf("ship over %s: %v", url, err)
		}
		last = ack.Sequence
		nc.Close()
	}
	if last != 2 {
		t.Fatalf("the journal's last sequence is %d, want 2", last)
	}

	// Only the test CA makes the server's certificate trusted.
	for _, url := range []string{s.URL(), s.WebSocketURL()} {
		c := s.Box(tillA)
		_, err := nats.Connect(url, nats.UserInfo(c.User, c.Password), nats.Secure(&tls.Config{RootCAs: x509.NewCertPool()}))
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("%s with an empty root pool: %v, want an unknown authority", url, err)
		}
	}
	if pem, err := os.ReadFile(s.CAFile()); err != nil || !strings.Contains(string(pem), "BEGIN CERTIFICATE") {
		t.Fatalf("CA file %s: %v", s.CAFile(), err)
	}
}

func TestWrongPassword(t *testing.T) {
	s := natstest.Start(t, natstest.Options{WebSocket: true, Tills: []wire.Till{tillA}})
	if !strings.HasPrefix(s.URL(), "nats://") || !strings.HasPrefix(s.WebSocketURL(), "ws://") {
		t.Fatalf("URLs %s and %s", s.URL(), s.WebSocketURL())
	}
	c := s.Box(tillA)
	for _, url := range []string{s.URL(), s.WebSocketURL()} {
		_, err := nats.Connect(url, nats.UserInfo(c.User, c.Password+"x"))
		// Over WebSocket the server may close the connection before
		// nats.go reads its -ERR: then the error is a broken pipe.
		if err == nil || strings.HasPrefix(url, "nats:") && !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("%s with a wrong password: %v, want %v", url, err, nats.ErrAuthorization)
		}
		nc := s.Connect(t, url, c)
		if err := nc.Publish(tillA.HeartbeatSubject(), []byte("{}")); err != nil {
			t.Errorf("%s: heartbeat: %v", url, err)
		}
		if err := nc.Flush(); err != nil {
			t.Errorf("%s: flush: %v", url, err)
		}
	}
}

// A single node killed with SIGKILL keeps its journal: restarted, the box's
// connection comes back and resumes after the last event stored.
func TestSingleNodeKillRestart(t *testing.T) {
	s := natstest.Start(t, natstest.Options{Tills: []wire.Till{tillA}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hq, err := jetstream.New(s.Connect(t, s.URL(), s.HQ()))
	if err != nil {
		t.Fatal(err)
	}
	createStreams(t, hq, 1)
	reconnected := make(chan struct{}, 1)
	nc := s.Connect(t, s.URL(), s.Box(tillA), nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	sh := &shipper{js: js}
	sh.shipN(t, 5)

	s.Kill()
	if s.Running() {
		t.Fatal("the killed server still runs")
	}
	s.Restart()
	select {
	case <-reconnected:
	case <-ctx.Done():
		t.Fatal("the box did not reconnect")
	}
	msg := lastMsg(ctx, t, nc, tillA)
	if msg.Header.Get(wire.HeaderSeq) != "5" || msg.Header.Get(wire.HeaderStreamSeq) != strconv.FormatUint(sh.last, 10) {
		t.Fatalf("after the restart the last message is event %s at %s, want 5 at %d", msg.Header.Get(wire.HeaderSeq), msg.Header.Get(wire.HeaderStreamSeq), sh.last)
	}
	sh.shipN(t, 1)
}
