package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// codeOnDisplay reads the one-time code the customer display shows now.
func (tt *techTill) codeOnDisplay() string {
	t := tt.t
	t.Helper()
	ws := "ws" + strings.TrimPrefix(tt.display, "http") + "ws"
	conn, _, err := websocket.DefaultDialer.Dial(ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // a bound on a stuck test
	var m struct {
		View struct {
			TechCode string `json:"techCode"`
		} `json:"view"`
	}
	if err := conn.ReadJSON(&m); err != nil {
		t.Fatal(err)
	}
	if m.View.TechCode == "" {
		t.Fatal("the display shows no code")
	}
	return m.View.TechCode
}

// signedIn tells whether h's session still opens the status page.
func (h *techClient) signedIn() bool {
	resp, _ := h.do("GET", "", nil)
	return resp.StatusCode == http.StatusOK
}

// Setting the password ends every other session: on first boot, whoever
// signed in with a code the display showed (a customer at the counter)
// is out once the technician sets the password; later, a session signed
// in with the old password is out once it is changed. The session that
// set it stays.
func TestPasswordEndsOtherSessions(t *testing.T) {
	t.Run("first boot", func(t *testing.T) {
		tt := startTechTill(t, false)
		codeSignIn := func(h *techClient) {
			_, page := h.do("GET", "signin", nil)
			if resp, _ := h.do("POST", "signin", url.Values{"csrf": {csrfOf(t, page)}, "password": {tt.codeOnDisplay()}}); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in with the code: %s", resp.Status)
			}
		}
		stranger, tech := tt.client(), tt.client()
		codeSignIn(stranger)
		codeSignIn(tech)
		_, page := tech.do("GET", "password", nil)
		resp, body := tech.do("POST", "password", url.Values{"csrf": {csrfOf(t, page)}, "password": {techPassword}, "again": {techPassword}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("setting the password: %s\n%s", resp.Status, body)
		}
		if stranger.signedIn() {
			t.Error("a session signed in with a one-time code is still signed in after the password was set")
		}
		if !tech.signedIn() {
			t.Error("the session that set the password was signed out")
		}
	})
	t.Run("change", func(t *testing.T) {
		tt := startTechTill(t, true)
		old := tt.client()
		old.signIn(techPassword)
		tech := tt.client()
		tok := tech.signIn(techPassword)
		const next = "a brand new technician password"
		resp, body := tech.do("POST", "password", url.Values{"csrf": {tok}, "current": {techPassword}, "password": {next}, "again": {next}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the password change: %s\n%s", resp.Status, body)
		}
		if old.signedIn() {
			t.Error("a session signed in with the old password is still signed in after the change")
		}
		if !tech.signedIn() {
			t.Error("the session that changed the password was signed out")
		}
	})
}
