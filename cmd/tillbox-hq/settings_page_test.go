package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/display/browsertest"
)

const pagePassword = "settings-page-password-1"

// settingsSeen is what the browser shows of the settings page.
type settingsSeen struct {
	Notice      string            `json:"notice"`
	Problem     string            `json:"problem"`
	Sections    map[string]string `json:"sections"` // id → its text
	HTML        string            `json:"html"`
	ScrollWidth int               `json:"scrollWidth"`
	Outside     []string          `json:"outside"`
}

const settingsSeenJS = `JSON.stringify((() => {
  const text = id => { const el = document.getElementById(id) || document.querySelector(id); return el ? el.innerText.replace(/[ \t\r\n]+/g, ' ') : ''; };
  const s = {notice: [...document.querySelectorAll('.notice')].map(e => e.innerText).join(' | '), problem: text('problem'),
    sections: {}, html: document.documentElement.outerHTML, scrollWidth: document.documentElement.scrollWidth, outside: []};
  for (const el of document.querySelectorAll('section.layer, article.till-layer, article.revision')) s.sections[el.id || el.dataset.revision] = el.innerText.replace(/[ \t\r\n]+/g, ' ');
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.left < -0.5 || r.right > innerWidth + 0.5)) s.outside.push(el.tagName + '.' + el.className);
  }
  return s;
})())`

func readSettingsPage(t *testing.T, tab context.Context) settingsSeen {
	t.Helper()
	var s settingsSeen
	if err := json.Unmarshal([]byte(browsertest.Eval[string](t, tab, settingsSeenJS)), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// fillSettingsForm opens the details of a form (by its summary) and types into its fields.
func fillSettingsForm(t *testing.T, tab context.Context, summary string, fields map[string]string) {
	t.Helper()
	if err := chromedp.Do(tab, browsertest.Click(summary)); err != nil {
		t.Fatal(err)
	}
	for css, v := range fields {
		if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS(css), v)); err != nil {
			t.Fatalf("typing into %s: %v", css, err)
		}
	}
}

// testSettingsPage: a signed-in user on a 390-px phone reads the layers
// and what each box made of them, sets a field for a store, seals a secret
// for a till, promotes the canary store's field and rolls the chain's key
// back from its history; nothing runs past the edge, on a desktop either.
func testSettingsPage(t *testing.T, r *settingsRig) {
	tab := browsertest.Open(t, browsertest.New(t), r.hq.URL()+"/settings", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	browsertest.WaitJS(t, tab, "the login form", `document.getElementById('password') !== null`)
	if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS("#name"), "it"),
		chromedp.SendKeys(chromedp.CSS("#password"), pagePassword), browsertest.Click("button[type=submit]")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the fleet page with its link to the settings", `document.querySelector('nav a[href=settings]') !== null`)
	if err := chromedp.Do(tab, browsertest.Click("nav a[href=settings]")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the settings page", `document.getElementById('chain') !== null`)
	s := readSettingsPage(t, tab)
	for id, wants := range map[string][]string{
		// Since the promotion oslo's tills have not said they took its newest revision.
		"store-oslo":   {"Its tills on revision", "0 applied, 0 refused, 2 waiting", "sales.customer_present_window 90s"},
		"till-oslo-t1": {"Waiting for a restart: display.language", "vipps.timeout"},
		"till-oslo-t2": {"Refused " + wire.StoreConfigKey(testChain, "oslo"), "display.language: sv is not a language of this version"},
		"till-oslo-t3": {"takes no configuration from headquarters"},
		"chain":        {"display.language", "nb", "rollback to revision"},
	} {
		for _, want := range wants {
			if !strings.Contains(s.Sections[id], want) {
				t.Errorf("%s lacks %q: %q", id, want, s.Sections[id])
			}
		}
	}
	checkSettingsFit(t, s, 390)
	browsertest.Screenshot(t, tab, "settings-390")
	rev := pageSetAndSeal(t, r, tab)
	pagePromoteAndRollBack(t, r, tab, rev)

	// On a desktop's screen too, nothing runs past the edge.
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(r.hq.URL()+"/settings")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the settings page at 1280 px", `document.getElementById('chain') !== null && innerWidth === 1280`)
	checkSettingsFit(t, readSettingsPage(t, tab), 1280)
	browsertest.Screenshot(t, tab, "settings-1280")
}

// pageSetAndSeal sets a field for store bergen and seals a secret for
// till bergen/t1 with the page's forms; it returns bergen's revision.
func pageSetAndSeal(t *testing.T, r *settingsRig, tab context.Context) uint64 {
	// A field for store bergen.
	fillSettingsForm(t, tab, "#store-bergen > details.change summary", map[string]string{
		"#store-bergen > details.change form.set input[name=field]": "sales.scan_window",
		"#store-bergen > details.change form.set input[name=value]": "45s",
		"#store-bergen > details.change form.set input[name=note]":  "bergen first",
	})
	if err := chromedp.Do(tab, browsertest.Click("#store-bergen > details.change form.set button")); err != nil {
		t.Fatal(err)
	}
	bergenKey := wire.StoreConfigKey(testChain, "bergen")
	browsertest.WaitJS(t, tab, "the set's notice", `document.querySelector('.notice') !== null`)
	l, rev := r.layer(t, bergenKey)
	if l.Settings["sales.scan_window"] != "45s" || l.By != "it" || l.Note != "bergen first" {
		t.Fatalf("bergen's layer after the form: %+v", l)
	}
	if s := readSettingsPage(t, tab); !strings.Contains(s.Notice, "Wrote "+bergenKey+", revision "+strconv.FormatUint(rev, 10)) {
		t.Errorf("the notice %q", s.Notice)
	}

	// A secret for till bergen/t1: sealed, never shown back.
	const secret = "subscription-key-7Hq-bergen"
	bt1 := r.boxes["bergen/t1"]
	fillSettingsForm(t, tab, "#till-bergen-t1 details.change summary", map[string]string{
		"#till-bergen-t1 form.secret input[name=secret]": secret,
	})
	if err := chromedp.Do(tab, chromedp.SetValue(chromedp.CSS("#till-bergen-t1 form.secret select"), "vipps.subscription_key"),
		browsertest.Click("#till-bergen-t1 form.secret button")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the sealed secret on the page", `(document.getElementById('till-bergen-t1') || {innerText: ''}).innerText.includes('sealed for this till')`)
	tl, _ := r.layer(t, bt1.till.TillConfigKey())
	if got, err := bt1.key.OpenSecret(bt1.till, "vipps.subscription_key", tl.Sealed["vipps.subscription_key"]); err != nil || got != secret {
		t.Errorf("bergen/t1 opens %q, %v", got, err)
	}
	if s := readSettingsPage(t, tab); strings.Contains(s.HTML, secret) {
		t.Error("the page shows the secret")
	}
	return rev
}

// pagePromoteAndRollBack promotes bergen's canary field (at revision rev)
// to the chain once its box applied it, then rolls the chain's key back
// from its history page.
func pagePromoteAndRollBack(t *testing.T, r *settingsRig, tab context.Context, rev uint64) {
	bt1, bergenKey := r.boxes["bergen/t1"], wire.StoreConfigKey(testChain, "bergen")

	// The canary at bergen: its box applied it; promoted to the chain.
	chainKey := wire.ChainConfigKey(testChain)
	_, chainRev := r.layer(t, chainKey)
	bt1.state.Applied = []wire.LayerRevision{{Key: chainKey, Revision: chainRev}, {Key: bergenKey, Revision: rev}}
	bt1.beat(t)
	browsertest.WaitJS(t, tab, "bergen's till applied the canary", `(() => {
	  if (document.getElementById('store-bergen').innerText.includes('1 applied')) return true;
	  if (!window.reloading) { window.reloading = true; setTimeout(() => location.reload(), 300); }
	  return false; })()`)
	if err := chromedp.Do(tab, browsertest.Click("#store-bergen details.promote summary"),
		browsertest.Click("#store-bergen form.promote input[value='sales.scan_window']"),
		browsertest.Click("#store-bergen form.promote button")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the promotion's notice", `document.querySelector('.notice') !== null && document.querySelector('.notice').innerText.includes('`+chainKey+`')`)
	if l, _ := r.layer(t, chainKey); l.Settings["sales.scan_window"] != "45s" || l.By != "it" {
		t.Errorf("the chain after the promotion: %+v", l)
	}
	if l, _ := r.layer(t, bergenKey); len(l.Settings) != 0 {
		t.Errorf("bergen after the promotion: %v", l.Settings)
	}

	// The chain's history, and a rollback to the revision before the promotion.
	_, before := r.layer(t, chainKey)
	if err := chromedp.Do(tab, browsertest.Click("#chain a[href^=history]")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the chain's history", `document.getElementById('key') !== null`)
	hs := readSettingsPage(t, tab)
	if !strings.Contains(hs.Sections[strconv.FormatUint(before, 10)], "(current)") ||
		!strings.Contains(hs.Sections[strconv.FormatUint(before, 10)], "promoted from store bergen") {
		t.Errorf("the history's newest revision: %q", hs.Sections[strconv.FormatUint(before, 10)])
	}
	checkSettingsFit(t, hs, 390)
	browsertest.Screenshot(t, tab, "history-390")
	target := strconv.FormatUint(chainRev, 10)
	if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS("article[data-revision='"+target+"'] input[name=note]"), "undo the scan window"),
		browsertest.Click("article[data-revision='"+target+"'] form.rollback button")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the rollback's notice", `document.querySelector('.notice') !== null && document.querySelector('.notice').innerText.includes('as it was at revision `+target+`')`)
	if l, rev := r.layer(t, chainKey); rev <= before || l.Settings["sales.scan_window"] != nil || l.Note != "rollback to revision "+target+": undo the scan window" {
		t.Errorf("the chain after the rollback, revision %d: %+v", rev, l)
	}

}

func checkSettingsFit(t *testing.T, s settingsSeen, width int) {
	t.Helper()
	if s.ScrollWidth > width || len(s.Outside) > 0 {
		t.Errorf("at %d px the page is %d px wide; past the edge: %v", width, s.ScrollWidth, s.Outside)
	}
}
