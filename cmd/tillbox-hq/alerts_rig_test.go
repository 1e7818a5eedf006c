package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/chromedp/chromedp"
	"github.com/creack/pty"
	"golang.org/x/term"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo/fleetdemotest"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/pgtest"
	"github.com/tillbox/tillbox/display/browsertest"
	"github.com/tillbox/tillbox/display/technician"
)

// alertVersion is the version the test's tillbox is stamped with: the
// newest in the fleet.
const alertVersion = "v1.1.0"

// alertRig is a chain for the alerts' test: headquarters (this test binary
// as tillbox-hq), two `tillbox run` boxes in oslo-1 (t1 reaches Vipps
// MobilePay through a proxy that can refuse its credentials; t2 has an
// outbox cap of 5 and a second serial scanner, "door", on a
// pseudo-terminal the test plugs and unplugs), and a box of bergen-1 the
// test plays itself (f1: heartbeats and journal published with its own
// NATS user).
type alertRig struct {
	chain  *fleetdemo.Chain
	pg     *pgtest.Postgres
	t1, t2 *fleetdemo.Box
	refuse atomic.Bool // the proxy refuses t1's credentials
	door   *doorScanner
	fake   *fakeBox
	tab    context.Context // the browser, logged in
}

// startAlertRig starts the chain and logs a browser at 390 px in to the
// fleet page.
func startAlertRig(t *testing.T) *alertRig {
	t.Helper()
	r := &alertRig{pg: pgtest.Start(t)}
	stores := []fleetdemo.Store{{ID: "oslo-1", MSN: "300001", Tills: []string{"t1", "t2"}}}
	fakeTill := wire.Till{Chain: testChain, Store: "bergen-1", Till: "f1"}
	ns := natstest.Start(t, natstest.Options{TLS: true, Tills: append(fleetdemotest.Tills(testChain, stores), fakeTill)})
	const password = "alerts-password-1"
	hash, err := technician.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	orchestrator := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := fleetdemo.Start(ctx, fleetdemo.Options{
		Chain: testChain, Stores: stores, Dir: t.TempDir(),
		TillboxBin: buildStampedTillbox(t, alertVersion), HQBin: hqAsProcess(t),
		NATS: fleetdemotest.NATS([]string{ns.URL()}, ns, 1), PostgresDSN: r.pg.DSN(), Heartbeat: time.Second,
		Users:  []fleetdemo.User{{Name: "ops", PasswordHash: hash}},
		Logger: slog.New(slog.NewTextHandler(orchestrator, nil)),
	})
	if err != nil {
		t.Fatalf("the chain does not start: %v\n%s", err, orchestrator.String())
	}
	r.chain = c
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("stopping the chain: %v", err)
		}
		if t.Failed() {
			t.Logf("tillbox-hq's log (tail):\n%s", tail(c.HQ().Log(), 80))
			for _, b := range c.Boxes() {
				t.Logf("%s's log (tail):\n%s", b.Till, tail(b.Log(), 40))
			}
		}
	})
	r.t1, r.t2 = c.Box(tillOf("oslo-1", "t1")), c.Box(tillOf("oslo-1", "t2"))
	r.configureBoxes(t)
	chain := &chainNATS{urls: ns.URL(), servers: []*natstest.Server{ns}, one: ns}
	r.fake = startFakeBox(t, newBox(t, chain, fakeTill))
	r.tab = loginBrowser(t, c.HQ().URL(), "ops", password)
	return r
}

// buildStampedTillbox builds tillbox with version v stamped in, as a
// release is.
func buildStampedTillbox(t *testing.T, v string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tillbox")
	out, err := exec.Command("go", "build", "-ldflags", "-X github.com/tillbox/tillbox/agent/version.stamp="+v,
		"-o", bin, "github.com/tillbox/tillbox/cmd/tillbox").CombinedOutput()
	if err != nil {
		t.Fatalf("go build tillbox: %v\n%s", err, out)
	}
	return bin
}

// configureBoxes points t1 at the refusing proxy, gives t2 a cap of 5 and
// its door scanner, and restarts both.
func (r *alertRig) configureBoxes(t *testing.T) {
	t.Helper()
	sim, err := url.Parse(r.chain.SimURL())
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(sim)
	proxy := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.refuse.Load() {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"type":"about:blank","title":"Unauthorized","status":401,"detail":"Invalid client_id or client_secret."}`)
			return
		}
		forward.ServeHTTP(w, req)
	})}
	ln := listenLoopback(t)
	go func() { _ = proxy.Serve(ln) }()
	t.Cleanup(func() { _ = proxy.Close() })
	editConfig(t, r.t1.ConfigFile(), func(doc map[string]any) {
		doc["vipps"].(map[string]any)["base_url"] = "http://" + ln.Addr().String()
	})
	r.door = plugDoor(t, filepath.Join(r.t2.Dir(), "door"))
	editConfig(t, r.t2.ConfigFile(), func(doc map[string]any) {
		doc["sales"].(map[string]any)["max_queued"] = 5
		scanners, _ := doc["scanner"].([]map[string]any)
		doc["scanner"] = append(scanners, map[string]any{"name": "door", "driver": "serial", "match": r.door.link, "terminator": "CR"})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, b := range []*fleetdemo.Box{r.t1, r.t2} {
		wg.Go(func() { errs[i] = b.Restart(ctx) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// listenLoopback listens on a free port of 127.0.0.1.
func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// editConfig rewrites the TOML file at path after edit.
func editConfig(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	doc := map[string]any{}
	if _, err := toml.DecodeFile(path, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// doorScanner is a virtual serial scanner: a pseudo-terminal behind a
// link the box's configuration names. Unplug closes it; plug makes a new
// one behind the same link.
type doorScanner struct {
	link        string
	master, tty *os.File
}

func plugDoor(t *testing.T, link string) *doorScanner {
	t.Helper()
	d := &doorScanner{link: link}
	d.plug(t)
	t.Cleanup(d.unplug)
	return d
}

func (d *doorScanner) plug(t *testing.T) {
	t.Helper()
	master, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := term.MakeRaw(int(tty.Fd())); err != nil {
		t.Fatal(err)
	}
	d.master, d.tty = master, tty
	_ = os.Remove(d.link)
	if err := os.Symlink(tty.Name(), d.link); err != nil {
		t.Fatal(err)
	}
}

func (d *doorScanner) unplug() {
	if d.master != nil {
		_ = d.master.Close()
		_ = d.tty.Close()
		d.master, d.tty = nil, nil
	}
}

// fakeBox is a box the test plays: it beats every 300 ms with the
// heartbeat the test sets, as its own NATS user.
type fakeBox struct {
	*box
	mu   sync.Mutex
	hb   wire.Heartbeat
	skew time.Duration // the box's clock less the right time
}

func startFakeBox(t *testing.T, b *box) *fakeBox {
	t.Helper()
	f := &fakeBox{box: b, hb: wire.Heartbeat{Till: b.till, Version: alertVersion, MSN: "300002",
		ReferencePrefix: b.prefix(), Online: true, QueueCap: 10000, Auth: wire.AuthAccepted,
		Scanners: []wire.Scanner{{Name: "counter", Connected: true}}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			_ = f.beat(ctx)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

// set changes the heartbeat (and the box's clock's skew) and publishes it
// at once.
func (f *fakeBox) set(t *testing.T, change func(hb *wire.Heartbeat, skew *time.Duration)) {
	t.Helper()
	f.mu.Lock()
	change(&f.hb, &f.skew)
	f.mu.Unlock()
	if err := f.beat(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// beat publishes the heartbeat, At by the box's clock.
func (f *fakeBox) beat(ctx context.Context) error {
	f.mu.Lock()
	hb := f.hb
	hb.At = time.Now().UTC().Add(f.skew)
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := f.js.Publish(ctx, f.till.HeartbeatSubject(), hb.Marshal())
	return err
}

// loginBrowser opens a 390-px phone's browser on the fleet page and logs
// in.
func loginBrowser(t *testing.T, base, name, password string) context.Context {
	t.Helper()
	tab := browsertest.Open(t, browsertest.New(t), base+"/alerts", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	browsertest.WaitJS(t, tab, "the login form", `document.getElementById('password') !== null`)
	if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#password"), password), browsertest.Click("button[type=submit]")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the fleet page", `document.getElementById('summary') !== null`)
	return tab
}

// pageAlert is an alert as the browser shows it.
type pageAlert struct {
	Store, Till, Kind, Text string
}

// pageSeen is what the browser shows of the alerts page.
type pageSeen struct {
	Summary     string
	Alerts      []pageAlert
	ScrollWidth int
}

const pageSeenJS = `JSON.stringify({Summary: document.getElementById('alerts-summary').innerText,
  ScrollWidth: document.documentElement.scrollWidth,
  Alerts: [...document.querySelectorAll('article.alert')].map(el => ({Store: el.closest('section').dataset.store,
    Till: el.dataset.till, Kind: el.dataset.kind, Text: el.innerText.replace(/\s+/g, ' ')}))})`

// alertsPage loads the alerts page in the browser and reads it.
func (r *alertRig) alertsPage(t *testing.T) pageSeen {
	t.Helper()
	if err := chromedp.Do(r.tab, chromedp.Navigate(r.chain.HQ().URL()+"/alerts")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, r.tab, "the alerts page", `document.getElementById('alerts-summary') !== null`)
	var s pageSeen
	if err := json.Unmarshal([]byte(browsertest.Eval[string](t, r.tab, pageSeenJS)), &s); err != nil {
		t.Fatal(err)
	}
	if s.ScrollWidth > 390 {
		t.Errorf("the alerts page is %d px wide on a 390-px phone", s.ScrollWidth)
	}
	return s
}

// metrics reads headquarters' /metrics.
func (r *alertRig) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(r.chain.HQ().URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// alertSeries is the series of an open alert on /metrics.
func alertSeries(kind string, till wire.Till) string {
	return fmt.Sprintf(`tillbox_hq_alert{kind=%q,store=%q,till=%q} 1`, kind, till.Store, till.Till)
}

// waitAlert waits until /metrics has (or no longer has) the alert, then
// checks the alerts page in the browser says the same, and returns the
// page's alert (raised) with its reason.
func (r *alertRig) waitAlert(t *testing.T, kind string, till wire.Till, raised bool, bound time.Duration) pageAlert {
	t.Helper()
	what := map[bool]string{true: "raised", false: "cleared"}[raised]
	waitFor(t, bound, fmt.Sprintf("%s of %s %s on /metrics", kind, till, what), func() bool {
		return strings.Contains(r.metrics(t), alertSeries(kind, till)) == raised
	})
	for _, a := range r.alertsPage(t).Alerts {
		if a.Store == till.Store && a.Till == till.Till && a.Kind == kind {
			if !raised {
				t.Fatalf("%s of %s cleared on /metrics, still on the page: %+v", kind, till, a)
			}
			return a
		}
	}
	if raised {
		t.Fatalf("%s of %s raised on /metrics, not on the page", kind, till)
	}
	return pageAlert{}
}

// sell rings up a sale on b with the customer in the request.
func sell(t *testing.T, b *fleetdemo.Box, ref string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := b.Client().CreateSale(ctx, agent.SaleRequest{Reference: ref, Amount: 4900, Currency: "NOK",
		Description: "Kaffe", Customer: &agent.Customer{PersonalQR: fleetdemo.PersonalQR}}); err != nil {
		t.Fatalf("%s: sale %s: %v", b.Till, ref, err)
	}
}
