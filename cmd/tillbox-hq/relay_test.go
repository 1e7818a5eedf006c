package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// webhookBody is an ePayment event of reference.
func webhookBody(t testing.TB, reference string, name epayment.EventName) []byte {
	t.Helper()
	b, err := json.Marshal(epayment.WebhookEvent{MSN: testMSN, Reference: reference, PSPReference: "psp-" + reference,
		Name: name, Amount: epayment.Amount{Currency: "NOK", Value: 100}, Timestamp: time.Now().UTC(), Success: true})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// postWebhook delivers body to headquarters as Vipps MobilePay does,
// signed with secret for the registered URL, and returns the status.
func postWebhook(t testing.TB, base string, body []byte, secret string) int {
	t.Helper()
	sig, err := epayment.SignWebhook(secret, testWebhookURL, time.Now().UTC().Format(http.TimeFormat), body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/webhooks/vipps/"+testMSN, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sig.Apply(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// onSubject is the messages the relay stream holds on subject.
func onSubject(t testing.TB, js jetstream.JetStream, subject string) []jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, wire.RelayStream)
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.RawStreamMsg
	for seq := uint64(1); ; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if err != nil {
			return out // no more on the subject
		}
		out = append(out, *m)
		seq = m.Sequence + 1
	}
}

// TestWebhookRelay: a signed webhook reaches the relay subject of the till
// whose reference it is, and no other; a forged one gets 401 and nothing
// is published; a reference no till claims is kept on the unrouted subject
// with 200; a retry is stored once; with NATS down the answer is 503.
func TestWebhookRelay(t *testing.T) {
	pg, ns := startPG(t), startNATS(t, tillOf("oslo", "t1"), tillOf("oslo", "t12"))
	h := startHQ(t, writeConfig(t, pg.DSN(), ns, 1))
	_, js := ns.hqClient(t)
	waitStreams(t, js)
	db := pgConn(t, pg.DSN())
	t1, t2 := newBox(t, ns, tillOf("oslo", "t1")), newBox(t, ns, tillOf("oslo", "t12"))
	for _, b := range []*box{t1, t2} {
		b.heartbeat(t, 0)
	}
	waitFor(t, 30*time.Second, "both tills known", func() bool {
		var n int
		err := db.QueryRow(context.Background(), "SELECT count(*) FROM tills WHERE reference_prefix <> ''").Scan(&n)
		return err == nil && n == 2
	})

	// t1's prefix "oslo-t1" is a prefix of t12's "oslo-t12" too: the "-"
	// after it tells them apart.
	body := webhookBody(t, "oslo-t12-000042", epayment.EventAuthorized)
	if code := postWebhook(t, h.URL(), body, testSecret); code != http.StatusOK {
		t.Fatalf("webhook: %d", code)
	}
	got := onSubject(t, js, t2.till.RelaySubject())
	if len(got) != 1 || !bytes.Equal(got[0].Data, body) || got[0].Header.Get(wire.HeaderMSN) != testMSN {
		t.Fatalf("on %s: %+v", t2.till.RelaySubject(), got)
	}
	if other := onSubject(t, js, t1.till.RelaySubject()); len(other) != 0 {
		t.Fatalf("another till's subject got it: %+v", other)
	}
	// The box takes it with its own credentials, through its own consumer.
	if m := t2.takeRelayed(t); !bytes.Equal(m.Data(), body) {
		t.Fatalf("the box took %s", m.Data())
	}
	// Vipps MobilePay retries: stored once.
	if code := postWebhook(t, h.URL(), body, testSecret); code != http.StatusOK {
		t.Fatalf("retry: %d", code)
	}
	if got := onSubject(t, js, t2.till.RelaySubject()); len(got) != 1 {
		t.Fatalf("a retry stored twice: %d messages", len(got))
	}

	// Forged: 401, nothing published.
	forged := webhookBody(t, "oslo-t1-000001", epayment.EventCaptured)
	if code := postWebhook(t, h.URL(), forged, "not-the-secret"); code != http.StatusUnauthorized {
		t.Fatalf("forged webhook: %d, want 401", code)
	}
	if got := onSubject(t, js, "tillbox."+testChain+".relay.>"); len(got) != 1 {
		t.Fatalf("after a forged webhook the relay stream holds %d messages, want 1", len(got))
	}

	// Nobody's: kept on the unrouted subject, 200.
	lost := webhookBody(t, "nobody-000001", epayment.EventAuthorized)
	if code := postWebhook(t, h.URL(), lost, testSecret); code != http.StatusOK {
		t.Fatalf("unrouted webhook: %d", code)
	}
	if got := onSubject(t, js, wire.UnroutedSubject(testChain, testMSN)); len(got) != 1 || !bytes.Equal(got[0].Data, lost) {
		t.Fatalf("unrouted: %+v", got)
	}

	// Signed but no ePayment event (another event type on this URL): kept
	// unrouted with 200, so that Vipps MobilePay does not hold later ones.
	other := []byte(`{"msn":"123456","name":"user.checked-in.v1"}`)
	if code := postWebhook(t, h.URL(), other, testSecret); code != http.StatusOK {
		t.Fatalf("a webhook of another kind: %d", code)
	}
	if got := onSubject(t, js, wire.UnroutedSubject(testChain, testMSN)); len(got) != 2 || !bytes.Equal(got[1].Data, other) {
		t.Fatalf("unrouted: %+v", got)
	}

	// Too large, or for a sales unit not configured here: refused, nothing published.
	big := append(webhookBody(t, "oslo-t1-000003", epayment.EventAuthorized), bytes.Repeat([]byte(" "), 64<<10)...)
	if code := postWebhook(t, h.URL(), big, testSecret); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over 64 KiB: %d, want 413", code)
	}
	resp, err := http.Post(h.URL()+"/webhooks/vipps/999999", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown sales unit: %d, want 404", resp.StatusCode)
	}
	if got := onSubject(t, js, "tillbox."+testChain+".relay.>"); len(got) != 3 {
		t.Fatalf("the relay stream holds %d messages, want 3", len(got))
	}

	_, metrics := get(t, h.URL()+"/metrics")
	for _, want := range []string{`result="routed"} 2`, `result="forged"} 1`, `result="unrouted"} 2`, `result="bad_request"} 2`} {
		if !strings.Contains(metrics, "tillbox_hq_relay_deliveries_total{"+want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grep(metrics, "relay_deliveries"))
		}
	}

	// NATS down: 503, so that Vipps MobilePay tries again.
	ns.servers[0].Kill()
	if code := postWebhook(t, h.URL(), webhookBody(t, "oslo-t1-000002", epayment.EventAuthorized), testSecret); code != http.StatusServiceUnavailable {
		t.Fatalf("webhook with NATS down: %d, want 503", code)
	}
}

// takeRelayed fetches the box's next relayed webhook as the box does:
// through its durable consumer on the relay stream, filtered to its subject.
func (b *box) takeRelayed(t testing.TB) jetstream.Msg {
	t.Helper()
	ctx := context.Background()
	cons, err := b.js.CreateOrUpdateConsumer(ctx, wire.RelayStream, jetstream.ConsumerConfig{
		Durable: b.till.RelayConsumer(), FilterSubject: b.till.RelaySubject(), AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("%s: its relay consumer: %v", b.till, err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatalf("%s: no relayed webhook: %v", b.till, err)
	}
	if err := m.Ack(); err != nil {
		t.Fatal(err)
	}
	return m
}
