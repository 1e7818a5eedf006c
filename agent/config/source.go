package config

// Where a secret can come from (see the package doc).
const (
	FromEnv     = "env"     // an environment variable TILLBOX_<SECTION>_<KEY>
	FromFile    = "file"    // the file named by <key>_file
	FromConfig  = "config"  // the key in the configuration file
	FromOverlay = "overlay" // the technician page's settings (<data_dir>/settings.toml)
)

// Source is where a secret came from: Kind is FromEnv, FromFile,
// FromConfig, FromOverlay, or FromChain, FromStore or FromTill (a layer
// of headquarters, layers.go), or "" when the secret is not set; Where names the variable
// or the file (an absolute path when the configuration came from a file).
// It never holds the secret.
type Source struct {
	Kind  string
	Where string
}

// String says where, for people: "environment variable TILLBOX_POS_TOKEN",
// "file /etc/tillbox/client_secret", "configuration file", "not set".
func (s Source) String() string {
	switch s.Kind {
	case FromEnv:
		return "environment variable " + s.Where
	case FromFile:
		return "file " + s.Where
	case FromConfig:
		return "configuration file"
	case FromOverlay:
		return "set on the technician page (" + s.Where + ")"
	case FromChain, FromStore, FromTill:
		return "headquarters, the " + s.Kind + "'s layer (" + s.Where + ")"
	}
	return "not set"
}

func (c *Config) setSource(field string, s Source) {
	if c.sources == nil {
		c.sources = map[string]Source{}
	}
	c.sources[field] = s
}

// SecretSource tells where the secret field ("vipps.client_secret",
// "console.password_hash") came from when the configuration was loaded.
func (c *Config) SecretSource(field string) Source { return c.sources[field] }

// SecretFields lists the fields of the secrets.
func SecretFields() []string {
	var f []string
	for _, s := range (&Config{}).secretRefs() {
		f = append(f, s.field)
	}
	return f
}
