package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/BurntSushi/toml"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/store/atomicfile"
)

// Save writes the technician page's settings of c to the overlay
// (c.OverlayFile, <box.data_dir>/settings.toml), never to the
// configuration file, which is read-only to the service's user. It
// validates c first and writes nothing when a rule is broken (an [*Error],
// as Validate's). The overlay holds the page's keys (PageKeys, and the
// [[scanner]] tables as a whole) whose values differ from the
// configuration file's; any other change is refused, naming the file to
// edit by hand.
//
// A secret typed on the page goes to the overlay too, never to the
// configuration or a <key>_file; one that comes from an environment
// variable cannot be changed here (a Problem says so). The overlay is
// replaced atomically (a temporary file in the same directory, fsync,
// rename, fsync of the directory) with mode 0600.
//
// Before anything is written, the configuration is loaded again with the
// new overlay and must give c.
func (c *Config) Save() error {
	if c.File == "" {
		return errors.New("config: save: the configuration did not come from a file")
	}
	for i := range c.Scanners {
		c.Scanners[i] = c.Scanners[i].withDefaults(i + 1)
	}
	if err := c.Validate(); err != nil {
		return err
	}
	data, err := os.ReadFile(c.File)
	if err != nil {
		return fmt.Errorf("config: save: %w", err)
	}
	dir := filepath.Dir(c.File)
	kept := func(string) ([]Layer, error) { return c.layers, nil }
	// the file with headquarters' layers, without the overlay
	base, _ := parse(data, dir, os.LookupEnv, func(string) ([]byte, error) { return nil, nil }, kept)
	if base == nil {
		return fmt.Errorf("config: save: %s is not valid TOML any more: fix it by hand", c.File)
	}
	overlay := OverlayPath(base.Box.DataDir)
	var problems []Problem

	secretField := map[string]bool{}
	for _, f := range SecretFields() {
		secretField[f] = true
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# The settings saved on the technician page, laid over %s\n# (which the service never writes). Written by tillbox.\n", c.File)
	baseSections := base.sections()
	for _, name := range sortedKeys(c.sections()) {
		target := c.sections()[name]
		nv, ov := reflect.ValueOf(target).Elem(), reflect.ValueOf(baseSections[name]).Elem()
		var lines []string
		for i := range nv.NumField() {
			f := nv.Type().Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if key == "" || key == "-" || !f.IsExported() {
				continue
			}
			field := name + "." + key
			a, o := nv.Field(i), ov.Field(i)
			if reflect.DeepEqual(a.Interface(), o.Interface()) {
				continue
			}
			switch {
			case strings.HasSuffix(key, "_file") && secretField[strings.TrimSuffix(field, "_file")] && isPageKey(strings.TrimSuffix(field, "_file")):
				// the page's secret replaces the file's: checked below
			case !isPageKey(field):
				problems = append(problems, Problem{Field: field, Reason: "cannot be changed on the technician page: edit " + c.File + " by hand"})
			case secretField[field] && c.sources[field].Kind == FromEnv:
				problems = append(problems, Problem{Field: field,
					Reason: fmt.Sprintf("comes from the environment variable %s: change it there (e.g. the service's EnvironmentFile) and restart", c.sources[field].Where)})
			default:
				lines = append(lines, key+" = "+tomlValue(a))
			}
		}
		if len(lines) > 0 {
			b.WriteString("\n[" + name + "]\n" + strings.Join(lines, "\n") + "\n")
		}
	}
	if !sameScanners(c.Scanners, base.Scanners) {
		if len(c.Scanners) == 0 {
			b.WriteString("\nscanner = [] # none\n")
		}
		for _, sc := range c.Scanners {
			b.WriteString("\n" + table(scannerKey, reflect.ValueOf(sc)))
		}
	}
	if !reflect.DeepEqual(c.Scan.Patterns, base.Scan.Patterns) {
		problems = append(problems, Problem{Field: "scan.pattern", Reason: "cannot be changed here: edit " + c.File + " by hand"})
	}
	if len(problems) > 0 {
		return &Error{File: c.File, Problems: problems}
	}

	text := b.String()
	check, err := parse(data, dir, os.LookupEnv, func(string) ([]byte, error) { return []byte(text), nil }, kept)
	if check == nil || err != nil || !sameConfig(c, check) {
		return fmt.Errorf("config: save: the settings would not load back as saved: nothing written to %s", overlay)
	}
	return writeAtomic(overlay, []byte(text), 0o600, 0o077) // the service's alone
}

// RemoveOverlayKey removes field ("console.password_hash") from the
// overlay of the configuration file at path, keeping the rest; it reports
// whether the overlay held it. For a command run as root (`tillbox
// passwd`): the overlay keeps its owner and mode.
func RemoveOverlayKey(path, field string) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("config: %w", err)
	}
	base, _ := Parse(data, filepath.Dir(path), nil)
	if base == nil {
		return false, fmt.Errorf("config: %s is not valid TOML", path)
	}
	overlay := OverlayPath(base.Box.DataDir)
	text, err := readOverlay(overlay)
	if err != nil || text == nil {
		return false, err
	}
	section, key, _ := strings.Cut(field, ".")
	lines := strings.Split(string(text), "\n")
	cur, found := "", false
	for i := 0; i < len(lines); i++ {
		if m := headerLine.FindStringSubmatch(lines[i]); m != nil {
			cur = m[1]
			if arrayLine.MatchString(lines[i]) {
				cur = ""
			}
			continue
		}
		if m := keyLine.FindStringSubmatch(lines[i]); m != nil && cur == section && m[1] == key {
			lines = slices.Delete(lines, i, i+1)
			i--
			found = true
		}
	}
	if !found {
		return false, nil
	}
	out := strings.Join(lines, "\n")
	var doc map[string]any
	if _, err := toml.Decode(out, &doc); err != nil {
		return false, fmt.Errorf("config: %s is written in a way tillbox cannot edit safely: remove %s by hand", overlay, field)
	}
	if sec, ok := doc[section].(map[string]any); ok {
		if _, still := sec[key]; still {
			return false, fmt.Errorf("config: %s is written in a way tillbox cannot edit safely: remove %s by hand", overlay, field)
		}
	}
	return true, writeAtomic(overlay, []byte(out), 0o600, 0o077)
}

// sameScanners compares two lists of scanners, nil and empty alike.
func sameScanners(a, b []Scanner) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// sameConfig compares the settings of two configurations, not where they
// came from.
func sameConfig(a, b *Config) bool {
	strip := func(c *Config) Config {
		x := *c
		x.File, x.OverlayFile, x.Warnings, x.inline, x.lines, x.sources, x.overlaid = "", "", nil, nil, nil, nil, nil
		x.layers, x.layered, x.layersRefused = nil, nil, nil
		// where a secret came from is not a setting
		x.Vipps.ClientSecretFile, x.Vipps.SubscriptionKeyFile, x.Console.PasswordHashFile = "", "", ""
		if len(x.Scanners) == 0 {
			x.Scanners = nil
		}
		return x
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

// writeAtomic replaces path with data, atomically (store/atomicfile); a
// symbolic link's target is replaced. It keeps the mode (perm for a new
// file) and tries to keep the owner and group; the permissions in drop are
// taken away.
func writeAtomic(path string, data []byte, perm os.FileMode, drop os.FileMode) error {
	// A symbolic link stays one: its target is replaced.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	mode, uid, gid := perm, -1, -1
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	mode &^= 0o002
	mode &^= drop
	f, err := atomicfile.Create(path, mode)
	if err != nil {
		return fmt.Errorf("config: save: %w", err)
	}
	defer f.Cleanup()
	if uid >= 0 && f.Chown(uid, gid) != nil {
		_ = f.Chown(-1, gid) // not root: keep the group at least
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("config: save %s: %w", path, err)
	}
	// The folder's fsync is best effort here.
	if err := f.Commit(); err != nil && !errors.Is(err, atomicfile.ErrDirSync) {
		return fmt.Errorf("config: save %s: %w", path, err)
	}
	return nil
}

// tomlValue writes a value of the configuration as TOML.
func tomlValue(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case Duration:
		return tomlString(x.String())
	case epayment.Secret:
		return tomlString(x.Reveal())
	case string:
		return tomlString(x)
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	}
	panic(fmt.Sprintf("config: no TOML form for %s", v.Type()))
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// table writes one [[name]] table with the set fields of the struct v.
func table(name string, v reflect.Value) string {
	var b strings.Builder
	b.WriteString("[[" + name + "]]\n")
	for i := range v.NumField() {
		f := v.Type().Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if key == "" || key == "-" || !f.IsExported() || v.Field(i).IsZero() {
			continue
		}
		b.WriteString(key + " = " + tomlValue(v.Field(i)) + "\n")
	}
	return b.String()
}

// SetFileSecret writes a secret into the configuration file at path, for a
// command run as root (`tillbox passwd`), not the service: into its
// <key>_file when the file names one, else as the key in the file. The
// file is edited line by line, checked by parsing it again, and replaced
// atomically keeping its owner and mode (less every permission of others).
func SetFileSecret(path, field, value string) (where string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	dir := filepath.Dir(path)
	c, _ := Parse(data, dir, nil)
	if c == nil {
		return "", fmt.Errorf("config: %s is not valid TOML", path)
	}
	for _, s := range c.secretRefs() {
		if s.field != field {
			continue
		}
		if *s.file != "" {
			file := *s.file
			if !filepath.IsAbs(file) {
				file = filepath.Join(dir, file)
			}
			return file, writeAtomic(file, []byte(value+"\n"), 0o640, 0o007)
		}
		section, key, _ := strings.Cut(field, ".")
		ed := newEditor(data)
		ed.set(section, key, tomlString(value))
		text := ed.String()
		check, _ := Parse([]byte(text), dir, nil)
		if check == nil || check.secretValue(field) != value {
			return "", fmt.Errorf("config: %s is written in a way tillbox cannot edit safely: set %s by hand", path, field)
		}
		return path, writeAtomic(path, []byte(text), 0o640, 0o007)
	}
	return "", fmt.Errorf("config: %s is not a secret", field)
}

func (c *Config) secretValue(field string) string {
	for _, s := range c.secretRefs() {
		if s.field == field {
			return s.value.Reveal()
		}
	}
	return ""
}

// editor changes keys of a plainly written TOML file line by line.
type editor struct{ lines []string }

func newEditor(data []byte) *editor {
	s := strings.TrimSuffix(string(data), "\n")
	return &editor{lines: strings.Split(s, "\n")}
}

func (e *editor) String() string { return strings.Join(e.lines, "\n") + "\n" }

var anyHeader = regexp.MustCompile(`^\s*\[`)

// section returns the lines of [name]: its header's index (-1 when there
// is none) and the index after its last line.
func (e *editor) section(name string) (int, int) {
	start := -1
	for i, l := range e.lines {
		if m := headerLine.FindStringSubmatch(l); m != nil && m[1] == name && arrayLine.FindStringSubmatch(l) == nil {
			start = i
			break
		}
	}
	if start < 0 {
		return -1, len(e.lines)
	}
	end := start + 1
	for end < len(e.lines) && !anyHeader.MatchString(e.lines[end]) {
		end++
	}
	return start, end
}

func keyPattern(key string) *regexp.Regexp {
	return regexp.MustCompile(`^\s*` + regexp.QuoteMeta(key) + `\s*=`)
}

func commentedKeyPattern(key string) *regexp.Regexp {
	return regexp.MustCompile(`^\s*#\s*` + regexp.QuoteMeta(key) + `\s*=`)
}

// set writes key = raw in [section]: over the key's line, else over its
// commented default, else right below the header (a new section at the end
// when there is none).
func (e *editor) set(section, key, raw string) {
	line := key + " = " + raw
	start, end := e.section(section)
	if start < 0 {
		e.lines = append(e.lines, "", "["+section+"]", line)
		return
	}
	for _, p := range []*regexp.Regexp{keyPattern(key), commentedKeyPattern(key)} {
		for i := start + 1; i < end; i++ {
			if p.MatchString(e.lines[i]) {
				e.lines[i] = line
				return
			}
		}
	}
	e.lines = slices.Insert(e.lines, start+1, line)
}
