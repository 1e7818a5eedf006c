package hqconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// exampleDir writes the example and its secret files to a folder.
func exampleDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, v := range map[string]string{
		"hq.toml":        Example(),
		"nats-password":  "nats-pw-secret\n",
		"postgres-dsn":   "postgres://hq:pg-pw-secret@127.0.0.1:5432/tillbox\n",
		"webhook-123456": "hook-secret\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestExampleLoads(t *testing.T) {
	dir := exampleDir(t)
	c, err := Load(filepath.Join(dir, "hq.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.HQ.Chain != "demo" || c.NATS.Password.Reveal() != "nats-pw-secret" || c.NATS.Replicas != 1 {
		t.Fatalf("example read as %+v", c)
	}
	if got := c.Postgres.DSN.Reveal(); !strings.Contains(got, "pg-pw-secret") {
		t.Fatalf("dsn from its file: %q", got)
	}
	u, ok := c.Unit("123456")
	if !ok || u.WebhookSecret.Reveal() != "hook-secret" || u.WebhookURL != "https://hq.example.com/webhooks/vipps/123456" {
		t.Fatalf("unit: %+v %v", u, ok)
	}
	if c.NATS.JournalMaxAge.D() != 720*time.Hour || c.Location().String() != "Europe/Oslo" {
		t.Fatalf("journal_max_age %v, zone %v", c.NATS.JournalMaxAge.D(), c.Location())
	}
	// No secret shows when the configuration is printed.
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		for _, secret := range []string{"nats-pw-secret", "pg-pw-secret", "hook-secret"} {
			if strings.Contains(s, secret) {
				t.Fatalf("a secret shows in %q", s)
			}
		}
	}
}

func TestEnvironmentWinsOverFiles(t *testing.T) {
	dir := exampleDir(t)
	env := map[string]string{
		"TILLBOX_HQ_NATS_PASSWORD":              "from-env",
		"TILLBOX_HQ_POSTGRES_DSN":               "host=127.0.0.1 user=x",
		"TILLBOX_HQ_UNIT_123456_WEBHOOK_SECRET": "env-hook",
	}
	c, err := Parse([]byte(Example()), dir, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if c.NATS.Password.Reveal() != "from-env" || c.Postgres.DSN.Reveal() != "host=127.0.0.1 user=x" || c.Units[0].WebhookSecret.Reveal() != "env-hook" {
		t.Fatalf("secrets: %q %q %q", c.NATS.Password.Reveal(), c.Postgres.DSN.Reveal(), c.Units[0].WebhookSecret.Reveal())
	}
}

func TestProblemsAreNamedAllAtOnce(t *testing.T) {
	dir := t.TempDir()
	conf := `
[hq]
chain = "bad chain"
time_zone = "Mars/Olympus"
colour = "blue"

[nats]
servers = ["nats://127.0.0.1:4222"]
user = "hq"
replicas = 0

[postgres]
dsn = "postgres://hq:pg-secret-inline@127.0.0.1/x"
dsn_file = "dsn"

[[unit]]
msn = "123456"
webhook_url = "not a url"
webhook_secret_file = "missing-file"

[[unit]]
msn = "123456"
webhook_url = "https://hq.example.com/webhooks/vipps/123456"
webhook_secret = "s"
`
	_, err := Parse([]byte(conf), dir, nil)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	want := []string{"hq.colour", "hq.chain", "hq.time_zone", "nats.password", "nats.replicas", "postgres.dsn",
		"unit[0].webhook_url", "unit[0].webhook_secret_file", "unit[1].msn"}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w+":") {
			t.Errorf("no problem named %s in:\n%s", w, msg)
		}
	}
	if strings.Contains(msg, "pg-secret-inline") {
		t.Fatalf("the DSN shows in the error: %s", msg)
	}
	if strings.Contains(msg, "unit[0].webhook_secret: missing") {
		t.Errorf("a secret whose file failed is reported twice:\n%s", msg)
	}
}

func TestSyntaxErrorHidesTheValue(t *testing.T) {
	_, err := Parse([]byte("[postgres]\ndsn = \"postgres://u:hunter2@h/x\nmore"), t.TempDir(), nil)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("want a syntax error without the value, got %v", err)
	}
	_, err = Parse([]byte("[nats]\nreplicas = \"three\"\n"), t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("want the line of a value of the wrong type, got %v", err)
	}
}
