package fleetpage

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the chain's time zone also on a machine without tzdata

	"github.com/tillbox/tillbox/agent/clock"
	"github.com/tillbox/tillbox/display/technician"
)

// The test users' passwords; their hashes are made once (argon2id is
// costly on purpose).
const (
	alicePassword = "correct horse battery"
	bobPassword   = "staple of the battery"
)

var hashes = sync.OnceValue(func() map[string]string {
	users := map[string]string{}
	for name, pw := range map[string]string{"alice": alicePassword, "bob": bobPassword} {
		h, err := technician.HashPassword(pw)
		if err != nil {
			panic(err)
		}
		users[name] = h
	}
	return users
})

// source is a Source of fixed data, as headquarters' database would give.
type source struct {
	mu       sync.Mutex
	tills    []Till
	sales    []StoreSales
	err      error
	salesErr error
	days     []time.Time // the days asked for
}

func (s *source) Tills(ctx context.Context) ([]Till, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tills, s.err
}

func (s *source) SalesOn(ctx context.Context, day time.Time) ([]StoreSales, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.days = append(s.days, day)
	return s.sales, s.salesErr
}

// start is when the tests' fake clock starts: 14:00 in Oslo.
var start = time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC)

const heartbeat = 5 * time.Second

// twoStores is a chain of two stores: bergen-1's till is connected, oslo-1's
// last heard of five minutes ago.
func twoStores(now time.Time) *source {
	return &source{
		tills: []Till{
			{Chain: "nordkjede", Store: "bergen-1", Till: "till-1", LastHeartbeat: now.Add(-2 * time.Second),
				Version: "1.6.0", Online: true, Queue: 0, LastSeq: 412, AtHQ: 412,
				Scanners: []Scanner{{Name: "counter", Connected: true}}},
			{Chain: "nordkjede", Store: "oslo-1", Till: "till-7", LastHeartbeat: now.Add(-5 * time.Minute),
				Version: "1.5.2", Online: false, Queue: 3, LastSeq: 1007, AtHQ: 1000,
				Scanners:  []Scanner{{Name: "counter", Connected: true}, {Name: "self-checkout", Connected: false}},
				LastError: `vipps: token: Post "https://apitest.vipps.no/accesstoken/get": dial tcp: lookup apitest.vipps.no: i/o timeout`},
		},
		sales: []StoreSales{
			{Store: "bergen-1", Currency: "NOK", Count: 12, Completed: 11, Amount: 1234500, Captured: 1200000, Refunded: 12345},
			{Store: "oslo-1", Currency: "NOK", Count: 3, Completed: 2, Amount: 59800, Captured: 49800, Refunded: 0},
		},
	}
}

type rig struct {
	srv   *httptest.Server
	clock *clock.Fake
	src   *source
}

// newRig serves the page on loopback over the source, with the options
// edit changes.
func newRig(t *testing.T, src *source, edit func(*Options)) *rig {
	t.Helper()
	fc := clock.NewFake(start)
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Fatalf("time zone data: %v", err)
	}
	o := Options{Users: hashes(), Heartbeat: heartbeat, Clock: fc, Location: oslo}
	if edit != nil {
		edit(&o)
	}
	h, err := New(src, o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &rig{srv: srv, clock: fc, src: src}
}

// client is a browser-like client with its own cookies that does not
// follow redirects (the tests look at them).
func (r *rig) client(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func (r *rig) get(t *testing.T, c *http.Client, path string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, r.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

// post posts a form as a browser on the page does (same-origin).
func (r *rig) post(t *testing.T, c *http.Client, path string, form url.Values, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", r.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, c, req)
}

func (r *rig) login(t *testing.T, c *http.Client, name, password string) answer {
	t.Helper()
	return r.post(t, c, "/login", url.Values{"name": {name}, "password": {password}})
}
