package fleetpage

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// Cookie names: with the __Host- prefix (pinned to this host, path / and
// Secure) when cookies are secure.
const (
	cookieName       = "tillbox_hq"
	cookieNameSecure = "__Host-tillbox_hq"
)

// maxSessions bounds the sessions kept in memory: past it the least
// recently used one ends.
const maxSessions = 1024

// session is one logged-in browser (or script).
type session struct {
	user    string
	created time.Time
	seen    time.Time
}

// sessions are kept in memory (a restart of headquarters logs everyone
// out), by the SHA-256 of their ids: the ids are only in the cookies.
type sessions struct {
	idle, max time.Duration

	mu sync.Mutex
	m  map[[32]byte]*session
}

func newSessions(idle, max time.Duration) *sessions {
	return &sessions{idle: idle, max: max, m: map[[32]byte]*session{}}
}

// newID returns 32 random bytes, base64url.
func newID() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func sessionKey(id string) [32]byte { return sha256.Sum256([]byte(id)) }

// create starts a session of user and returns its id.
func (ss *sessions) create(user string, now time.Time) string {
	id := newID()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, s := range ss.m {
		if ss.expired(s, now) {
			delete(ss.m, k)
		}
	}
	if len(ss.m) >= maxSessions {
		var oldest [32]byte
		var at time.Time
		for k, s := range ss.m {
			if at.IsZero() || s.seen.Before(at) {
				oldest, at = k, s.seen
			}
		}
		delete(ss.m, oldest)
	}
	ss.m[sessionKey(id)] = &session{user: user, created: now, seen: now}
	return id
}

// get returns the user of the live session id, marking it used, or "".
func (ss *sessions) get(id string, now time.Time) string {
	if id == "" {
		return ""
	}
	k := sessionKey(id)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[k]
	if s == nil {
		return ""
	}
	if ss.expired(s, now) {
		delete(ss.m, k)
		return ""
	}
	s.seen = now
	return s.user
}

// drop ends the session id.
func (ss *sessions) drop(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, sessionKey(id))
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) >= ss.idle || now.Sub(s.created) >= ss.max
}

// secure tells whether r's cookie is Secure.
func (p *page) secure(r *http.Request) bool { return p.o.SecureCookies || r.TLS != nil }

func (p *page) cookieName(r *http.Request) string {
	if p.secure(r) {
		return cookieNameSecure
	}
	return cookieName
}

// sessionID is the session id r carries, or "".
func (p *page) sessionID(r *http.Request) string {
	c, err := r.Cookie(p.cookieName(r))
	if err != nil {
		return ""
	}
	return c.Value
}

// setCookie gives the browser the session id: HttpOnly, SameSite=Strict,
// Secure when the page is served over TLS, expiring with the session.
func (p *page) setCookie(w http.ResponseWriter, r *http.Request, id string, now time.Time) {
	http.SetCookie(w, &http.Cookie{Name: p.cookieName(r), Value: id, Path: "/",
		Expires: now.Add(p.o.SessionMax), MaxAge: int(p.o.SessionMax / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: p.secure(r)})
}

// clearCookie removes the session cookie.
func (p *page) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: p.cookieName(r), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: p.secure(r)})
}
