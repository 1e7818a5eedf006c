package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a span of time in the configuration file, written as a string:
// a Go duration ("50ms", "2m", "1h30m") or a number of days with an optional
// Go duration after it ("90d", "1d12h"). A bare number is refused: "2" could
// mean seconds or minutes.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ParseDuration parses the forms [Duration] accepts.
func ParseDuration(s string) (Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty duration: write it like \"2m\", \"60s\" or \"90d\"")
	}
	var days time.Duration
	if i := strings.IndexByte(t, 'd'); i >= 0 {
		n, err := strconv.ParseUint(t[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration: days are a whole number before \"d\", like \"90d\" or \"1d12h\"", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		if t = t[i+1:]; t == "" {
			return Duration(days), nil
		}
	}
	v, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: write it like \"50ms\", \"2m\", \"1h30m\" or \"90d\"", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return Duration(days + v), nil
}

// String writes d the way a person would in the file: whole days as "90d",
// otherwise Go's form without trailing zero units ("2m", not "2m0s").
func (d Duration) String() string {
	const day = 24 * time.Hour
	v := time.Duration(d)
	if v >= day && v%day == 0 {
		return strconv.FormatInt(int64(v/day), 10) + "d"
	}
	s := v.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// UnmarshalTOML decodes a duration string; any other TOML type is an error
// that says how to write one.
func (d *Duration) UnmarshalTOML(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("must be a duration in quotes, like \"2m\", \"60s\" or \"90d\", not %s", tomlTypeOf(v))
	}
	p, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// MarshalText writes the duration as String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// tomlTypeOf names the TOML type of a decoded value.
func tomlTypeOf(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date-time"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	}
	return fmt.Sprintf("a %T", v)
}
