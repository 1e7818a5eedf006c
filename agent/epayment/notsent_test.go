package epayment_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
)

// NotSent tells a create that surely never reached ePayment (it may be
// given up) from one whose outcome is unknown (it must be settled by GET):
// only a failed token call or a connection never had prove the first.
func TestNotSent(t *testing.T) {
	ctx := context.Background()
	client := func(t *testing.T, base string) *epayment.Client {
		c, err := epayment.New(epayment.Config{BaseURL: base, ClientID: testClientID, ClientSecret: testSecret,
			SubscriptionKey: testSubKey, MSN: testMSN, HTTPClient: &http.Client{Timeout: 30 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	create := func(c *epayment.Client) error {
		ref := newRef()
		_, err := c.CreatePayment(ctx, "key-"+ref, pushRequest(ref, 1000))
		return err
	}

	t.Run("nothing listens", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + ln.Addr().String()
		ln.Close()
		if err := create(client(t, dead)); !epayment.NotSent(err) {
			t.Errorf("connection refused: NotSent(%v) = false, want true", err)
		}
	})
	t.Run("token refused", func(t *testing.T) {
		r := newRig(t, sim.Options{ClientSecret: "the-right-secret"}, nil)
		err := create(r.client)
		if !epayment.NotSent(err) || !epayment.IsAuth(err) {
			t.Errorf("token call answered 401: NotSent(%v) = %v, IsAuth %v; want both true", err, epayment.NotSent(err), epayment.IsAuth(err))
		}
		if n := len(r.requests("/epayment/")); n != 0 {
			t.Errorf("%d requests reached ePayment, want none", n)
		}
	})
	t.Run("token call dropped", func(t *testing.T) {
		r := newRig(t, sim.Options{}, nil)
		r.sim.SetFault(sim.Fault{Endpoint: "token", Drop: 1})
		if err := create(r.client); !epayment.NotSent(err) {
			t.Errorf("token call dropped: NotSent(%v) = false, want true", err)
		}
	})
	for _, tc := range []struct {
		name  string
		fault sim.Fault
	}{
		{"create dropped after it was written", sim.Fault{Endpoint: "createPayment", Drop: 1}},
		{"create applied, answer lost", sim.Fault{Endpoint: "createPayment", Lost: 1}},
		{"create answered 5xx", sim.Fault{Endpoint: "createPayment", Status5xx: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, sim.Options{}, nil)
			r.sim.SetFault(tc.fault)
			err := create(r.client)
			if err == nil || epayment.NotSent(err) {
				t.Errorf("NotSent(%v) = true, want false: the outcome is unknown", err)
			}
		})
	}
}
