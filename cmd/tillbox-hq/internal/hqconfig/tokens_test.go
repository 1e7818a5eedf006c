package hqconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const tokenBase = `
[hq]
chain = "acme"

[postgres]
dsn = "host=127.0.0.1"
`

const clientID = "b2f0a6a4-5d8e-4c1a-9f3e-0c2d7e1b9a55"

// TestUnitCredentials: a unit's client secret and subscription key come
// from the environment, their file or the key itself (warned of); the
// stores are kept; a unit without them is no token unit.
func TestUnitCredentials(t *testing.T) {
	dir := t.TempDir()
	for name, v := range map[string]string{"cs": "file-client-secret\n", "sk": "file-sub-key\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	conf := tokenBase + fmt.Sprintf(`
[vipps]
base_url = "http://127.0.0.1:9"

[[unit]]
msn = "123456"
webhook_url = "https://hq.example.com/webhooks/vipps/123456"
webhook_secret = "hook"
client_id = %q
client_secret_file = "cs"
subscription_key_file = "sk"
stores = ["oslo", "bergen"]

[[unit]]
msn = "223456"
webhook_url = "https://hq.example.com/webhooks/vipps/223456"
webhook_secret = "hook"
client_id = %q
client_secret = "inline-client-secret"
subscription_key = "inline-sub-key"

[[unit]]
msn = "323456"
webhook_url = "https://hq.example.com/webhooks/vipps/323456"
webhook_secret = "hook"
`, clientID, clientID)
	env := map[string]string{"TILLBOX_HQ_UNIT_123456_SUBSCRIPTION_KEY": "env-sub-key"}
	c, err := Parse([]byte(conf), dir, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	a, b, none := c.Units[0], c.Units[1], c.Units[2]
	if a.ClientSecret.Reveal() != "file-client-secret" || a.SubscriptionKey.Reveal() != "env-sub-key" ||
		!a.HasCredentials() || !a.Allows("oslo") || a.Allows("trondheim") {
		t.Fatalf("unit from its file and the environment: %+v", a)
	}
	if b.ClientSecret.Reveal() != "inline-client-secret" || !b.HasCredentials() || !b.Allows("trondheim") {
		t.Fatalf("inline unit: %+v", b)
	}
	if none.HasCredentials() {
		t.Fatalf("a unit without keys has credentials: %+v", none)
	}
	warned := strings.Join(c.Warnings, "\n")
	for _, w := range []string{"unit[1].client_secret is written in the configuration file", "unit[1].subscription_key is written"} {
		if !strings.Contains(warned, w) {
			t.Errorf("no warning %q in %q", w, warned)
		}
	}
	if strings.Contains(warned, "unit[0]") {
		t.Errorf("a unit with its secrets in files is warned of: %q", warned)
	}
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), warned} {
		for _, secret := range []string{"file-client-secret", "env-sub-key", "inline-client-secret", "inline-sub-key"} {
			if strings.Contains(s, secret) {
				t.Fatalf("a secret shows in %q", s)
			}
		}
	}
	if Default().Vipps.BaseURL != "https://api.vipps.no" {
		t.Fatalf("the default host is %q, want production", Default().Vipps.BaseURL)
	}
}

// TestUnitCredentialProblems: half a set of keys, a bad client id, a bad
// store and a host in clear text are each named.
func TestUnitCredentialProblems(t *testing.T) {
	conf := tokenBase + `
[vipps]
base_url = "http://vipps.example.com"

[[unit]]
msn = "123456"
webhook_url = "https://hq.example.com/webhooks/vipps/123456"
webhook_secret = "hook"
client_id = "not-a-guid"
client_secret = "the-secret-value"
stores = ["bad store"]
`
	_, err := Parse([]byte(conf), t.TempDir(), nil)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	msg := err.Error()
	for _, w := range []string{"vipps.base_url:", "unit[0].subscription_key: missing", "unit[0].stores:",
		"TILLBOX_HQ_UNIT_123456_SUBSCRIPTION_KEY"} {
		if !strings.Contains(msg, w) {
			t.Errorf("no %q in:\n%s", w, msg)
		}
	}
	if strings.Contains(msg, "the-secret-value") {
		t.Fatalf("the secret shows in the error: %s", msg)
	}

	conf = tokenBase + `
[vipps]
base_url = "https://apitest.vipps.no"

[[unit]]
msn = "123456"
webhook_url = "https://hq.example.com/webhooks/vipps/123456"
webhook_secret = "hook"
client_id = "not-a-guid"
client_secret = "the-secret-value"
subscription_key = "the-key-value"
`
	_, err = Parse([]byte(conf), t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), "unit[0].client_id:") || strings.Contains(err.Error(), "the-secret-value") {
		t.Fatalf("want the client id named, got %v", err)
	}
}
