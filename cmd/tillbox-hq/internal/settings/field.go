package settings

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// SecretFields are the secrets headquarters sends to a box: each sealed
// for one till with that till's public key, into the till's own key,
// never in clear.
var SecretFields = []string{"vipps.client_secret", "vipps.subscription_key"}

// IsSecret tells whether field is one of [SecretFields].
func IsSecret(field string) bool { return slices.Contains(SecretFields, field) }

// clearSecrets are secrets of the box's file headquarters does not send:
// the box's file holds them (or names a file on the box), never a layer.
var clearSecrets = []string{"vipps.webhook_secret", "pos.token", "fleet.password"}

// Kinds of a field's value as the box's file has it; a field not listed
// is a string (a duration too: "90s").
var (
	numberFields  = []string{"sales.max_queued", "sync.workers"}
	booleanFields = []string{"metrics.enabled"}
	listFields    = []string{"box.hosts"}
)

// Scanners is the field of the [[scanner]] tables: a JSON list of objects,
// each a table's keys; it replaces the file's list.
const Scanners = "scanner"

// RemoteFields are the fields a box takes from a layer besides the
// sealed secrets and the scanners (the box's config.RemoteKeys: a test
// keeps the two lists the same); a box refuses a layer with any other.
// Never a *_file (it could name any file on the box). A box takes a
// Vipps address other than its file's only from its till's own layer
// with both secrets sealed in it.
var RemoteFields = []string{
	"display.language", "sales.customer_present_window", "sales.scan_window", "sales.default_description",
	"vipps.environment", "vipps.base_url", "vipps.client_id", "vipps.msn", "vipps.timeout",
}

// KnownFields are the fields a form offers: every field a box takes from
// headquarters.
var KnownFields = slices.Concat(RemoteFields, SecretFields, []string{Scanners})

var fieldPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}\.[a-z][a-z0-9_]{0,39}$`)

// CheckField says why field cannot be set from headquarters, or nil.
func CheckField(field string) error {
	switch {
	case field == Scanners:
		return nil
	case !fieldPattern.MatchString(field):
		return fmt.Errorf("field %q: name a key of the box's file as section.key (e.g. display.language) or %q", field, Scanners)
	case strings.HasPrefix(field, "fleet."):
		return fmt.Errorf("%s: the link to headquarters is set on the box itself (a wrong value would cut the box off)", field)
	case slices.Contains(clearSecrets, field):
		return fmt.Errorf("%s: headquarters does not send this secret: it is set in the box's configuration file", field)
	case !IsSecret(field) && !slices.Contains(RemoteFields, field):
		return fmt.Errorf("%s cannot be set by headquarters (a box would refuse the layer): set it in the box's configuration file", field)
	}
	return nil
}

// ParseValue reads the text of field's value (a form's, a command line's)
// as the box's file would have it: a number, a boolean, a list of strings
// (comma-separated), the scanners' JSON list, else a string.
func ParseValue(field, text string) (any, error) {
	if err := CheckField(field); err != nil {
		return nil, err
	}
	text = strings.TrimSpace(text)
	switch {
	case IsSecret(field):
		return nil, fmt.Errorf("%s is a secret: it is sealed for each till, never sent as a setting", field)
	case field == Scanners:
		var list []map[string]any
		if err := json.Unmarshal([]byte(text), &list); err != nil {
			return nil, fmt.Errorf("%s: a JSON list of scanner tables, e.g. [{\"name\":\"front\",\"driver\":\"serial\"}]", field)
		}
		out := make([]any, len(list))
		for i, m := range list {
			out[i] = m
		}
		return out, nil
	case slices.Contains(numberFields, field):
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: a whole number, not %q", field, text)
		}
		return n, nil
	case slices.Contains(booleanFields, field):
		b, err := strconv.ParseBool(text)
		if err != nil {
			return nil, fmt.Errorf("%s: true or false, not %q", field, text)
		}
		return b, nil
	case slices.Contains(listFields, field):
		var list []any
		for s := range strings.SplitSeq(text, ",") {
			if s = strings.TrimSpace(s); s != "" {
				list = append(list, s)
			}
		}
		return list, nil
	}
	return text, nil
}

// FormatValue is v as ParseValue reads it back: for pages and the command
// line.
func FormatValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		if len(x) > 0 {
			if _, ok := x[0].(string); !ok {
				b, _ := json.Marshal(x)
				return string(b)
			}
		}
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = fmt.Sprint(e)
		}
		return strings.Join(s, ", ")
	case map[string]any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}
