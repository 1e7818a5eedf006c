package main

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/tillbox/tillbox/display/technician"
)

// codeInFile reads the one-time code from the data folder's file (as
// `sudo cat` on the box does), checking that only its owner may read it.
func (tt *techTill) codeInFile() string {
	t := tt.t
	t.Helper()
	path := filepath.Join(tt.data, technician.CodeFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the one-time code's file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	code := strings.TrimSpace(string(b))
	if !regexp.MustCompile(`^\d{5}-\d{5}$`).MatchString(code) {
		t.Fatalf("the file holds %q, not a code", code)
	}
	return code
}

// signedIn tells whether h's session still opens the status page.
func (h *techClient) signedIn() bool {
	resp, _ := h.do("GET", "", nil)
	return resp.StatusCode == http.StatusOK
}

// Setting the password ends every other session: on first boot, whoever
// signed in with a one-time code
// is out once the technician sets the password; later, a session signed
// in with the old password is out once it is changed. The session that
// set it stays.
func TestPasswordEndsOtherSessions(t *testing.T) {
	t.Run("first boot", func(t *testing.T) {
		tt := startTechTill(t, false)
		codeSignIn := func(h *techClient) {
			_, page := h.do("GET", "signin", nil)
			if resp, _ := h.do("POST", "signin", url.Values{"csrf": {csrfOf(t, page)}, "password": {tt.codeInFile()}}); resp.StatusCode != http.StatusSeeOther {
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

// First boot: the one-time code is only in the data folder's file (mode
// 0600, for someone with the box in hand). A customer's phone on the
// display's WebSocket never gets it, from loopback neither; the log and
// the log page never hold it, nor the next code after a sign-in; once a
// password is set the file is gone.
func TestFirstBootCodeOnlyInFile(t *testing.T) {
	tt := startTechTill(t, false)
	code := tt.codeInFile()
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(tt.display, "http")+"ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // a bound on a stuck test
	_, snap, err := conn.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(snap), code) || strings.Contains(string(snap), strings.ReplaceAll(code, "-", "")) {
		t.Errorf("the customer display got the one-time code: %s", snap)
	}
	resp, err := http.Get(tt.display)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(page), code) {
		t.Error("the customer display's page holds the one-time code")
	}

	tech := tt.client()
	_, form := tech.do("GET", "signin", nil)
	if !strings.Contains(string(form), filepath.Join(tt.data, technician.CodeFile)) {
		t.Errorf("the sign-in page does not say where the code is:\n%s", form)
	}
	if resp, _ := tech.do("POST", "signin", url.Values{"csrf": {csrfOf(t, form)}, "password": {code}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in with the code: %s", resp.Status)
	}
	next := tt.codeInFile()
	if next == code {
		t.Fatal("the code's file still holds the used code")
	}
	_, form = tech.do("GET", "password", nil)
	if resp, body := tech.do("POST", "password", url.Values{"csrf": {csrfOf(t, form)}, "password": {techPassword}, "again": {techPassword}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("setting the password: %s\n%s", resp.Status, body)
	}
	if _, err := os.Stat(filepath.Join(tt.data, technician.CodeFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the code's file is still there once the password is set (%v)", err)
	}
	for _, path := range []string{"log", "log.json"} {
		resp, body := tech.do("GET", path, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "one-time code") {
			t.Fatalf("GET %s: %s, without the first boot's lines:\n%s", path, resp.Status, body)
		}
		for _, c := range []string{code, next} {
			if strings.Contains(string(body), c) {
				t.Errorf("the technician page's %s shows a one-time code", path)
			}
		}
	}
	for _, c := range []string{code, next} {
		if strings.Contains(tt.logs.String(), c) {
			t.Error("the log holds a one-time code")
		}
	}
}
