package config

import (
	"strings"
	"testing"
)

// withFleet turns the link on.
func withFleet(d doc) doc {
	return d.set("fleet.chain", `"acme"`).set("fleet.store", `"oslo-1"`).
		set("fleet.servers", `["nats://127.0.0.1:4222"]`).set("fleet.user", `"t1"`).set("fleet.password", `"pw"`)
}

// TestTokenSource: with the link on, a box may hold no client id nor
// secret (headquarters' broker gives the token), and falls back on a
// secret it has; without the link it needs one; "hq" needs the link and
// refuses a secret it would never use.
func TestTokenSource(t *testing.T) {
	noSecret := func(d doc) doc { return d.set("vipps.client_secret", "").set("vipps.client_id", "") }
	for _, tc := range []struct {
		name             string
		d                doc
		broker, fallback bool
	}{
		{"link, no secret", noSecret(withFleet(minimal())), true, false},
		{"link and a secret", withFleet(minimal()), true, true},
		{"hq", noSecret(withFleet(minimal())).set("vipps.token_source", `"hq"`), true, false},
		{"box with the link", withFleet(minimal()).set("vipps.token_source", `"box"`), false, false},
		{"no link", minimal(), false, false},
	} {
		c := mustParse(t, tc.d.String())
		if b, f := c.TokenBroker(); b != tc.broker || f != tc.fallback {
			t.Errorf("%s: broker %v fallback %v, want %v %v", tc.name, b, f, tc.broker, tc.fallback)
		}
		if o, on := c.FleetOptions(); on && o.MSN != "123456" {
			t.Errorf("%s: the link's MSN %q", tc.name, o.MSN)
		}
	}

	for _, tc := range []struct {
		name, field, reason string
		d                   doc
	}{
		{"no secret, no link", "vipps.client_secret", "[fleet]", noSecret(minimal()).set("vipps.client_id", `"`+testClientID+`"`)},
		{"hq without the link", "vipps.token_source", "link to headquarters is off", noSecret(minimal()).set("vipps.token_source", `"hq"`)},
		{"hq with a secret", "vipps.client_secret", "never uses it", withFleet(minimal()).set("vipps.token_source", `"hq"`)},
		{"box without a secret", "vipps.client_secret", "missing", noSecret(withFleet(minimal())).set("vipps.token_source", `"box"`)},
		{"a secret without its id", "vipps.client_id", "missing", withFleet(minimal()).set("vipps.client_id", "")},
		{"a word unknown", "vipps.token_source", "is not", withFleet(minimal()).set("vipps.token_source", `"cloud"`)},
	} {
		p := find(t, problemsOf(t, tc.d.String()), tc.field)
		if !strings.Contains(p.Reason, tc.reason) {
			t.Errorf("%s: %s; want …%s…", tc.name, p, tc.reason)
		}
		for _, s := range testSecrets {
			if strings.Contains(p.Reason, s) {
				t.Errorf("%s: a secret in the reason", tc.name)
			}
		}
	}
}
