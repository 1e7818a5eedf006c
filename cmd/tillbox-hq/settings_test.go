package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/display/technician"
)

// settingsRig is a chain of three boxes (two in oslo, one in bergen) as
// headquarters hears of them, one more (oslo/t3) that runs a version
// without layered configuration, headquarters (Main) on PostgreSQL and a
// nats-server, and the configuration file the command line reads.
type settingsRig struct {
	path  string
	hq    *hq
	js    jetstream.JetStream
	kv    jetstream.KeyValue
	boxes map[string]*configBox // "store/till"
}

// configBox is a box's side of the layered configuration: its key pair and
// what its heartbeat says.
type configBox struct {
	*box
	key   wire.ConfigKey
	state *wire.ConfigState // nil: says nothing of it
}

func startSettingsRig(t *testing.T, more ...string) *settingsRig {
	t.Helper()
	tills := []wire.Till{tillOf("oslo", "t1"), tillOf("oslo", "t2"), tillOf("bergen", "t1"), tillOf("oslo", "t3")}
	pg, ns := startPG(t), startNATS(t, tills...)
	r := &settingsRig{path: writeConfig(t, pg.DSN(), ns, 1, more...), boxes: map[string]*configBox{}}
	r.hq = startHQ(t, r.path)
	_, r.js = ns.hqClient(t)
	waitStreams(t, r.js)
	waitFor(t, 30*time.Second, "the settings bucket", func() bool {
		kv, err := r.js.KeyValue(context.Background(), wire.ConfigBucket)
		r.kv = kv
		return err == nil
	})
	for i, till := range tills {
		cb := &configBox{box: newBox(t, ns, till)}
		if i < 3 {
			k, err := wire.NewConfigKey()
			if err != nil {
				t.Fatal(err)
			}
			cb.key, cb.state = k, &wire.ConfigState{Key: k.Public()}
		}
		r.boxes[till.Store+"/"+till.Till] = cb
		cb.beat(t)
	}
	db := pgConn(t, pg.DSN())
	waitFor(t, 30*time.Second, "the tills' heartbeats", func() bool {
		var n int
		err := db.QueryRow(context.Background(), "SELECT count(*) FROM tills WHERE heartbeat IS NOT NULL").Scan(&n)
		return err == nil && n == len(tills)
	})
	return r
}

// beat publishes the box's heartbeat, as the box's own NATS user.
func (b *configBox) beat(t testing.TB) {
	t.Helper()
	hb := wire.Heartbeat{Till: b.till, At: time.Now(), Version: "test", MSN: testMSN, ReferencePrefix: b.prefix(),
		Online: true, Config: b.state}
	if _, err := b.js.Publish(context.Background(), b.till.HeartbeatSubject(), hb.Marshal()); err != nil {
		t.Fatal(err)
	}
}

// cli runs `tillbox-hq settings ARGS --config FILE` with stdin.
func (r *settingsRig) cli(t testing.TB, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append(args[:1:1], append([]string{"--config", r.path}, args[1:]...)...)
	err := runSettings(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

func (r *settingsRig) mustCLI(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, err := r.cli(t, stdin, args...)
	if err != nil {
		t.Fatalf("settings %v: %v\n%s", args, err, out)
	}
	return out
}

// layer reads key's newest layer and revision.
func (r *settingsRig) layer(t testing.TB, key string) (wire.ConfigLayer, uint64) {
	t.Helper()
	e, err := r.kv.Get(context.Background(), key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return wire.ConfigLayer{}, 0
	}
	if err != nil {
		t.Fatal(err)
	}
	l, err := wire.ParseConfigLayer(e.Value())
	if err != nil {
		t.Fatal(err)
	}
	return l, e.Revision()
}

// history reads every revision of key.
func (r *settingsRig) history(t testing.TB, key string) []wire.ConfigLayer {
	t.Helper()
	es, err := r.kv.History(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	var out []wire.ConfigLayer
	for _, e := range es {
		l, err := wire.ParseConfigLayer(e.Value())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

// TestSettings: headquarters makes the bucket; the command line sets and
// unsets fields at the chain, a store and a till, each in its own key with
// who, when and why in the history; a canary at one store is followed on
// its boxes' heartbeats and promoted to the chain; a key is rolled back;
// a secret is sealed per till, opens only with that till's key, and is in
// clear nowhere in the bucket's history.
func TestSettings(t *testing.T) {
	hash, err := technician.HashPassword(pagePassword)
	if err != nil {
		t.Fatal(err)
	}
	r := startSettingsRig(t, "[[user]]\nname = \"it\"\npassword_hash = \""+hash+"\"\n")
	t.Run("bucket", func(t *testing.T) { testBucket(t, r) })
	t.Run("set and unset at each level", func(t *testing.T) { testSetUnset(t, r) })
	t.Run("canary then promote", func(t *testing.T) { testCanary(t, r) })
	t.Run("rollback", func(t *testing.T) { testRollback(t, r) })
	t.Run("secrets", func(t *testing.T) { testSecrets(t, r) })
	t.Run("forms only from the page's own site", func(t *testing.T) { testSettingsForms(t, r) })
	t.Run("page", func(t *testing.T) { testSettingsPage(t, r) })
}

// testSettingsForms: a form posted without a session, or from another
// site with one, changes nothing.
func testSettingsForms(t *testing.T, r *settingsRig) {
	key := wire.StoreConfigKey(testChain, "bergen")
	form := url.Values{"op": {"set"}, "scope": {"store:bergen"}, "field": {"display.language"}, "value": {"en"}}
	post := func(c *http.Client, origin string) int {
		req, err := http.NewRequest(http.MethodPost, r.hq.URL()+"/settings", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
			req.Header.Set("Sec-Fetch-Site", "cross-site")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(http.DefaultClient, ""); code != http.StatusUnauthorized {
		t.Errorf("a form without a session: %d, want 401", code)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(r.hq.URL()+"/login", url.Values{"name": {"it"}, "password": {pagePassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code := post(c, "https://evil.example"); code != http.StatusForbidden {
		t.Errorf("a form from another site: %d, want 403", code)
	}
	if _, rev := r.layer(t, key); rev != 0 {
		t.Errorf("a refused form wrote %s", key)
	}
	if code := post(c, ""); code != http.StatusOK {
		t.Errorf("the same form with the session, from no other site: %d", code)
	}
	if l, _ := r.layer(t, key); l.Settings["display.language"] != "en" || l.By != "it" {
		t.Errorf("the form's change: %+v", l)
	}
	r.mustCLI(t, "", "unset", "--store", "bergen", "display.language")
}

func testBucket(t *testing.T, r *settingsRig) {
	ctx := context.Background()
	st, err := r.kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.History() != wire.ConfigHistory || st.Bucket() != wire.ConfigBucket {
		t.Errorf("bucket %s keeps %d revisions, want %s keeping %d", st.Bucket(), st.History(), wire.ConfigBucket, wire.ConfigHistory)
	}
}

func testSetUnset(t *testing.T, r *settingsRig) {
	chainKey, osloKey := wire.ChainConfigKey(testChain), wire.StoreConfigKey(testChain, "oslo")
	t1 := r.boxes["oslo/t1"]
	r.mustCLI(t, "", "set", "display.language=nb", "--note", "Norwegian everywhere", "--by", "kari")
	r.mustCLI(t, "", "set", "--store", "oslo", "sales.customer_present_window=90s", "sales.scan_window=45s")
	r.mustCLI(t, "", "set", "--till", "oslo/t1", "vipps.timeout=20s", "sales.default_description=Till 1")
	for key, want := range map[string]map[string]any{
		chainKey:                {"display.language": "nb"},
		osloKey:                 {"sales.customer_present_window": "90s", "sales.scan_window": "45s"},
		t1.till.TillConfigKey(): {"vipps.timeout": "20s", "sales.default_description": "Till 1"},
	} {
		l, _ := r.layer(t, key)
		if !reflect.DeepEqual(l.Settings, want) {
			t.Errorf("%s holds %v, want %v", key, l.Settings, want)
		}
		if l.By == "" || l.At.IsZero() || time.Since(l.At) > time.Minute {
			t.Errorf("%s: written by %q at %v", key, l.By, l.At)
		}
	}
	if l, _ := r.layer(t, chainKey); l.By != "kari" || l.Note != "Norwegian everywhere" {
		t.Errorf("the chain's layer says by %q, note %q", l.By, l.Note)
	}
	// The box reads its own key with a direct get, as the box's link does.
	msg, err := t1.nc.Request(wire.ConfigGetSubject(osloKey), nil, 10*time.Second)
	if err != nil {
		t.Fatalf("the box's direct get of its store's key: %v", err)
	}
	if _, rev := r.layer(t, osloKey); msg.Header.Get(wire.HeaderStreamSeq) == "" || !strings.Contains(string(msg.Data), "90s") {
		t.Errorf("the box's direct get answered %q %v (revision %d)", msg.Data, msg.Header, rev)
	}

	r.mustCLI(t, "", "unset", "--store", "oslo", "sales.scan_window", "--note", "back to the file's")
	l, _ := r.layer(t, osloKey)
	if _, ok := l.Settings["sales.scan_window"]; ok || l.Settings["sales.customer_present_window"] != "90s" {
		t.Errorf("after the unset oslo holds %v", l.Settings)
	}
	h := r.history(t, osloKey)
	if len(h) != 2 || h[0].Settings["sales.scan_window"] != "45s" || h[1].Note != "back to the file's" {
		t.Errorf("oslo's history: %+v", h)
	}
	for _, bad := range [][]string{
		{"set", "vipps.client_secret=abc"},
		{"set", "fleet.servers=nats://evil"},
		{"set", "sync.workers=many"},
		{"set", "--store", "oslo", "sales.max_queued=7"}, // a box takes it from its file only
		{"set", "pos.token=x"},
		{"set", "--store", "oslo", "--till", "oslo/t1", "display.language=en"},
		{"unset", "--store", "oslo", "sales.scan_window"},
		{"unset", "--store", "bergen", "vipps.client_secret"},
	} {
		if out, err := r.cli(t, "", bad...); err == nil {
			t.Errorf("settings %v was taken: %s", bad, out)
		}
	}
	if out, _ := r.cli(t, "", "set", "vipps.client_secret=abc"); strings.Contains(out, "abc") {
		t.Errorf("the refusal of a secret on the command line repeats it: %s", out)
	}
}

func testCanary(t *testing.T, r *settingsRig) {
	chainKey, osloKey := wire.ChainConfigKey(testChain), wire.StoreConfigKey(testChain, "oslo")
	t1 := r.boxes["oslo/t1"]
	r.mustCLI(t, "", "set", "--store", "oslo", "display.language=sv", "--note", "canary: Swedish")
	_, rev := r.layer(t, osloKey)
	_, chainRev := r.layer(t, chainKey)
	t2 := r.boxes["oslo/t2"]
	t1.state.Applied = []wire.LayerRevision{{Key: chainKey, Revision: chainRev}, {Key: osloKey, Revision: rev}}
	t1.state.Restart = []string{"display.language"}
	t2.state.Applied = []wire.LayerRevision{{Key: chainKey, Revision: chainRev}}
	t2.state.Refused = []wire.ConfigRefusal{{Key: osloKey, Revision: rev, Field: "display.language", Reason: "sv is not a language of this version"}}
	t1.beat(t)
	t2.beat(t)
	var out string
	defer func() {
		if t.Failed() {
			t.Logf("settings show --store oslo:\n%s", out)
		}
	}()
	waitFor(t, 30*time.Second, "the canary's tills on the page of the command line", func() bool {
		out = r.mustCLI(t, "", "show", "--store", "oslo")
		return strings.Contains(out, "1 applied, 1 refused, 0 waiting")
	})
	for _, want := range []string{
		"refused " + osloKey, "display.language: sv is not a language of this version",
		"waiting for a restart: display.language", `display.language = "sv"`, `note "canary: Swedish"`,
		"takes no configuration from headquarters",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show --store oslo lacks %q:\n%s", want, out)
		}
	}
	if out, err := r.cli(t, "", "promote", "--store", "oslo", "sales.scan_window"); err == nil {
		t.Errorf("a field the store does not set was promoted: %s", out)
	}
	r.mustCLI(t, "", "promote", "--store", "oslo", "display.language", "--note", "the canary went well")
	chain, _ := r.layer(t, chainKey)
	oslo, _ := r.layer(t, osloKey)
	if chain.Settings["display.language"] != "sv" || !strings.Contains(chain.Note, "promoted from store oslo: the canary went well") {
		t.Errorf("after the promotion the chain holds %v (note %q)", chain.Settings, chain.Note)
	}
	if _, ok := oslo.Settings["display.language"]; ok || oslo.Settings["sales.customer_present_window"] != "90s" {
		t.Errorf("after the promotion oslo still holds %v", oslo.Settings)
	}
}

func testRollback(t *testing.T, r *settingsRig) {
	ctx := context.Background()
	chainKey := wire.ChainConfigKey(testChain)
	out := r.mustCLI(t, "", "history")
	if !strings.Contains(out, "by kari") || !strings.Contains(out, `note "Norwegian everywhere"`) || !strings.Contains(out, "promoted from store oslo") {
		t.Errorf("the chain's history:\n%s", out)
	}
	es, err := r.kv.History(ctx, chainKey)
	if err != nil {
		t.Fatal(err)
	}
	first := es[0].Revision()
	r.mustCLI(t, "", "rollback", "--to", jsonNumber(first), "--note", "Swedish was a mistake")
	l, rev := r.layer(t, chainKey)
	if rev <= es[len(es)-1].Revision() || l.Settings["display.language"] != "nb" {
		t.Errorf("after the rollback the chain's key is %v at revision %d", l.Settings, rev)
	}
	if want := "rollback to revision " + jsonNumber(first) + ": Swedish was a mistake"; l.Note != want {
		t.Errorf("the rollback's note %q, want %q", l.Note, want)
	}
	if h := r.history(t, chainKey); len(h) != len(es)+1 {
		t.Errorf("the history has %d revisions after the rollback, want %d", len(h), len(es)+1)
	}
	if out, err := r.cli(t, "", "rollback", "--to", "99999"); err == nil {
		t.Errorf("a rollback to a revision that is not there: %s", out)
	}
}

func testSecrets(t *testing.T, r *settingsRig) {
	t1 := r.boxes["oslo/t1"]
	const secret = "client-secret-Zq81-of-oslo"
	out := r.mustCLI(t, secret+"\n", "set", "--store", "oslo", "--secret", "vipps.client_secret", "--note", "rotated")
	if !strings.Contains(out, "no secret for till oslo/t3") {
		t.Errorf("the till without a key is not named:\n%s", out)
	}
	for _, name := range []string{"oslo/t1", "oslo/t2"} {
		b := r.boxes[name]
		l, _ := r.layer(t, b.till.TillConfigKey())
		got, err := b.key.OpenSecret(b.till, "vipps.client_secret", l.Sealed["vipps.client_secret"])
		if err != nil || got != secret {
			t.Errorf("%s opens %q, %v", name, got, err)
		}
		other := r.boxes["bergen/t1"]
		if _, err := other.key.OpenSecret(b.till, "vipps.client_secret", l.Sealed["vipps.client_secret"]); err == nil {
			t.Errorf("another box's key opens %s's secret", name)
		}
	}
	if l, _ := r.layer(t, r.boxes["bergen/t1"].till.TillConfigKey()); len(l.Sealed) > 0 {
		t.Errorf("bergen's till got oslo's secret: %v", l.Sealed)
	}
	if out, err := r.cli(t, "never\n", "set", "--till", "oslo/t9", "--secret", "vipps.client_secret"); err == nil || !strings.Contains(err.Error(), "heard of") {
		t.Errorf("a secret for a till never heard of: %v\n%s", err, out)
	}
	out = r.mustCLI(t, "", "show", "--till", "oslo/t1")
	if !strings.Contains(out, "vipps.client_secret = (sealed for this till)") || strings.Contains(out, secret) {
		t.Errorf("show --till oslo/t1:\n%s", out)
	}
	r.mustCLI(t, "", "unset", "--store", "oslo", "vipps.client_secret")
	if l, _ := r.layer(t, t1.till.TillConfigKey()); len(l.Sealed) > 0 || l.Settings["vipps.timeout"] != "20s" {
		t.Errorf("after the unset t1 holds %v, sealed %v", l.Settings, l.Sealed)
	}
	// A new Vipps address for bergen: both secrets, a line each on stdin,
	// into its till's layer with the address.
	const key = "subscription-key-Bq55-of-bergen"
	r.mustCLI(t, secret+"\n"+key+"\n", "set", "--store", "bergen", "vipps.base_url=https://vipps.example.test",
		"--secret", "vipps.client_secret,vipps.subscription_key")
	b := r.boxes["bergen/t1"]
	l, _ := r.layer(t, b.till.TillConfigKey())
	for f, want := range map[string]string{"vipps.client_secret": secret, "vipps.subscription_key": key} {
		if got, err := b.key.OpenSecret(b.till, f, l.Sealed[f]); err != nil || got != want {
			t.Errorf("bergen/t1's %s opens %q, %v", f, got, err)
		}
	}
	if l.Settings["vipps.base_url"] != "https://vipps.example.test" {
		t.Errorf("bergen/t1's layer: %v, want the new address", l.Settings)
	}
	if out, err := r.cli(t, secret+"\n", "set", "--store", "bergen", "vipps.base_url=https://other.example.test", "--secret", "vipps.client_secret"); err == nil {
		t.Errorf("a new address with one secret was taken:\n%s", out)
	}
	r.mustCLI(t, "", "unset", "--till", "bergen/t1", "vipps.base_url", "vipps.client_secret", "vipps.subscription_key")
	checkNoClearText(t, r.js, secret)
	checkNoClearText(t, r.js, key)
}

// checkNoClearText reads every message of the bucket's stream (every
// revision of every key) and fails when one holds secret in clear (or
// merely base64-encoded).
func checkNoClearText(t *testing.T, js jetstream.JetStream, secret string) {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, "KV_"+wire.ConfigBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(secret))
	n := 0
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if strings.Contains(string(m.Data), secret) || strings.Contains(string(m.Data), b64) {
			t.Errorf("revision %d of %s holds the secret in clear", seq, m.Subject)
		}
	}
	if n < 10 {
		t.Errorf("read %d revisions of the bucket: too few for this test", n)
	}
}

func jsonNumber(n uint64) string { b, _ := json.Marshal(n); return string(b) }

// TestSettingsHelpAndBadCommandLines: -h prints the usage on stdout; a
// command line not understood exits 2 with its message on stderr, before
// any connection.
func TestSettingsHelpAndBadCommandLines(t *testing.T) {
	for _, args := range [][]string{{"settings", "-h"}, {"settings", "--help"}, {"settings", "set", "-h"}, {"settings", "rollback", "--help"}} {
		var out, errOut bytes.Buffer
		err := run(t.Context(), args, &out, &errOut)
		if code := exitCode(err, &errOut); code != 0 || !strings.Contains(out.String(), "promote --store STORE") || errOut.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out.String(), errOut.String())
		}
	}
	for _, args := range [][]string{
		{"settings"}, {"settings", "frobnicate"}, {"settings", "set", "--no-such-flag"},
		{"settings", "set", "--store", "a b", "x.y=1"}, {"settings", "show", "--store", "s", "--till", "s/t"},
		{"settings", "promote", "display.language"}, {"settings", "rollback"}, {"settings", "history", "extra"},
	} {
		var out, errOut bytes.Buffer
		err := run(t.Context(), append(args, "--config", "/nonexistent/hq.toml"), &out, &errOut)
		if code := exitCode(err, io.Discard); code != 2 || errOut.Len() == 0 || out.Len() != 0 {
			t.Errorf("%q: exit %d (%v), stdout %q, stderr %q; want 2 and a message on stderr", args, code, err, out.String(), errOut.String())
		}
	}
}
