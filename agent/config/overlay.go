package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
)

// The technician page never writes the configuration file (it is
// read-only to the service's user): the settings saved on the page go to
// an overlay in the data directory, which [Load] lays over the file. An
// environment variable TILLBOX_* still wins over both.

// OverlayName is the overlay's name in the data directory.
const OverlayName = "settings.toml"

// OverlayPath is the overlay of a configuration whose box.data_dir is
// dataDir.
func OverlayPath(dataDir string) string { return filepath.Join(dataDir, OverlayName) }

// PageKeys are the keys the overlay may hold, by section; [[scanner]]
// tables replace all of the file's.
var PageKeys = map[string][]string{
	"vipps":   {"environment", "base_url", "msn", "client_id", "client_secret", "subscription_key"},
	"display": {"language"},
	"sales":   {"customer_present_window"},
	"console": {"password_hash"},
}

// isPageKey reports whether field ("vipps.msn") may be in the overlay.
func isPageKey(field string) bool {
	section, key, _ := strings.Cut(field, ".")
	for _, k := range PageKeys[section] {
		if k == key {
			return true
		}
	}
	return false
}

// readOverlay reads the overlay; a missing one is none.
func readOverlay(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// overlay decodes the overlay over the configuration decoded so far.
func (d *decoder) overlay(read func(string) ([]byte, error)) {
	path := d.c.OverlayFile
	data, err := read(path)
	d.file = path
	defer func() { d.file, d.lines = "", nil }()
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		d.fail(OverlayName, fmt.Sprintf("cannot read the technician page's settings %s: %v (run as root or as the service's user)", path, err), 0)
		return
	}
	if data == nil {
		return
	}
	d.lines = indexLines(data)
	var doc map[string]toml.Primitive
	md, err := toml.Decode(string(data), &doc)
	if err != nil {
		p := syntaxProblem(err, data)
		p.File = path
		d.problems = append(d.problems, p)
		return
	}
	saved := d.md
	d.md = &md
	defer func() { d.md = saved }()
	d.c.overlaid = map[string]int{}
	secret := map[string]bool{}
	for _, f := range SecretFields() {
		secret[f] = true
	}
	refs := map[string]secretRef{}
	for _, s := range d.c.secretRefs() {
		refs[s.field] = s
	}
	sections := d.c.sections()
	for _, name := range sortedKeys(doc) {
		prim := doc[name]
		if name == scannerKey {
			var raw any
			_ = d.md.PrimitiveDecode(prim, &raw)
			if l, ok := raw.([]any); ok && len(l) == 0 { // scanner = []: none
				d.c.Scanners = nil
				d.c.overlaid[scannerKey] = d.lines[scannerKey]
				continue
			}
			scanners, ok := d.scannerTables(prim)
			if !ok {
				continue
			}
			for i := range scanners {
				scanners[i] = scanners[i].withDefaults(i + 1)
			}
			d.c.Scanners = scanners
			d.c.overlaid[scannerKey] = d.lines[scannerKey+"[1]"]
			continue
		}
		target, ok := sections[name]
		if !ok || PageKeys[name] == nil {
			d.fail(name, "cannot be set here: only the technician page's settings may be in this file; set it in the configuration file", 0)
			continue
		}
		var raw any
		_ = d.md.PrimitiveDecode(prim, &raw)
		var keys map[string]toml.Primitive
		if _, isTable := raw.(map[string]any); !isTable || d.md.PrimitiveDecode(prim, &keys) != nil {
			d.fail(name, fmt.Sprintf("must be a table: write [%s] and its keys below it", name), 0)
			continue
		}
		for _, k := range sortedKeys(keys) {
			field := name + "." + k
			if !isPageKey(field) {
				d.fail(field, "cannot be set here: only the technician page's settings may be in this file; set it in the configuration file", 0)
				continue
			}
			d.table(name, map[string]toml.Primitive{k: keys[k]}, target)
			d.c.overlaid[field] = d.lines[field]
			if secret[field] {
				s := refs[field]
				if *s.value != "" {
					*s.file = "" // the page's secret replaces the file's
					if d.overlaid == nil {
						d.overlaid = map[string]bool{}
					}
					d.overlaid[field] = true
				}
			}
		}
	}
}

// inOverlay names the overlay in a problem of a field it set.
// Else it names the layer of headquarters that set it (layers.go).
func (c *Config) inOverlay(p Problem) Problem {
	if p.File != "" {
		return p
	}
	if line, ok := c.overlaid[p.Field]; ok {
		p.File, p.Line = c.OverlayFile, line
	} else if _, ok := c.overlaid[scannerKey]; ok && strings.HasPrefix(p.Field, scannerKey) {
		p.File, p.Line = c.OverlayFile, 0
	} else {
		p = c.inLayer(p)
	}
	return p
}

// KeySource tells where a setting came from: FromOverlay when the
// technician page set it (its Where is the overlay), FromEnv or FromFile
// for a secret taken from there, FromChain, FromStore or FromTill when a
// layer of headquarters set it (its Where is the key and the revision),
// FromConfig otherwise. field is dotted
// ("vipps.msn", "console.password_hash"); "scanner" stands for the
// scanners.
func (c *Config) KeySource(field string) Source {
	if s, ok := c.sources[field]; ok {
		return s
	}
	if _, ok := c.overlaid[field]; ok {
		return Source{Kind: FromOverlay, Where: c.OverlayFile}
	}
	if s, ok := c.layered[field]; ok {
		return s
	}
	return Source{Kind: FromConfig}
}

// Overlaid lists the fields the overlay set, sorted ("scanner" for the
// scanners).
func (c *Config) Overlaid() []string { return sortedKeys(c.overlaid) }
