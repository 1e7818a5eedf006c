package config

import (
	"bytes"

	"github.com/BurntSushi/toml"
)

// String is the configuration in force as a TOML file, defaults included,
// with every secret shown as "[redacted]": for the log at start, the
// technician page and `tillbox doctor`.
func (c *Config) String() string {
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	if err := enc.Encode(c); err != nil {
		return "# config cannot be shown: " + err.Error()
	}
	return b.String()
}
