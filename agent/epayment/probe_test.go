package epayment_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/agent/epayment"
)

// TestProbe: any answer of the host, a 404 included, is reachable; no answer
// is a TransportError; the probe carries no credential, token or key.
func TestProbe(t *testing.T) {
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/" {
			t.Errorf("probe: %s %s, want GET /", r.Method, r.URL.Path)
		}
		got <- r.Header.Clone()
		http.NotFound(w, r)
	}))
	defer srv.Close()
	var ops []epayment.CallInfo
	c, err := epayment.New(epayment.Config{BaseURL: srv.URL, ClientID: testClientID, ClientSecret: testSecret,
		SubscriptionKey: testSubKey, MSN: testMSN, Observe: func(ci epayment.CallInfo) { ops = append(ops, ci) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Probe(context.Background()); err != nil {
		t.Fatalf("probe of a host answering 404: %v", err)
	}
	h := <-got
	for name, vs := range h {
		for _, v := range vs {
			if strings.Contains(v, testSecret) || strings.Contains(v, testSubKey) {
				t.Errorf("probe sent a secret in %s", name)
			}
		}
	}
	for _, name := range []string{"Authorization", "Client_secret", "Ocp-Apim-Subscription-Key", "Client_id"} {
		if h.Get(name) != "" {
			t.Errorf("probe sent %s", name)
		}
	}
	if len(ops) != 1 || ops[0].Op != "probe" || ops[0].Status != http.StatusNotFound {
		t.Errorf("observed %+v, want one probe answered 404", ops)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	c, err = epayment.New(epayment.Config{BaseURL: dead, ClientID: testClientID, ClientSecret: testSecret,
		SubscriptionKey: testSubKey, MSN: testMSN})
	if err != nil {
		t.Fatal(err)
	}
	var te *epayment.TransportError
	if err := c.Probe(context.Background()); !errors.As(err, &te) {
		t.Errorf("probe of a closed port: %v, want a TransportError", err)
	}
}
