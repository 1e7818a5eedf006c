package fleet

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/store"
)

// configBucket makes headquarters' configuration bucket.
func configBucket(t *testing.T, js jetstream.JetStream) jetstream.KeyValue {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: wire.ConfigBucket, History: wire.ConfigHistory})
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// layerLog is what the link handed over to Options.ConfigLayer.
type layerLog struct {
	mu   sync.Mutex
	got  map[string]layerGot
	n    int
	more *signal
}

type layerGot struct {
	rev   uint64
	value string
}

func newLayerLog() *layerLog { return &layerLog{got: map[string]layerGot{}, more: newSignal()} }

func (g *layerLog) take(key string, rev uint64, value []byte) {
	g.mu.Lock()
	g.got[key] = layerGot{rev, string(value)}
	g.n++
	g.mu.Unlock()
	g.more.fire()
}

// until waits for key to be handed over at rev (with value, unless
// value is "*").
func (g *layerLog) until(t *testing.T, key string, rev uint64, value string) {
	t.Helper()
	g.within(t, wait, key, rev, value)
}

// within is until with a deadline of d.
func (g *layerLog) within(t *testing.T, d time.Duration, key string, rev uint64, value string) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		more := g.more.wait()
		g.mu.Lock()
		got, ok := g.got[key]
		g.mu.Unlock()
		if ok && got.rev == rev && (value == "*" || got.value == value) {
			return
		}
		select {
		case <-more:
		case <-deadline.C:
			t.Fatalf("%s: handed over %+v (seen %v), want revision %d %q", key, got, ok, rev, value)
		}
	}
}

// TestConfigLayers: the link reads its three keys at connect (a key never
// set: an empty layer at revision 0), hears of each change at once, reads
// a deletion as an empty layer, and a box offline during a change reads it
// when it connects again.
func TestConfigLayers(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{tillA, tillB}})
	js := hq(t, s)
	hqStreams(t, js, time.Minute)
	kv := configBucket(t, js)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	chainRev, err := kv.Put(ctx, wire.ChainConfigKey("acme"), []byte(`{"settings":{"display.language":"da"}}`))
	if err != nil {
		t.Fatal(err)
	}

	b := newBox(t, "", store.Options{})
	g := newLayerLog()
	o := boxOptions(s, tillA)
	o.ConfigLayer = g.take
	l := b.run(t, o)
	g.until(t, "acme.all", chainRev, `{"settings":{"display.language":"da"}}`)
	g.until(t, "acme.store.oslo-1", 0, "")
	g.until(t, "acme.till.oslo-1.t1", 0, "")

	storeRev, err := kv.Put(ctx, wire.StoreConfigKey("acme", "oslo-1"), []byte(`{"settings":{"display.language":"fi"}}`))
	if err != nil {
		t.Fatal(err)
	}
	g.until(t, "acme.store.oslo-1", storeRev, `{"settings":{"display.language":"fi"}}`)
	// Another till's key is none of this box's business.
	if _, err := kv.Put(ctx, tillB.TillConfigKey(), []byte(`{"settings":{"display.language":"en"}}`)); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, wire.ChainConfigKey("acme")); err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, wire.ChainConfigKey("acme"))
	if err == nil {
		t.Fatalf("the chain's key after its deletion: %+v", e)
	}
	hist, _ := kv.History(ctx, wire.ChainConfigKey("acme"))
	delRev := hist[len(hist)-1].Revision()
	g.until(t, "acme.all", delRev, "")
	g.mu.Lock()
	_, sawB := g.got[tillB.TillConfigKey()]
	g.mu.Unlock()
	if sawB {
		t.Errorf("the box was handed another till's key")
	}

	// Offline during a change: it catches up when it connects again.
	l.stop()
	tillRev, err := kv.Put(ctx, tillA.TillConfigKey(), []byte(`{"settings":{"display.language":"en"}}`))
	if err != nil {
		t.Fatal(err)
	}
	g2 := newLayerLog()
	o.ConfigLayer = g2.take
	b.run(t, o)
	g2.until(t, tillA.TillConfigKey(), tillRev, `{"settings":{"display.language":"en"}}`)
	g2.until(t, "acme.store.oslo-1", storeRev, "*")
	g2.until(t, "acme.all", delRev, "")
}

// TestConfigPermissions: box A can neither read box B's key (a direct get)
// nor hear of its changes (a subscription): the server refuses both.
func TestConfigPermissions(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{tillA, tillB}})
	js := hq(t, s)
	configBucket(t, js)
	refused := make(chan string, 8)
	nc := s.Connect(t, s.URL(), s.Box(tillA), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		refused <- err.Error()
	}))
	waitRefused := func(subject string) {
		t.Helper()
		deadline := time.NewTimer(wait)
		defer deadline.Stop()
		for {
			select {
			case e := <-refused:
				if strings.Contains(strings.ToLower(e), "permissions violation") && strings.Contains(e, subject) {
					return
				}
			case <-deadline.C:
				t.Fatalf("no permissions violation for %s", subject)
			}
		}
	}
	if err := nc.PublishRequest(wire.ConfigGetSubject(tillB.TillConfigKey()), nc.NewInbox(), nil); err != nil {
		t.Fatal(err)
	}
	waitRefused(wire.ConfigGetSubject(tillB.TillConfigKey()))
	if _, err := nc.Subscribe(wire.ConfigSubject(tillB.TillConfigKey()), func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	waitRefused(wire.ConfigSubject(tillB.TillConfigKey()))
	// Its own key it may read: a 404 while never set.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	rev, value, err := getLayer(ctx, nc, tillA.TillConfigKey(), wait)
	if err != nil || rev != 0 || value != nil {
		t.Fatalf("its own key: %d %q %v", rev, value, err)
	}
}

// TestConfigBucketLater: a box that connects before headquarters has made
// the bucket takes the first layer put once it is made.
func TestConfigBucketLater(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{tillA}})
	js := hq(t, s)
	hqStreams(t, js, time.Minute)
	b := newBox(t, "", store.Options{})
	g := newLayerLog()
	o := boxOptions(s, tillA)
	o.ConfigLayer = g.take
	l := b.run(t, o)
	l.until(t, "connected", func(s Status) bool { return s.Connected })
	kv := configBucket(t, js)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	rev, err := kv.Put(ctx, tillA.TillConfigKey(), []byte(`{"settings":{"display.language":"fi"}}`))
	if err != nil {
		t.Fatal(err)
	}
	// Well before the minute's look again: a message whose read comes
	// before the stream stored it is read again at once.
	g.within(t, 20*time.Second, tillA.TillConfigKey(), rev, `{"settings":{"display.language":"fi"}}`)
	if st := l.Status(); st.LastError != "" {
		t.Errorf("a missing bucket is no error of the link: %q", st.LastError)
	}
}
