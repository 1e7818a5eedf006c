package posapi

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/device"
)

// OpenAPI is the OpenAPI 3.0 document of this API, served at
// /api/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Paths of the API.
const (
	PathOpenAPI = "/api/openapi.yaml"
	prefix      = "/api/v1/"
)

// server serves the POS API of one agent.
type server struct {
	agent *agent.Agent
	log   *slog.Logger
	token [sha256.Size]byte // the hash of the token; compared in constant time
	noTok bool              // no token configured: every request is refused
	// scanners, when set, are shown in GET /api/v1/status.
	scanners func() []device.Status
	// tlsPrint, when set, is the fingerprint of the TLS certificate,
	// shown in GET /api/v1/status.
	tlsPrint string
	// remote, when set, refunds other tills' sales (remote.go).
	remote RemoteRefunder
	mux    *http.ServeMux

	// WebSocket keepalive; see events.go.
	pingEvery, pongWait, writeWait time.Duration
}

// New returns the handler of the POS API of a, with its routes at their full
// paths (/api/v1/..., /api/openapi.yaml): mount it at "/api/". Every
// /api/v1 route requires "Authorization: Bearer token"; an empty token
// refuses every request. log receives one line per request (never the
// token); nil discards.
//
// Timeouts are the http.Server's business, except that a long-poll extends
// its own write deadline to its wait. Long-polls and WebSocket streams end
// when the request's context ends: give the http.Server a BaseContext that
// ends at shutdown, as WebSocket connections are hijacked and
// http.Server.Shutdown does not wait for them.
func New(a *agent.Agent, token epayment.Secret, log *slog.Logger, opts ...Option) http.Handler {
	s := newServer(a, token, log)
	for _, o := range opts {
		o(s)
	}
	return s
}

// An Option adds to the POS API.
type Option func(*server)

// WithScanners adds the box's scanners to GET /api/v1/status: statuses
// returns the state of each configured scanner (as
// device/scanners.Manager.Statuses does).
func WithScanners(statuses func() []device.Status) Option {
	return func(s *server) { s.scanners = statuses }
}

// WithTLSFingerprint shows the SHA-256 fingerprint of the box's TLS
// certificate in GET /api/v1/status ("tls": {"fingerprint": …}), for a POS
// to pin; "" shows nothing (plain HTTP).
func WithTLSFingerprint(fp string) Option {
	return func(s *server) { s.tlsPrint = fp }
}

func newServer(a *agent.Agent, token epayment.Secret, log *slog.Logger) *server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &server{
		agent: a, log: log, noTok: token == "", token: sha256.Sum256([]byte(token.Reveal())),
		mux:       http.NewServeMux(),
		pingEvery: 25 * time.Second, pongWait: 60 * time.Second, writeWait: 10 * time.Second,
	}
	if s.noTok {
		log.Warn("POS API: no token configured: every request is refused")
	}
	s.mux.HandleFunc("GET "+PathOpenAPI, serveOpenAPI)
	s.handle("POST /api/v1/sales", s.createSale)
	s.handle("GET /api/v1/sales", s.listSales)
	s.handle("GET /api/v1/sales/{reference}", s.getSale)
	s.handle("POST /api/v1/sales/{reference}/cancel", s.cancelSale)
	s.handle("POST /api/v1/sales/{reference}/capture", s.captureSale)
	s.handle("POST /api/v1/sales/{reference}/refund", s.refundSale)
	s.handle("GET /api/v1/events", s.events)
	s.handle("GET /api/v1/events/ws", s.eventStream)
	s.handle("GET /api/v1/status", s.status)
	s.handle("POST /api/v1/scans", s.scan)
	s.handle("GET /api/v1/backup", s.backup)
	s.handle("GET /api/v1/busy", s.busy)
	s.mux.HandleFunc("GET "+PathHealthz, s.healthz)
	s.mux.HandleFunc("GET "+PathReadyz, s.readyz)
	return s
}

// handle registers an authenticated route.
func (s *server) handle(pattern string, h http.HandlerFunc) {
	s.mux.Handle(pattern, s.authenticated(h))
}

// ServeHTTP sets the headers every answer carries, logs the request, and
// turns the mux's own 404 and 405 into the API's error shape.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")

	handler, pattern := s.mux.Handler(r)
	switch {
	case pattern != "":
		s.mux.ServeHTTP(sw, r) // which sets the path values
	case strings.HasPrefix(r.URL.Path, prefix) && !s.authorized(r):
		// Unknown routes are not told apart from known ones without a token.
		s.unauthorized(sw, r)
	default:
		s.noRoute(sw, r, handler)
	}
	level := slog.LevelDebug
	if sw.status >= 500 {
		level = slog.LevelWarn
	}
	s.log.Log(r.Context(), level, "POS API request", "method", r.Method, "path", r.URL.Path,
		"status", sw.status, "duration", time.Since(start).Round(time.Microsecond), "remote", r.RemoteAddr)
}

// noRoute answers a request the mux has no route for: 404, or 405 with
// Allow when the path exists with other methods.
func (s *server) noRoute(w http.ResponseWriter, r *http.Request, muxHandler http.Handler) {
	rec := &headerRecorder{header: http.Header{}}
	muxHandler.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.header.Get("Allow"))
		writeError(w, http.StatusMethodNotAllowed, apiError{Code: codeMethodNotAllowed,
			Message: r.Method + " is not allowed here; allowed: " + rec.header.Get("Allow")})
		return
	}
	writeError(w, http.StatusNotFound, apiError{Code: codeNotFound, Message: "no such route: " + r.URL.Path})
}

// authenticated refuses a request without the right bearer token.
func (s *server) authenticated(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			s.unauthorized(w, r)
			return
		}
		h(w, r)
	})
}

// authorized compares the bearer token in constant time (of the hashes, so
// that neither the content nor the length of the token leaks).
func (s *server) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || s.noTok {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(got[:], s.token[:]) == 1
}

func (s *server) unauthorized(w http.ResponseWriter, r *http.Request) {
	why := "wrong token"
	if r.Header.Get("Authorization") == "" {
		why = "no Authorization header"
	}
	s.log.Warn("POS API: unauthorized request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "why", why)
	w.Header().Set("WWW-Authenticate", `Bearer realm="tillbox"`)
	writeError(w, http.StatusUnauthorized, apiError{Code: codeUnauthorized,
		Message: "send the till's POS token as \"Authorization: Bearer TOKEN\""})
}

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(OpenAPI)
}

// statusWriter records the status of an answer for the log. It lets
// http.ResponseController and the WebSocket upgrade reach the connection.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// Hijack hands the connection to the WebSocket upgrade, which answers 101
// on it itself.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.status = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

var _ http.Hijacker = (*statusWriter)(nil)

// headerRecorder captures what the mux's own not-found and
// method-not-allowed handlers would answer, to answer it in JSON instead.
type headerRecorder struct {
	header http.Header
	status int
}

func (r *headerRecorder) Header() http.Header { return r.header }
func (r *headerRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *headerRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return len(b), nil
}
