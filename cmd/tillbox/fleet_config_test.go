package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/display/browsertest"
)

// The secret headquarters seals for the box in these tests: never in a
// log, a page or the bucket in clear.
const sealedSecret = "sealed-client-secret-Zx9Lk2"

// cfgRig is headquarters for the layered configuration: a real
// nats-server (TLS, a user per box), the configuration bucket, and the
// box's heartbeats as headquarters hears them.
type cfgRig struct {
	t    *testing.T
	ns   *natstest.Server
	kv   jetstream.KeyValue
	ctx  context.Context
	till wire.Till

	mu    sync.Mutex
	beats []wire.Heartbeat
}

func startCfgRig(t *testing.T, till wire.Till, others ...wire.Till) *cfgRig {
	t.Helper()
	ns := natstest.Start(t, natstest.Options{TLS: true, Tills: append([]wire.Till{till}, others...)})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	nc := ns.Connect(t, ns.URL(), ns.HQ())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []jetstream.StreamConfig{
		{Name: wire.JournalStream, Subjects: []string{"tillbox.*.journal.>"}, AllowDirect: true, Duplicates: time.Minute},
		{Name: wire.HeartbeatStream, Subjects: []string{"tillbox.*.heartbeat.>"}, MaxMsgsPerSubject: 1, AllowDirect: true},
		{Name: wire.RelayStream, Subjects: []string{"tillbox.*.relay.>"}},
	} {
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: wire.ConfigBucket, History: wire.ConfigHistory})
	if err != nil {
		t.Fatal(err)
	}
	r := &cfgRig{t: t, ns: ns, kv: kv, ctx: ctx, till: till}
	if _, err := nc.Subscribe(till.HeartbeatSubject(), func(m *nats.Msg) {
		var h wire.Heartbeat
		if json.Unmarshal(m.Data, &h) == nil {
			r.mu.Lock()
			r.beats = append(r.beats, h)
			r.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

// put writes a layer to key and returns its revision.
func (r *cfgRig) put(key string, l wire.ConfigLayer) uint64 {
	r.t.Helper()
	l.By, l.At = "the test", time.Now()
	b, err := l.Marshal()
	if err != nil {
		r.t.Fatal(err)
	}
	rev, err := r.kv.Put(r.ctx, key, b)
	if err != nil {
		r.t.Fatal(err)
	}
	return rev
}

// beat waits for a heartbeat of the box from now on that satisfies cond.
func (r *cfgRig) beat(what string, cond func(wire.ConfigState) bool) wire.ConfigState {
	r.t.Helper()
	r.mu.Lock()
	from := len(r.beats)
	r.mu.Unlock()
	var st wire.ConfigState
	agenttest.Until(r.t, what, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, h := range r.beats[from:] {
			if h.Config != nil && cond(*h.Config) {
				st = *h.Config
				return true
			}
		}
		return false
	})
	return st
}

func applied(st wire.ConfigState, key string, rev uint64) bool {
	return slices.Contains(st.Applied, wire.LayerRevision{Key: key, Revision: rev})
}

func refusedAt(st wire.ConfigState, key string, rev uint64) *wire.ConfigRefusal {
	for _, r := range st.Refused {
		if r.Key == key && r.Revision == rev {
			return &r
		}
	}
	return nil
}

// cfgBox is `tillbox run` in-process with [fleet], its customer display
// and technician page; stop ends it.
type cfgBox struct {
	logs    *agenttest.Logs
	display string
	tech    string
	stop    func()
}

func startCfgBox(t *testing.T, cfg string) *cfgBox {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := agenttest.NewLogs()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"run", "--config", cfg}, logs, logs) }()
	var once sync.Once
	b := &cfgBox{logs: logs}
	b.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v\n%s", err, logs)
			}
			done <- nil
		})
	}
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			t.Logf("tillbox run's log:\n%s", logs)
		}
	})
	b.display = waitPrinted(t, logs, done, displayPrinted)
	b.tech = waitPrinted(t, logs, done, techPrinted)
	return b
}

// language is the customer display's language now.
func (b *cfgBox) language(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`<html lang="([a-z]+)">`).FindStringSubmatch(getText(t, b.display))
	if m == nil {
		t.Fatalf("no language on the display's page")
	}
	return m[1]
}

func (b *cfgBox) waitLanguage(t *testing.T, want string) {
	t.Helper()
	agenttest.Until(t, "the display in "+want, func() bool { return b.language(t) == want })
}

// TestFleetConfig: `tillbox run` takes headquarters' layers from a real
// bucket: the chain's change applies live, the store's wins over it, the
// till's over both (a secret sealed for the box opens, waiting for a
// restart); a bad value and a secret sealed for another box are refused
// with the field and the reason in the heartbeat, the last good layer
// kept; the box restarted without headquarters runs with the kept layers
// and catches up with a change made while it was off; the technician page
// says where each value comes from; doctor lists the layers.
func TestFleetConfig(t *testing.T) {
	till := wire.Till{Chain: "acme", Store: "oslo-1", Till: "t1"}
	other := wire.Till{Chain: "acme", Store: "oslo-1", Till: "t2"}
	r := startCfgRig(t, till, other)
	s := sim.New(sim.Options{App: sim.AppPolicy{Action: sim.Ignore}})
	simHTTP := httptest.NewServer(s)
	t.Cleanup(func() { simHTTP.Close(); s.Close() })
	dir := t.TempDir()
	cfg := testConfig(t, dir, simHTTP.URL, "127.0.0.1:0", "")
	writeTechPassword(t, dir, techPassword)
	box := r.ns.Box(till)
	editFile(t, cfg, func(s string) string {
		return s + fmt.Sprintf("\n[fleet]\nchain = %q\nstore = %q\nservers = [%q]\nuser = %q\npassword = %q\nca_file = %q\nheartbeat = \"1s\"\n",
			till.Chain, till.Store, r.ns.URL(), box.User, box.Password, r.ns.CAFile())
	})
	chainKey, storeKey, tillKey := wire.ChainConfigKey("acme"), wire.StoreConfigKey("acme", "oslo-1"), till.TillConfigKey()

	// The chain's layer, set before the box starts, applies live.
	chain1 := r.put(chainKey, wire.ConfigLayer{Settings: map[string]any{"display.language": "da", "sales.customer_present_window": "90s"}})
	b := startCfgBox(t, cfg)
	st := r.beat("the chain's layer applied", func(st wire.ConfigState) bool { return st.Key != "" && applied(st, chainKey, chain1) })
	if len(st.Restart) != 0 || len(st.Refused) != 0 {
		t.Errorf("after the chain's layer: %+v (language and window apply live)", st)
	}
	b.waitLanguage(t, "da")
	if fi, err := os.Stat(filepath.Join(dir, "data", config.ConfigKeyName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the box's key: %v %v", fi, err)
	}

	// The store's layer wins over the chain's, the till's over both.
	store1 := r.put(storeKey, wire.ConfigLayer{Settings: map[string]any{"display.language": "fi"}})
	r.beat("the store's layer applied", func(st wire.ConfigState) bool { return applied(st, storeKey, store1) })
	b.waitLanguage(t, "fi")
	sealed, err := wire.SealSecret(st.Key, till, "vipps.client_secret", sealedSecret)
	if err != nil {
		t.Fatal(err)
	}
	till1 := r.put(tillKey, wire.ConfigLayer{Settings: map[string]any{"display.language": "nb"}, Sealed: map[string]string{"vipps.client_secret": sealed}})
	st = r.beat("the till's layer applied", func(st wire.ConfigState) bool { return applied(st, tillKey, till1) })
	if !slices.Contains(st.Restart, "vipps.client_secret") || slices.Contains(st.Restart, "display.language") {
		t.Errorf("restart: %v, want the client secret (and not the language)", st.Restart)
	}
	b.waitLanguage(t, "nb")

	// A bad value: the store's layer refused whole, naming the field.
	store2 := r.put(storeKey, wire.ConfigLayer{Settings: map[string]any{"display.language": "da", "sales.customer_present_window": "1h"}})
	st = r.beat("the store's bad layer refused", func(st wire.ConfigState) bool { return refusedAt(st, storeKey, store2) != nil })
	if ref := refusedAt(st, storeKey, store2); ref.Field != "sales.customer_present_window" || !strings.Contains(ref.Reason, "out of range") || !applied(st, storeKey, store1) {
		t.Errorf("refused %+v; applied %v (the store's revision %d stays)", ref, st.Applied, store1)
	}
	// A secret sealed for another box does not open: refused, naming the
	// field and never the value.
	forOther, _ := wire.SealSecret(st.Key, other, "vipps.client_secret", "not-for-this-box-Qp3")
	till2 := r.put(tillKey, wire.ConfigLayer{Sealed: map[string]string{"vipps.client_secret": forOther}})
	st = r.beat("the secret sealed for another box refused", func(st wire.ConfigState) bool { return refusedAt(st, tillKey, till2) != nil })
	if ref := refusedAt(st, tillKey, till2); ref.Field != "vipps.client_secret" || !strings.Contains(ref.Reason, "does not open") || !applied(st, tillKey, till1) {
		t.Errorf("refused %+v; applied %v", ref, st.Applied)
	}
	b.waitLanguage(t, "nb")

	// The technician page says where each value comes from.
	tt := &techTill{t: t, config: cfg, data: filepath.Join(dir, "data"), tech: b.tech}
	h := tt.client()
	h.signIn(techPassword)
	_, page := h.do("GET", "settings", nil)
	text := html.UnescapeString(string(page))
	for field, want := range map[string]string{
		"display.language":              fmt.Sprintf("from headquarters, the till's layer (%s, revision %d)", tillKey, till1),
		"sales.customer_present_window": fmt.Sprintf("from headquarters, the chain's layer (%s, revision %d)", chainKey, chain1),
		"vipps.msn":                     "from the configuration file",
	} {
		if !strings.Contains(text, `data-from="`+field+`">`+want+"<") {
			t.Errorf("the settings page does not say %s comes %q:\n%s", field, want, text)
		}
	}
	if !strings.Contains(text, fmt.Sprintf("headquarters, the till's layer (%s, revision %d)", tillKey, till1)+"</span>") || // the client secret
		!strings.Contains(text, fmt.Sprintf("revision %d refused: sales.customer_present_window:", store2)) ||
		!strings.Contains(text, "applies after a restart: vipps.client_secret") {
		t.Errorf("the settings page:\n%s", text)
	}
	// The same in a browser on a phone: in view, nothing past the edge.
	tab := browsertest.Open(t, browsertest.New(t), b.tech, chromedp.EmulateViewport(390, 844))
	browsertest.WaitJS(t, tab, "the sign-in page", `document.body.dataset.page === 'signin'`)
	if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS("#password"), techPassword), browsertest.Click("#go")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the status page", `document.body.dataset.page === 'status'`)
	if err := chromedp.Do(tab, browsertest.Click("#nav-settings")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the settings page", `document.body.dataset.page === 'settings'`)
	from := browsertest.Eval[string](t, tab, `(() => { const e = document.querySelector('[data-from="display.language"]');
		const r = e.getBoundingClientRect(); return r.width > 0 && r.right <= window.innerWidth ? e.innerText : 'not in view'; })()`)
	if want := fmt.Sprintf("from headquarters, the till's layer (%s, revision %d)", tillKey, till1); from != want {
		t.Errorf("in the browser, the language comes %q, want %q", from, want)
	}
	// (The scanners' table is wider than a phone: issue 17's to fix; the
	// sources of the values wrap within it.)
	if wide := browsertest.Eval[string](t, tab, `[...document.querySelectorAll('[data-from]')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.dataset.from).join(', ')`); wide != "" {
		t.Errorf("where these values come from runs past a 390 px phone's edge: %s", wide)
	}

	_, status := h.do("GET", "", nil)
	if !strings.Contains(html.UnescapeString(string(status)), "applies after a restart: vipps.client_secret") {
		t.Errorf("the status page does not say what waits for a restart:\n%s", status)
	}

	// Off while headquarters changes the chain's layer; restarted while
	// headquarters is down, the box runs with the layers it kept; it
	// catches up once headquarters is back.
	b.stop()
	firstLogs := b.logs.String()
	chain2 := r.put(chainKey, wire.ConfigLayer{Settings: map[string]any{"display.language": "da", "sales.customer_present_window": "75s", "sales.scan_window": "45s"}})
	r.ns.Stop()
	b = startCfgBox(t, cfg)
	if lang := b.language(t); lang != "nb" {
		t.Errorf("restarted without headquarters, the display is in %s, want the till's layer's nb", lang)
	}
	r.ns.Restart()
	st = r.beat("the chain's change caught up", func(st wire.ConfigState) bool { return applied(st, chainKey, chain2) })
	if !slices.Contains(st.Restart, "sales.scan_window") || !applied(st, storeKey, store1) || !applied(st, tillKey, till1) ||
		refusedAt(st, storeKey, store2) == nil || refusedAt(st, tillKey, till2) == nil {
		t.Errorf("after catching up: %+v", st)
	}
	b.stop()

	var out agenttest.Logs
	_ = run(r.ctx, []string{"doctor", "--config", cfg, "--user", "root"}, &out, io.Discard)
	if want := fmt.Sprintf("layers from headquarters applied: %s (revision %d), %s (revision %d), %s (revision %d); refused", chainKey, chain2, storeKey, store1, tillKey, till1); !strings.Contains(out.String(), want) ||
		!strings.Contains(out.String(), "sales.customer_present_window") {
		t.Errorf("doctor does not say %q:\n%s", want, out.String())
	}
	kept, _ := os.ReadFile(filepath.Join(dir, "data", config.LayersName))
	if fi, err := os.Stat(filepath.Join(dir, "data", config.LayersName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the kept layers: %v %v", fi, err)
	}
	all := firstLogs + b.logs.String() + out.String() + string(kept) + text
	for _, secret := range []string{sealedSecret, "not-for-this-box-Qp3", box.Password} {
		if strings.Contains(all, secret) {
			t.Errorf("a secret (%.6s…) in a log, a page or the kept layers", secret)
		}
	}
}
