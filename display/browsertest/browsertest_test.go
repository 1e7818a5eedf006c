package browsertest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// pages serves a page that sends itself to /next once its script runs, and
// /next, whose body arrives in two parts: the #done element only once the
// page asked /release for it. A wait begun on the first page ends on the
// second, through a navigation and a half-parsed page.
func pages(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><body data-page="first"><p>first page</p>
<script>setTimeout(() => { location.href = '/next'; }, 20);</script></body>`)
	})
	mux.HandleFunc("GET /next", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><body data-page="next"><p>loading</p><script>fetch('/release')</script>`)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, `<p id="done" data-ok="yes">done</p></body>`)
	})
	mux.HandleFunc("GET /release", func(w http.ResponseWriter, r *http.Request) {
		select {
		case release <- struct{}{}:
		default:
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestWaitJSThroughNavigation(t *testing.T) {
	srv := pages(t)
	tab := Open(t, New(t), srv.URL+"/", chromedp.EmulateViewport(320, 200))
	WaitJS(t, tab, "the second page, loaded", `document.getElementById('done').dataset.ok === 'yes'`)
	if got := Eval[string](t, tab, `document.body.dataset.page`); got != "next" {
		t.Errorf("the page is %q, want next", got)
	}
	if got := Eval[int64](t, tab, `window.innerWidth`); got != 320 {
		t.Errorf("the viewport is %d wide, want 320", got)
	}
	if shows := Shows(tab); !strings.Contains(shows, srv.URL+"/next") || !strings.Contains(shows, `"page":"next"`) ||
		!strings.Contains(shows, "done") {
		t.Errorf("Shows: %s", shows)
	}
	png, path := Screenshot(t, tab, "next")
	if !strings.HasPrefix(string(png), "\x89PNG") || !strings.HasSuffix(path, "next.png") {
		t.Errorf("the screenshot %s does not look like a PNG", path)
	}
}

// A predicate that throws is false, not an error; one that never holds
// times out; a broken one, or one in a closed tab, fails at once.
func TestWaitJSFailures(t *testing.T) {
	srv := pages(t)
	browser := New(t)
	tab := Open(t, browser, srv.URL+"/next")
	WaitJS(t, tab, "the page loaded", `!!document.getElementById('done')`)
	if Eval[bool](t, tab, Settled(`document.getElementById('nothing').dataset.x === 'y'`)) {
		t.Error("a throwing predicate counts as true")
	}
	if !Eval[bool](t, tab, Settled(`document.getElementById('done').dataset.ok`)) {
		t.Error("a truthy predicate counts as false")
	}

	// Bounds far below WaitBound: the errors, not the timing, are tested.
	if err := waitJS(tab, `document.getElementById('nothing').x`, 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a predicate that never holds: %v", err)
	}
	start := time.Now()
	if err := waitJS(tab, `document.body.dataset.page ===`, time.Minute); err == nil || !strings.Contains(err.Error(), "SyntaxError") {
		t.Errorf("a broken predicate: %v", err)
	}
	closed, cancel := chromedp.NewContext(browser)
	if err := chromedp.Do(closed, chromedp.Navigate(srv.URL+"/next")); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := waitJS(closed, `false`, time.Minute); err == nil {
		t.Error("a closed tab: no error")
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("a broken predicate and a closed tab took %v to fail: waited for the bound", d)
	}
}
