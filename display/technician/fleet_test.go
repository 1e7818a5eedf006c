package technician_test

import (
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/agent/fleet"
	"github.com/tillbox/tillbox/display/technician"
)

// TestStatusHeadquarters: the status page's Headquarters section says
// whether the link is off, connected or not, and how far behind
// headquarters is.
func TestStatusHeadquarters(t *testing.T) {
	b := newBox(t, false)
	h := b.client()
	h.signIn(password)
	_, page := h.do("GET", "", nil, nil)
	if text := html.UnescapeString(string(page)); !strings.Contains(text, "<h2>Headquarters</h2>") || !strings.Contains(text, "off (no [fleet] servers") {
		t.Errorf("without [fleet], the status page:\n%s", text)
	}

	fs := fleet.Status{Till: "acme/oslo-1/t1", Server: "tls://hq.example.com:4222", LastSeq: 42, Shipped: 30, Lag: 12, PrunedFrom: 1, PrunedTo: 5}
	o := b.opts
	o.Fleet = func() fleet.Status { return fs }
	c, err := technician.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mux := http.NewServeMux()
	mux.Handle(technician.Path, c.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	b.url = srv.URL + technician.Path
	h = b.client()
	h.signIn(password)
	_, page = h.do("GET", "", nil, nil)
	text := html.UnescapeString(string(page))
	for _, want := range []string{"not connected", "(last: tls://hq.example.com:4222)", "12 events not shipped yet (headquarters acknowledged 30 of 42)", "events 1 to 5 were pruned"} {
		if !strings.Contains(text, want) {
			t.Errorf("the status page lacks %q:\n%s", want, text)
		}
	}
	fs = fleet.Status{Till: "acme/oslo-1/t1", Connected: true, Server: "tls://hq.example.com:4222", LastSeq: 42, Shipped: 42}
	_, page = h.do("GET", "", nil, nil)
	if text := html.UnescapeString(string(page)); !strings.Contains(text, "connected to tls://hq.example.com:4222") || !strings.Contains(text, "none: headquarters has every event (last 42)") {
		t.Errorf("connected, caught up:\n%s", text)
	}
}
