package settings

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

func TestParseValueAsTheFileHasIt(t *testing.T) {
	for _, c := range []struct {
		field, text string
		want        any
	}{
		{"display.language", "nb", "nb"},
		{"vipps.msn", "123456", "123456"}, // a string in the file, though all digits
		{"sales.customer_present_window", " 90s ", "90s"},
		{"vipps.timeout", "20s", "20s"},
		{Scanners, `[{"name":"front","driver":"serial"}]`, []any{map[string]any{"name": "front", "driver": "serial"}}},
	} {
		got, err := ParseValue(c.field, c.text)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseValue(%s, %q) = %#v, %v; want %#v", c.field, c.text, got, err, c.want)
		}
		if c.field != Scanners && FormatValue(got) != strings.TrimSuffix(strings.TrimSpace(c.text), ",") {
			t.Errorf("FormatValue(%#v) = %q", got, FormatValue(got))
		}
	}
	for _, c := range [][2]string{
		{"sales.max_queued", "12"}, {"metrics.enabled", "true"}, {"box.hosts", "a.lan"}, {Scanners, "front"},
		{"vipps.client_secret", "abc"}, {"pos.token", "abc"}, {"fleet.servers", "nats://x"},
		{"Display.Language", "nb"}, {"display", "nb"}, {"a.b.c", "x"},
	} {
		if v, err := ParseValue(c[0], c[1]); err == nil {
			t.Errorf("ParseValue(%s, %q) took %#v", c[0], c[1], v)
		} else if IsSecret(c[0]) && strings.Contains(err.Error(), c[1]) {
			t.Errorf("the refusal of %s repeats its value: %v", c[0], err)
		}
	}
}

// The kinds headquarters gives values are those of the box's file: a field
// the file has as a number, a boolean or a list is listed as such here,
// and every field offered exists in the file. (A test import: headquarters
// itself does not link the box's configuration.)
func TestKindsMatchTheBoxFile(t *testing.T) {
	kinds := map[string]reflect.Type{}
	ty := reflect.TypeOf(config.Config{})
	for i := range ty.NumField() {
		sec := ty.Field(i)
		section, _, _ := strings.Cut(sec.Tag.Get("toml"), ",")
		if sec.Type.Kind() != reflect.Struct {
			continue
		}
		for j := range sec.Type.NumField() {
			f := sec.Type.Field(j)
			key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			kinds[section+"."+key] = f.Type
		}
	}
	duration := reflect.TypeFor[config.Duration]()
	for field, ty := range kinds {
		var want []string
		switch k := ty.Kind(); {
		case ty == duration: // a string: "90s"
		case k == reflect.Int || k == reflect.Int64:
			want = numberFields
		case k == reflect.Bool:
			want = booleanFields
		case k == reflect.Slice:
			if !strings.HasPrefix(field, "fleet.") && field != "scan.pattern" {
				want = listFields
			}
		}
		if want != nil && !slices.Contains(want, field) {
			t.Errorf("%s is a %s in the box's file: list it with its kind", field, ty)
		}
	}
	for _, f := range slices.Concat(numberFields, booleanFields, listFields, KnownFields) {
		if _, ok := kinds[f]; !ok && f != Scanners {
			t.Errorf("%s is not a field of the box's file", f)
		}
	}
}

func TestScopes(t *testing.T) {
	for _, s := range []Scope{ChainScope(), StoreScope("oslo-1"), TillScope("oslo-1", "t-2")} {
		back, err := ParseScope(s.Param())
		if err != nil || back != s {
			t.Errorf("ParseScope(%q) = %v, %v", s.Param(), back, err)
		}
		key := s.Key("acme")
		if got, ok := ScopeOfKey("acme", key); !ok || got != s {
			t.Errorf("ScopeOfKey(%s) = %v %v, want %v", key, got, ok, s)
		}
	}
	till := wire.Till{Chain: "acme", Store: "oslo-1", Till: "t-2"}
	if got := TillScope("oslo-1", "t-2").Key("acme"); got != till.TillConfigKey() {
		t.Errorf("a till's key %s, want %s", got, till.TillConfigKey())
	}
	if !StoreScope("oslo-1").Contains(till) || StoreScope("oslo-2").Contains(till) || !ChainScope().Contains(till) {
		t.Error("the scopes contain the wrong tills")
	}
	for _, bad := range []string{"", "store:", "store:a.b", "till:oslo", "till:oslo/t*", "shop:x"} {
		if s, err := ParseScope(bad); err == nil {
			t.Errorf("ParseScope(%q) took %v", bad, s)
		}
	}
	for _, k := range []string{"other.all", "acme.store", "acme.till.oslo", "acme.store.a.b", "acme.all.x"} {
		if s, ok := ScopeOfKey("acme", k); ok {
			t.Errorf("ScopeOfKey(%s) = %v", k, s)
		}
	}
}
