package fleetpage

import (
	"strconv"
	"strings"
	"time"
)

// nbsp separates groups of digits and the currency in amounts, so that
// an amount never breaks across lines.
const nbsp = "\u00a0"

// money writes minor units (two decimals: øre, cents) the Nordic way,
// with integer arithmetic only: 12345 NOK is "123,45 kr", 123456789 NOK
// "1 234 567,89 kr" (no-break spaces), DKK "kr.", EUR "€", any other
// currency its code.
func money(minor int64, currency string) string {
	neg := minor < 0
	// The digits of |minor|, also for math.MinInt64 (whose negation
	// overflows): as an unsigned number.
	u := uint64(minor)
	if neg {
		u = -u
	}
	digits := strconv.FormatUint(u, 10)
	if len(digits) < 3 {
		digits = strings.Repeat("0", 3-len(digits)) + digits
	}
	whole, cents := digits[:len(digits)-2], digits[len(digits)-2:]
	group := nbsp
	if currency == "DKK" {
		group = "."
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, d := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteString(group)
		}
		b.WriteRune(d)
	}
	b.WriteByte(',')
	b.WriteString(cents)
	b.WriteString(nbsp)
	switch currency {
	case "NOK":
		b.WriteString("kr")
	case "DKK":
		b.WriteString("kr.")
	case "EUR":
		b.WriteString("€")
	default:
		b.WriteString(currency)
	}
	return b.String()
}

// ago is how long before now t was, for people: "12 s ago", "4 min ago",
// "3 h 5 min ago", "2 d 4 h ago"; "never" for the zero time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	if d := now.Sub(t); d < 0 {
		return span(-d) + " ahead of headquarters' clock"
	}
	return span(now.Sub(t)) + " ago"
}

// span is d for people, to the second under a minute, then coarser.
func span(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return strconv.FormatInt(s, 10) + " s"
	case s < 3600:
		return strconv.FormatInt(s/60, 10) + " min"
	case s < 86400:
		return strconv.FormatInt(s/3600, 10) + " h " + strconv.FormatInt(s%3600/60, 10) + " min"
	default:
		return strconv.FormatInt(s/86400, 10) + " d " + strconv.FormatInt(s%86400/3600, 10) + " h"
	}
}
