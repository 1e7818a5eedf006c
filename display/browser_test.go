package display_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tillbox/tillbox/display/browsertest"
)

var updateScreens = flag.Bool("update-screens", false, "write the screenshots of README.md and docs/display.md to docs/screens/")

// newBrowser is browsertest's headless Chromium with the scrollbars
// hidden, as on the box's kiosk display (and in the screenshots).
func newBrowser(t testing.TB) context.Context {
	t.Helper()
	return browsertest.New(t, chromedp.Flag("hide-scrollbars", true))
}

// tab is one display: a browser tab of a size on the display page.
type tab struct {
	ctx  context.Context
	name string // e.g. "800x480"
	w, h int64
}

func openTab(t testing.TB, browser context.Context, w, h int64, url string) *tab {
	t.Helper()
	ctx := browsertest.Open(t, browser, url, chromedp.EmulateViewport(w, h))
	return &tab{ctx: ctx, name: fmt.Sprintf("%dx%d", w, h), w: w, h: h}
}

// wait waits until the page's predicate (JavaScript) holds.
func (tb *tab) wait(t testing.TB, what, predicate string) {
	t.Helper()
	browsertest.WaitJS(t, tb.ctx, tb.name+": "+what, predicate)
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
	var s shown
	if err := json.Unmarshal([]byte(browsertest.Eval[string](t, tb.ctx, shownJS)), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// screenshot saves the tab's screen as name.png in the test's artifact
// directory (kept with go test -artifacts -outputdir DIR), and in
// docs/screens/ with -update-screens when keep.
func (tb *tab) screenshot(t *testing.T, name string, keep bool) {
	t.Helper()
	png, _ := browsertest.Screenshot(t, tb.ctx, name+"-"+tb.name)
	if keep && *updateScreens {
		if err := os.WriteFile(filepath.Join("..", "docs", "screens", name+"-"+tb.name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// nbsp makes the test's plain spaces the page's no-break spaces in amounts.
func nbsp(s string) string { return strings.ReplaceAll(s, " ", "\u00a0") }
