package sim

import (
	"net/url"
	"regexp"
	"strings"
	"time"
)

// User is a test user of the simulated apps.
//
// By default every phone number matching ^\d{9,15}$ is a known, eligible user;
// a User with Ineligible set is not (createPayment answers 7010). Token is the
// user's tokenised personal QR code, https://qr.vipps.no/p/<Token>, and
// CustomerToken the token a merchant-callback QR check-in would give.
type User struct {
	PhoneNumber   string `json:"phoneNumber"`
	Token         string `json:"token,omitempty"`
	CustomerToken string `json:"customerToken,omitempty"`
	Ineligible    bool   `json:"ineligible,omitempty"`
}

// SeedUsers returns the test users every simulator starts with: two Vipps users
// (Norway), a MobilePay user in Denmark and one in Finland, each with a
// tokenised personal QR code, and 4700000000, which is no user at all (7010).
func SeedUsers() []User {
	return []User{
		{PhoneNumber: "4712345678", Token: "Yk7WcS2pQe9Hn4Rt", CustomerToken: "ct-7f3e9a1c2b"},
		{PhoneNumber: "4791234567", Token: "Lm3Vb8Qw1Zx6Pd0K", CustomerToken: "ct-1a2b3c4d5e"},
		{PhoneNumber: "4520123456", Token: "Dk9Mp2Xc7Vb4Nq1W", CustomerToken: "ct-5e6f7a8b9c"},
		{PhoneNumber: "358401234567", Token: "Fi5Jr8Tg3Hy6Uk2L", CustomerToken: "ct-9c8b7a6f5e"},
		{PhoneNumber: "4700000000", Ineligible: true},
	}
}

// PersonalQR returns the content of u's tokenised personal QR code, or "" when
// u has no token.
func (u User) PersonalQR() string {
	if u.Token == "" {
		return ""
	}
	return "https://qr.vipps.no/p/" + u.Token
}

var (
	phonePattern = regexp.MustCompile(`^\d{9,15}$`)
	digitsOnly   = regexp.MustCompile(`^\d+$`)
	tokenPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{4,200}$`)
)

type userEntry struct {
	User
	issued time.Time // when the tokenised QR was generated (QR exchange v2.0)
}

// userTable holds the test users. Guarded by Server.mu.
type userTable struct {
	byPhone         map[string]*userEntry
	byToken         map[string]*userEntry
	byCustomerToken map[string]*userEntry
}

func newUserTable(now time.Time) *userTable {
	t := &userTable{
		byPhone:         make(map[string]*userEntry),
		byToken:         make(map[string]*userEntry),
		byCustomerToken: make(map[string]*userEntry),
	}
	for _, u := range SeedUsers() {
		t.add(u, now)
	}
	return t
}

// add adds or replaces a user.
func (t *userTable) add(u User, now time.Time) {
	if old := t.byPhone[u.PhoneNumber]; old != nil {
		delete(t.byToken, old.Token)
		delete(t.byCustomerToken, old.CustomerToken)
	}
	e := &userEntry{User: u, issued: now}
	t.byPhone[u.PhoneNumber] = e
	if u.Token != "" {
		t.byToken[u.Token] = e
	}
	if u.CustomerToken != "" {
		t.byCustomerToken[u.CustomerToken] = e
	}
}

func (t *userTable) list() []User {
	out := make([]User, 0, len(t.byPhone))
	for _, e := range t.byPhone {
		out = append(out, e.User)
	}
	return out
}

// eligible reports whether phone belongs to a user who can pay.
func (t *userTable) eligible(phone string) bool {
	e := t.byPhone[phone]
	return e == nil || !e.Ineligible
}

// qrKind is what a scanned text is as a personal QR code.
type qrKind int

const (
	qrNotPersonal qrKind = iota
	qrClearText          // https://qr.vipps.no/28/2/01/031/<msisdn>?v=1 (version 1.0)
	qrTokenised          // https://qr.vipps.no/p/<token> (version 2.0)
)

// parsePersonalQR recognises the two forms of personal QR code: the clear-text
// Vipps code, https://qr.vipps.no/<digits>/<digits>/<digits>/<digits>/<msisdn>?v=<n>
// (the meaning of the four segments is not documented, so any digits are
// accepted), and the tokenised code, https://qr.vipps.no/p/<token>. Anything
// else (an EAN-13, a payment QR, a random URL) is not a personal QR code.
// It returns the MSISDN of a clear-text code or the token of a tokenised one.
func parsePersonalQR(text string) (qrKind, string) {
	u, err := url.Parse(strings.TrimSpace(text))
	if err != nil || u.Scheme != "https" || !strings.EqualFold(u.Host, "qr.vipps.no") || u.User != nil || u.Fragment != "" {
		return qrNotPersonal, ""
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	switch {
	case len(segs) == 2 && segs[0] == "p" && tokenPattern.MatchString(segs[1]) && u.RawQuery == "":
		return qrTokenised, segs[1]
	case len(segs) == 5:
		for _, seg := range segs[:4] {
			if !digitsOnly.MatchString(seg) {
				return qrNotPersonal, ""
			}
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil || len(q) != 1 || len(q["v"]) != 1 || !digitsOnly.MatchString(q.Get("v")) {
			return qrNotPersonal, ""
		}
		if !phonePattern.MatchString(segs[4]) {
			return qrNotPersonal, ""
		}
		return qrClearText, segs[4]
	}
	return qrNotPersonal, ""
}

// AddUser adds a test user, or replaces the one with the same phone number.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users.add(u, s.now())
}

// Users returns the test users.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users.list()
}
