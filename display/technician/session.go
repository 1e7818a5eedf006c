package technician

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// CookieName is the session cookie's name. The __Host- prefix (over TLS)
// pins it to this host and path /.
const (
	CookieName    = "tillbox_tech"
	cookieNameTLS = "__Host-tillbox_tech"
)

// maxSessions bounds the sessions kept (signed in or not): past it the
// oldest not signed in is dropped (the oldest signed in when there is none).
const maxSessions = 256

// session is one browser's session. Before sign-in it only carries the
// CSRF token of the sign-in form; sign-in replaces it with a new one.
type session struct {
	csrf     string
	signedIn bool
	created  time.Time
	seen     time.Time
}

// sessions are kept by the SHA-256 of their id: the ids themselves are
// only in the browsers' cookies.
type sessions struct {
	mu   sync.Mutex
	m    map[[32]byte]*session
	idle time.Duration // a session unused this long ends
	max  time.Duration // a session ends this long after sign-in, used or not
}

func newSessions(idle, max time.Duration) *sessions {
	return &sessions{m: map[[32]byte]*session{}, idle: idle, max: max}
}

// random returns 256 random bits, base64url.
func random() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func key(id string) [32]byte { return sha256.Sum256([]byte(id)) }

// create makes a session and returns its id.
func (ss *sessions) create(now time.Time, signedIn bool) (string, *session) {
	id := random()
	s := &session{csrf: random(), signedIn: signedIn, created: now, seen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.expireLocked(now)
	if len(ss.m) >= maxSessions {
		// The oldest sign-in form goes first: anyone can open forms, and
		// they must not push a signed-in technician out.
		var oldest [32]byte
		var at time.Time
		var signedIn bool
		for k, v := range ss.m {
			if at.IsZero() || signedIn && !v.signedIn || signedIn == v.signedIn && v.seen.Before(at) {
				oldest, at, signedIn = k, v.seen, v.signedIn
			}
		}
		delete(ss.m, oldest)
	}
	ss.m[key(id)] = s
	return id, s
}

// get returns the live session of id, marking it used, or nil.
func (ss *sessions) get(id string, now time.Time) *session {
	if id == "" {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	k := key(id)
	s := ss.m[k]
	if s == nil {
		return nil
	}
	if ss.expired(s, now) {
		delete(ss.m, k)
		return nil
	}
	s.seen = now
	return s
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) >= ss.idle || now.Sub(s.created) >= ss.max
}

func (ss *sessions) expireLocked(now time.Time) {
	for k, s := range ss.m {
		if ss.expired(s, now) {
			delete(ss.m, k)
		}
	}
}

// drop ends the session of id.
func (ss *sessions) drop(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, key(id))
}

// dropOthers ends every session but id's.
func (ss *sessions) dropOthers(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	keep := key(id)
	for k := range ss.m {
		if k != keep {
			delete(ss.m, k)
		}
	}
}

// validCSRF tells whether token is s's CSRF token.
func (s *session) validCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.csrf)) == 1
}

// cookieName is the cookie's name for r: __Host- prefixed over TLS.
func cookieName(r *http.Request) string {
	if r.TLS != nil {
		return cookieNameTLS
	}
	return CookieName
}

// sessionID is the session id r carries, or "".
func sessionID(r *http.Request) string {
	c, err := r.Cookie(cookieName(r))
	if err != nil {
		return ""
	}
	return c.Value
}

// setCookie gives the browser the session id: HttpOnly, SameSite=Strict,
// Secure over TLS; a browser session cookie (the server expires it).
func setCookie(w http.ResponseWriter, r *http.Request, id string) {
	http.SetCookie(w, &http.Cookie{Name: cookieName(r), Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// clearCookie removes the session cookie.
func clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName(r), Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}
