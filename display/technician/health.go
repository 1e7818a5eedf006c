package technician

import (
	"html/template"
	"strconv"
	"time"

	"github.com/tillbox/tillbox/agent/version"
)

// maxSkew is how far the local clock may be off Vipps MobilePay's before
// the status page warns.
const maxSkew = 2 * time.Minute

// Health is what the status page shows of the Vipps MobilePay client's
// token and of the clocks. It never holds the token.
type Health struct {
	Known bool // the page has the client (Options.Vipps)

	HasToken       bool
	TokenExpires   time.Time
	TokenRefreshed time.Time
	TokenError     string
	TokenErrorAt   time.Time
	// TokenFrom: "hq" (headquarters' token broker) or "box" (the box's
	// own client secret); TokenThen what happens when it expires and
	// headquarters gives none ("own secret", "payments wait"; "" without
	// the broker).
	TokenFrom string
	TokenThen string

	// Skew is how far the local clock is ahead of the Date header of Vipps
	// MobilePay's latest answer (negative: behind), measured at SkewAt;
	// SkewKnown is false before any answer.
	Skew      time.Duration
	SkewAt    time.Time
	SkewKnown bool
	SkewWarn  bool // |Skew| > maxSkew
	// ClockUnset: the local clock reads a time before this build was made
	// (a box without a real-time clock boots in 1970 until it syncs).
	ClockUnset bool
	Built      string
}

// health gathers the client's token and clock state now.
func (c *Console) health(now time.Time) Health {
	h := Health{Built: version.Date()}
	h.ClockUnset = clockUnset(now, h.Built)
	if c.o.Vipps == nil {
		return h
	}
	v := c.o.Vipps.Health()
	h.Known = true
	h.HasToken, h.TokenExpires, h.TokenRefreshed = v.HasToken, v.TokenExpires, v.TokenRefreshed
	h.TokenError, h.TokenErrorAt = v.TokenError, v.TokenErrorAt
	h.TokenFrom, h.TokenThen = v.TokenFrom, v.Then()
	if !v.ServerDate.IsZero() {
		h.SkewKnown = true
		// The Date header is truncated to the second: a clock in step is
		// 0 to 1 s ahead of it. Count from the middle of that second.
		h.Skew = v.ServerDateAt.Sub(v.ServerDate.Add(500 * time.Millisecond)).Round(time.Second)
		h.SkewAt = v.ServerDateAt
		h.SkewWarn = h.Skew > maxSkew || h.Skew < -maxSkew
	}
	return h
}

// clockUnset tells a clock that cannot be right: before 2025, or a day
// before the build's date.
func clockUnset(now time.Time, built string) bool {
	if b, err := time.Parse(time.RFC3339, built); err == nil && now.Before(b.Add(-24*time.Hour)) {
		return true
	}
	return now.Year() < 2025
}

// moreFuncs are the template funcs of the log, health and test payment
// parts of the page.
func moreFuncs(now func() time.Time) template.FuncMap {
	return template.FuncMap{
		// expiry tells how long until t, for people.
		"expiry": func(t time.Time) string {
			d := t.Sub(now())
			if d < 0 {
				return "expired " + ago(now(), t)
			}
			return "expires in " + roughly(d)
		},
		// skew says how far the local clock is off.
		"skew": func(d time.Duration) string {
			switch {
			case d > time.Second:
				return roughly(d) + " ahead of"
			case d < -time.Second:
				return roughly(-d) + " behind"
			}
			return "in step with"
		},
		"maxSkew": func() time.Duration { return maxSkew },
		"levelClass": func(level string) string {
			switch levelOf(level) {
			case levelOf("ERROR"):
				return "lv-error"
			case levelOf("WARN"):
				return "lv-warn"
			case levelOf("DEBUG"):
				return "lv-debug"
			}
			return "lv-info"
		},
	}
}

// roughly is a duration in its largest unit: "3 s", "54 min", "2 h 5 min",
// "3 days".
func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	case d < 48*time.Hour:
		h := int(d.Hours())
		return strconv.Itoa(h) + " h " + strconv.Itoa(int(d.Minutes())-60*h) + " min"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days"
}
