package config

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Secret values used by the tests; none may ever appear in an output.
const (
	testClientSecret    = "cs-6f0b1d2e9a8c7b"
	testSubscriptionKey = "sk-3a9e4f1c2b7d5e"
	testToken           = "pos-token-81c2f9a0d4e7b3"
	testWebhookSecret   = "wh-0d9c8b7a6e5f4d"
	testClientID        = "6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d"
)

var testSecrets = []string{testClientSecret, testSubscriptionKey, testToken, testWebhookSecret}

// doc is a configuration file as sections of raw TOML key = value lines.
type doc map[string]map[string]string

// minimal is the smallest valid configuration, against a simulator.
func minimal() doc {
	return doc{
		"vipps": {
			"base_url":         `"http://127.0.0.1:8090"`,
			"client_id":        `"` + testClientID + `"`,
			"client_secret":    `"` + testClientSecret + `"`,
			"subscription_key": `"` + testSubscriptionKey + `"`,
			"msn":              `"123456"`,
		},
		"pos": {"token": `"` + testToken + `"`},
	}
}

// set sets section.key to a raw TOML value; "" deletes it.
func (d doc) set(field, raw string) doc {
	sec, key, _ := strings.Cut(field, ".")
	if d[sec] == nil {
		d[sec] = map[string]string{}
	}
	if raw == "" {
		delete(d[sec], key)
	} else {
		d[sec][key] = raw
	}
	return d
}

// String renders the sections in order, keys sorted.
func (d doc) String() string {
	var b strings.Builder
	for _, sec := range slices.Sorted(maps.Keys(d)) {
		if sec == "" {
			continue
		}
		b.WriteString("[" + sec + "]\n")
		for _, k := range slices.Sorted(maps.Keys(d[sec])) {
			b.WriteString(k + " = " + d[sec][k] + "\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// noEnv is an empty environment.
func noEnv(string) (string, bool) { return "", false }

// envOf is an environment of the given variables.
func envOf(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

// mustParse parses text and fails the test on any problem.
func mustParse(t *testing.T, text string) *Config {
	t.Helper()
	c, err := Parse([]byte(text), t.TempDir(), noEnv)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, text)
	}
	return c
}

// problemsOf parses text and returns its problems (none is a failure).
func problemsOf(t *testing.T, text string) []Problem {
	t.Helper()
	_, err := Parse([]byte(text), t.TempDir(), noEnv)
	if err == nil {
		t.Fatalf("Parse accepted:\n%s", text)
	}
	ce, ok := err.(*Error)
	if !ok {
		t.Fatalf("Parse error is %T, not *Error: %v", err, err)
	}
	return ce.Problems
}

// find returns the problem of field, failing when there is none.
func find(t *testing.T, ps []Problem, field string) Problem {
	t.Helper()
	for _, p := range ps {
		if p.Field == field {
			return p
		}
	}
	t.Fatalf("no problem for %s in %v", field, ps)
	return Problem{}
}

// writeFile writes a file with the given mode (umask notwithstanding).
func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// noSecrets fails when s holds any test secret.
func noSecrets(t *testing.T, what, s string) {
	t.Helper()
	for _, sec := range testSecrets {
		if strings.Contains(s, sec) {
			t.Errorf("%s shows the secret %q:\n%s", what, sec, s)
		}
	}
}

// reflectType is the struct type target points to.
func reflectType(target any) reflect.Type { return reflect.TypeOf(target).Elem() }
