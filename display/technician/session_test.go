package technician_test

import (
	"net/http"
	"testing"
)

// Anyone who reaches the page can open the sign-in form, and each form
// gets a session for its CSRF token: many of them must not push a
// signed-in technician out (the oldest forms go first).
func TestSignInFormsDoNotEvictSignedInSessions(t *testing.T) {
	b := newBox(t, false)
	tech := b.client()
	tech.signIn(password)
	anon := b.client()
	for range 300 {
		if resp, _ := anon.do("GET", "signin", nil, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET signin: %s", resp.Status)
		}
	}
	if resp, _ := tech.do("GET", "", nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the signed-in technician after 300 sign-in forms: %s, want 200", resp.Status)
	}
}
