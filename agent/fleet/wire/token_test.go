package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestTokenReplyCheck(t *testing.T) {
	now := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		r    TokenReply
		ok   bool
	}{
		{"a token", TokenReply{MSN: "123456", Token: "t", ExpiresAt: now.Add(time.Hour)}, true},
		{"a code", TokenReply{MSN: "123456", Code: TokenNotAllowed, Message: "not for this store"}, true},
		{"another unit", TokenReply{MSN: "654321", Token: "t", ExpiresAt: now.Add(time.Hour)}, false},
		{"expired", TokenReply{MSN: "123456", Token: "t", ExpiresAt: now}, false},
		{"empty", TokenReply{MSN: "123456"}, false},
		{"both", TokenReply{MSN: "123456", Token: "t", ExpiresAt: now.Add(time.Hour), Code: TokenRefused}, false},
	} {
		if err := tc.r.Check("123456", now); (err == nil) != tc.ok {
			t.Errorf("%s: Check = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestTokenSubjectsAndPermissions(t *testing.T) {
	till := Till{Chain: "acme", Store: "oslo-1", Till: "t1"}
	if got := till.TokenSubject(); got != "tillbox.acme.token.oslo-1.t1" {
		t.Errorf("TokenSubject = %q", got)
	}
	if !strings.HasPrefix(till.TokenSubject(), strings.TrimSuffix(TokenSubjects("acme"), "*.*")) {
		t.Errorf("%q is not under %q", till.TokenSubject(), TokenSubjects("acme"))
	}
	p := BoxPermissions(till)
	other := Till{Chain: "acme", Store: "oslo-1", Till: "t2"}
	var mine, theirs bool
	for _, s := range p.Publish {
		mine = mine || s == till.TokenSubject()
		theirs = theirs || s == other.TokenSubject() || strings.Contains(s, "token.*") || strings.Contains(s, "token.>")
	}
	if !mine || theirs {
		t.Errorf("a box may ask for its own token only: publish %v", p.Publish)
	}
	for _, s := range p.Subscribe {
		if strings.Contains(s, ".token.") {
			t.Errorf("a box may not read token requests: subscribe %q", s)
		}
	}
}

func TestTokenNeverInAHeartbeat(t *testing.T) {
	h := Heartbeat{TokenSource: TokenFromHQ, TokenExpires: time.Date(2026, 12, 8, 11, 0, 0, 0, time.UTC)}
	var m map[string]any
	if err := json.Unmarshal(h.Marshal(), &m); err != nil {
		t.Fatal(err)
	}
	if m["tokenSource"] != "hq" || m["tokenExpires"] != "2026-12-08T11:00:00Z" {
		t.Errorf("heartbeat %v", m)
	}
	if _, ok := m["token"]; ok {
		t.Error("a heartbeat has a token field")
	}
}
