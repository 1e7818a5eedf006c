package fleetpage

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/settings"
)

// partialSettings writes a secret's first till keys, then fails.
type partialSettings struct{ Settings }

func (partialSettings) Chain() string { return "acme" }

func (partialSettings) Overview(context.Context) (*settings.Overview, error) {
	return &settings.Overview{Chain: "acme"}, nil
}

func (partialSettings) Apply(context.Context, settings.Change) (settings.Result, error) {
	return settings.Result{Written: []settings.Written{{Key: "acme.oslo.t1", Revision: 7}, {Key: "acme.oslo.t2", Revision: 8}}},
		errors.New("writing acme.oslo.t3: nats: timeout")
}

// TestSettingsPartial: a secret sealed for many tills whose writes stop
// partway shows which keys were written besides the error.
func TestSettingsPartial(t *testing.T) {
	r := newRig(t, twoStores(start), func(o *Options) { o.Settings = partialSettings{} })
	c := r.client(t)
	r.login(t, c, "alice", alicePassword)
	a := r.post(t, c, "/settings", url.Values{"op": {"secret"}, "scope": {"store:oslo"}, "field": {"vipps.client_secret"}, "secret": {"s3cret-value"}})
	if a.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", a.status)
	}
	for _, want := range []string{"Wrote acme.oslo.t1, revision 7.", "Wrote acme.oslo.t2, revision 8.", "writing acme.oslo.t3: nats: timeout", "Stopped partway"} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(a.body, "s3cret-value") {
		t.Error("the page shows the secret")
	}
}
