package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// ConfigKeyName is the box's key for the secrets headquarters seals for
// it ([wire.ConfigKey]), in the data folder beside the overlay: made at
// the first start with the link on, mode 0600, never sent anywhere (the
// heartbeat carries its public half).
const ConfigKeyName = "fleet-config.key"

// ConfigKeyPath is where the box keeps its key: beside the overlay and
// the layers (box.data_dir as the file says it). Empty when the
// configuration did not come from a file.
func (c *Config) ConfigKeyPath() string {
	if c.OverlayFile == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(c.OverlayFile), ConfigKeyName)
}

// ReadConfigKey reads the box's key from the folder dir.
func ReadConfigKey(dir string) (wire.ConfigKey, error) {
	path := filepath.Join(dir, ConfigKeyName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return wire.ConfigKey{}, fmt.Errorf("this box has no key for sealed secrets yet (%s): it makes one when the link to headquarters starts, and headquarters seals for the key in its heartbeat", path)
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return wire.ConfigKey{}, fmt.Errorf("the box's key for sealed secrets %s cannot be read: %v", path, err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return wire.ConfigKey{}, fmt.Errorf("the box's key for sealed secrets %s is damaged: remove it and restart (headquarters must then seal its secrets again)", path)
	}
	k, err := wire.ParseConfigKey(raw)
	if err != nil {
		return wire.ConfigKey{}, fmt.Errorf("the box's key for sealed secrets %s is damaged: remove it and restart (headquarters must then seal its secrets again)", path)
	}
	return k, nil
}

// EnsureConfigKey reads the box's key from the file path
// ([Config.ConfigKeyPath]), or makes one there (mode 0600) when there is
// none.
func EnsureConfigKey(path string) (k wire.ConfigKey, made bool, err error) {
	dir := filepath.Dir(path)
	k, err = ReadConfigKey(dir)
	if err == nil {
		return k, false, nil
	}
	if _, serr := os.Stat(path); !errors.Is(serr, fs.ErrNotExist) {
		return k, false, err
	}
	if k, err = wire.NewConfigKey(); err != nil {
		return k, false, err
	}
	raw, err := k.Bytes()
	if err != nil {
		return k, false, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return k, false, fmt.Errorf("config: %w", err)
	}
	if err := writeAtomic(path, []byte(base64.StdEncoding.EncodeToString(raw)+"\n"), 0o600, 0o077); err != nil {
		return k, false, err
	}
	return k, true, nil
}
