package spectest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// maxReportBody is how much of a body a failure report shows.
const maxReportBody = 2048

// secretHeaders are the request headers whose values are never printed.
var secretHeaders = []string{"Authorization", "client_secret", "Ocp-Apim-Subscription-Key"}

// secretJSON matches the JSON string values of secret fields in bodies.
var secretJSON = regexp.MustCompile(`("(?:access_token|client_secret|secret)"\s*:\s*)"(?:[^"\\]|\\.)*"`)

// mask hides secret header values (taken from h) and secret JSON fields in s.
func mask(s string, h http.Header) string {
	for _, name := range secretHeaders {
		for _, v := range h.Values(name) {
			if v = strings.TrimSpace(v); v != "" {
				s = strings.ReplaceAll(s, v, "***")
			}
		}
	}
	return secretJSON.ReplaceAllString(s, `$1"***"`)
}

func maskErr(err error, h http.Header) error {
	if err == nil {
		return nil
	}
	return errors.New(mask(err.Error(), h))
}

// trim shortens a body for a report.
func trim(b []byte) string {
	if len(b) == 0 {
		return "(empty)"
	}
	if len(b) > maxReportBody {
		return fmt.Sprintf("%s… (%d bytes)", b[:maxReportBody], len(b))
	}
	return string(b)
}

// coverage records the distinct statuses seen per operationId.
type coverage struct {
	mu   sync.Mutex
	seen map[string]map[int]bool
}

func (c *coverage) add(opID string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]map[int]bool{}
	}
	if c.seen[opID] == nil {
		c.seen[opID] = map[int]bool{}
	}
	c.seen[opID][status] = true
}

// Coverage returns operationId -> the sorted distinct statuses seen so far.
func (c *coverage) Coverage() map[string][]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string][]int, len(c.seen))
	for op, statuses := range c.seen {
		out[op] = slices.Sorted(maps.Keys(statuses))
	}
	return out
}

// exchange validates one request/response pair and reports failures on tb.
type exchange struct {
	specs *Specs
	tb    testing.TB
	cov   *coverage
	m     *match
}

// request validates r (with body) and reports a failure. It returns false
// when the path belongs to no spec or matches no operation: the response is
// then not validated.
func (x *exchange) request(r *http.Request, body []byte) bool {
	m, err := x.specs.find(r)
	if err != nil {
		x.report(r, 0, err, body, nil)
		return false
	}
	if m == nil {
		return false
	}
	x.m = m
	if err := x.specs.validateRequest(m, r, body); err != nil {
		x.report(r, 0, err, body, nil)
	}
	return true
}

func (x *exchange) response(r *http.Request, reqBody []byte, status int, h http.Header, body []byte) {
	x.cov.add(x.m.opID(), status)
	if err := x.specs.validateResponse(x.m, r, reqBody, status, h, body); err != nil {
		x.report(r, status, err, reqBody, body)
	}
}

// report fails the test with method, path, status, error and trimmed bodies,
// secrets masked.
func (x *exchange) report(r *http.Request, status int, err error, reqBody, respBody []byte) {
	var b strings.Builder
	fmt.Fprintf(&b, "spectest: %s %s", r.Method, r.URL.Path)
	if status != 0 {
		fmt.Fprintf(&b, " -> %d", status)
	}
	fmt.Fprintf(&b, ": %v\n  request body: %s", err, trim(reqBody))
	if status != 0 {
		fmt.Fprintf(&b, "\n  response body: %s", trim(respBody))
	}
	x.tb.Errorf("%s", mask(b.String(), r.Header))
}

// Transport is an http.RoundTripper that validates every request and
// response going through it against the specs, reporting failures with
// tb.Errorf, and records coverage. Requests to paths that belong to no spec
// go through unvalidated.
type Transport struct {
	specs *Specs
	tb    testing.TB
	next  http.RoundTripper
	coverage
}

// Transport wraps next (http.DefaultTransport if nil).
func (s *Specs) Transport(tb testing.TB, next http.RoundTripper) *Transport {
	if next == nil {
		next = http.DefaultTransport
	}
	return &Transport{specs: s, tb: tb, next: next}
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	out := req
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("spectest: reading the request body: %w", err)
		}
		reqBody = b
		out = req.Clone(req.Context())
		out.ContentLength = int64(len(b))
		out.Body = io.NopCloser(bytes.NewReader(b))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	x := &exchange{specs: t.specs, tb: t.tb, cov: &t.coverage}
	validate := x.request(out, reqBody)

	resp, err := t.next.RoundTrip(out)
	if err != nil || !validate {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("spectest: reading the response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	x.response(out, reqBody, resp.StatusCode, resp.Header, body)
	return resp, nil
}

// Middleware is an http.Handler that validates every request to the handler
// it wraps and every response of it against the specs, reporting failures
// with tb.Errorf, and records coverage. The response of a validated request
// is buffered, validated, then written out unchanged; requests to paths that
// belong to no spec go straight to the wrapped handler.
type Middleware struct {
	specs *Specs
	tb    testing.TB
	next  http.Handler
	coverage
}

// Handler wraps h, the handler of a server under test.
func (s *Specs) Handler(tb testing.TB, h http.Handler) *Middleware {
	return &Middleware{specs: s, tb: tb, next: h}
}

// ServeHTTP implements http.Handler.
func (mw *Middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := &exchange{specs: mw.specs, tb: mw.tb, cov: &mw.coverage}
	if m, err := mw.specs.find(r); m == nil && err == nil {
		mw.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "spectest: reading the request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	validate := x.request(r, body)

	rec := httptest.NewRecorder()
	mw.next.ServeHTTP(rec, r)
	res := rec.Result()
	respBody := rec.Body.Bytes()
	if validate {
		x.response(r, body, res.StatusCode, res.Header, respBody)
	}
	maps.Copy(w.Header(), res.Header)
	w.WriteHeader(res.StatusCode)
	w.Write(respBody)
}
