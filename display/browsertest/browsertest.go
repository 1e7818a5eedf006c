// Package browsertest drives a real headless Chromium (chromedp) for the
// tests of the pages tillbox serves: the customer display and the
// technician page. One helper for every package: New starts the browser,
// Open a tab, WaitJS waits for the page to show something, Eval reads it.
//
// A missing Chromium fails the test, loudly and with how to install it: a
// browser test that skips would count as passing without having run.
package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// WaitBound is how long WaitJS waits at most. It only keeps a broken test
// from hanging; it asserts nothing about speed (a busy 2-core CI machine
// running the race detector can be slow).
const WaitBound = 60 * time.Second

// pollEvery is how often WaitJS evaluates its predicate in the page.
const pollEvery = 10 * time.Millisecond

// flags are the Chromium flags of TESTRIGS.md, written out rather than
// left to chromedp's defaults (New adds the fresh user-data-dir): headless,
// no sandbox (root in CI), no GPU, and nothing on the network but what the
// test serves (without the background-networking flags Chromium keeps
// trying to reach the internet).
var flags = []chromedp.ExecAllocatorOption{
	chromedp.Headless,
	chromedp.NoSandbox,
	chromedp.DisableGPU,
	chromedp.NoFirstRun,
	chromedp.Flag("disable-quic", true),
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
}

// installHint says how to get Chromium on a development machine or in CI.
const installHint = "run scripts/ensure-deps.sh as root (make test does), or apt-get install chromium fonts-dejavu-core"

// execPath finds the Chromium binary: Debian's chromium, or another name a
// distribution gives it.
func execPath() (string, error) {
	var errs []error
	for _, name := range []string{"chromium", "chromium-browser"} {
		path, err := exec.LookPath(name)
		if err == nil {
			return path, nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

// New starts a headless Chromium for the test, with a fresh profile in a
// temporary directory, and returns the context of its first tab. The
// browser ends with the test. extra adds flags for this test, e.g.
// chromedp.Flag("hide-scrollbars", true) for screenshots.
func New(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path, err := execPath()
	if err != nil {
		t.Fatalf("chromium is missing, and the browser tests need it: %s (%v)", installHint, err)
	}
	opts := slices.Concat(chromedp.DefaultExecAllocatorOptions[:], flags,
		[]chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir())}, extra)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc) // waits for Chromium to exit, before TempDir is removed
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium (%s): %v", path, err)
	}
	return bctx
}

// Open opens a new tab of browser (New's context), runs before in it (e.g.
// chromedp.EmulateViewport(800, 480)), then loads url. The tab closes with
// the test.
func Open(t testing.TB, browser context.Context, url string, before ...chromedp.Action[chromedp.Void]) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, append(slices.Clip(before), chromedp.Navigate(url))...); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	return ctx
}

// Eval evaluates the JavaScript expression expr in the tab's page and
// returns its value; an error (an exception, a value not a T) fails the
// test.
func Eval[T any](t testing.TB, tab context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// WaitJS waits until the JavaScript predicate holds in the tab's page, for
// WaitBound at most; then it fails the test naming what was awaited and
// what the page shows (its address, its body's data attributes and text).
//
// It survives navigations: a predicate that throws (an element not parsed
// yet) counts as false, and a poll that a navigation ends (a form posted, a
// link followed) starts again on the new page. A tab that closed, or a
// browser that went away, fails at once.
func WaitJS(t testing.TB, tab context.Context, what, predicate string) {
	t.Helper()
	if err := waitJS(tab, predicate, WaitBound); err != nil {
		t.Fatalf("waiting for %s (%s): %v; the page shows %s", what, predicate, err, Shows(tab))
	}
}

// waitJS polls predicate in the page until it holds or bound has passed.
func waitJS(tab context.Context, predicate string, bound time.Duration) error {
	wctx, cancel := context.WithTimeout(tab, bound)
	defer cancel()
	expr := Settled(predicate)
	for {
		left := time.Until(deadline(wctx))
		if left <= 0 {
			return context.DeadlineExceeded
		}
		// The poll runs in the page until the predicate holds, its own
		// timeout ends, or the page goes (a navigation): then again.
		_, err := chromedp.Run(wctx, chromedp.Poll[bool](expr,
			chromedp.WithPollingInterval(pollEvery), chromedp.WithPollingTimeout(left)))
		switch {
		case err == nil:
			return nil
		case wctx.Err() != nil:
			return fmt.Errorf("%w (last: %v)", wctx.Err(), err)
		case errors.Is(err, chromedp.ErrTargetDetached), errors.Is(err, chromedp.ErrChannelClosed),
			errors.Is(err, chromedp.ErrInvalidContext), errors.Is(err, chromedp.ErrNoTarget),
			errors.Is(err, context.Canceled):
			return err // the tab or the browser is gone: nothing will change
		case isSyntaxError(err):
			return err // a broken predicate never holds
		}
		// A navigation ended the poll ("Inspected target navigated or
		// closed", "Cannot find context with specified id", or a page
		// with no execution context yet): look again shortly.
		select {
		case <-wctx.Done():
			return fmt.Errorf("%w (last: %v)", wctx.Err(), err)
		case <-time.After(pollEvery):
		}
	}
}

func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// isSyntaxError tells whether err is the page's refusal to compile the
// predicate.
func isSyntaxError(err error) bool {
	var ee *chromedp.ExceptionError
	return errors.As(err, &ee) && strings.Contains(ee.Error(), "SyntaxError")
}

// Settled is predicate made false, not an error, while the page is still
// being built (an element not parsed yet, a navigation under way):
// chromedp's Poll gives up on the first exception. The result is a
// JavaScript expression that is always true or false.
func Settled(predicate string) string {
	return "(() => { try { return !!(" + predicate + "); } catch (e) { return false; } })()"
}

// showsJS is what a failed wait reports of the page.
const showsJS = `(() => {
  const b = document.body;
  return location.href + ' ' + (b ? JSON.stringify(Object.assign({}, b.dataset)) + ' ' + JSON.stringify(b.innerText) : '(no body yet)');
})()`

// Shows is a line on what the tab's page shows, for a test's failure: its
// address, its body's data attributes and its text. It never fails.
func Shows(tab context.Context) string {
	ctx, cancel := context.WithTimeout(tab, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](showsJS))
	if err != nil {
		return fmt.Sprintf("(the page could not be read: %v)", err)
	}
	return s
}

// Screenshot takes a PNG of the tab's viewport and keeps it as name.png in
// the test's artifact directory (kept with go test -artifacts -outputdir
// DIR). It returns the image and the file's path.
func Screenshot(t testing.TB, tab context.Context, name string) ([]byte, string) {
	t.Helper()
	png, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return png, path
}

// Click waits until the element css selects is ready and clicks it as a
// script would (el.click()): a link follows, a button submits its form.
// chromedp.Click moves the mouse to where the element was a moment
// before, and a page still laying itself out (a sign-in's redirect, a
// refresh) can put another element there: a click on "Log" landed on
// "Scan test" under load.
func Click(css string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := chromedp.WaitReady(chromedp.CSS(css))(ctx, t); err != nil {
			return chromedp.Void{}, err
		}
		q, err := json.Marshal(css)
		if err != nil {
			return chromedp.Void{}, err
		}
		_, err = chromedp.Evaluate[bool](`(() => { const el = document.querySelector(`+string(q)+`); if (!el) throw new Error('no element ' + `+string(q)+`); el.click(); return true })()`)(ctx, t)
		return chromedp.Void{}, err
	}
}
