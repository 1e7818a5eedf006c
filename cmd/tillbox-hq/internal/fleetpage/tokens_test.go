package fleetpage

import (
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// brokerOf answers Available from a table of msn → why ("" = available).
type brokerOf map[string]string

func (b brokerOf) Available(_, msn string) (bool, string) { why := b[msn]; return why == "", why }

// TestTokenLine: each till says where its token comes from and until when;
// only a till on headquarters' token, running out within the hour (or
// without one), whose unit headquarters cannot serve, is warned of.
func TestTokenLine(t *testing.T) {
	oslo, _ := time.LoadLocation("Europe/Oslo")
	now := time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)
	hb := 10 * time.Second
	till := func(name, msn, source string, expires time.Duration) Till {
		t := Till{Chain: "acme", Store: "oslo", Till: name, LastHeartbeat: now, MSN: msn, TokenSource: source}
		if expires != 0 {
			t.TokenExpires = now.Add(expires)
		}
		return t
	}
	tills := []Till{
		till("a", "1111", wire.TokenFromHQ, 30*time.Minute),           // unit served: fine
		till("b", "2222", wire.TokenFromHQ, 30*time.Minute),           // unit refused: warned
		till("c", "2222", wire.TokenFromHQ, 5*time.Hour),              // far from expiry: fine
		till("d", "2222", wire.TokenFromBox, 10*time.Minute),          // its own secret: fine
		till("e", "2222", wire.TokenFromHQ, -time.Minute),             // expired: warned
		till("f", "2222", wire.TokenFromHQ, 0),                        // none held: warned
		till("g", "", "", 0),                                          // an older box: nothing said
		till("h", "1111", wire.TokenFromHQ, 23*time.Hour+time.Minute), // tomorrow
	}
	p := &page{o: Options{Location: oslo, Tokens: brokerOf{"2222": "Vipps MobilePay refuses headquarters' credentials for sales unit 2222"}}}
	f := build(now, hb, tills, nil)
	p.warnTokens(f)
	got := map[string]tillView{}
	for _, v := range f.Stores[0].Tills {
		got[v.Till] = v
	}
	want := map[string][2]string{
		"a": {"from headquarters, until 10:30 (in 30 min)", ""},
		"b": {"from headquarters, until 10:30 (in 30 min)", "its token runs out within the hour and headquarters has none for it: Vipps MobilePay refuses"},
		"c": {"from headquarters, until 15:00 (in 5 h 0 min)", ""},
		"d": {"the box's own secret, until 10:10 (in 10 min)", ""},
		"e": {"from headquarters, expired at 09:59", "its token has expired and headquarters has none"},
		"f": {"from headquarters, none held", "it holds no token and headquarters has none"},
		"g": {"not said, none held", ""},
		"h": {"from headquarters, until Dec 9 09:01 (in 23 h 1 min)", ""},
	}
	for name, w := range want {
		v := got[name]
		if v.TokenText != w[0] || (w[1] == "") != (v.TokenWarning == "") || !strings.HasPrefix(v.TokenWarning, w[1]) {
			t.Errorf("till %s: %q / %q, want %q / %q…", name, v.TokenText, v.TokenWarning, w[0], w[1])
		}
	}
	p.o.Tokens = nil // no broker: no warning
	p.warnTokens(f)
	for _, v := range f.Stores[0].Tills {
		if v.TokenWarning != "" {
			t.Errorf("till %s warned without a broker: %q", v.Till, v.TokenWarning)
		}
	}
}
