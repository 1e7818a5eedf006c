package epayment

import "log/slog"

// Secret is a credential: a client secret, a subscription key, an access token
// or a webhook secret. It prints, logs and marshals as a mask, so that a
// Config or an error that holds one never shows it by accident. Use Reveal
// where the value must really go on the wire.
type Secret string

const mask = "[redacted]"

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

// String masks the secret for fmt's %s and %v.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return mask
}

// GoString masks the secret for fmt's %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue masks the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText masks the secret in JSON and other text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
