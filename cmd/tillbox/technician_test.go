package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/display/technician"
)

// TestRunServesTheTechnicianPage: with a technician password set (as
// `tillbox passwd` writes it), `tillbox run` serves the technician page
// and prints its address; it answers with its sign-in page and its strict
// headers. Without a password (first boot) it is served too, and signs in
// with the one-time code in <data_dir>/first-boot-code (sessions_test.go).
func TestRunServesTheTechnicianPage(t *testing.T) {
	for _, withPassword := range []bool{true, false} {
		t.Run(map[bool]string{true: "password", false: "no password"}[withPassword], func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			if err := os.MkdirAll(data, 0o700); err != nil {
				t.Fatal(err)
			}
			if withPassword {
				hash, err := technician.HashPassword("correct horse battery staple")
				if err != nil {
					t.Fatal(err)
				}
				if err := technician.WritePasswordFile(data, hash); err != nil {
					t.Fatal(err)
				}
			}
			cfg := testConfig(t, dir, "http://127.0.0.1:1", "127.0.0.1:0", "")
			logs, done := runTill(t, cfg)
			page := waitPrinted(t, logs, done, `technician page on (http://127\.0\.0\.1:\d+/\S*)`)
			resp, err := http.Get(page)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := map[bool]string{true: "password", false: "one-time code"}[withPassword]
			if resp.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(string(body)), want) {
				t.Errorf("GET %s: %s\n%s", page, resp.Status, body)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
		})
	}
}
