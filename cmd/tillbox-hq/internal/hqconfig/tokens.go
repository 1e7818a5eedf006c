package hqconfig

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// The token broker (issue 15, docs/chain.md "Token broker (headquarters)"):
// headquarters holds each sales unit's client id, client secret and
// subscription key and hands the boxes of the allowed stores the unit's
// access token, so that no till needs the client secret.

// Vipps is the [vipps] section: where headquarters asks for the units'
// access tokens.
type Vipps struct {
	// BaseURL is the Vipps MobilePay host: production (the default),
	// https://apitest.vipps.no, or a simulator (http only on loopback).
	BaseURL string `toml:"base_url"`
}

// UnitTokens are the token broker's settings of a [[unit]]: the sales
// unit's keys from the business portal, and the stores whose tills may
// have its token. A unit without them still relays webhooks; the broker
// answers its tills wire.TokenNotAllowed.
type UnitTokens struct {
	ClientID            string          `toml:"client_id"`
	ClientSecret        epayment.Secret `toml:"client_secret"`
	ClientSecretFile    string          `toml:"client_secret_file"`
	SubscriptionKey     epayment.Secret `toml:"subscription_key"`
	SubscriptionKeyFile string          `toml:"subscription_key_file"`
	// Stores are the stores whose tills may use the unit's token; empty:
	// every store of the chain.
	Stores []string `toml:"stores"`
}

// HasCredentials tells whether the unit's token can be fetched: client
// id, client secret and subscription key are all set.
func (u UnitTokens) HasCredentials() bool {
	return u.ClientID != "" && u.ClientSecret != "" && u.SubscriptionKey != ""
}

// Allows tells whether the tills of store may use the unit's token.
func (u UnitTokens) Allows(store string) bool {
	return len(u.Stores) == 0 || slices.Contains(u.Stores, store)
}

// EPayment is the configuration of headquarters' Vipps MobilePay client of
// unit u at base (the unit's credentials must be set).
func EPayment(base string, u Unit) epayment.Config {
	return epayment.Config{BaseURL: base, ClientID: u.ClientID, ClientSecret: u.ClientSecret,
		SubscriptionKey: u.SubscriptionKey, MSN: u.MSN, SystemName: "tillbox-hq"}
}

// tokenSecrets are unit i's client secret and subscription key, from
// TILLBOX_HQ_UNIT_<MSN>_CLIENT_SECRET and …_SUBSCRIPTION_KEY, their
// _file or the key itself: one written in the file itself is warned of
// (it is called before the secrets are taken from elsewhere).
func (c *Config) tokenSecrets(i int) []secret {
	u := &c.Units[i]
	env := unitEnvPrefix(u.MSN)
	s := []secret{
		{field: fmt.Sprintf("unit[%d].client_secret", i), env: env + "CLIENT_SECRET", value: &u.ClientSecret, file: &u.ClientSecretFile},
		{field: fmt.Sprintf("unit[%d].subscription_key", i), env: env + "SUBSCRIPTION_KEY", value: &u.SubscriptionKey, file: &u.SubscriptionKeyFile},
	}
	for _, x := range s {
		if *x.value != "" && *x.file == "" {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s is written in the configuration file: keep it in %s_file or %s instead",
				x.field, x.field[strings.Index(x.field, ".")+1:], x.env))
		}
	}
	return s
}

// unitEnvPrefix starts the environment variables of a unit's secrets.
func unitEnvPrefix(msn string) string {
	return "TILLBOX_HQ_UNIT_" + strings.ToUpper(strings.ReplaceAll(msn, "-", "_")) + "_"
}

// validateTokens checks [vipps] and the units' token settings.
func (c *Config) validateTokens() []Problem {
	var ps []Problem
	fail := func(field, format string, args ...any) {
		ps = append(ps, Problem{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	// The client's own rule for the host: https, or http on loopback.
	probe := Unit{MSN: "1234", UnitTokens: UnitTokens{ClientID: "00000000-0000-0000-0000-000000000000",
		ClientSecret: "probe", SubscriptionKey: "probe"}}
	baseOK := true
	if _, err := epayment.New(EPayment(c.Vipps.BaseURL, probe)); err != nil {
		baseOK = false
		fail("vipps.base_url", "%s", strings.TrimPrefix(err.Error(), "epayment: "))
	}
	for i, u := range c.Units {
		f := fmt.Sprintf("unit[%d].", i)
		for _, s := range u.Stores {
			if err := wire.CheckID("store", s); err != nil {
				fail(f+"stores", "%v", err)
			}
		}
		set := map[string]bool{"client_id": u.ClientID != "", "client_secret": u.ClientSecret != "",
			"subscription_key": u.SubscriptionKey != ""}
		if !set["client_id"] && !set["client_secret"] && !set["subscription_key"] {
			continue // no token broker for this unit
		}
		env := unitEnvPrefix(u.MSN)
		for _, k := range []string{"client_id", "client_secret", "subscription_key"} {
			if !set[k] {
				how := k
				if k != "client_id" {
					how = fmt.Sprintf("%s_file, %s%s or %s", k, env, strings.ToUpper(k), k)
				}
				fail(f+k, "missing: the token broker needs client_id, client_secret and subscription_key (set %s)", how)
			}
		}
		if !u.HasCredentials() || !baseOK {
			continue
		}
		// The client checks the client id and the MSN; its messages name
		// no secret.
		if _, err := epayment.New(EPayment(c.Vipps.BaseURL, u)); err != nil {
			field := "client_id"
			if strings.Contains(err.Error(), "MSN") {
				field = "msn"
			}
			fail(f+field, "%s", strings.TrimPrefix(err.Error(), "epayment: "))
		}
	}
	return ps
}
