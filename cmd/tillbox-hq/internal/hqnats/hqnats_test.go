package hqnats

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqconfig"
)

// TestStreamsAsConfigured: headquarters connects with its user over TLS,
// makes the three streams as configured, and a second start with other
// settings updates them.
func TestStreamsAsConfigured(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true})
	hq := s.HQ()
	c := hqconfig.Default().NATS
	c.Servers, c.User, c.Password, c.CAFile = []string{s.URL()}, hq.User, epayment.Secret(hq.Password), s.CAFile()
	nc, err := Connect(&c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := Streams{Chain: "acme", Replicas: 1, JournalMaxAge: 30 * 24 * time.Hour, RelayMaxAge: 7 * 24 * time.Hour}
	if err := EnsureStreams(ctx, js, st); err != nil {
		t.Fatal(err)
	}
	journal := info(ctx, t, js, wire.JournalStream)
	if journal.Subjects[0] != "tillbox.acme.journal.>" || journal.MaxAge != st.JournalMaxAge || !journal.AllowDirect ||
		journal.Duplicates != 2*time.Minute || journal.Storage != jetstream.FileStorage || journal.MaxMsgs != -1 || journal.MaxBytes != -1 {
		t.Errorf("journal stream: %+v", journal)
	}
	if hb := info(ctx, t, js, wire.HeartbeatStream); hb.MaxMsgsPerSubject != 1 || hb.Subjects[0] != "tillbox.acme.heartbeat.>" {
		t.Errorf("heartbeat stream: %+v", hb)
	}
	if relay := info(ctx, t, js, wire.RelayStream); relay.MaxAge != st.RelayMaxAge || relay.Subjects[0] != "tillbox.acme.relay.>" {
		t.Errorf("relay stream: %+v", relay)
	}
	st.JournalMaxAge = 90 * 24 * time.Hour
	if err := EnsureStreams(ctx, js, st); err != nil {
		t.Fatal(err)
	}
	if journal := info(ctx, t, js, wire.JournalStream); journal.MaxAge != st.JournalMaxAge {
		t.Errorf("the journal's max age was not updated: %v", journal.MaxAge)
	}
}

func info(ctx context.Context, t *testing.T, js jetstream.JetStream, name string) jetstream.StreamConfig {
	t.Helper()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return s.CachedInfo().Config
}
