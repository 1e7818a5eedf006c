package hqconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/epayment"
)

// Load reads and checks the configuration file at path, with secrets from
// the environment. Every problem is reported in one *Error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(data, filepath.Dir(path), os.LookupEnv)
	if err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.Path = path
		}
		return c, err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o002 != 0 {
		c.Warnings = append(c.Warnings, "every user can change "+path+": chmod 640 it")
	}
	return c, nil
}

// Parse reads a configuration from data; relative secret files are in dir;
// env looks up the environment (nil: none).
func Parse(data []byte, dir string, env func(string) (string, bool)) (*Config, error) {
	c := Default()
	md, err := toml.Decode(string(data), c)
	if err != nil {
		return nil, &Error{Path: "configuration", Problems: []Problem{{Field: "toml", Reason: syntaxReason(err)}}}
	}
	var ps []Problem
	for _, k := range md.Undecoded() {
		ps = append(ps, Problem{Field: k.String(), Reason: "unknown key"})
	}
	ps = append(ps, c.secrets(dir, env)...)
	ps = append(ps, c.Validate()...)
	if len(ps) > 0 {
		return c, &Error{Path: "configuration", Problems: dedupe(ps)}
	}
	return c, nil
}

// syntaxReason is a decoding error without the text that caused it (it
// might be a secret).
func syntaxReason(err error) string {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("line %d: not valid TOML", pe.Position.Line)
	}
	// A value of the wrong type: the message names the key and the types,
	// not the value.
	return strings.TrimPrefix(err.Error(), "toml: ")
}

// secret is one secret of the configuration and where it can come from.
type secret struct {
	field, env string
	value      *epayment.Secret
	file       *string
}

func (c *Config) secretRefs() []secret {
	s := []secret{
		{"nats.password", "TILLBOX_HQ_NATS_PASSWORD", &c.NATS.Password, &c.NATS.PasswordFile},
		{"postgres.dsn", "TILLBOX_HQ_POSTGRES_DSN", &c.Postgres.DSN, &c.Postgres.DSNFile},
	}
	for i := range c.Units {
		u := &c.Units[i]
		s = append(s, secret{fmt.Sprintf("unit[%d].webhook_secret", i), unitEnv(u.MSN), &u.WebhookSecret, &u.WebhookSecretFile})
		s = append(s, c.tokenSecrets(i)...) // the token broker's (tokens.go)
	}
	for i := range c.Users {
		u := &c.Users[i]
		s = append(s, secret{fmt.Sprintf("user[%d].password_hash", i), userEnv(u.Name), &u.PasswordHash, &u.PasswordHashFile})
	}
	return s
}

// userEnv is the environment variable of a user's password hash.
func userEnv(name string) string {
	return "TILLBOX_HQ_USER_" + strings.ToUpper(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name)) + "_PASSWORD_HASH"
}

// unitEnv is the environment variable of a unit's webhook secret.
func unitEnv(msn string) string {
	return "TILLBOX_HQ_UNIT_" + strings.ToUpper(strings.ReplaceAll(msn, "-", "_")) + "_WEBHOOK_SECRET"
}

// secrets takes each secret from the environment, its file or the key, in
// that order; a key set together with its _file is a problem.
func (c *Config) secrets(dir string, env func(string) (string, bool)) []Problem {
	var ps []Problem
	for _, s := range c.secretRefs() {
		if *s.value != "" && *s.file != "" {
			ps = append(ps, Problem{Field: s.field, Reason: "set together with its _file: keep one"})
			continue
		}
		if env != nil {
			if v, ok := env(s.env); ok && strings.TrimSpace(v) != "" {
				*s.value = epayment.Secret(strings.TrimSpace(v))
				continue
			}
		}
		if *s.file == "" {
			continue
		}
		v, path, everyoneReads, err := config.ReadSecretFile(dir, *s.file)
		if err != nil {
			ps = append(ps, Problem{Field: s.field + "_file", Reason: err.Error()})
			continue
		}
		*s.value = v
		if everyoneReads {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s_file: every user can read %s: chmod 640 it", s.field, path))
		}
	}
	return ps
}

// dedupe drops a "missing" problem of a secret whose file was reported.
func dedupe(ps []Problem) []Problem {
	fileProblem := map[string]bool{}
	for _, p := range ps {
		if f, ok := strings.CutSuffix(p.Field, "_file"); ok {
			fileProblem[f] = true
		}
	}
	out := ps[:0]
	for _, p := range ps {
		if fileProblem[p.Field] && strings.HasPrefix(p.Reason, "missing") {
			continue
		}
		out = append(out, p)
	}
	return out
}
