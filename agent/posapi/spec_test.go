package posapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// The tests check every request they send and every answer they get
// against openapi.yaml, so that the document and the server cannot drift:
//
//   - a request is valid by the document, unless the test marks it as
//     deliberately wrong (withMalformed), for requests the server must
//     refuse;
//   - an answer has a status the operation declares (an undeclared one
//     fails), a body matching the declared schema (additionalProperties
//     is false everywhere, so an extra field fails too), an empty body
//     where none is declared, the declared headers, and Cache-Control:
//     no-store;
//   - a request on a path or method the document does not have gets 404 or
//     405 with an Error body;
//   - WebSocket handshakes and messages are checked by the WebSocket tests
//     (validateHandshake, validateEvent).
//
// TestMain fails the run when an operation/status of wantCoverage was never
// seen.

// apiSpec is openapi.yaml, loaded once.
type apiSpec struct {
	doc    *openapi3.T
	router routers.Router
	opts   *openapi3filter.Options
}

var (
	specOnce sync.Once
	theSpec  *apiSpec
	specErr  error
)

func loadSpec(tb testing.TB) *apiSpec {
	tb.Helper()
	specOnce.Do(func() { theSpec, specErr = parseSpec(OpenAPI) })
	if specErr != nil {
		tb.Fatalf("openapi.yaml: %v", specErr)
	}
	return theSpec
}

func parseSpec(b []byte) (*apiSpec, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(b)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("invalid document: %w", err)
	}
	// Match any host and port: the tests' servers are on loopback ports.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &apiSpec{doc: doc, router: router, opts: &openapi3filter.Options{
		MultiError:            true,
		IncludeResponseStatus: true,
		SkipSettingDefaults:   true,
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			scheme, tok, _ := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
			if in.SecuritySchemeName != "bearerAuth" || !strings.EqualFold(scheme, "Bearer") || tok == "" {
				return errors.New("no bearer token")
			}
			return nil
		},
		RejectWhenRequestBodyNotSpecified: true,
		SchemaValidationOptions:           []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()},
	}}, nil
}

// coverage is every operationId/status pair the validator saw.
var coverage = struct {
	sync.Mutex
	seen map[string]map[int]bool
}{seen: map[string]map[int]bool{}}

func cover(opID string, status int) {
	coverage.Lock()
	defer coverage.Unlock()
	if coverage.seen[opID] == nil {
		coverage.seen[opID] = map[int]bool{}
	}
	coverage.seen[opID][status] = true
}

type malformedKey struct{}

// withMalformed marks the requests made with ctx as deliberately wrong:
// their request is not checked against the document, their answer is.
func withMalformed(ctx context.Context) context.Context {
	return context.WithValue(ctx, malformedKey{}, true)
}

func isMalformed(ctx context.Context) bool { return ctx.Value(malformedKey{}) != nil }

// validatingTransport checks every exchange against the document.
type validatingTransport struct {
	spec *apiSpec
	tb   testing.TB
	next http.RoundTripper
}

func (vt *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	resp, err := vt.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := vt.spec.check(req, reqBody, resp.StatusCode, resp.Header, body); err != nil {
		vt.tb.Errorf("openapi.yaml: %s %s -> %d: %v\n  request body: %s\n  response body: %s",
			req.Method, req.URL.RequestURI(), resp.StatusCode, err, short(reqBody), short(body))
	}
	return resp, nil
}

func short(b []byte) string {
	if len(b) > 1024 {
		return fmt.Sprintf("%s… (%d bytes)", b[:1024], len(b))
	}
	return string(b)
}

// check validates one exchange; see the comment at the top of this file.
func (s *apiSpec) check(req *http.Request, reqBody []byte, status int, h http.Header, body []byte) error {
	var errs []error
	if got := h.Get("Cache-Control"); got != "no-store" {
		errs = append(errs, fmt.Errorf("Cache-Control is %q, want no-store", got))
	}
	route, params, err := s.router.FindRoute(req)
	if err != nil && status == http.StatusMethodNotAllowed {
		// The path exists with other methods: the answer is the 405 its
		// operations declare (with Allow), checked as that of the first
		// method Allow names.
		allowed := strings.Split(h.Get("Allow"), ",")
		for _, m := range allowed {
			r2 := req.Clone(req.Context())
			r2.Method = strings.TrimSpace(m)
			if rt, ps, err2 := s.router.FindRoute(r2); err2 == nil {
				route, params, err = rt, ps, nil
				req = r2
				break
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("405 whose Allow %q names no operation of the document", h.Get("Allow")))
		}
		req = req.WithContext(withMalformed(req.Context())) // its method is not the operation's
	}
	if err != nil {
		// Not in the document: only a JSON 404 or 405 will do.
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed && status != http.StatusUnauthorized {
			errs = append(errs, fmt.Errorf("no operation in the document (%v), yet the answer is %d", err, status))
		}
		if err := s.checkSchema("Error", h, body); err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}
	cover(route.Operation.OperationID, status)
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: s.opts}
	if !isMalformed(req.Context()) {
		r2 := req.Clone(context.Background())
		r2.Body = io.NopCloser(bytes.NewReader(reqBody))
		in.Request = r2
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			errs = append(errs, fmt.Errorf("request: %w", err))
		}
		in.Request = req
	}
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: h,
		Body: io.NopCloser(bytes.NewReader(body)), Options: s.opts}
	if err := openapi3filter.ValidateResponse(context.Background(), rin); err != nil {
		errs = append(errs, fmt.Errorf("response: %w", err))
	}
	if ref := route.Operation.Responses.Status(status); ref != nil && len(ref.Value.Content) == 0 && len(body) > 0 {
		errs = append(errs, fmt.Errorf("response: a body where the document declares none"))
	}
	return errors.Join(errs...)
}

// checkSchema checks a JSON body against a component schema.
func (s *apiSpec) checkSchema(name string, h http.Header, body []byte) error {
	if h != nil {
		if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err != nil || mt != "application/json" {
			return fmt.Errorf("Content-Type %q, want application/json", h.Get("Content-Type"))
		}
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	if err := s.doc.Components.Schemas[name].Value.VisitJSON(v, openapi3.VisitAsResponse(), openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("body is not a %s: %w", name, err)
	}
	return nil
}

// validateHandshake checks the answer to a WebSocket handshake (101, or an
// HTTP error) against the streamEvents operation.
func (s *apiSpec) validateHandshake(tb testing.TB, req *http.Request, resp *http.Response, body []byte) {
	tb.Helper()
	if err := s.check(req, nil, resp.StatusCode, resp.Header, body); err != nil {
		tb.Errorf("openapi.yaml: WebSocket handshake -> %d: %v\n  body: %s", resp.StatusCode, err, short(body))
	}
}

// validateEvent checks one WebSocket message against the Event schema.
func (s *apiSpec) validateEvent(tb testing.TB, msg []byte) {
	tb.Helper()
	if err := s.checkSchema("Event", nil, msg); err != nil {
		tb.Errorf("openapi.yaml: WebSocket message: %v\n  %s", err, short(msg))
	}
}

// TestSpecIsValid loads openapi.yaml as kin-openapi sees it, examples
// included, and checks that the document and the server agree on routes.
func TestSpecIsValid(t *testing.T) {
	s := loadSpec(t)
	var ops []string
	for path, item := range s.doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, method+" "+path)
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
			}
			// The probes (security: []) take no token and touch nothing that
			// could fail with a 500: /readyz reports a failure as 503.
			public := path == PathOpenAPI || op.Security != nil && len(*op.Security) == 0
			if _, ok := op.Responses.Map()["500"]; !ok && !public {
				t.Errorf("%s %s does not declare 500", method, path)
			}
			if _, ok := op.Responses.Map()["401"]; !ok && !public {
				t.Errorf("%s %s does not declare 401", method, path)
			}
		}
	}
	slices.Sort(ops)
	// The routes of the server, as registered in newServer.
	want := []string{
		"GET /api/openapi.yaml",
		"GET /api/v1/backup",
		"GET /api/v1/busy",
		"GET /api/v1/events",
		"GET /api/v1/events/ws",
		"GET /api/v1/sales",
		"GET /api/v1/sales/{reference}",
		"GET /api/v1/status",
		"GET /healthz",
		"GET /readyz",
		"POST /api/v1/sales",
		"POST /api/v1/sales/{reference}/cancel",
		"POST /api/v1/sales/{reference}/capture",
		"POST /api/v1/sales/{reference}/refund",
		"POST /api/v1/scans",
	}
	if !slices.Equal(ops, want) {
		t.Errorf("operations of openapi.yaml:\n  %s\nwant the server's routes:\n  %s", strings.Join(ops, "\n  "), strings.Join(want, "\n  "))
	}
	// Every error code the server uses is in the Error schema's enum, and
	// the other way round.
	var codes []string
	for _, v := range s.doc.Components.Schemas["Error"].Value.Properties["error"].Value.Enum {
		codes = append(codes, v.(string))
	}
	server := []string{codeInvalidRequest, codeUnauthorized, codeForbidden, codeNotFound, codeMethodNotAllowed,
		codeConflict, codeWrongState, codeBusy, codePaymentPending, codeEventsPruned, codeEventsAhead, codeTooLarge, codeMediaType,
		codeQueueFull, codeShuttingDown, codeInternal, codeRecordDamaged, codeHQUnreachable, codeRefundPending}
	slices.Sort(codes)
	slices.Sort(server)
	if !slices.Equal(codes, server) {
		t.Errorf("error codes of openapi.yaml %v, of the server %v", codes, server)
	}
}

// TestSpecForGenerators checks what clients generated from the document
// (oapi-codegen, openapi-typescript with openapi-fetch) rely on, beyond
// what the validating transport sees:
//
//   - no schema property has a default: generators turn a field with a
//     default into a required one (a request without taxRate would not
//     compile, or a response would be typed as always having it);
//   - every operation declares every status the server may send on it:
//     405 everywhere (another method on its path), 400 where the server
//     refuses a query string, 401 and 500 where a token is needed, 413
//     and 415 where it reads a body, and every 400 has field and reason.
func TestSpecForGenerators(t *testing.T) {
	s := loadSpec(t)
	var walk func(name string, sr *openapi3.SchemaRef, seen map[*openapi3.Schema]bool)
	walk = func(name string, sr *openapi3.SchemaRef, seen map[*openapi3.Schema]bool) {
		if sr == nil || sr.Value == nil || seen[sr.Value] {
			return
		}
		seen[sr.Value] = true
		if sr.Value.Default != nil {
			t.Errorf("%s has a default (%v): generated clients make it a required field; say the default in the description", name, sr.Value.Default)
		}
		for p, ps := range sr.Value.Properties {
			walk(name+"."+p, ps, seen)
		}
		walk(name+"[]", sr.Value.Items, seen)
		for i, x := range slices.Concat(sr.Value.AllOf, sr.Value.OneOf, sr.Value.AnyOf) {
			walk(fmt.Sprintf("%s(%d)", name, i), x, seen)
		}
	}
	for name, sr := range s.doc.Components.Schemas {
		walk(name, sr, map[*openapi3.Schema]bool{})
	}
	for path, item := range s.doc.Paths.Map() {
		for method, op := range item.Operations() {
			public := path == PathOpenAPI || op.Security != nil && len(*op.Security) == 0
			want := []string{"405"}
			if !public {
				want = append(want, "400", "401", "500")
			}
			if op.RequestBody != nil {
				want = append(want, "413", "415")
			}
			for _, st := range want {
				if op.Responses.Value(st) == nil {
					t.Errorf("%s %s does not declare %s", method, path, st)
				}
			}
			if r := op.Responses.Value("405"); r != nil && r.Value.Headers["Allow"] == nil {
				t.Errorf("%s %s: its 405 does not declare Allow", method, path)
			}
			if r := op.Responses.Value("400"); r != nil {
				schema := r.Value.Content.Get("application/json").Schema.Value
				if !slices.Contains(schema.Required, "field") || !slices.Contains(schema.Required, "reason") {
					t.Errorf("%s %s: its 400 does not require field and reason", method, path)
				}
			}
		}
	}
}

// TestSpecCatchesDrift proves the validator fails an answer the document
// does not declare: an undeclared status, an extra field, a missing header.
func TestSpecCatchesDrift(t *testing.T) {
	s := loadSpec(t)
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer x")
	h := http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}
	good := `{"online":true,"queued":0,"maxQueued":1,"maxQueueAge":"1h","queueFull":false,"unfinished":0,"lastSeq":0,"scanWaiting":false}`
	if err := s.check(req, nil, 200, h, []byte(good)); err != nil {
		t.Fatalf("a good answer fails: %v", err)
	}
	for name, c := range map[string]struct {
		status int
		h      http.Header
		body   string
	}{
		"undeclared status":   {202, h, good},
		"extra field":         {200, h, strings.Replace(good, `"online":true`, `"online":true,"extra":1`, 1)},
		"missing field":       {200, h, strings.Replace(good, `"lastSeq":0,`, ``, 1)},
		"no Cache-Control":    {200, http.Header{"Content-Type": {"application/json"}}, good},
		"text error":          {401, http.Header{"Content-Type": {"text/plain"}, "Cache-Control": {"no-store"}, "Www-Authenticate": {"Bearer"}}, "no"},
		"no WWW-Authenticate": {401, h, `{"error":"unauthorized","message":"m"}`},
	} {
		if err := s.check(req, nil, c.status, c.h, []byte(c.body)); err == nil {
			t.Errorf("%s: not caught", name)
		}
	}
	// A 405 is checked as the path's operations declare it: with Allow.
	put, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:1/api/v1/status", nil)
	put.Header.Set("Authorization", "Bearer x")
	e405 := []byte(`{"error":"method_not_allowed","message":"PUT is not allowed here; allowed: GET, HEAD"}`)
	withAllow := http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "Allow": {"GET, HEAD"}}
	if err := s.check(put, nil, 405, withAllow, e405); err != nil {
		t.Errorf("a good 405 fails: %v", err)
	}
	if err := s.check(put, nil, 405, h, e405); err == nil {
		t.Error("405 without Allow: not caught")
	}
}

// seen lists the statuses seen per operation, for failure messages.
func seen() map[string][]int {
	coverage.Lock()
	defer coverage.Unlock()
	out := map[string][]int{}
	for op, st := range coverage.seen {
		out[op] = slices.Sorted(maps.Keys(st))
	}
	return out
}
