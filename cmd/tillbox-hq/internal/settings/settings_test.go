package settings

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqnats"
)

// newSettings serves the bucket from a nats-server process, as
// headquarters makes it, with boxes as the tills headquarters heard of.
func newSettings(t *testing.T, boxes ...Box) (*Settings, jetstream.KeyValue) {
	t.Helper()
	st, kv, _ := newSettingsServer(t, natstest.Options{}, boxes...)
	return st, kv
}

// newSettingsServer is newSettings with its nats-server, started with opts.
func newSettingsServer(t *testing.T, opts natstest.Options, boxes ...Box) (*Settings, jetstream.KeyValue, *natstest.Server) {
	t.Helper()
	s := natstest.Start(t, opts)
	js, err := jetstream.New(s.Connect(t, s.URL(), s.HQ()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := hqnats.EnsureConfigBucket(ctx, js, hqnats.Streams{Chain: "acme", Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, wire.ConfigBucket)
	if err != nil {
		t.Fatal(err)
	}
	st := New(Options{JS: js, Chain: "acme", Boxes: func(context.Context) ([]Box, error) { return boxes, nil }})
	return st, kv, s
}

// Writers at once on one key each get their change in: a write that
// loses the race reads the key again and writes over the winner's.
func TestConcurrentWritesAllLand(t *testing.T) {
	st, kv := newSettings(t)
	ctx := context.Background()
	// The fields a store's key holds (the address goes to each till's).
	fields := slices.DeleteFunc(slices.Clone(RemoteFields), func(f string) bool { return slices.Contains(AddressFields, f) })
	n := len(fields)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := st.Apply(ctx, Change{Scope: StoreScope("oslo"), By: fmt.Sprint("writer ", i),
				Set: map[string]any{fields[i]: "x"}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			if !strings.Contains(err.Error(), "writing acme.store.oslo") {
				t.Errorf("a writer failed for another reason: %v", err)
			}
		}
	}
	e, err := kv.Get(ctx, "acme.store.oslo")
	if err != nil {
		t.Fatal(err)
	}
	l, err := wire.ParseConfigLayer(e.Value())
	if err != nil {
		t.Fatal(err)
	}
	// Each writer retries maxTries times; eight at once on a loaded machine
	// may exhaust that, but never silently: what did not fail is there.
	if len(l.Settings) != n-failed || failed > n/2 {
		t.Errorf("%d writers, %d failed, the layer holds %d fields: %v", n, failed, len(l.Settings), l.Settings)
	}
}

// A secret for the chain is sealed into each till key that has a key,
// never into the chain's own key; tills without a key are named; with no
// till to seal for, nothing is written.
func TestSecretForTheChain(t *testing.T) {
	k1, _ := wire.NewConfigKey()
	k2, _ := wire.NewConfigKey()
	t1 := wire.Till{Chain: "acme", Store: "oslo", Till: "t1"}
	t2 := wire.Till{Chain: "acme", Store: "bergen", Till: "t1"}
	old := wire.Till{Chain: "acme", Store: "bergen", Till: "t2"}
	other := wire.Till{Chain: "other", Store: "oslo", Till: "t1"}
	st, kv := newSettings(t, Box{Till: t1, HeardAt: time.Now(), Config: &wire.ConfigState{Key: k1.Public()}},
		Box{Till: t2, HeardAt: time.Now(), Config: &wire.ConfigState{Key: k2.Public()}},
		Box{Till: old, HeardAt: time.Now()}, Box{Till: other, Config: &wire.ConfigState{Key: k1.Public()}})
	ctx := context.Background()
	res, err := st.Apply(ctx, Change{Scope: ChainScope(), Secrets: map[string]string{"vipps.subscription_key": "sub-key-1"}, By: "kari"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Written) != 2 || len(res.NoKey) != 1 || res.NoKey[0] != old {
		t.Errorf("wrote %v, no key %v", res.Written, res.NoKey)
	}
	for till, k := range map[wire.Till]wire.ConfigKey{t1: k1, t2: k2} {
		e, err := kv.Get(ctx, till.TillConfigKey())
		if err != nil {
			t.Fatal(err)
		}
		l, _ := wire.ParseConfigLayer(e.Value())
		if got, err := k.OpenSecret(till, "vipps.subscription_key", l.Sealed["vipps.subscription_key"]); err != nil || got != "sub-key-1" {
			t.Errorf("%s opens %q %v", till, got, err)
		}
		if l.Note != "for the chain" || l.By != "kari" {
			t.Errorf("%s's layer says by %q note %q", till, l.By, l.Note)
		}
	}
	for _, key := range []string{"acme.all", other.TillConfigKey()} {
		if _, err := kv.Get(ctx, key); err == nil {
			t.Errorf("%s was written", key)
		}
	}
	if _, err := st.Apply(ctx, Change{Scope: StoreScope("tromso"), Secrets: map[string]string{"vipps.client_secret": "x"},
		Set: map[string]any{"display.language": "nb"}}); err == nil || !strings.Contains(err.Error(), "heard of") {
		t.Errorf("a secret for a store no till was heard of: %v", err)
	}
	if _, err := kv.Get(ctx, "acme.store.tromso"); err == nil {
		t.Error("the refused change wrote the store's settings all the same")
	}
}

// TestAddressForAStore: the Vipps address set for a store goes, with both
// secrets sealed, into each of its tills' keys (a box takes an address
// only so), never into the store's key; without the secrets it is refused.
func TestAddressForAStore(t *testing.T) {
	k1, _ := wire.NewConfigKey()
	k2, _ := wire.NewConfigKey()
	t1 := wire.Till{Chain: "acme", Store: "oslo", Till: "t1"}
	t2 := wire.Till{Chain: "acme", Store: "oslo", Till: "t2"}
	elsewhere := wire.Till{Chain: "acme", Store: "bergen", Till: "t1"}
	st, kv := newSettings(t, Box{Till: t1, HeardAt: time.Now(), Config: &wire.ConfigState{Key: k1.Public()}},
		Box{Till: t2, HeardAt: time.Now(), Config: &wire.ConfigState{Key: k2.Public()}},
		Box{Till: elsewhere, HeardAt: time.Now(), Config: &wire.ConfigState{Key: k1.Public()}})
	ctx := context.Background()
	const addr = "https://vipps.example.test"
	if _, err := st.Apply(ctx, Change{Scope: StoreScope("oslo"), Set: map[string]any{"vipps.base_url": addr},
		Secrets: map[string]string{"vipps.client_secret": "cs-1"}}); err == nil || !strings.Contains(err.Error(), "vipps.subscription_key") {
		t.Fatalf("an address for a store with one secret: %v, want a refusal naming the other", err)
	}
	res, err := st.Apply(ctx, Change{Scope: StoreScope("oslo"), Set: map[string]any{"vipps.base_url": addr, "display.language": "nb"},
		Secrets: map[string]string{"vipps.client_secret": "cs-1", "vipps.subscription_key": "sk-1"}, By: "kari"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Written) != 3 {
		t.Errorf("wrote %v, want the store's key and its two tills'", res.Written)
	}
	e, err := kv.Get(ctx, "acme.store.oslo")
	if err != nil {
		t.Fatal(err)
	}
	store, _ := wire.ParseConfigLayer(e.Value())
	if _, ok := store.Settings["vipps.base_url"]; ok || store.Settings["display.language"] != "nb" {
		t.Errorf("the store's layer: %v (the address belongs in the tills' keys, the language here)", store.Settings)
	}
	for till, k := range map[wire.Till]wire.ConfigKey{t1: k1, t2: k2} {
		e, err := kv.Get(ctx, till.TillConfigKey())
		if err != nil {
			t.Fatal(err)
		}
		l, _ := wire.ParseConfigLayer(e.Value())
		if l.Settings["vipps.base_url"] != addr {
			t.Errorf("%s's layer: %v, want the address", till, l.Settings)
		}
		for f, want := range map[string]string{"vipps.client_secret": "cs-1", "vipps.subscription_key": "sk-1"} {
			if got, err := k.OpenSecret(till, f, l.Sealed[f]); err != nil || got != want {
				t.Errorf("%s's %s opens %q %v", till, f, got, err)
			}
		}
	}
	if _, err := kv.Get(ctx, elsewhere.TillConfigKey()); err == nil {
		t.Error("a till of another store was written")
	}
	if _, err := st.Apply(ctx, Change{Scope: StoreScope("oslo"), Unset: []string{"vipps.base_url"}}); err == nil {
		t.Error("unset the address for a store (it is in each till's layer)")
	}
}
