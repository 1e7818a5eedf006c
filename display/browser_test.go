package display_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var updateScreens = flag.Bool("update-screens", false, "write the screenshots of README.md and docs/display.md to docs/screens/")

// newBrowser starts a headless Chromium for the test (flags of
// TESTRIGS.md: no sandbox, no GPU, nothing reached on the network but what
// the test serves). A missing Chromium fails the test: `make deps` installs it.
func newBrowser(t testing.TB) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is missing (apt-get install chromium fonts-dejavu-core; make deps does it as root): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("hide-scrollbars", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return bctx
}

// tab is one display: a browser tab of a size on the display page.
type tab struct {
	ctx  context.Context
	name string // e.g. "800x480"
	w, h int64
}

func openTab(t testing.TB, browser context.Context, w, h int64, url string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h), chromedp.Navigate(url)); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	return &tab{ctx: ctx, name: fmt.Sprintf("%dx%d", w, h), w: w, h: h}
}

// wait waits until the page's predicate (JavaScript) holds. The bound only
// keeps a broken test from hanging; it asserts nothing about speed.
func (tb *tab) wait(t testing.TB, what, predicate string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](settled(predicate), chromedp.WithPollingInterval(5*time.Millisecond))); err != nil {
		body, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.body.dataset.screen + ' / ' + document.body.innerText`))
		t.Fatalf("%s: waiting for %s: %v; the page shows %q", tb.name, what, err, body)
	}
}

// waitScreen waits until the page shows screen, connected to the box.
func (tb *tab) waitScreen(t testing.TB, screen string) {
	t.Helper()
	tb.wait(t, "screen "+screen, fmt.Sprintf(`document.body.dataset.screen === %q && document.body.dataset.conn === 'up'`, screen))
}

// shown is what the page shows: the visible screen's text, the badges, and
// whether everything visible fits in the window.
type shown struct {
	Screen  string `json:"screen"`
	Text    string `json:"text"`
	Net     string `json:"net"`  // the "no network" badge, "" when hidden
	Conn    string `json:"conn"` // the "unreachable" overlay, "" when hidden
	Outside string `json:"outside"`
	HTML    string `json:"html"`
}

const shownJS = `(() => {
  const vis = el => el && !el.hidden ? el.innerText.trim() : '';
  const sec = document.getElementById(document.body.dataset.screen);
  let outside = '';
  for (const el of [sec, ...sec.querySelectorAll('*'), document.getElementById('net'), document.getElementById('conn')]) {
    if (!el || el.closest('[hidden]')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.left < -0.5 || r.top < -0.5 || r.right > innerWidth + 0.5 || r.bottom > innerHeight + 0.5 ||
        el.scrollWidth > el.clientWidth + 1) {
      outside += (el.id || el.className || el.tagName) + ' ';
    }
  }
  return JSON.stringify({screen: document.body.dataset.screen, text: vis(sec).replace(/[ \t\r\n]+/g, ' '),
    net: vis(document.getElementById('net')), conn: vis(document.getElementById('conn')),
    outside: outside, html: document.documentElement.outerHTML});
})()`

func (tb *tab) shown(t testing.TB) shown {
	t.Helper()
	raw, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](shownJS))
	if err != nil {
		t.Fatalf("%s: reading the page: %v", tb.name, err)
	}
	var s shown
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// screenshot saves the tab's screen as name.png in the test's artifact
// directory (kept with go test -artifacts -outputdir DIR), and in
// docs/screens/ with -update-screens when keep.
func (tb *tab) screenshot(t *testing.T, name string, keep bool) {
	t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("%s: screenshot: %v", tb.name, err)
	}
	file := name + "-" + tb.name + ".png"
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), file), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if keep && *updateScreens {
		if err := os.WriteFile(filepath.Join("..", "docs", "screens", file), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// nbsp makes the test's plain spaces the page's no-break spaces in amounts.
func nbsp(s string) string { return strings.ReplaceAll(s, " ", "\u00a0") }

// settled is predicate made false, not an error, while the page is still
// being built (a navigation under way: an element not parsed yet): chromedp's
// Poll gives up on the first exception.
func settled(predicate string) string {
	return "(() => { try { return !!(" + predicate + "); } catch (e) { return false; } })()"
}
