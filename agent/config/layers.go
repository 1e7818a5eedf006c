package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// Layers from headquarters (issue 14, docs/chain.md). With the link to
// headquarters on ([fleet] servers), headquarters may set some of the
// box's settings for the whole chain, a store or this till, each a
// [wire.ConfigLayer] in its key-value bucket. The box keeps the last good
// layers in its data folder (<box.data_dir>/fleet-layers.json, beside the
// technician page's overlay) and [Load] lays them over the file, least
// specific first. In all, the last wins:
//
//	the configuration file < chain < store < till < the technician page
//	(overlay) < environment variables (secrets) < the command line
//
// so the technician on site wins over headquarters for that box, and
// says so on the page; the box reports the layers it runs with in its
// heartbeat. A layer may set only [RemoteKeys] and [[scanner]] tables;
// it is decoded and checked with the file's own rules, and a layer that
// breaks one is refused whole (the box keeps its last good copy). Secrets
// come sealed for the box (only in the till's own key) or as a
// <key>_file on the box, never in clear.

// LayersName is the file of the last good layers in the data folder.
const LayersName = "fleet-layers.json"

// Where a setting can come from besides the file, the overlay and the
// environment: a layer of headquarters (source.go).
const (
	FromChain = "chain" // Where: "<key>, revision N"
	FromStore = "store"
	FromTill  = "till"
)

// RemoteKeys are the keys a layer of headquarters may set, by section;
// "scanner" (a list of [[scanner]] tables) replaces the file's scanners.
// The secrets only sealed ([SealedKeys]); never a *_file, which could
// name any file on the box (its key for sealed secrets among them). The
// Vipps address only with both secrets sealed in the same till layer
// (checkVippsAddress).
var RemoteKeys = map[string][]string{
	"vipps":   {"environment", "base_url", "msn", "client_id", "timeout"},
	"display": {"language"},
	"sales":   {"customer_present_window", "scan_window", "default_description"},
}

// SealedKeys are the secrets a till's layer may carry sealed for the box.
var SealedKeys = []string{"vipps.client_secret", "vipps.subscription_key"}

// Layer is one of headquarters' layers as the box keeps it: its key, its
// revision (the bucket's stream sequence) and its value, sealed secrets
// still sealed.
type Layer struct {
	Key      string           `json:"key"`
	Revision uint64           `json:"revision"`
	Value    wire.ConfigLayer `json:"value"`
}

// layersFile is what LayersName holds: the last good layers, and the
// newest layers refused (for `tillbox doctor` and the heartbeat after a
// restart).
type layersFile struct {
	Layers  []Layer              `json:"layers"`
	Refused []wire.ConfigRefusal `json:"refused,omitempty"`
}

// LayersPath is where the box keeps the last good layers: beside the
// overlay, in box.data_dir as the file says it. Empty when the
// configuration did not come from a file.
func (c *Config) LayersPath() string {
	if c.OverlayFile == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(c.OverlayFile), LayersName)
}

// readLayersFile reads the layers file in dataDir; empty when there is
// none.
func readLayersFile(dataDir string) (layersFile, error) {
	var f layersFile
	b, err := os.ReadFile(filepath.Join(dataDir, LayersName))
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return layersFile{}, fmt.Errorf("%s: %w", filepath.Join(dataDir, LayersName), err)
	}
	return f, nil
}

// readLayers reads the last good layers kept in dataDir.
func readLayers(dataDir string) ([]Layer, error) {
	f, err := readLayersFile(dataDir)
	return f.Layers, err
}

// WriteLayers replaces the last good layers and the newest refusals at
// path (LayersPath) atomically, mode 0600: a till's layer may hold sealed
// secrets.
func WriteLayers(path string, layers []Layer, refused []wire.ConfigRefusal) error {
	b, err := json.MarshalIndent(layersFile{Layers: layers, Refused: refused}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return writeAtomic(path, append(b, '\n'), 0o600, 0o077)
}

// load is Load with the layers of headquarters read by layers.
func load(path string, layers func(dataDir string) ([]Layer, error)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := parseLayered(data, filepath.Dir(path), os.LookupEnv, readOverlay, layers)
	if c == nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.File = path
		}
		return nil, err
	}
	c.File = path
	if fi, serr := os.Stat(path); serr == nil {
		c.Warnings = append(permissionWarnings(path, fi.Mode(), c.inline), c.Warnings...)
	}
	if fi, serr := os.Stat(c.OverlayFile); serr == nil && c.OverlayFile != "" && fi.Mode().Perm()&0o077 != 0 {
		c.Warnings = append(c.Warnings, Problem{Field: OverlayName, File: c.OverlayFile,
			Reason: fmt.Sprintf("other users can open the technician page's settings (mode %04o; it may hold secrets): chmod 600 %s", fi.Mode().Perm(), c.OverlayFile)})
	}
	var ce *Error
	if errors.As(err, &ce) {
		ce.File = path
	}
	return c, err
}

// LayerFile is how a problem of a layer names it (Problem.File).
func LayerFile(key string) string { return "headquarters' layer " + key }

// LoadLayers is [Load] with layers in place of the ones kept in the data
// folder: what the box would run with if it took them. Unlike Load, it
// drops no layer that breaks a rule: the problems say which.
func LoadLayers(path string, layers []Layer) (*Config, error) {
	return load(path, func(string) ([]Layer, error) { return layers, nil })
}

// Layers are the layers of headquarters the configuration holds, least
// specific first (none when the link is off).
func (c *Config) Layers() []Layer { return slices.Clone(c.layers) }

// LayersLeftOut are the layers Load (or LoadLayers) left out because
// they break a rule, each with the first problem.
func (c *Config) LayersLeftOut() []wire.ConfigRefusal { return slices.Clone(c.layersRefused) }

// LayersRefused are the layers refused: the newest ones the box refused
// when headquarters sent them (as kept in the data folder), and the kept
// ones Load left out because they break a rule with this file and
// overlay (changed since they were taken). One per key at most.
func (c *Config) LayersRefused() []wire.ConfigRefusal {
	out := slices.Clone(c.layersRefused)
	if c.LayersPath() == "" || !c.FleetOn() {
		return out
	}
	if f, err := readLayersFile(filepath.Dir(c.LayersPath())); err == nil {
		for _, r := range f.Refused {
			if !slices.ContainsFunc(out, func(o wire.ConfigRefusal) bool { return o.Key == r.Key }) {
				out = append(out, r)
			}
		}
	}
	return out
}

// Layered lists the fields set by a layer of headquarters, sorted
// ("scanner" for the scanners), whether the overlay then changed them or
// not.
func (c *Config) Layered() []string { return sortedKeys(c.layered) }

// parseLayered is parse with the kept layers (read from the data folder
// by layers), leaving out each layer a problem names, so that layers
// kept from an earlier file never stop the box: the file and the overlay
// as they are now win.
func parseLayered(data []byte, dir string, env func(string) (string, bool), overlay func(string) ([]byte, error), layers func(string) ([]Layer, error)) (*Config, error) {
	var kept []Layer
	var read bool
	var refused []wire.ConfigRefusal
	source := func(dataDir string) ([]Layer, error) {
		if !read {
			read = true
			ls, err := layers(dataDir)
			kept = ls
			return kept, err
		}
		return kept, nil
	}
	for {
		c, err := parse(data, dir, env, overlay, source)
		var ce *Error
		if c == nil || !errors.As(err, &ce) {
			if c != nil {
				c.layersRefused = refused
			}
			return c, err
		}
		bad := map[string]bool{}
		for _, p := range ce.Problems {
			for _, l := range kept {
				if p.File == LayerFile(l.Key) && !bad[l.Key] {
					bad[l.Key] = true
					refused = append(refused, wire.ConfigRefusal{Key: l.Key, Revision: l.Revision, Field: p.Field, Reason: p.Reason})
				}
			}
		}
		if len(bad) == 0 {
			c.layersRefused = refused
			return c, err
		}
		kept = slices.DeleteFunc(slices.Clone(kept), func(l Layer) bool { return bad[l.Key] })
	}
}

// applyLayers lays this till's layers over the file, least specific
// first; layers of other keys (the box was another till) are left out.
func (d *decoder) applyLayers(read func(string) ([]Layer, error)) {
	layers, err := read(d.c.Box.DataDir)
	if err != nil {
		d.c.Warnings = append(d.c.Warnings, Problem{Field: LayersName,
			Reason: fmt.Sprintf("headquarters' layers kept in the data folder cannot be read (%v): the box runs without them until headquarters sends them again", err)})
		return
	}
	t := d.c.FleetTill()
	fileAddress := d.c.BaseURL()
	for _, key := range t.ConfigKeys() {
		i := slices.IndexFunc(layers, func(l Layer) bool { return l.Key == key })
		if i < 0 {
			continue
		}
		level, _ := t.ConfigLevel(key)
		d.c.layers = append(d.c.layers, layers[i])
		d.layer(layers[i], level, fileAddress)
	}
}

// layer decodes one layer over the configuration decoded so far: its
// settings rendered as the TOML of the file and decoded with the file's
// decoder, its sealed secrets opened with the box's key; fileAddress is
// the Vipps address of the file, which the layer may move only with both
// secrets sealed.
func (d *decoder) layer(l Layer, level wire.Level, fileAddress string) {
	d.file = LayerFile(l.Key)
	d.lines = map[string]int{}
	defer func() { d.file, d.lines = "", nil }()
	src := Source{Kind: string(level), Where: l.Key + ", revision " + strconv.FormatUint(l.Revision, 10)}
	text := d.layerTOML(l.Value.Settings)
	var doc map[string]toml.Primitive
	md, err := toml.Decode(text, &doc)
	if err != nil {
		d.fail("settings", "cannot be read as the file's settings: "+err.Error(), 0)
		return
	}
	saved := d.md
	d.md = &md
	defer func() { d.md = saved }()
	if d.c.layered == nil {
		d.c.layered = map[string]Source{}
	}
	sections := d.c.sections()
	for _, name := range sortedKeys(doc) {
		if name == scannerKey {
			d.layerScanners(doc[name])
			d.c.layered[scannerKey] = src
			continue
		}
		var keys map[string]toml.Primitive
		_ = d.md.PrimitiveDecode(doc[name], &keys)
		d.table(name, keys, sections[name])
		for k := range keys {
			field := name + "." + k
			d.c.layered[field] = src
			if secret, ok := strings.CutSuffix(field, "_file"); ok {
				d.c.setSecret(secret, "") // the file named here replaces the secret below
				delete(d.layerSecret, secret)
			}
		}
	}
	v := &d.c.Vipps // as on the command line: one address replaces the other
	if _, ok := d.keysOf(doc, "vipps")["environment"]; ok && v.Environment != "" {
		v.BaseURL = ""
	} else if _, ok := d.keysOf(doc, "vipps")["base_url"]; ok && v.BaseURL != "" {
		v.Environment = ""
	}
	d.sealed(l, level, src)
	d.checkVippsAddress(l, level, d.keysOf(doc, "vipps"), fileAddress)
	for i, p := range d.problems {
		if p.File == d.file {
			d.problems[i].Line = 0 // a line of the TOML made of the layer
		}
	}
}

// keysOf lists the keys of the table name of doc.
func (d *decoder) keysOf(doc map[string]toml.Primitive, name string) map[string]toml.Primitive {
	var keys map[string]toml.Primitive
	if prim, ok := doc[name]; ok {
		_ = d.md.PrimitiveDecode(prim, &keys)
	}
	return keys
}

// layerScanners decodes a layer's scanner tables: they replace the
// scanners ("scanner": [] leaves none).
func (d *decoder) layerScanners(prim toml.Primitive) {
	var raw any
	_ = d.md.PrimitiveDecode(prim, &raw)
	if l, ok := raw.([]any); ok && len(l) == 0 {
		d.c.Scanners = nil
		return
	}
	scanners, ok := d.scannerTables(prim)
	if !ok {
		return
	}
	for i := range scanners {
		scanners[i] = scanners[i].withDefaults(i + 1)
	}
	d.c.Scanners = scanners
}

// sealed opens the layer's sealed secrets with the box's key.
func (d *decoder) sealed(l Layer, level wire.Level, src Source) {
	for _, field := range sortedKeys(l.Value.Sealed) {
		switch {
		case !slices.Contains(SealedKeys, field):
			d.fail(field, "cannot come sealed from headquarters: only "+strings.Join(SealedKeys, " and ")+" may", 0)
			continue
		case level != wire.LevelTill:
			d.fail(field, "a sealed secret is honoured only in the till's own key, not in the "+string(level)+"'s", 0)
			continue
		}
		key, err := d.boxKey()
		if err != nil {
			d.fail(field, err.Error(), 0)
			continue
		}
		v, err := key.OpenSecret(d.c.FleetTill(), field, l.Value.Sealed[field])
		if err != nil {
			d.fail(field, strings.TrimPrefix(err.Error(), field+": "), 0)
			continue
		}
		if strings.TrimSpace(v) == "" {
			d.fail(field, "the sealed value is empty", 0)
			continue
		}
		d.c.setSecret(field, epayment.Secret(strings.TrimSpace(v)))
		if d.layerSecret == nil {
			d.layerSecret = map[string]Source{}
		}
		d.layerSecret[field] = src
		d.c.layered[field] = src
	}
}

// boxKey reads the box's key for sealed secrets from the data folder,
// once.
func (d *decoder) boxKey() (wire.ConfigKey, error) {
	if d.key == nil {
		k, err := ReadConfigKey(d.c.Box.DataDir)
		d.key = &keyResult{k, err}
	}
	return d.key.key, d.key.err
}

type keyResult struct {
	key wire.ConfigKey
	err error
}

// setSecret sets the secret field to v and forgets its *_file.
func (c *Config) setSecret(field string, v epayment.Secret) {
	for _, s := range c.secretRefs() {
		if s.field == field {
			*s.value = v
			if v != "" {
				*s.file = ""
			}
		}
	}
}

var tomlBareKey = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// layerTOML renders a layer's settings as the file would have them; a
// field it may not set, or a value of no TOML form, is a problem.
func (d *decoder) layerTOML(settings map[string]any) string {
	sections := map[string][]string{}
	var scanners string
	for _, field := range sortedKeys(settings) {
		v := settings[field]
		if field == scannerKey {
			s, ok := d.scannersTOML(v)
			if ok {
				scanners = s
			}
			continue
		}
		section, key, _ := strings.Cut(field, ".")
		switch {
		case slices.Contains(SealedKeys, field) || slices.Contains(SecretFields(), field):
			d.fail(field, "a secret in clear: headquarters seals it for this box (sealed, in the till's key)", 0)
			continue
		case strings.HasSuffix(key, "_file") && slices.Contains(SecretFields(), strings.TrimSuffix(field, "_file")):
			d.fail(field, "cannot be set by headquarters: a file on the box is named in the box's configuration file only (headquarters seals the secret for this box instead, in the till's key)", 0)
			continue
		case !slices.Contains(RemoteKeys[section], key):
			d.fail(field, "cannot be set by headquarters: set it in the box's configuration file", 0)
			continue
		}
		tv, ok := tomlAny(v)
		if !ok {
			d.fail(field, "must be a string, a whole number or true/false, not "+jsonType(v), 0)
			continue
		}
		sections[section] = append(sections[section], key+" = "+tv)
	}
	var b strings.Builder
	for _, name := range sortedKeys(sections) {
		b.WriteString("[" + name + "]\n" + strings.Join(sections[name], "\n") + "\n")
	}
	b.WriteString(scanners)
	return b.String()
}

// scannersTOML renders a layer's "scanner": a list of tables.
func (d *decoder) scannersTOML(v any) (string, bool) {
	list, ok := v.([]any)
	if !ok {
		d.fail(scannerKey, "must be a list of scanner tables, not "+jsonType(v), 0)
		return "", false
	}
	if len(list) == 0 {
		return "scanner = []\n", true
	}
	var b strings.Builder
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			d.fail(fmt.Sprintf("%s[%d]", scannerKey, i+1), "must be a table of the scanner's keys, not "+jsonType(e), 0)
			return "", false
		}
		b.WriteString("[[scanner]]\n")
		for _, k := range sortedKeys(m) {
			field := fmt.Sprintf("%s[%d].%s", scannerKey, i+1, k)
			tv, ok := tomlAny(m[k])
			switch {
			case !tomlBareKey.MatchString(k):
				d.fail(field, "not a key of a scanner", 0)
				return "", false
			case !ok:
				d.fail(field, "must be a string, a whole number or true/false, not "+jsonType(m[k]), 0)
				return "", false
			}
			b.WriteString(k + " = " + tv + "\n")
		}
	}
	return b.String(), true
}

// tomlAny writes a JSON value as TOML: a string, a whole number or a
// boolean.
func tomlAny(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return tomlString(x), true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return "", false
		}
		return strconv.FormatInt(int64(x), 10), true
	}
	return "", false
}

// jsonType names the kind of a JSON value, never the value.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number with a fraction"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

// inLayer names the layer of headquarters that set the field of p, if
// one did.
func (c *Config) inLayer(p Problem) Problem {
	if p.File != "" {
		return p
	}
	field := p.Field
	if strings.HasPrefix(field, scannerKey+"[") {
		field = scannerKey
	}
	src, ok := c.layered[field]
	if !ok {
		src, ok = c.layered[p.Field+"_file"] // a secret missing from the file a layer named
	}
	if ok {
		key, _, _ := strings.Cut(src.Where, ", ")
		p.File, p.Line = LayerFile(key), 0
	}
	return p
}

// RemoteDiff lists the fields a layer may set ([RemoteKeys], the sealed
// secrets, "scanner") whose values differ between a and b, sorted.
func RemoteDiff(a, b *Config) []string {
	var out []string
	as, bs := a.sections(), b.sections()
	for _, name := range sortedKeys(RemoteKeys) {
		av, bv := reflect.ValueOf(as[name]).Elem(), reflect.ValueOf(bs[name]).Elem()
		keys := tomlKeys(av.Type())
		for _, k := range RemoteKeys[name] {
			if i, ok := keys[k]; ok && !reflect.DeepEqual(av.Field(i).Interface(), bv.Field(i).Interface()) {
				out = append(out, name+"."+k)
			}
		}
	}
	for _, f := range SealedKeys {
		if a.secretValue(f) != b.secretValue(f) {
			out = append(out, f)
		}
	}
	if !sameScanners(a.Scanners, b.Scanners) {
		out = append(out, scannerKey)
	}
	slices.Sort(out)
	return out
}

// fileProblemsInLayers names the layer in a problem of a *_file it set.
func (d *decoder) fileProblemsInLayers() {
	for i, p := range d.problems {
		if strings.HasSuffix(p.Field, "_file") {
			d.problems[i] = d.c.inLayer(p)
		}
	}
}
