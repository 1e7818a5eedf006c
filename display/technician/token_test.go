package technician_test

import (
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/fleet"
	"github.com/tillbox/tillbox/display/technician"
)

// TestStatusToken: the Headquarters section says where the access token
// comes from, when it expires and what happens then, and headquarters'
// refusal.
func TestStatusToken(t *testing.T) {
	b := newBox(t, false)
	fs := fleet.Status{Till: "acme/oslo-1/t1", Connected: true, Server: "tls://hq.example.com:4222",
		Token: &fleet.TokenState{From: "hq", Expires: b.clock().Add(54*time.Minute + 30*time.Second), Then: "payments wait"}}
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
	h := b.client()
	h.signIn(password)
	_, page := h.do("GET", "", nil, nil)
	if text := html.UnescapeString(string(page)); !strings.Contains(text, "from headquarters, expires in 54 min; then: payments wait") {
		t.Errorf("the status page lacks the token's line:\n%s", text)
	}
	fs.Token = &fleet.TokenState{From: "box", Expires: b.clock().Add(2*time.Hour + time.Minute), Then: "own secret",
		Error: "vipps accessToken: from token source: 403 access token denied by headquarters (not_allowed)"}
	_, page = h.do("GET", "", nil, nil)
	if text := html.UnescapeString(string(page)); !strings.Contains(text, "from the box's own client secret, expires in 2 h") || !strings.Contains(text, "then: own secret") || !strings.Contains(text, "denied by headquarters (not_allowed)") {
		t.Errorf("the status page lacks the fallback's line:\n%s", text)
	}
}
