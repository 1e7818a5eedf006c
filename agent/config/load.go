package config

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/device/classify"
)

// Load reads the configuration file at path, takes the secrets from the
// environment and the files it names, and validates it. A file that cannot
// be read gives a plain error and no Config. Otherwise Load returns the
// Config (defaults filled in) even when it also returns an [*Error] listing
// every problem, so that a caller may still look at what it holds. The
// Config's Warnings include the file's permissions: a file holding secrets
// must not be readable by every user.
func Load(path string) (*Config, error) {
	return load(path, readLayers)
}

// Parse decodes a configuration from data and validates it, as Load does
// without the file: dir resolves relative *_file paths, env looks up the
// TILLBOX_* variables of secrets (nil: none). A nil Config comes back only
// when data is not TOML at all.
func Parse(data []byte, dir string, env func(string) (string, bool)) (*Config, error) {
	return parse(data, dir, env, nil, nil)
}

// parse is Parse with the technician page's overlay: overlay (nil: none)
// reads it given its path (from box.data_dir, which the overlay cannot
// change) and lays it over the file before the secrets and the checks.
// With the link to headquarters on, layers (nil: none) reads the layers
// of headquarters kept in box.data_dir, laid between the file and the
// overlay (layers.go).
func parse(data []byte, dir string, env func(string) (string, bool), overlay func(path string) ([]byte, error), layers func(dataDir string) ([]Layer, error)) (*Config, error) {
	c := Default()
	c.lines = indexLines(data)
	d := decoder{c: c}
	var doc map[string]toml.Primitive
	md, err := toml.Decode(string(data), &doc)
	if err != nil {
		return nil, &Error{Problems: []Problem{syntaxProblem(err, data)}}
	}
	d.md = &md
	d.document(doc)
	for i := range c.Scanners {
		c.Scanners[i] = c.Scanners[i].withDefaults(i + 1)
	}
	d.inlineSecrets()
	if overlay != nil && strings.TrimSpace(c.Box.DataDir) != "" && !d.failed["box.data_dir"] {
		c.OverlayFile = OverlayPath(c.Box.DataDir)
		if layers != nil && c.FleetOn() {
			d.applyLayers(layers)
		}
		d.overlay(overlay)
	}
	d.secrets(dir, env)
	d.fileProblemsInLayers()

	errs, warns := c.check()
	for _, p := range errs {
		section, _, _ := strings.Cut(p.Field, ".")
		if !d.failed[p.Field] && !d.failed[section] {
			d.problems = append(d.problems, c.inOverlay(p))
		}
	}
	for _, w := range warns {
		c.Warnings = append(c.Warnings, c.inOverlay(w))
	}
	if len(d.problems) == 0 {
		return c, nil
	}
	slices.SortStableFunc(d.problems, func(a, b Problem) int {
		if a.File != b.File {
			return cmp.Compare(a.File, b.File) // the configuration's (no File) first
		}
		return cmp.Compare(lineKey(a.Line), lineKey(b.Line))
	})
	return c, &Error{Problems: d.problems}
}

// lineKey orders problems by line, those without one last.
func lineKey(l int) int {
	if l == 0 {
		return int(^uint(0) >> 1)
	}
	return l
}

// syntaxProblem turns an error of the TOML parser into a Problem. The
// parser may quote what it found, so on a line that holds a secret its
// message is replaced by a general one.
func syntaxProblem(err error, data []byte) Problem {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return Problem{Field: "toml", Reason: "not valid TOML: " + err.Error()}
	}
	field := pe.LastKey
	if field == "" {
		field = "toml"
	}
	p := Problem{Field: field, Reason: "not valid TOML: " + pe.Message, Line: pe.Position.Line}
	key := field[strings.LastIndexByte(field, '.')+1:]
	if lines := strings.Split(string(data), "\n"); p.Line >= 1 && p.Line <= len(lines) {
		if m := keyLine.FindStringSubmatch(lines[p.Line-1]); m != nil {
			key = m[1]
			switch {
			case field == "toml":
				p.Field = key
			case field != key && !strings.HasSuffix(field, "."+key):
				p.Field = field + "." + key
			}
		}
	}
	if isSecretKey(key) {
		p.Reason = "not valid TOML: the value is not a well-formed string in quotes (the parser's message is not shown: the line holds a secret)"
	}
	return p
}

// isSecretKey reports whether a key of the file holds a secret.
func isSecretKey(key string) bool {
	for _, s := range (&Config{}).secretRefs() {
		if s.field[strings.IndexByte(s.field, '.')+1:] == key {
			return true
		}
	}
	return false
}

// decoder decodes a document key by key, so that every unknown key and
// every value of the wrong type is reported, not only the first.
type decoder struct {
	c        *Config
	md       *toml.MetaData
	problems []Problem
	failed   map[string]bool // fields with a decoding problem

	// While the overlay is decoded: its path and the lines of its keys.
	file  string
	lines map[string]int
	// overlaid are the secrets the overlay set.
	overlaid map[string]bool
	// layerSecret are the secrets a layer of headquarters set, and which;
	// key is the box's key that opens them, once read (layers.go).
	layerSecret map[string]Source
	key         *keyResult
	// moved names the layer that moved the Vipps address and the field
	// (layers_vipps.go).
	moved *Problem
}

func (d *decoder) fail(field, reason string, line int) {
	lines := d.c.lines
	if d.file != "" {
		lines = d.lines
	}
	if line == 0 {
		line = lines[field]
	}
	d.problems = append(d.problems, Problem{Field: field, Reason: reason, Line: line, File: d.file})
	if d.failed == nil {
		d.failed = map[string]bool{}
	}
	d.failed[field] = true
}

// sections maps each [section] to the struct it decodes into.
func (c *Config) sections() map[string]any {
	return map[string]any{
		"box": &c.Box, "vipps": &c.Vipps, "sales": &c.Sales, "sync": &c.Sync, "pos": &c.POS,
		"store": &c.Store, "log": &c.Log, "metrics": &c.Metrics, "display": &c.Display, "console": &c.Console, "tls": &c.TLS, "fleet": &c.Fleet,
	}
}

const scannerKey = "scanner"

func (d *decoder) document(doc map[string]toml.Primitive) {
	sections := d.c.sections()
	for _, name := range sortedKeys(doc) {
		prim := doc[name]
		if name == scannerKey {
			if scanners, ok := d.scannerTables(prim); ok {
				d.c.Scanners = scanners
			}
			continue
		}
		if name == scanKey {
			d.scan(prim)
			continue
		}
		target, ok := sections[name]
		if !ok {
			d.fail(name, "unknown section"+suggest(name, append(sortedKeys(sections), scannerKey, scanKey)), 0)
			continue
		}
		var raw any
		_ = d.md.PrimitiveDecode(prim, &raw)
		var keys map[string]toml.Primitive
		if _, isTable := raw.(map[string]any); !isTable || d.md.PrimitiveDecode(prim, &keys) != nil {
			d.fail(name, fmt.Sprintf("must be a table: write [%s] and its keys below it", name), 0)
			continue
		}
		d.table(name, keys, target)
	}
}

// scan decodes the [scan] section: its only key, pattern, is a list of
// [[scan.pattern]] tables (or an empty list, which validation refuses).
// Without it the defaults stay.
// scannerTables decodes the [[scanner]] tables of prim; false (the
// problem noted) when it is not an array of tables.
func (d *decoder) scannerTables(prim toml.Primitive) ([]Scanner, bool) {
	var raw any
	_ = d.md.PrimitiveDecode(prim, &raw)
	var entries []map[string]toml.Primitive
	if _, isArray := raw.([]map[string]any); !isArray || d.md.PrimitiveDecode(prim, &entries) != nil {
		d.fail(scannerKey, "must be [[scanner]] tables, one per scanner", 0)
		return nil, false
	}
	scanners := make([]Scanner, len(entries))
	for i, e := range entries {
		d.table(fmt.Sprintf("%s[%d]", scannerKey, i+1), e, &scanners[i])
	}
	return scanners, true
}

func (d *decoder) scan(prim toml.Primitive) {
	var raw any
	_ = d.md.PrimitiveDecode(prim, &raw)
	var keys map[string]toml.Primitive
	if _, isTable := raw.(map[string]any); !isTable || d.md.PrimitiveDecode(prim, &keys) != nil {
		d.fail(scanKey, "must be a table: write [[scan.pattern]] tables, each with a name and an expr", 0)
		return
	}
	for _, k := range sortedKeys(keys) {
		field := scanKey + "." + k
		if k != "pattern" {
			d.fail(field, "unknown key"+suggest(k, []string{"pattern"}), 0)
			continue
		}
		var list any
		_ = d.md.PrimitiveDecode(keys[k], &list)
		if l, ok := list.([]any); ok && len(l) == 0 {
			d.c.Scan.Patterns = []classify.Pattern{} // refused by checkScan, naming the field
			continue
		}
		var entries []map[string]toml.Primitive
		if _, isArray := list.([]map[string]any); !isArray || d.md.PrimitiveDecode(keys[k], &entries) != nil {
			d.fail(field, "must be [[scan.pattern]] tables, each with a name and an expr", 0)
			continue
		}
		d.c.Scan.Patterns = make([]classify.Pattern, len(entries))
		for i, e := range entries {
			d.table(fmt.Sprintf("%s[%d]", field, i+1), e, &d.c.Scan.Patterns[i])
		}
	}
}

// table decodes the keys of one table into the struct target points to.
func (d *decoder) table(prefix string, keys map[string]toml.Primitive, target any) {
	rv := reflect.ValueOf(target).Elem()
	known := tomlKeys(rv.Type())
	for _, k := range sortedKeys(keys) {
		field := prefix + "." + k
		i, ok := known[k]
		if !ok {
			d.fail(field, "unknown key"+d.suggestKey(prefix, k, known), 0)
			continue
		}
		fv := rv.Field(i)
		if err := d.md.PrimitiveDecode(keys[k], fv.Addr().Interface()); err != nil {
			var raw any
			_ = d.md.PrimitiveDecode(keys[k], &raw)
			d.fail(field, typeReason(err, fv.Type(), raw), errorLine(err))
		}
	}
}

// suggestKey says which key may have been meant.
// A key of another section comes first: [vipps] token is [pos]'s token,
// not a short token_source.
func (d *decoder) suggestKey(section, key string, known map[string]int) string {
	s := suggest(key, sortedKeys(known))
	if strings.HasPrefix(section, scannerKey+"[") || strings.HasPrefix(section, scanKey+".") {
		return s
	}
	sections := d.c.sections()
	var in []string
	for _, name := range sortedKeys(sections) {
		if _, ok := tomlKeys(reflect.TypeOf(sections[name]).Elem())[key]; ok {
			in = append(in, "["+name+"]")
		}
	}
	if len(in) == 0 {
		return s
	}
	return fmt.Sprintf(": %s is a key of %s, not of [%s]", key, strings.Join(in, " and "), section)
}

// typeReason explains a value of the wrong type without showing the value.
func typeReason(err error, want reflect.Type, raw any) string {
	var pe toml.ParseError
	if errors.As(err, &pe) && !strings.Contains(pe.Message, "incompatible types") {
		return pe.Message // from an UnmarshalTOML, such as Duration's
	}
	var what string
	switch want.Kind() {
	case reflect.String:
		what = "a string in quotes"
	case reflect.Int, reflect.Int64, reflect.Int32:
		what = "a whole number without quotes"
	case reflect.Bool:
		what = "true or false, without quotes"
	default:
		what = "a " + want.String()
	}
	return fmt.Sprintf("must be %s, not %s", what, tomlTypeOf(raw))
}

var lineInError = regexp.MustCompile(`line (\d+)`)

func errorLine(err error) int {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return pe.Position.Line
	}
	if m := lineInError.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// tomlKeys maps the TOML keys of a struct type to its field indexes.
func tomlKeys(t reflect.Type) map[string]int {
	keys := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name != "" && name != "-" && f.IsExported() {
			keys[name] = i
		}
	}
	return keys
}

// suggest returns ": did you mean X?" when one of known is close to key.
func suggest(key string, known []string) string {
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(s)) }
	best, bestDist := "", 3
	for _, k := range known {
		if norm(k) == norm(key) {
			return fmt.Sprintf(": did you mean %s?", k)
		}
		if len(key) >= 3 && (strings.HasPrefix(norm(key), norm(k)) || strings.HasPrefix(norm(k), norm(key))) {
			return fmt.Sprintf(": did you mean %s?", k)
		}
		if dist := levenshtein(key, k); dist < bestDist && dist < len(k)/2+1 {
			best, bestDist = k, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(": did you mean %s?", best)
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// secretRef is one secret of the configuration and where it can come from.
type secretRef struct {
	field string // "vipps.client_secret"
	value *epayment.Secret
	file  *string
}

func (c *Config) secretRefs() []secretRef {
	return []secretRef{
		{"vipps.client_secret", &c.Vipps.ClientSecret, &c.Vipps.ClientSecretFile},
		{"vipps.subscription_key", &c.Vipps.SubscriptionKey, &c.Vipps.SubscriptionKeyFile},
		{"vipps.webhook_secret", &c.Vipps.WebhookSecret, &c.Vipps.WebhookSecretFile},
		{"pos.token", &c.POS.Token, &c.POS.TokenFile},
		{"console.password_hash", &c.Console.PasswordHash, &c.Console.PasswordHashFile},
		{"fleet.password", &c.Fleet.Password, &c.Fleet.PasswordFile},
	}
}

// envName is the environment variable of a secret field:
// "vipps.client_secret" → TILLBOX_VIPPS_CLIENT_SECRET.
func envName(field string) string {
	return "TILLBOX_" + strings.ToUpper(strings.ReplaceAll(field, ".", "_"))
}

// EnvNames lists the environment variables that may hold secrets.
func EnvNames() []string {
	var names []string
	for _, s := range (&Config{}).secretRefs() {
		names = append(names, envName(s.field))
	}
	return names
}

// inlineSecrets notes the secrets written in the configuration file
// itself, and refuses a secret set together with its <key>_file.
func (d *decoder) inlineSecrets() {
	for _, s := range d.c.secretRefs() {
		if *s.value == "" {
			continue
		}
		if *s.file != "" {
			fileField := s.field + "_file"
			d.fail(s.field, fmt.Sprintf("set together with %s: keep one", fileField[strings.IndexByte(fileField, '.')+1:]), 0)
			*s.value, *s.file = "", "" // reported once
			continue
		}
		d.c.inline = append(d.c.inline, s.field)
	}
}

// secrets takes each secret from the environment, the overlay, its file or
// the configuration file, in that order.
func (d *decoder) secrets(dir string, env func(string) (string, bool)) {
	for _, s := range d.c.secretRefs() {
		fileField := s.field + "_file"
		if d.failed[s.field] {
			continue
		}
		if *s.value != "" {
			if d.overlaid[s.field] {
				d.c.setSource(s.field, Source{Kind: FromOverlay, Where: d.c.OverlayFile})
			} else if src, ok := d.layerSecret[s.field]; ok {
				d.c.setSource(s.field, src)
			} else {
				d.c.setSource(s.field, Source{Kind: FromConfig})
			}
		}
		if env != nil {
			if v, ok := env(envName(s.field)); ok && v != "" {
				if d.moved != nil {
					d.refuseMove(s.field)
				}
				*s.value = epayment.Secret(strings.TrimSpace(v))
				d.c.setSource(s.field, Source{Kind: FromEnv, Where: envName(s.field)})
				continue
			}
		}
		if *s.file == "" {
			continue
		}
		v, path, everyoneReads, err := ReadSecretFile(dir, *s.file)
		if err != nil {
			d.fail(fileField, err.Error(), 0)
			d.failed[s.field] = true // not "missing" as well
			continue
		}
		*s.value = v
		d.c.setSource(s.field, Source{Kind: FromFile, Where: path})
		if everyoneReads {
			d.c.Warnings = append(d.c.Warnings, Problem{Field: fileField, Line: d.c.lines[fileField],
				Reason: fmt.Sprintf("every user can read %s: chmod 640 it (owner root, group of the tillbox service)", path)})
		}
	}
}

// permissionWarnings warns about a configuration file others can change, or
// read while it holds secrets.
func permissionWarnings(path string, mode fs.FileMode, inline []string) []Problem {
	var w []Problem
	if mode.Perm()&0o002 != 0 {
		w = append(w, Problem{Field: path, Reason: "every user can change it, and with it where payments go: chmod 640 " + path})
	}
	if mode.Perm()&0o004 != 0 && len(inline) > 0 {
		w = append(w, Problem{Field: path, Reason: fmt.Sprintf("every user can read it and it holds secrets (%s): chmod 640 %s (owner root, group of the tillbox service), or move them to *_file or TILLBOX_* variables",
			strings.Join(inline, ", "), path)})
	}
	return w
}

var (
	headerLine = regexp.MustCompile(`^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]`)
	arrayLine  = regexp.MustCompile(`^\s*\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]`)
	keyLine    = regexp.MustCompile(`^\s*([A-Za-z0-9_-]+)\s*=`)
)

// indexLines finds the line of each table and key of a plainly written
// file ("[section]" headers, "key = value" lines). It is a best effort:
// inline tables and multi-line strings may hide or fake a key.
func indexLines(data []byte) map[string]int {
	lines := map[string]int{}
	counts := map[string]int{}
	section := ""
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		if m := arrayLine.FindStringSubmatch(line); m != nil {
			counts[m[1]]++
			section = fmt.Sprintf("%s[%d]", m[1], counts[m[1]])
		} else if m := headerLine.FindStringSubmatch(line); m != nil {
			section = m[1]
		} else if m := keyLine.FindStringSubmatch(line); m != nil {
			key := m[1]
			if section != "" {
				key = section + "." + key
			}
			if _, seen := lines[key]; !seen {
				lines[key] = n
			}
			continue
		} else {
			continue
		}
		if _, seen := lines[section]; !seen {
			lines[section] = n
		}
	}
	return lines
}

// SecretFile is a file a secret of the configuration is read from.
type SecretFile struct {
	Field string // "vipps.client_secret_file"
	Path  string // as resolved: relative paths are taken from the configuration's directory
}

// SecretFiles lists the files the configuration names for its secrets
// (the <key>_file settings that are set), resolved as Load resolves them.
func (c *Config) SecretFiles() []SecretFile {
	var out []SecretFile
	for _, s := range c.secretRefs() {
		if *s.file == "" {
			continue
		}
		path := *s.file
		if !filepath.IsAbs(path) && c.File != "" {
			path = filepath.Join(filepath.Dir(c.File), path)
		}
		out = append(out, SecretFile{Field: s.field + "_file", Path: path})
	}
	return out
}
