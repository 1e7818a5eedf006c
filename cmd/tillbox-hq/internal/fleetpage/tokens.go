package fleetpage

import (
	"fmt"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// Tokens is headquarters' token broker as the page asks it: whether it can
// hand a till of store the token of sales unit msn now, and if not why
// (no secret in it).
type Tokens interface {
	Available(store, msn string) (ok bool, why string)
}

// tokenWarnWithin: a till that takes its token from headquarters is warned
// of when its token runs out within this and the broker has none for it.
const tokenWarnWithin = time.Hour

// tokenView is where a till's access token comes from and when it expires
// (its last heartbeat), and a warning when it will soon have none.
type tokenView struct {
	MSN string `json:"msn"`
	// TokenSource is "hq" (headquarters' broker), "box" (the box's own
	// client secret) or "" (the box did not say: none yet, or an older
	// version).
	TokenSource  string     `json:"tokenSource"`
	TokenExpires *time.Time `json:"tokenExpires"` // null: none
	TokenWarning string     `json:"tokenWarning,omitempty"`

	TokenText string `json:"-"` // for people
}

func tokenViewOf(t Till) tokenView {
	v := tokenView{MSN: t.MSN, TokenSource: t.TokenSource}
	if !t.TokenExpires.IsZero() {
		exp := t.TokenExpires
		v.TokenExpires = &exp
	}
	return v
}

// warnTokens words each till's token for people, and warns of a till that
// takes its token from headquarters when it runs out within the hour (or
// has none) and the broker cannot give it one.
func (p *page) warnTokens(f *fleet) {
	for i := range f.Stores {
		for j := range f.Stores[i].Tills {
			t := &f.Stores[i].Tills[j]
			t.TokenText = p.tokenText(f.Now, t.tokenView)
			t.TokenWarning = p.tokenWarning(f.Now, t.Store, t.tokenView)
		}
	}
}

func (p *page) tokenText(now time.Time, v tokenView) string {
	var from string
	switch v.TokenSource {
	case wire.TokenFromHQ:
		from = "from headquarters"
	case wire.TokenFromBox:
		from = "the box's own secret"
	default:
		from = "not said"
	}
	if v.TokenExpires == nil {
		return from + ", none held"
	}
	return from + ", " + p.expiry(now, *v.TokenExpires)
}

// expiry says when a token expires (expired), in the chain's time zone.
func (p *page) expiry(now, exp time.Time) string {
	layout := "15:04"
	if exp.Sub(now).Abs() > 20*time.Hour {
		layout = "Jan 2 15:04"
	}
	at := exp.In(p.o.Location).Format(layout)
	if !exp.After(now) {
		return "expired at " + at
	}
	left := exp.Sub(now).Round(time.Minute)
	if left < time.Minute {
		return fmt.Sprintf("until %s (in under a minute)", at)
	}
	return fmt.Sprintf("until %s (in %s)", at, shortDuration(left))
}

// shortDuration is d in hours and minutes, e.g. "1 h 5 min" or "12 min".
func shortDuration(d time.Duration) string {
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	if h == 0 {
		return fmt.Sprintf("%d min", m)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}

func (p *page) tokenWarning(now time.Time, store string, v tokenView) string {
	if p.o.Tokens == nil || v.TokenSource != wire.TokenFromHQ {
		return ""
	}
	if v.TokenExpires != nil && v.TokenExpires.Sub(now) >= tokenWarnWithin {
		return ""
	}
	ok, why := p.o.Tokens.Available(store, v.MSN)
	if ok {
		return ""
	}
	if v.TokenExpires == nil {
		return "it holds no token and headquarters has none for it: " + why
	}
	if !v.TokenExpires.After(now) {
		return "its token has expired and headquarters has none for it: " + why
	}
	return "its token runs out within the hour and headquarters has none for it: " + why
}
