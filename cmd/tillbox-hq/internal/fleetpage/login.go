package fleetpage

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/tillbox/tillbox/display/technician"
)

// badLogin is the one answer to a wrong name or password: it does not
// tell which.
const badLogin = "Wrong name or password."

// logins checks names and passwords against the users' argon2id hashes.
type logins struct {
	users map[string]string
	dummy string     // checked for unknown names, so they take as long
	mu    sync.Mutex // one check at a time: argon2id takes 19 MiB
}

func newLogins(users map[string]string) (*logins, error) {
	if len(users) == 0 {
		return nil, errors.New("fleetpage: no users: nobody could log in (add one with its password's hash)")
	}
	lg := &logins{users: make(map[string]string, len(users))}
	for name, h := range users {
		if name == "" {
			return nil, errors.New("fleetpage: a user without a name")
		}
		if err := checkHash(name, h); err != nil {
			return nil, err
		}
		lg.users[name] = h
	}
	dummy, err := technician.HashPassword(newID())
	if err != nil {
		return nil, err
	}
	lg.dummy = dummy
	return lg, nil
}

// check tells whether password is name's.
func (lg *logins) check(name, password string) bool {
	h, known := lg.users[name]
	if !known {
		h = lg.dummy
	}
	if len(password) > 1024 { // no one's password: checked all the same, for the time
		h, known, password = lg.dummy, false, password[:1024]
	}
	lg.mu.Lock()
	defer lg.mu.Unlock()
	return technician.CheckPassword(h, password) == nil && known && password != ""
}

type loginData struct {
	Name    string
	Problem string
}

func (p *page) loginPage(w http.ResponseWriter, r *http.Request) {
	if p.sessions.get(p.sessionID(r), p.o.Clock.Now()) != "" {
		seeOther(w, "")
		return
	}
	p.render(w, http.StatusOK, "login.html", loginData{})
}

// login checks the limit of r's address, then the name and password, and
// starts a session.
func (p *page) login(w http.ResponseWriter, r *http.Request) {
	now := p.o.Clock.Now()
	who := remote(r)
	if ok, next := p.limit.Allow(who, now); !ok {
		p.log.Warn("fleetpage: login rate limited", "client", who)
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(next.Sub(now).Seconds()+0.999))))
		http.Error(w, "too many failed logins from your address: wait a minute and try again", http.StatusTooManyRequests)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	name, password := r.PostFormValue("name"), r.PostFormValue("password")
	if !p.logins.check(name, password) {
		p.log.Warn("fleetpage: login failed", "client", who)
		p.render(w, http.StatusUnauthorized, "login.html", loginData{Name: name, Problem: badLogin})
		return
	}
	p.limit.Forgive(who, now)
	if old := p.sessionID(r); old != "" {
		p.sessions.drop(old)
	}
	p.setCookie(w, r, p.sessions.create(name, now), now)
	p.log.Info("fleetpage: logged in", "user", name, "client", who)
	seeOther(w, "")
}

func (p *page) logout(w http.ResponseWriter, r *http.Request) {
	if id := p.sessionID(r); id != "" {
		p.sessions.drop(id)
	}
	p.clearCookie(w, r)
	seeOther(w, "login")
}

type userKey struct{}

// loggedIn runs h for a logged-in session; the page sends others to the
// login form, the API answers 401.
func (p *page) loggedIn(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user := p.sessions.get(p.sessionID(r), p.o.Clock.Now())
		if user == "" {
			if r.URL.Path == "/" {
				seeOther(w, "login")
				return
			}
			http.Error(w, "log in first (POST /login with name and password)", http.StatusUnauthorized)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), userKey{}, user)))
	}
}
