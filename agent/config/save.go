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

	"github.com/tillbox/tillbox/agent/epayment"
)

// Save writes c back to the file it was loaded from (c.File), for the
// technician page. It validates c first and writes nothing when a rule is
// broken (an [*Error], as Validate's). It changes only the keys whose
// values differ from the file's: a changed key is rewritten in place (a
// commented default "# key = …" is uncommented), a key that is no longer
// set is commented out, and the [[scanner]] tables are replaced as a whole
// when any scanner changed. Comments and the rest of the file stay.
//
// A secret is written where it came from: into its <key>_file when it came
// from one, into the configuration file otherwise; one that came from an
// environment variable cannot be changed here (a Problem says so). Every
// file is replaced atomically (a temporary file in the same directory,
// fsync, rename), keeping its mode and, as far as permitted, its owner; a
// file holding secrets loses every permission for others.
//
// Before anything is written, the new text is parsed again and must give
// c: a file too unusual to edit safely is refused with an error saying so.
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
	old, _ := Parse(data, dir, os.LookupEnv)
	if old == nil {
		return fmt.Errorf("config: save: %s is not valid TOML any more: fix it by hand", c.File)
	}
	ed := newEditor(data)
	var problems []Problem
	type secretFile struct {
		ref         int // in secretRefs
		path, value string
	}
	var files []secretFile

	secretField := map[string]bool{}
	for _, f := range SecretFields() {
		secretField[f] = true
	}
	oldSections := old.sections()
	for name, target := range c.sections() {
		nv, ov := reflect.ValueOf(target).Elem(), reflect.ValueOf(oldSections[name]).Elem()
		for i := range nv.NumField() {
			f := nv.Type().Field(i)
			key, opts, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if key == "" || key == "-" || !f.IsExported() || secretField[name+"."+key] {
				continue
			}
			a, b := nv.Field(i), ov.Field(i)
			if reflect.DeepEqual(a.Interface(), b.Interface()) {
				continue
			}
			if a.IsZero() && strings.Contains(opts, "omitempty") {
				ed.unset(name, key)
				continue
			}
			ed.set(name, key, tomlValue(a))
		}
	}
	oldRefs := old.secretRefs()
	for i, s := range c.secretRefs() {
		if *s.value == *oldRefs[i].value {
			continue
		}
		section, key, _ := strings.Cut(s.field, ".")
		switch src := old.sources[s.field]; {
		case src.Kind == FromEnv:
			problems = append(problems, Problem{Field: s.field,
				Reason: fmt.Sprintf("comes from the environment variable %s: change it there (e.g. the service's EnvironmentFile) and restart", src.Where)})
		case src.Kind == FromFile:
			files = append(files, secretFile{i, src.Where, s.value.Reveal()})
		case *s.file != "":
			path := *s.file
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, path)
			}
			files = append(files, secretFile{i, path, s.value.Reveal()})
		default:
			ed.set(section, key, tomlString(s.value.Reveal()))
		}
	}
	if !sameScanners(c.Scanners, old.Scanners) {
		var tables []string
		for _, sc := range c.Scanners {
			tables = append(tables, table(scannerKey, reflect.ValueOf(sc)))
		}
		ed.replaceTables(scannerKey, tables)
	}
	if !reflect.DeepEqual(c.Scan.Patterns, old.Scan.Patterns) {
		problems = append(problems, Problem{Field: "scan.pattern", Reason: "cannot be changed here: edit " + c.File + " by hand"})
	}
	if len(problems) > 0 {
		return &Error{File: c.File, Problems: problems}
	}

	text := ed.String()
	check, err := Parse([]byte(text), dir, os.LookupEnv)
	if check == nil {
		return fmt.Errorf("config: save: the edited %s would not parse (%v): nothing written; edit it by hand", c.File, err)
	}
	// The secrets bound for their files are not there yet.
	refs := check.secretRefs()
	for _, f := range files {
		*refs[f.ref].value = epayment.Secret(f.value)
	}
	if !sameConfig(c, check) {
		return fmt.Errorf("config: save: %s is written in a way this page cannot edit safely: nothing written; edit it by hand", c.File)
	}

	for _, f := range files {
		if err := writeAtomic(f.path, []byte(f.value+"\n"), 0o600, true); err != nil {
			return err
		}
	}
	return writeAtomic(c.File, []byte(text), 0o640, len(check.inline) > 0)
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
		x.File, x.Warnings, x.inline, x.lines, x.sources = "", nil, nil, nil, nil
		if len(x.Scanners) == 0 {
			x.Scanners = nil
		}
		return x
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

// writeAtomic replaces path with data: a temporary file in the same
// directory, written and synced, then renamed over it, and the directory
// synced; a symbolic link's target is replaced. It keeps the mode (perm
// for a new file) and tries to keep the
// owner and group; secret drops every permission of others.
func writeAtomic(path string, data []byte, perm os.FileMode, secret bool) (err error) {
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
	if secret {
		mode &^= 0o007
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("config: save: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
			err = fmt.Errorf("config: save %s: %w", path, err)
		}
	}()
	if err = f.Chmod(mode); err == nil {
		if uid >= 0 && f.Chown(uid, gid) != nil {
			_ = f.Chown(-1, gid) // not root: keep the group at least
		}
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
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

// unset comments out key's line in [section].
func (e *editor) unset(section, key string) {
	start, end := e.section(section)
	if start < 0 {
		return
	}
	p := keyPattern(key)
	for i := start + 1; i < end; i++ {
		if p.MatchString(e.lines[i]) {
			e.lines[i] = "# " + strings.TrimLeft(e.lines[i], " \t")
		}
	}
}

// replaceTables removes every [[name]] table and puts tables where the
// first one was (at the end of the file when there was none).
func (e *editor) replaceTables(name string, tables []string) {
	at := -1
	for i := 0; i < len(e.lines); {
		m := arrayLine.FindStringSubmatch(e.lines[i])
		if m == nil || m[1] != name {
			i++
			continue
		}
		end := i + 1
		for end < len(e.lines) && !anyHeader.MatchString(e.lines[end]) {
			end++
		}
		// Comments and blank lines right above the next header are its own.
		if end < len(e.lines) {
			for end > i+1 && (strings.TrimSpace(e.lines[end-1]) == "" || strings.HasPrefix(strings.TrimSpace(e.lines[end-1]), "#")) {
				end--
			}
		}
		e.lines = slices.Delete(e.lines, i, end)
		if at < 0 {
			at = i
		}
	}
	var add []string
	for _, t := range tables {
		add = append(add, strings.Split(strings.TrimSuffix(t, "\n"), "\n")...)
		add = append(add, "")
	}
	if at < 0 {
		if len(add) > 0 {
			e.lines = append(append(e.lines, ""), add[:len(add)-1]...)
		}
		return
	}
	e.lines = slices.Insert(e.lines, at, add...)
}
