package spectest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// EnvSpecsDir names the environment variable that, when set, gives the folder
// holding the spec files.
const EnvSpecsDir = "TILLBOX_SPECS"

// specFile describes one spec file and what its prepared copy needs.
type specFile struct {
	file string
	// errorSchema names the component schema that every undeclared 4xx/5xx
	// body must match, with media type errorMediaType; "" = not checked.
	errorSchema    string
	errorMediaType string
	// fix applies the spec-specific deviations (see the package doc).
	fix func(*openapi3.T) error
}

var specFiles = []specFile{
	{file: "epayment-api.yaml", errorSchema: "Problem", errorMediaType: "application/problem+json", fix: fixEPayment},
	{file: "access-token-api.yaml"},
	{file: "webhooks-api.yaml", errorSchema: "ProblemDetails", errorMediaType: "application/problem+json"},
	{file: "order-management-api.yaml", errorSchema: "ErrorResponse", errorMediaType: "application/json"},
	{file: "qr-api.yaml"},
	reportSpecFile, // report.go
}

// Specs holds the prepared specs. It is safe for concurrent use.
type Specs struct {
	dir       string
	bySegment map[string]*apiSpec // first segment of a wire path -> its spec
	opIDs     []string
	opts      *openapi3filter.Options
}

// apiSpec is one prepared spec.
type apiSpec struct {
	file           string
	doc            *openapi3.T
	router         routers.Router
	errorSchema    *openapi3.Schema
	errorMediaType string
}

var (
	cacheMu sync.Mutex
	cache   = map[string]*Specs{}
)

// Load returns the prepared specs, loading them on first use (later calls in
// the same test binary share them). The folder is $TILLBOX_SPECS, else
// ../shared/specs next to the folder holding go.mod, found by walking up from
// the working directory. Anything missing or broken is fatal: never a skip.
func Load(tb testing.TB) *Specs {
	tb.Helper()
	dir, err := SpecsDir()
	if err != nil {
		tb.Fatalf("spectest: %v", err)
	}
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if s := cache[dir]; s != nil {
		return s
	}
	s, err := LoadDir(dir)
	if err != nil {
		tb.Fatalf("spectest: %v", err)
	}
	cache[dir] = s
	return s
}

// SpecsDir finds the specs folder as Load does.
func SpecsDir() (string, error) {
	if dir := os.Getenv(EnvSpecsDir); dir != "" {
		return filepath.Abs(dir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(d), "shared", "specs"), nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod above %s and $%s is not set: cannot find the specs folder", wd, EnvSpecsDir)
		}
		d = parent
	}
}

// LoadDir loads and prepares every spec file from dir.
func LoadDir(dir string) (*Specs, error) {
	s := &Specs{
		dir:       dir,
		bySegment: map[string]*apiSpec{},
		opts: &openapi3filter.Options{
			MultiError:                        true,
			AuthenticationFunc:                openapi3filter.NoopAuthenticationFunc,
			SkipSettingDefaults:               true,
			RejectWhenRequestBodyNotSpecified: true,
			SchemaValidationOptions:           schemaOptions(),
		},
	}
	seenOps := map[string]string{}
	for _, sf := range specFiles {
		sp, err := loadSpec(filepath.Join(dir, sf.file), sf)
		if err != nil {
			return nil, fmt.Errorf("spec %s (folder %s, set $%s to change it): %w", sf.file, dir, EnvSpecsDir, err)
		}
		for path, item := range sp.doc.Paths.Map() {
			seg := firstSegment(path)
			if other := s.bySegment[seg]; other != nil && other != sp {
				return nil, fmt.Errorf("wire path segment /%s is in both %s and %s", seg, other.file, sf.file)
			}
			s.bySegment[seg] = sp
			for _, op := range item.Operations() {
				if other, dup := seenOps[op.OperationID]; dup {
					return nil, fmt.Errorf("operationId %q is in both %s and %s", op.OperationID, other, sf.file)
				}
				seenOps[op.OperationID] = sf.file
				s.opIDs = append(s.opIDs, op.OperationID)
			}
		}
	}
	slices.Sort(s.opIDs)
	return s, nil
}

// Dir is the folder the specs were loaded from.
func (s *Specs) Dir() string { return s.dir }

// OperationIDs lists every operationId of every spec, sorted.
func (s *Specs) OperationIDs() []string { return slices.Clone(s.opIDs) }

func loadSpec(path string, sf specFile) (*apiSpec, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, err
	}
	base, err := serverBasePath(doc)
	if err != nil {
		return nil, err
	}
	if sf.fix != nil {
		if err := sf.fix(doc); err != nil {
			return nil, err
		}
	}
	// Deviations 5, 2 and 7 of the package doc, on every operation.
	for _, item := range doc.Paths.Map() {
		item.Parameters = withoutAuthorization(item.Parameters)
		for _, op := range item.Operations() {
			op.Parameters = withoutAuthorization(op.Parameters)
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				if op.RequestBody.Value.Content, err = bareMediaTypes(op.RequestBody.Value.Content); err != nil {
					return nil, err
				}
			}
			for code, resp := range op.Responses.Map() {
				if resp.Value == nil {
					continue
				}
				if resp.Value.Content, err = bareMediaTypes(resp.Value.Content); err != nil {
					return nil, err
				}
				if strings.HasPrefix(code, "2") {
					acceptJSONForProblemJSON(resp.Value.Content)
				}
			}
		}
	}
	// Route by the path on the wire: prefix every path with the servers'
	// base path and drop the servers, so any host matches.
	wire := openapi3.NewPaths()
	for path, item := range doc.Paths.Map() {
		wirePath := base + path
		wire.Set(wirePath, item)
		for method, op := range item.Operations() {
			if op.OperationID == "" { // deviation 9
				op.OperationID = method + " " + wirePath
			}
		}
	}
	doc.Paths = wire
	doc.Servers = nil

	// Building the router validates the prepared document (deviation 10:
	// examples are not validated).
	router, err := legacy.NewRouter(doc, openapi3.DisableExamplesValidation())
	if err != nil {
		return nil, err
	}
	sp := &apiSpec{file: sf.file, doc: doc, router: router, errorMediaType: sf.errorMediaType}
	if sf.errorSchema != "" {
		ref := doc.Components.Schemas[sf.errorSchema]
		if ref == nil || ref.Value == nil {
			return nil, fmt.Errorf("no error schema %q", sf.errorSchema)
		}
		sp.errorSchema = ref.Value
	}
	return sp, nil
}

// serverBasePath returns the path that every server URL of doc shares
// ("/epayment" for https://api.vipps.no/epayment), "" for a bare host.
func serverBasePath(doc *openapi3.T) (string, error) {
	if len(doc.Servers) == 0 {
		return "", errors.New("no servers: cannot tell the path on the wire")
	}
	var base string
	for i, srv := range doc.Servers {
		u, err := url.Parse(srv.URL)
		if err != nil {
			return "", fmt.Errorf("server %q: %w", srv.URL, err)
		}
		p := strings.TrimSuffix(u.Path, "/")
		if i > 0 && p != base {
			return "", fmt.Errorf("servers disagree on the base path: %q and %q", base, p)
		}
		base = p
	}
	return base, nil
}

// fixEPayment applies the ePayment-only deviations (1 and 8 of the package doc).
func fixEPayment(doc *openapi3.T) error {
	// Deviation 8: a merchant-side endpoint, not served by api.vipps.no.
	doc.Paths.Delete("/merchant-dynamic-shipping-callback")

	// Deviation 1: the Customer oneOf subschemas declare no `required`, so
	// every customer object matches all three of them and fails oneOf.
	customer := doc.Components.Schemas["Customer"]
	if customer == nil || customer.Value == nil || len(customer.Value.OneOf) == 0 {
		return errors.New("no Customer oneOf schema: the customer fix no longer applies")
	}
	for _, sub := range customer.Value.OneOf {
		if sub.Value == nil || len(sub.Value.Required) > 0 || len(sub.Value.Properties) != 1 {
			continue
		}
		for name := range sub.Value.Properties {
			sub.Value.Required = []string{name}
		}
	}
	return nil
}

// withoutAuthorization drops explicit Authorization header parameters:
// authentication is not validated (deviation 5).
func withoutAuthorization(params openapi3.Parameters) openapi3.Parameters {
	return slices.DeleteFunc(params, func(p *openapi3.ParameterRef) bool {
		return p.Value != nil && p.Value.In == openapi3.ParameterInHeader && strings.EqualFold(p.Value.Name, "Authorization")
	})
}

// bareMediaTypes re-keys content by media type without parameters (deviation 7).
func bareMediaTypes(c openapi3.Content) (openapi3.Content, error) {
	if c == nil {
		return nil, nil
	}
	out := make(openapi3.Content, len(c))
	for key, mt := range c {
		bare, _, err := mime.ParseMediaType(key)
		if err != nil {
			return nil, fmt.Errorf("content key %q: %w", key, err)
		}
		if _, dup := out[bare]; dup {
			return nil, fmt.Errorf("content keys collide on %q", bare)
		}
		out[bare] = mt
	}
	return out, nil
}

// acceptJSONForProblemJSON lets a success response declared as
// application/problem+json also be application/json (deviation 2).
func acceptJSONForProblemJSON(c openapi3.Content) {
	if mt := c["application/problem+json"]; mt != nil && c["application/json"] == nil {
		c["application/json"] = mt
	}
}

func firstSegment(path string) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return seg
}

var hex8444x12 = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// schemaOptions adds the format validators of deviation 6 and keeps schema
// errors short (no dump of the whole schema).
func schemaOptions() []openapi3.SchemaValidationOption {
	uuid := openapi3.NewCallbackValidator(func(v string) error {
		if !hex8444x12.MatchString(v) {
			return errors.New("not a UUID (8-4-4-4-12 hex digits)")
		}
		return nil
	})
	uri := openapi3.NewCallbackValidator(func(v string) error {
		u, err := url.Parse(v)
		if err != nil {
			return err
		}
		if !u.IsAbs() {
			return errors.New("not an absolute URI")
		}
		return nil
	})
	return []openapi3.SchemaValidationOption{
		openapi3.WithStringFormatValidators(map[string]openapi3.StringFormatValidator{
			"uuid":  uuid,
			"guid":  uuid,
			"uri":   uri,
			"email": openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForEmail),
		}),
		openapi3.DisableSchemaErrorDetails(),
	}
}

// match is the operation a request resolves to.
type match struct {
	spec   *apiSpec
	route  *routers.Route
	params map[string]string
}

// find resolves r to an operation. It returns nil, nil for a path that
// belongs to no spec.
func (s *Specs) find(r *http.Request) (*match, error) {
	sp := s.bySegment[firstSegment(r.URL.Path)]
	if sp == nil {
		return nil, nil
	}
	route, params, err := sp.router.FindRoute(r)
	if err != nil {
		return nil, fmt.Errorf("%s %s: no operation in %s matches: %w", r.Method, r.URL.Path, sp.file, err)
	}
	return &match{spec: sp, route: route, params: params}, nil
}

func (s *Specs) requestInput(r *http.Request, body []byte, m *match) *openapi3filter.RequestValidationInput {
	r2 := r.Clone(r.Context())
	r2.ContentLength = int64(len(body))
	r2.Body = http.NoBody
	r2.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	if len(body) > 0 {
		r2.Body = io.NopCloser(bytes.NewReader(body))
		r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return &openapi3filter.RequestValidationInput{
		Request:    r2,
		PathParams: m.params,
		Route:      m.route,
		Options:    s.opts,
	}
}

// ValidateRequest validates r, whose body is body (r.Body is not read), and
// returns the operationId it resolves to. It returns "", nil for a path that
// belongs to no spec (not validated). Secret header values are masked in the
// error text.
func (s *Specs) ValidateRequest(r *http.Request, body []byte) (opID string, err error) {
	m, err := s.find(r)
	if m == nil {
		return "", maskErr(err, r.Header)
	}
	return m.opID(), maskErr(s.validateRequest(m, r, body), r.Header)
}

// ValidateResponse validates a response with status, headers h and body to
// request r (whose body was reqBody), and returns the operationId r resolves
// to. It returns "", nil for a path that belongs to no spec (not validated).
// The request itself is not validated: see ValidateRequest. Secret header
// values are masked in the error text.
func (s *Specs) ValidateResponse(r *http.Request, reqBody []byte, status int, h http.Header, body []byte) (opID string, err error) {
	m, err := s.find(r)
	if m == nil {
		return "", maskErr(err, r.Header)
	}
	return m.opID(), maskErr(s.validateResponse(m, r, reqBody, status, h, body), r.Header)
}

func (m *match) opID() string { return m.route.Operation.OperationID }

func (s *Specs) validateRequest(m *match, r *http.Request, body []byte) error {
	if err := openapi3filter.ValidateRequest(context.WithoutCancel(r.Context()), s.requestInput(r, body, m)); err != nil {
		return fmt.Errorf("request %s %s (%s): %w", r.Method, r.URL.Path, m.opID(), err)
	}
	return nil
}

func (s *Specs) validateResponse(m *match, r *http.Request, reqBody []byte, status int, h http.Header, body []byte) error {
	if r.Method == http.MethodHead {
		return nil
	}
	var errs []error
	responses := m.route.Operation.Responses
	switch declared := responses.Status(status) != nil || responses.Default() != nil; {
	case declared:
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: s.requestInput(r, reqBody, m),
			Status:                 status,
			Header:                 h,
			Body:                   io.NopCloser(bytes.NewReader(body)),
			Options:                s.opts,
		}
		if err := openapi3filter.ValidateResponse(context.WithoutCancel(r.Context()), in); err != nil {
			errs = append(errs, err)
		}
	case status >= 400: // deviation 3
		if err := m.spec.validateErrorBody(h, body, s.opts.SchemaValidationOptions); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("status %d is not declared for this operation", status))
	}
	if err := checkRetryAfter(status, h); err != nil { // deviation 4
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("response %d to %s %s (%s): %w", status, r.Method, r.URL.Path, m.opID(), errors.Join(errs...))
	}
	return nil
}

// validateErrorBody checks the body of an error status the operation does
// not declare against the spec's error schema.
func (sp *apiSpec) validateErrorBody(h http.Header, body []byte, opts []openapi3.SchemaValidationOption) error {
	if sp.errorSchema == nil {
		return nil
	}
	ct := h.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != sp.errorMediaType {
		return fmt.Errorf("undeclared error status: Content-Type %q, want %s", ct, sp.errorMediaType)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("undeclared error status: body is not JSON: %w", err)
	}
	opts = append(slices.Clone(opts), openapi3.VisitAsResponse(), openapi3.MultiErrors())
	if err := sp.errorSchema.VisitJSON(v, opts...); err != nil {
		return fmt.Errorf("undeclared error status: body does not match the error schema: %w", err)
	}
	return nil
}

// checkRetryAfter checks Retry-After, when present on a 429 or 503: it must
// be delta-seconds or an HTTP-date (RFC 9110, section 10.2.3).
func checkRetryAfter(status int, h http.Header) error {
	if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
		return nil
	}
	v := h.Get("Retry-After")
	if v == "" {
		return nil
	}
	if _, err := strconv.ParseUint(v, 10, 63); err == nil {
		return nil
	}
	if _, err := http.ParseTime(v); err == nil {
		return nil
	}
	return fmt.Errorf("header Retry-After %q is neither delta-seconds nor an HTTP-date", v)
}
