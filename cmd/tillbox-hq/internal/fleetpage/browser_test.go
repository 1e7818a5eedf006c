package fleetpage

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tillbox/tillbox/display/browsertest"
)

// seen is what the browser shows of the fleet page.
type seen struct {
	Summary     string            `json:"summary"`
	Offline     string            `json:"offline"`
	Stores      map[string]string `json:"stores"` // store → its text
	Tills       map[string]string `json:"tills"`  // till → its class
	ScrollWidth int               `json:"scrollWidth"`
	Outside     []string          `json:"outside"` // elements past the window's edges
}

const seenJS = `JSON.stringify((() => {
  const s = {summary: document.getElementById('summary').innerText, offline: document.getElementById('offline').innerText,
    stores: {}, tills: {}, scrollWidth: document.documentElement.scrollWidth, outside: []};
  for (const el of document.querySelectorAll('section.store')) s.stores[el.dataset.store] = el.innerText.replace(/[ \t\r\n]+/g, ' ');
  for (const el of document.querySelectorAll('article.till')) s.tills[el.dataset.till] = el.className;
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.left < -0.5 || r.right > innerWidth + 0.5)) s.outside.push(el.tagName + '.' + el.className);
  }
  return s;
})())`

func readSeen(t *testing.T, tab context.Context) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal([]byte(browsertest.Eval[string](t, tab, seenJS)), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBrowserPhone logs in on a 390-px phone and reads the fleet: two
// stores, one till connected and one stale, the sales, nothing wider than
// the phone.
func TestBrowserPhone(t *testing.T) {
	r := newRig(t, twoStores(start), nil)
	tab := browsertest.Open(t, browsertest.New(t), r.srv.URL+"/", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))

	// Sent to the login form; a wrong password first.
	browsertest.WaitJS(t, tab, "the login form", `document.getElementById('password') !== null`)
	if w := browsertest.Eval[int](t, tab, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("the login form at 390 px is %d px wide", w)
	}
	if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS("#name"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), "not the password"), browsertest.Click("button[type=submit]")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the refusal", `document.getElementById('problem').innerText === 'Wrong name or password.'`)
	if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		browsertest.Click("button[type=submit]")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the fleet page", `document.getElementById('summary') !== null`)

	s := readSeen(t, tab)
	if !strings.Contains(s.Summary, "Tills connected 1/2") || !strings.Contains(s.Summary, "2 stores") {
		t.Errorf("summary %q, want tills connected 1/2, 2 stores", s.Summary)
	}
	if s.Offline != "Offline: oslo-1 till-7" {
		t.Errorf("the offline tills at the top: %q", s.Offline)
	}
	if len(s.Stores) != 2 {
		t.Errorf("stores %v, want bergen-1 and oslo-1", s.Stores)
	}
	if !strings.Contains(s.Tills["till-1"], "up") || !strings.Contains(s.Tills["till-7"], "down") {
		t.Errorf("tills %v: want till-1 connected, till-7 offline", s.Tills)
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
	browsertest.Screenshot(t, tab, "fleet-390")

	// On a desktop's screen too, nothing runs past the edge.
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, 800), chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the fleet page at 1280 px", `document.getElementById('summary') !== null && innerWidth === 1280`)
	if s := readSeen(t, tab); s.ScrollWidth > 1280 || len(s.Outside) > 0 || len(s.Tills) != 2 {
		t.Errorf("at 1280 px the page is %d px wide, past the edge: %v; tills %v", s.ScrollWidth, s.Outside, s.Tills)
	}
	browsertest.Screenshot(t, tab, "fleet-1280")
}
