package settings

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// A box subscribes to its keys of the bucket and may answer a request (for
// its actions), so it receives headquarters' writes there with their
// reply inbox and may answer first: a forged "written at revision N" or a
// forged refusal. Headquarters believes only the bucket: every write it
// reports is there, at the revision it reports.
func TestForgedRepliesAreNotBelieved(t *testing.T) {
	till := wire.Till{Chain: "acme", Store: "oslo", Till: "t1"}
	st, kv, srv := newSettingsServer(t, natstest.Options{Tills: []wire.Till{till}})
	ctx := context.Background()
	box := srv.Connect(t, srv.URL(), srv.Box(till))
	forgeries := map[string]string{
		till.TillConfigKey():        `{"stream":"KV_` + wire.ConfigBucket + `","seq":999999}`,
		wire.ChainConfigKey("acme"): `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 1"}}`,
	}
	for key, forged := range forgeries {
		sub, err := box.Subscribe("$KV."+wire.ConfigBucket+"."+key, func(m *nats.Msg) {
			if m.Reply != "" {
				_ = m.Respond([]byte(forged))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sub.Unsubscribe() }()
	}
	if err := box.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, sc := range []Scope{TillScope("oslo", "t1"), ChainScope()} {
		key := sc.Key("acme")
		for i := range 12 {
			lang := []string{"nb", "da", "en", "fi"}[i%4]
			res, err := st.Apply(ctx, Change{Scope: sc, By: "test", Set: map[string]any{"display.language": lang}})
			if err != nil {
				t.Fatalf("%s, write %d: %v", key, i+1, err)
			}
			e, err := kv.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			l, err := wire.ParseConfigLayer(e.Value())
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Written) != 1 || res.Written[0].Revision != e.Revision() || fmt.Sprint(l.Settings["display.language"]) != lang {
				t.Fatalf("%s, write %d: reported %+v; the bucket holds revision %d with language %v", key, i+1, res.Written, e.Revision(), l.Settings["display.language"])
			}
		}
	}
}
