package fleetpage

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// newBrowser starts a headless Chromium for the test, its own profile in a
// temporary folder, reaching nothing on the network but what the test
// serves. A missing Chromium fails the test.
//
// TODO: switch to display/browsertest once it is on main.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is missing: install it with `apt-get install chromium fonts-dejavu-core` (make deps does it as root): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("hide-scrollbars", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// waitFor waits until the page's predicate (JavaScript) holds, looking
// again while a navigation is under way; the bound only keeps a broken test
// from hanging.
func waitFor(t *testing.T, ctx context.Context, what, predicate string) {
	t.Helper()
	safe := "(() => { try { return !!(" + predicate + "); } catch (e) { return false; } })()"
	deadline := time.Now().Add(30 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		ok, err := chromedp.Run(pctx, chromedp.Poll[bool](safe, chromedp.WithPollingInterval(10*time.Millisecond)))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + ': ' + document.body.innerText`))
			t.Fatalf("waiting for %s: %v; the page shows %q", what, err, text)
		}
	}
}

// seen is what the browser shows of the fleet page.
type seen struct {
	Summary     string            `json:"summary"`
	Stores      map[string]string `json:"stores"` // store → its text
	Tills       map[string]string `json:"tills"`  // till → its class
	ScrollWidth int               `json:"scrollWidth"`
	Outside     []string          `json:"outside"` // elements past the window's right edge
}

const seenJS = `(() => {
  const s = {summary: document.getElementById('summary').innerText, stores: {}, tills: {},
    scrollWidth: document.documentElement.scrollWidth, outside: []};
  for (const el of document.querySelectorAll('section.store')) s.stores[el.dataset.store] = el.innerText.replace(/[ \t\r\n]+/g, ' ');
  for (const el of document.querySelectorAll('article.till')) s.tills[el.dataset.till] = el.className;
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.left < -0.5 || r.right > innerWidth + 0.5)) s.outside.push(el.tagName + '.' + el.className);
  }
  return JSON.stringify(s);
})()`

func TestBrowserPhone(t *testing.T) {
	r := newRig(t, twoStores(start), nil)
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(r.srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	// Sent to the login form; a wrong password first.
	waitFor(t, ctx, "the login form", `document.getElementById('password') !== null`)
	if w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > 390 {
		t.Errorf("the login form at 390 px is %d px wide (%v)", w, err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#name"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), "not the password"),
		chromedp.Click(chromedp.CSS("button[type=submit]"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the refusal", `document.getElementById('problem').innerText === 'Wrong name or password.'`)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Click(chromedp.CSS("button[type=submit]"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the fleet page", `document.getElementById('summary') !== null`)

	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](seenJS))
	if err != nil {
		t.Fatal(err)
	}
	var s seen
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Summary, "Tills connected 1/2") || !strings.Contains(s.Summary, "2 stores") {
		t.Errorf("summary %q, want tills connected 1/2, 2 stores", s.Summary)
	}
	if len(s.Stores) != 2 {
		t.Errorf("stores %v, want bergen-1 and oslo-1", s.Stores)
	}
	if !strings.Contains(s.Tills["till-1"], "up") || !strings.Contains(s.Tills["till-7"], "down") {
		t.Errorf("tills %v: want till-1 connected, till-7 offline", s.Tills)
	}
	if offline, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('offline').innerText`)); err != nil ||
		offline != "Offline: oslo-1 till-7" {
		t.Errorf("the offline tills at the top: %q (%v)", offline, err)
	}
	nb := func(x string) string { return strings.ReplaceAll(x, " ", "\u00a0") }
	for store, wants := range map[string][]string{
		"bergen-1": {"till-1 connected", "Sales 12 (11 completed)", "Amount " + nb("12 345,00 kr"),
			"Captured " + nb("12 000,00 kr"), "Refunded " + nb("123,45 kr"), "Heartbeat 2 s ago"},
		"oslo-1": {"till-7 offline", "Heartbeat 5 min ago", "Amount " + nb("598,00 kr"), "Captured " + nb("498,00 kr"),
			"missing: self-checkout", "7 events", "Vipps MobilePay offline (last known)"},
	} {
		for _, want := range wants {
			if !strings.Contains(s.Stores[store], want) {
				t.Errorf("%s lacks %q: %q", store, want, s.Stores[store])
			}
		}
	}
	if s.ScrollWidth > 390 || len(s.Outside) > 0 {
		t.Errorf("at 390 px the page is %d px wide; past the edge: %v", s.ScrollWidth, s.Outside)
	}
	screenshot(t, ctx, "fleet-390.png")

	// On a desktop's screen too, nothing runs past the edge.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the fleet page at 1280 px", `document.getElementById('summary') !== null && innerWidth === 1280`)
	raw, err = chromedp.Run(ctx, chromedp.Evaluate[string](seenJS))
	if err != nil {
		t.Fatal(err)
	}
	s = seen{}
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatal(err)
	}
	if s.ScrollWidth > 1280 || len(s.Outside) > 0 || len(s.Tills) != 2 {
		t.Errorf("at 1280 px the page is %d px wide, past the edge: %v; tills %v", s.ScrollWidth, s.Outside, s.Tills)
	}
	screenshot(t, ctx, "fleet-1280.png")
}

// screenshot keeps the page's picture with the test's artifacts (go test
// -artifacts -outputdir DIR).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
