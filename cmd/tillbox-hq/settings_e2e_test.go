package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqnats"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/settings"
	"github.com/tillbox/tillbox/display/technician"
)

// e2eBound bounds each wait of the end-to-end settings test: long, for a
// busy 2-core machine under -race; a wait ends at its event.
const e2eBound = 2 * time.Minute

// e2eTechPassword is the boxes' technician password (set as `tillbox
// passwd` does, before they start).
const e2eTechPassword = "technician-password-of-the-e2e"

// e2eSecret is the client secret headquarters seals for oslo/t1: never in
// a log, a page or the bucket in clear.
const e2eSecret = "e2e-sealed-client-secret-Hv27q"

// e2eRig is the chain of the end-to-end settings test: three real
// `tillbox run` boxes (oslo/t1, oslo/t2, bergen/t1) with the simulator,
// tillbox-hq as a process, one nats-server (TLS, a user per box) and
// PostgreSQL; headquarters' settings API on the same NATS and PostgreSQL
// as `tillbox-hq settings` opens it.
type e2eRig struct {
	chain *fleetdemo.Chain
	st    *settings.Settings
	cfg   string // headquarters' configuration file
	boxes map[string]*fleetdemo.Box
	ops   *http.Client // signed in to headquarters' pages

	mu    sync.Mutex
	techs map[string]*e2eTech // a signed-in technician page per box
	pages []string            // every page read, for the secret's check
}

func startE2ERig(t *testing.T) *e2eRig {
	t.Helper()
	stores := []fleetdemo.Store{{ID: "oslo", MSN: "400001", Tills: []string{"t1", "t2"}}, {ID: "bergen", MSN: "400002", Tills: []string{"t1"}}}
	// One password for the technician pages and headquarters' operator.
	c, _ := opsChain(t, stores, e2eTechPassword)
	hash, err := technician.HashPassword(e2eTechPassword)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := &e2eRig{chain: c, cfg: c.HQ().ConfigFile(), boxes: map[string]*fleetdemo.Box{}, techs: map[string]*e2eTech{}}
	// The technician password, as `tillbox passwd` sets it; the boxes
	// read it at their start.
	var wg sync.WaitGroup
	errs := make([]error, len(c.Boxes()))
	for i, b := range c.Boxes() {
		r.boxes[b.Till.Store+"/"+b.Till.Till] = b
		if err := technician.WritePasswordFile(filepath.Join(b.Dir(), "data"), hash); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { errs[i] = b.Restart(ctx) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	hc, err := loadConfig(r.cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	st, closeAll, err := openSettings(context.Background(), hc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeAll)
	r.st = st
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	r.ops = &http.Client{Jar: jar, Timeout: time.Minute}
	resp, err := r.ops.PostForm(c.HQ().URL()+"/login", url.Values{"name": {"ops"}, "password": {e2eTechPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login at headquarters: %d", resp.StatusCode)
	}
	return r
}

// TestSettingsEndToEnd: headquarters' layered configuration with real
// boxes: a chain-level change reaches and applies live on every box (its
// pages say so, headquarters shows each till applied); a store's and a
// till's overrides win for their boxes only; a refused change is reported
// with the field and the reason while the box keeps its last good value;
// a canary at one store is promoted without a change on its boxes and
// rolled back from the history, while a stopped box catches up once
// started; a sealed secret opens on its box (from the till's layer) and is
// in clear nowhere; restart-only fields wait for a restart and clear
// after one; and headquarters refuses what no box takes.
func TestSettingsEndToEnd(t *testing.T) {
	r := startE2ERig(t)
	steps := []struct {
		name string
		f    func(*testing.T, *e2eRig)
	}{
		{"a chain change applies live everywhere", testE2EChain},
		{"store and till overrides", testE2EOverrides},
		{"a refused change", testE2ERefused},
		{"canary, promote and rollback with a box off", testE2ECanary},
		{"a sealed secret and the fields waiting for a restart", testE2ESecret},
		{"the kinds of values", testE2EKinds},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.f(t, r) }) {
			return // the next steps build on this one
		}
	}
}

func testE2EChain(t *testing.T, r *e2eRig) {
	chainKey := wire.ChainConfigKey(testChain)
	res := r.apply(t, settings.Change{Scope: settings.ChainScope(), By: "kari", Note: "Norwegian everywhere",
		Set: map[string]any{"display.language": "nb", "sales.customer_present_window": "90s"}})
	rev := written(t, res, chainKey)
	r.waitTills(t, "every till applied the chain's layer", func(tv settings.TillView) bool {
		return tv.Keys[0].State == settings.StateApplied && tv.Keys[0].Applied == rev && len(tv.Restart) == 0
	})
	for name, b := range r.boxes {
		r.waitLanguage(t, b, "nb")
		if status := r.techPage(t, name, ""); !strings.Contains(status, fmt.Sprintf("%s (revision %d)", chainKey, rev)) {
			t.Errorf("%s's status page does not say it runs %s revision %d:\n%s", name, chainKey, rev, status)
		}
		want := fmt.Sprintf("from headquarters, the chain's layer (%s, revision %d)", chainKey, rev)
		r.waitFrom(t, name, "sales.customer_present_window", want)
		if row, want := r.hqRow(t, name, wire.LevelChain), fmt.Sprintf("applied %d %d", rev, rev); row != want {
			t.Errorf("headquarters' settings page shows %s's chain key as %q, want %q", name, row, want)
		}
	}
}

func testE2EOverrides(t *testing.T, r *e2eRig) {
	bergenKey, t2Key := wire.StoreConfigKey(testChain, "bergen"), tillOf("oslo", "t2").TillConfigKey()
	bergen := written(t, r.apply(t, settings.Change{Scope: settings.StoreScope("bergen"), By: "kari",
		Set: map[string]any{"display.language": "da"}}), bergenKey)
	t2 := written(t, r.apply(t, settings.Change{Scope: settings.TillScope("oslo", "t2"), By: "kari",
		Set: map[string]any{"display.language": "fi"}}), t2Key)
	r.waitTill(t, "bergen/t1", "the store's layer applied", func(tv settings.TillView) bool { return tv.Keys[1].Applied == bergen })
	r.waitTill(t, "oslo/t2", "the till's layer applied", func(tv settings.TillView) bool { return tv.Keys[2].Applied == t2 })
	r.waitLanguage(t, r.boxes["bergen/t1"], "da")
	r.waitLanguage(t, r.boxes["oslo/t2"], "fi")
	r.waitFrom(t, "bergen/t1", "display.language", fmt.Sprintf("from headquarters, the store's layer (%s, revision %d)", bergenKey, bergen))
	r.waitFrom(t, "oslo/t2", "display.language", fmt.Sprintf("from headquarters, the till's layer (%s, revision %d)", t2Key, t2))
	// The store's layer beats the chain's for oslo too: a store layer for
	// oslo and oslo/t2's own layer, oslo/t1 takes the store's.
	oslo := written(t, r.apply(t, settings.Change{Scope: settings.StoreScope("oslo"), By: "kari",
		Set: map[string]any{"display.language": "da"}}), wire.StoreConfigKey(testChain, "oslo"))
	r.waitTill(t, "oslo/t2", "oslo's layer applied", func(tv settings.TillView) bool { return tv.Keys[1].Applied == oslo })
	r.waitTill(t, "oslo/t1", "oslo's layer applied", func(tv settings.TillView) bool { return tv.Keys[1].Applied == oslo })
	r.waitLanguage(t, r.boxes["oslo/t1"], "da")
	if got := r.language(t, r.boxes["oslo/t2"]); got != "fi" {
		t.Errorf("oslo/t2's display is in %s after oslo's layer: its own layer's fi must win", got)
	}
	r.apply(t, settings.Change{Scope: settings.StoreScope("oslo"), By: "kari", Unset: []string{"display.language"}})
	r.waitLanguage(t, r.boxes["oslo/t1"], "nb")
	if got := r.language(t, r.boxes["bergen/t1"]); got != "da" {
		t.Errorf("bergen/t1's display is in %s: oslo's layer changed it", got)
	}
}

func testE2ERefused(t *testing.T, r *e2eRig) {
	chainKey := wire.ChainConfigKey(testChain)
	bad := written(t, r.apply(t, settings.Change{Scope: settings.ChainScope(), By: "kari", Note: "a typo",
		Set: map[string]any{"display.language": "xx"}}), chainKey)
	tv := r.waitTill(t, "oslo/t1", "the chain's bad layer refused", func(tv settings.TillView) bool {
		return tv.Keys[0].State == settings.StateRefused
	})
	if ref := tv.Keys[0].Refusal; ref.Revision != bad || ref.Field != "display.language" || !strings.Contains(ref.Reason, "xx") {
		t.Errorf("headquarters shows the refusal %+v, want revision %d, display.language and why", ref, bad)
	}
	if row := r.hqRow(t, "oslo/t1", wire.LevelChain); !strings.HasPrefix(row, fmt.Sprintf("refused %d ", bad)) {
		t.Errorf("headquarters' settings page shows oslo/t1's chain key as %q, want refused at %d", row, bad)
	}
	if tv.Keys[0].Applied >= bad {
		t.Errorf("oslo/t1 runs the refused revision %d", tv.Keys[0].Applied)
	}
	if got := r.language(t, r.boxes["oslo/t1"]); got != "nb" {
		t.Errorf("oslo/t1's display is in %s after a refused change, want its last good nb", got)
	}
	// The boxes whose store or till sets the language take the chain's
	// layer: its xx is not theirs.
	r.waitTill(t, "oslo/t2", "the chain's layer taken under the till's language", func(tv settings.TillView) bool {
		return tv.Keys[0].Applied == bad
	})
	var out string
	defer func() {
		if t.Failed() {
			t.Logf("settings show --till oslo/t1:\n%s", out)
		}
	}()
	out = r.cli(t, "", "show", "--till", "oslo/t1")
	if !strings.Contains(out, "refused "+chainKey) || !strings.Contains(out, "display.language:") {
		t.Errorf("settings show does not name the refusal")
	}
	// Rolled back from the history: the box takes the good layer again.
	hist, err := r.st.History(context.Background(), chainKey)
	if err != nil {
		t.Fatal(err)
	}
	back, err := r.st.Rollback(context.Background(), chainKey, hist[len(hist)-2].Revision, "kari", "the typo")
	if err != nil {
		t.Fatal(err)
	}
	r.waitTills(t, "every till applied the rollback", func(tv settings.TillView) bool {
		return tv.Keys[0].State == settings.StateApplied && tv.Keys[0].Applied == back.Revision && len(tv.Refused) == 0
	})
}

func testE2ECanary(t *testing.T, r *e2eRig) {
	chainKey, bergenKey := wire.ChainConfigKey(testChain), wire.StoreConfigKey(testChain, "bergen")
	ctx := context.Background()
	off := r.boxes["oslo/t1"]
	if err := off.Stop(); err != nil {
		t.Fatal(err)
	}
	r.forget("oslo/t1")
	before := r.currentRevision(t, chainKey)
	// The canary: bergen first.
	canary := written(t, r.apply(t, settings.Change{Scope: settings.StoreScope("bergen"), By: "kari", Note: "canary",
		Set: map[string]any{"sales.customer_present_window": "60s"}}), bergenKey)
	r.waitTill(t, "bergen/t1", "the canary applied", func(tv settings.TillView) bool { return tv.Keys[1].Applied == canary })
	r.waitStore(t, "bergen", "the canary's progress", func(sv settings.StoreView) bool { return sv.Applied == 1 && sv.Waiting == 0 })
	r.waitFrom(t, "bergen/t1", "sales.customer_present_window", fmt.Sprintf("the store's layer (%s, revision %d)", bergenKey, canary))
	mark := len(r.boxes["bergen/t1"].Log())
	res, err := r.st.Promote(ctx, "bergen", []string{"sales.customer_present_window"}, "kari", "the canary went well")
	if err != nil {
		t.Fatal(err)
	}
	promoted, unset := written(t, res, chainKey), written(t, res, bergenKey)
	r.waitTill(t, "bergen/t1", "the promotion applied", func(tv settings.TillView) bool {
		return tv.Keys[0].Applied == promoted && tv.Keys[1].Applied == unset
	})
	r.waitTill(t, "oslo/t2", "the promotion applied", func(tv settings.TillView) bool { return tv.Keys[0].Applied == promoted })
	r.waitFrom(t, "oslo/t2", "sales.customer_present_window", fmt.Sprintf("the chain's layer (%s, revision %d)", chainKey, promoted))
	r.waitFrom(t, "bergen/t1", "sales.customer_present_window", fmt.Sprintf("the chain's layer (%s, revision %d)", chainKey, promoted))
	// The canary store's box saw no change of value in the promotion: it
	// applied both keys' new revisions, neither changing a field.
	n := 0
	for _, line := range strings.Split(r.boxes["bergen/t1"].Log()[mark:], "\n") {
		if strings.Contains(line, "configuration from headquarters applied") {
			n++
			if !strings.Contains(line, "changed=[]") {
				t.Errorf("bergen/t1 changed a value in the promotion: %s", line)
			}
		}
	}
	if n < 2 {
		t.Errorf("bergen/t1 logged %d applied layers in the promotion, want the chain's and its store's", n)
	}
	// Rolled back from the history to before the promotion.
	back, err := r.st.Rollback(ctx, chainKey, before, "kari", "60 s was too short after all")
	if err != nil {
		t.Fatal(err)
	}
	r.waitTills(t, "the running tills applied the rollback", func(tv settings.TillView) bool {
		return tv.Till.Till == "t1" && tv.Till.Store == "oslo" || tv.Keys[0].Applied == back.Revision
	})
	r.waitFrom(t, "bergen/t1", "sales.customer_present_window", fmt.Sprintf("the chain's layer (%s, revision %d)", chainKey, back.Revision))
	if tv := r.till(t, "oslo/t1"); tv.Keys[0].State != settings.StateWaiting {
		t.Errorf("headquarters shows the stopped oslo/t1's chain key %s, want waiting", tv.Keys[0].State)
	}
	// The box that was off catches up to the final value.
	sctx, cancel := context.WithTimeout(ctx, e2eBound)
	defer cancel()
	if err := off.Start(sctx); err != nil {
		t.Fatal(err)
	}
	r.waitTill(t, "oslo/t1", "the stopped box caught up", func(tv settings.TillView) bool {
		return tv.Keys[0].State == settings.StateApplied && tv.Keys[0].Applied == back.Revision
	})
	r.waitFrom(t, "oslo/t1", "sales.customer_present_window", fmt.Sprintf("the chain's layer (%s, revision %d)", chainKey, back.Revision))
	r.waitLanguage(t, off, "nb")
}

func testE2ESecret(t *testing.T, r *e2eRig) {
	t1Key, osloKey := tillOf("oslo", "t1").TillConfigKey(), wire.StoreConfigKey(testChain, "oslo")
	r.cli(t, e2eSecret+"\n", "set", "--till", "oslo/t1", "--secret", "vipps.client_secret", "--note", "rotated")
	sealed := r.currentRevision(t, t1Key)
	timeout := written(t, r.apply(t, settings.Change{Scope: settings.StoreScope("oslo"), By: "kari",
		Set: map[string]any{"vipps.timeout": "20s"}}), osloKey)
	r.waitTill(t, "oslo/t1", "the sealed secret and the timeout applied, waiting for a restart", func(tv settings.TillView) bool {
		return tv.Keys[2].Applied == sealed && tv.Keys[1].Applied == timeout &&
			slices.Equal(tv.Restart, []string{"vipps.client_secret", "vipps.timeout"})
	})
	r.waitTill(t, "oslo/t2", "the timeout waiting for a restart", func(tv settings.TillView) bool {
		return tv.Keys[1].Applied == timeout && slices.Equal(tv.Restart, []string{"vipps.timeout"})
	})
	if row, want := r.hqRow(t, "oslo/t1", wire.LevelTill), fmt.Sprintf("applied %d %d", sealed, sealed); row != want {
		t.Errorf("headquarters' settings page shows oslo/t1's own key as %q, want %q (the sealed secret opened)", row, want)
	}
	page := r.techPage(t, "oslo/t1", "settings")
	if want := fmt.Sprintf(`<span id="client_secret-state">set, from headquarters, the till's layer (%s, revision %d)</span>`, t1Key, sealed); !strings.Contains(page, want) {
		t.Errorf("oslo/t1's settings page does not say %q:\n%s", want, page)
	}
	if status := r.techPage(t, "oslo/t1", ""); !strings.Contains(status, "applies after a restart: vipps.client_secret, vipps.timeout") {
		t.Errorf("oslo/t1's status page does not list what waits for a restart:\n%s", status)
	}
	// A restart takes them: nothing waits any more on oslo/t1; oslo/t2,
	// not restarted, still waits.
	ctx, cancel := context.WithTimeout(context.Background(), e2eBound)
	defer cancel()
	if err := r.boxes["oslo/t1"].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	r.forget("oslo/t1")
	r.waitTill(t, "oslo/t1", "nothing waiting for a restart after one", func(tv settings.TillView) bool {
		return tv.Keys[2].Applied == sealed && len(tv.Restart) == 0
	})
	if tv := r.till(t, "oslo/t2"); !slices.Equal(tv.Restart, []string{"vipps.timeout"}) {
		t.Errorf("oslo/t2 (not restarted) waits for %v, want vipps.timeout", tv.Restart)
	}
	// The box pays with the secret it opened (the simulator takes any).
	if page := r.techPage(t, "oslo/t1", "settings"); !strings.Contains(page, "the till's layer") {
		t.Errorf("after the restart oslo/t1's secret does not come from the till's layer:\n%s", page)
	}
	// The secret in clear nowhere: no box's or headquarters' log, no page
	// read, no revision of the bucket, no box's kept layers.
	all := r.chain.HQ().Log()
	for _, b := range r.boxes {
		all += b.Log()
		kept, _ := os.ReadFile(filepath.Join(b.Dir(), "data", "fleet-layers.json"))
		all += string(kept)
	}
	r.mu.Lock()
	all += strings.Join(r.pages, "\n")
	r.mu.Unlock()
	all += r.cli(t, "", "show") + r.cli(t, "", "history", "--till", "oslo/t1")
	if strings.Contains(all, e2eSecret) {
		t.Error("the sealed secret is in clear in a log, a page or a box's kept layers")
	}
	nc, js := jsOf(t, connectHQ(t, r))
	defer nc.Close()
	checkNoClearText(t, js, e2eSecret)
}

func testE2EKinds(t *testing.T, r *e2eRig) {
	bergenT1 := tillOf("bergen", "t1").TillConfigKey()
	b := r.boxes["bergen/t1"]
	// A list of scanner tables with a number (baud), as the form's text.
	text := fmt.Sprintf(`[{"name":"counter","driver":"serial","match":%q,"terminator":"CR","baud":19200}]`, filepath.Join(b.Dir(), "scanner"))
	v, err := settings.ParseValue(settings.Scanners, text)
	if err != nil {
		t.Fatal(err)
	}
	d, err := settings.ParseValue("sales.scan_window", "45s")
	if err != nil {
		t.Fatal(err)
	}
	rev := written(t, r.apply(t, settings.Change{Scope: settings.TillScope("bergen", "t1"), By: "kari",
		Set: map[string]any{settings.Scanners: v, "sales.scan_window": d}}), bergenT1)
	tv := r.waitTill(t, "bergen/t1", "the scanners and the scan window taken", func(tv settings.TillView) bool {
		return tv.Keys[2].Applied == rev || tv.Keys[2].State == settings.StateRefused
	})
	if tv.Keys[2].State != settings.StateApplied || !slices.Contains(tv.Restart, "scanner") || !slices.Contains(tv.Restart, "sales.scan_window") {
		t.Errorf("bergen/t1 made of the scanners and a duration: %+v, restart %v", tv.Keys[2], tv.Restart)
	}
	// Every field headquarters offers is one a box takes: the others are
	// refused at headquarters, before any box sees them.
	for _, f := range []string{"sales.max_queued=50", "metrics.enabled=true", "box.hosts=a.lan", "log.level=debug", "sync.workers=2"} {
		out, err := r.cliErr(t, "", "set", "--store", "bergen", f)
		if err == nil || !strings.Contains(err.Error(), "cannot be set by headquarters") {
			t.Errorf("settings set %s: %v\n%s", f, err, out)
		}
	}
	for _, f := range settings.KnownFields {
		if settings.CheckField(f) != nil {
			t.Errorf("the forms offer %s, which headquarters refuses", f)
		}
	}
}

// The rig's helpers.

func (r *e2eRig) apply(t *testing.T, c settings.Change) settings.Result {
	t.Helper()
	res, err := r.st.Apply(context.Background(), c)
	if err != nil {
		t.Fatalf("settings: %v", err)
	}
	return res
}

func written(t *testing.T, res settings.Result, key string) uint64 {
	t.Helper()
	for _, w := range res.Written {
		if w.Key == key {
			return w.Revision
		}
	}
	t.Fatalf("%s not written: %+v", key, res.Written)
	return 0
}

func (r *e2eRig) currentRevision(t *testing.T, key string) uint64 {
	t.Helper()
	h, err := r.st.History(context.Background(), key)
	if err != nil || len(h) == 0 {
		t.Fatalf("the history of %s: %v", key, err)
	}
	return h[len(h)-1].Revision
}

// cliErr runs `tillbox-hq settings ARGS --config FILE`.
func (r *e2eRig) cliErr(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut strings.Builder
	args = append(args[:1:1], append([]string{"--config", r.cfg}, args[1:]...)...)
	err := runSettings(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String() + errOut.String(), err
}

func (r *e2eRig) cli(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := r.cliErr(t, stdin, args...)
	if err != nil {
		t.Fatalf("settings %v: %v\n%s", args, err, out)
	}
	return out
}

// poll waits until cond holds, looking every 100 ms (each look reads the
// bucket and PostgreSQL).
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(e2eBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", e2eBound, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *e2eRig) overview(t *testing.T) *settings.Overview {
	t.Helper()
	ov, err := r.st.Overview(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ov
}

// till is what headquarters shows of a till ("store/till").
func (r *e2eRig) till(t *testing.T, name string) settings.TillView {
	t.Helper()
	for _, sv := range r.overview(t).Stores {
		for _, tv := range sv.Tills {
			if tv.Till.Store+"/"+tv.Till.Till == name && len(tv.Keys) == 3 {
				return tv
			}
		}
	}
	t.Fatalf("headquarters does not show %s", name)
	return settings.TillView{}
}

func (r *e2eRig) waitTill(t *testing.T, name, what string, cond func(settings.TillView) bool) settings.TillView {
	t.Helper()
	var tv settings.TillView
	defer func() {
		if t.Failed() {
			t.Logf("headquarters shows %s: %+v", name, tv)
		}
	}()
	poll(t, name+": "+what, func() bool { tv = r.till(t, name); return cond(tv) })
	return tv
}

func (r *e2eRig) waitTills(t *testing.T, what string, cond func(settings.TillView) bool) {
	t.Helper()
	for name := range r.boxes {
		r.waitTill(t, name, what, cond)
	}
}

func (r *e2eRig) waitStore(t *testing.T, store, what string, cond func(settings.StoreView) bool) {
	t.Helper()
	poll(t, store+": "+what, func() bool {
		for _, sv := range r.overview(t).Stores {
			if sv.Store == store {
				return cond(sv)
			}
		}
		return false
	})
}

// hqRow is the row of level's key in the till's table on headquarters'
// settings page: its class is the state, then newest and applied
// revisions.
func (r *e2eRig) hqRow(t *testing.T, name string, level wire.Level) string {
	t.Helper()
	body, resp := httpGet(t, r.ops, r.chain.HQ().URL()+"/settings")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("headquarters' settings page: %s", resp.Status)
	}
	r.mu.Lock()
	r.pages = append(r.pages, body)
	r.mu.Unlock()
	store, till, _ := strings.Cut(name, "/")
	i := strings.Index(body, `id="till-`+store+`-`+till+`"`)
	if i < 0 {
		t.Fatalf("headquarters' settings page has no %s:\n%s", name, body)
	}
	m := regexp.MustCompile(`<tr class="([a-z ]+)" data-level="` + string(level) + `"><td>[a-z]+</td><td>([0-9–]+)</td><td>([0-9–]+)</td>`).FindStringSubmatch(body[i:])
	if m == nil {
		t.Fatalf("headquarters' settings page has no %s row for %s", level, name)
	}
	return m[1] + " " + m[2] + " " + m[3]
}

// displayPrinted is the customer display's address in a box's log.
var displayPrinted = regexp.MustCompile(`customer display on (http://127\.0\.0\.1:\d+/\S*)`)

// language is the box's customer display's language now.
func (r *e2eRig) language(t *testing.T, b *fleetdemo.Box) string {
	t.Helper()
	ms := displayPrinted.FindAllStringSubmatch(b.Log(), -1)
	if len(ms) == 0 {
		t.Fatalf("%s printed no display's address", b.Till)
	}
	body, _ := httpGet(t, http.DefaultClient, ms[len(ms)-1][1])
	m := regexp.MustCompile(`<html lang="([a-z]+)">`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no language on %s's display", b.Till)
	}
	return m[1]
}

func (r *e2eRig) waitLanguage(t *testing.T, b *fleetdemo.Box, want string) {
	t.Helper()
	poll(t, b.Till.String()+"'s display in "+want, func() bool { return r.language(t, b) == want })
}

func httpGet(t *testing.T, c *http.Client, u string) (string, *http.Response) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp
}

// e2eTech is a signed-in client of a box's technician page.
type e2eTech struct {
	base string
	c    *http.Client
}

var e2eCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// tech signs in to the box's technician page (again after a restart).
func (r *e2eRig) tech(t *testing.T, name string) *e2eTech {
	t.Helper()
	b := r.boxes[name]
	base := b.TechnicianURL()
	if base == "" {
		t.Fatalf("%s is down", name)
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	r.mu.Lock()
	h := r.techs[name]
	r.mu.Unlock()
	if h != nil && h.base == base {
		return h
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	h = &e2eTech{base: base, c: &http.Client{Jar: jar, Timeout: time.Minute}}
	page, _ := httpGet(t, h.c, base+"signin")
	m := e2eCSRF.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("%s's sign-in page has no form token:\n%s", name, page)
	}
	resp, err := h.c.PostForm(base+"signin", url.Values{"csrf": {m[1]}, "password": {e2eTechPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.HasSuffix(resp.Request.URL.Path, "signin") {
		t.Fatalf("signing in to %s's technician page: %s at %s", name, resp.Status, resp.Request.URL)
	}
	r.mu.Lock()
	r.techs[name] = h
	r.mu.Unlock()
	return h
}

// forget drops the session of a box that stopped.
func (r *e2eRig) forget(name string) {
	r.mu.Lock()
	delete(r.techs, name)
	r.mu.Unlock()
}

// techPage reads a page of the box's technician page, its entities
// unescaped.
func (r *e2eRig) techPage(t *testing.T, name, path string) string {
	t.Helper()
	h := r.tech(t, name)
	body, resp := httpGet(t, h.c, h.base+path)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s's technician page %q: %s", name, path, resp.Status)
	}
	r.mu.Lock()
	r.pages = append(r.pages, body)
	r.mu.Unlock()
	return html.UnescapeString(body)
}

// waitFrom waits until the box's settings page says field comes from
// what it should.
func (r *e2eRig) waitFrom(t *testing.T, name, field, want string) {
	t.Helper()
	var page string
	defer func() {
		if t.Failed() {
			t.Logf("%s's settings page:\n%s", name, page)
		}
	}()
	poll(t, fmt.Sprintf("%s's settings page: %s %s", name, field, want), func() bool {
		page = r.techPage(t, name, "settings")
		i := strings.Index(page, `data-from="`+field+`">`)
		if i < 0 {
			return false
		}
		j := strings.Index(page[i:], "</p>")
		return j >= 0 && strings.Contains(page[i:i+j], want)
	})
}

// connectHQ connects to NATS as headquarters, as its file says.
func connectHQ(t *testing.T, r *e2eRig) *nats.Conn {
	t.Helper()
	hc, err := loadConfig(r.cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := hqnats.Connect(&hc.NATS, newLogger(io.Discard, 0))
	if err != nil {
		t.Fatal(err)
	}
	return nc
}
