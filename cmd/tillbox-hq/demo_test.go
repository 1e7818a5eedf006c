package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo/fleetdemotest"
)

// demoOutput collects the demo's output and lets a test wait for a line.
type demoOutput struct {
	mu    sync.Mutex
	text  strings.Builder
	added chan struct{}
}

func (o *demoOutput) read(sc *bufio.Scanner) {
	for sc.Scan() {
		o.mu.Lock()
		o.text.WriteString(sc.Text() + "\n")
		close(o.added)
		o.added = make(chan struct{})
		o.mu.Unlock()
	}
}

func (o *demoOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.text.String()
}

// wait waits until re matches the output and returns its submatches.
func (o *demoOutput) wait(t *testing.T, ctx context.Context, exited <-chan struct{}, re *regexp.Regexp) []string {
	t.Helper()
	for {
		o.mu.Lock()
		m, added := re.FindStringSubmatch(o.text.String()), o.added
		o.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-added:
		case <-exited:
			t.Fatalf("the demo exited before %q:\n%s", re, o)
		case <-ctx.Done():
			t.Fatalf("no %q:\n%s", re, o)
		}
	}
}

// TestDemo: `tillbox-hq demo` started as a process prints the fleet page
// with a login; logged in, /api/fleet shows the three boxes connected and
// today's sales of both stores (from PostgreSQL); SIGINT stops it with
// status 0, its boxes and headquarters with it, and its folder is gone.
func TestDemo(t *testing.T) {
	tillbox, hq := fleetdemotest.Binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.Command(hq, "demo", "--tillbox", tillbox, "--rate", "5", "--approve-after", "200ms")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := &demoOutput{added: make(chan struct{})}
	read := make(chan struct{})
	go func() { out.read(bufio.NewScanner(stdout)); close(read) }()
	exited := make(chan struct{})
	var waitErr error
	go func() { <-read; waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { // after a failure: stop it as a person would, so that it removes its folders
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(90 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	m := out.wait(t, ctx, exited, regexp.MustCompile(`fleet page +(http://127\.0\.0\.1:\d+)/ +log in as (\S+), password (\S+)`))
	base, user, password := m[1], m[2], m[3]
	out.wait(t, ctx, exited, regexp.MustCompile(`Ctrl-C stops everything`)) // the end of the banner
	posURLs := regexp.MustCompile(`POS (http://127\.0\.0\.1:\d+)`).FindAllStringSubmatch(out.String(), -1)
	if len(posURLs) != 3 {
		t.Fatalf("%d POS URLs printed:\n%s", len(posURLs), out)
	}
	out.wait(t, ctx, exited, regexp.MustCompile(`sales flowing`))

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := client.PostForm(base+"/login", url.Values{"name": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %s", resp.Status)
	}
	waitFleet(t, ctx, client, base)
	page := getPage(t, client, base+"/")
	if n := strings.Count(page, "from headquarters, until "); n != 3 {
		t.Errorf("the fleet page shows %d tills with headquarters' token, want 3", n)
	}
	if !strings.Contains(out.String(), "boxes hold no client secret, but bergen-1/t1") {
		t.Errorf("the banner does not say where the secrets are:\n%s", out)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(90 * time.Second):
		t.Fatalf("the demo did not stop within 90 s of SIGINT:\n%s", out)
	}
	if waitErr != nil {
		t.Fatalf("the demo exited with %v:\n%s", waitErr, out)
	}
	m = regexp.MustCompile(`stopped; removed (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no word of the folder removed:\n%s", out)
	}
	if _, err := os.Stat(m[1]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s after the demo: %v", m[1], err)
	}
	for _, u := range append(posURLs, []string{"", base}) {
		if resp, err := http.Get(u[1] + "/healthz"); err == nil {
			resp.Body.Close()
			t.Errorf("%s still answers after the demo stopped", u[1])
		}
	}
	if strings.Contains(out.String(), "level=ERROR") {
		t.Errorf("an error in the demo's output:\n%s", out)
	}
}

// getPage is the body of a page that answers 200.
func getPage(t *testing.T, client *http.Client, u string) string {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s %v", u, resp.Status, err)
	}
	return string(body)
}

// waitFleet waits until /api/fleet shows three connected tills, each with
// a valid access token from headquarters' broker, and sales in both
// stores.
func waitFleet(t *testing.T, ctx context.Context, client *http.Client, base string) {
	t.Helper()
	type fleet struct {
		Connected int `json:"connected"`
		Stores    []struct {
			Store string `json:"store"`
			Tills []struct {
				TokenSource  string     `json:"tokenSource"`
				TokenExpires *time.Time `json:"tokenExpires"`
			} `json:"tills"`
			Sales []struct {
				Count     int   `json:"count"`
				Completed int   `json:"completed"`
				Captured  int64 `json:"captured"`
			} `json:"sales"`
		} `json:"stores"`
	}
	var last string
	for {
		resp, err := client.Get(base + "/api/fleet")
		if err == nil {
			var f fleet
			err = json.NewDecoder(resp.Body).Decode(&f)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("/api/fleet: %s", resp.Status)
			}
			selling, brokered := 0, 0
			for _, s := range f.Stores {
				if len(s.Sales) > 0 && s.Sales[0].Completed > 0 && s.Sales[0].Captured > 0 {
					selling++
				}
				for _, t := range s.Tills {
					if t.TokenSource == wire.TokenFromHQ && t.TokenExpires != nil && t.TokenExpires.After(time.Now()) {
						brokered++
					}
				}
			}
			if err == nil && f.Connected == 3 && selling == 2 && brokered == 3 {
				return
			}
			b, _ := json.Marshal(f)
			last = string(b)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("/api/fleet does not show 3 tills connected with headquarters' token and sales in 2 stores: %s (%v)", last, err)
		case <-time.After(200 * time.Millisecond): // headquarters ingests in batches
		}
	}
}
