package main

import (
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/display/browsertest"
)

// pastEdgeJS lists the elements that run past the window's edges.
const pastEdgeJS = `(() => { const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.left < -0.5 || r.right > innerWidth + 0.5)) out.push(el.tagName + '.' + el.className);
  }
  return out.join(' ') })()`

// checkBrowser: in headless Chromium on a 390-px phone, the operator logs
// in, opens the till's view from the fleet page, asks for the log's tail
// at warn and sees it; nothing runs past the phone's edge, nor a
// desktop's.
func checkBrowser(t *testing.T, r *actionsRig, till wire.Till) {
	tab := browsertest.Open(t, browsertest.New(t), r.url+"/", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	browsertest.WaitJS(t, tab, "the login form", `document.getElementById('password') !== null`)
	if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS("#name"), "ops"),
		chromedp.SendKeys(chromedp.CSS("#password"), opsPassword), browsertest.Click("button[type=submit]")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the fleet page", `document.getElementById('summary') !== null`)
	if err := chromedp.Do(tab, browsertest.Click(`article[data-till="`+till.Till+`"] a.view`)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the till's view", `document.getElementById('act-logs') !== null`)
	if err := chromedp.Do(tab, chromedp.SetValue(chromedp.CSS("#level"), "warn"),
		browsertest.Click(`#act-logs button[type=submit]`)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the log's tail at warn", `(() => { const s = document.getElementById('shown');
		return s && s.dataset.action === 'logs' && s.dataset.outcome === 'ok' && s.querySelectorAll('ol.logs li.WARN').length > 0
		&& s.querySelectorAll('ol.logs li.INFO').length === 0 })()`)
	if got := browsertest.Eval[string](t, tab, `document.querySelector('#shown .args').innerText`); got != "(level warn)" {
		t.Errorf("the shown action's arguments: %q", got)
	}
	if w := browsertest.Eval[int](t, tab, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("the till's view at 390 px is %d px wide", w)
	}
	if out := browsertest.Eval[string](t, tab, pastEdgeJS); out != "" {
		t.Errorf("past the phone's edge: %s", out)
	}
	browsertest.Screenshot(t, tab, "till-390")

	if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(r.url+"/actions")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the chain's audit at 1280 px", `innerWidth === 1280 && document.querySelectorAll('#audit article.action').length >= 8`)
	if out := browsertest.Eval[string](t, tab, pastEdgeJS); out != "" {
		t.Errorf("past the desktop's edge: %s", out)
	}
	q := url.Values{"store": {till.Store}, "till": {till.Till}}
	if err := chromedp.Do(tab, chromedp.Navigate(r.url+"/till?"+q.Encode())); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the till's view at 1280 px", `document.getElementById('act-restart') !== null`)
	if out := browsertest.Eval[string](t, tab, pastEdgeJS); out != "" {
		t.Errorf("the till's view past the desktop's edge: %s", out)
	}
	browsertest.Screenshot(t, tab, "till-1280")
}
