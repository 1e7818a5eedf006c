package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/version"
)

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "tillbox "+version.String()+"\n"; got != want || version.String() == "" {
		t.Errorf("version printed %q, want %q", got, want)
	}
}

func TestUnknownCommandAndNoArgs(t *testing.T) {
	var errOut bytes.Buffer
	if err := run(context.Background(), []string{"frobnicate"}, io.Discard, &errOut); !errors.Is(err, errUsage) {
		t.Errorf("unknown command: %v", err)
	}
	if !strings.Contains(errOut.String(), `unknown command "frobnicate"`) || !strings.Contains(errOut.String(), "tillbox sim") {
		t.Errorf("stderr = %q", errOut.String())
	}
	if err := run(context.Background(), nil, io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("no args: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSimServesAndStops runs `tillbox sim` on a free loopback port, gets a
// token from it like any client would, and stops it with the context.
func TestSimServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"sim", "--listen", "127.0.0.1:0"}, pw, io.Discard); pw.Close() }()

	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	url := strings.TrimSpace(line[strings.Index(line, "http://"):])
	req, _ := http.NewRequest(http.MethodPost, url+"/accesstoken/get", nil)
	req.Header.Set("client_id", "00000000-0000-4000-8000-000000000001")
	req.Header.Set("client_secret", "s")
	req.Header.Set("Ocp-Apim-Subscription-Key", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token from tillbox sim: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sim exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sim did not stop after its context ended")
	}
}

func TestSimRejectsBadFlags(t *testing.T) {
	var errOut bytes.Buffer
	if err := run(context.Background(), []string{"sim", "--no-such-flag"}, io.Discard, &errOut); err == nil {
		t.Error("unknown flag accepted")
	}
	if err := run(context.Background(), []string{"sim", "--listen", "256.0.0.1:99999"}, io.Discard, io.Discard); err == nil {
		t.Error("impossible listen address accepted")
	}
}

// TestDemo runs what `make demo` runs and checks the story it tells.
func TestDemo(t *testing.T) {
	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := run(ctx, []string{"demo"}, &out, io.Discard); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"personal QR code (46 characters) → +47 ••• •• 678",
		"PUSH_MESSAGE", "CUSTOMER_PRESENT",
		"state AUTHORIZED",
		"aggregate.capturedAmount 499.00 NOK",
		"CREATED → AUTHORIZED → CAPTURED",
		`"capture":1,"create":1`,
		"done:",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "4712345678") {
		t.Errorf("the demo shows the customer's full phone number:\n%s", text)
	}
}
