package hil

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// cpioWriter writes a cpio archive in the "newc" format, the one the
// kernel unpacks as an initramfs.
type cpioWriter struct {
	w   io.Writer
	ino uint32
	err error
}

const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeChar = 0o020000
)

func (c *cpioWriter) entry(name string, mode uint32, data []byte, rdevMajor, rdevMinor uint32) {
	if c.err != nil {
		return
	}
	c.ino++
	nlink := 1
	if mode&0o170000 == modeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	var b bytes.Buffer
	b.WriteString(hdr)
	b.WriteString(name)
	b.WriteByte(0)
	pad4(&b, b.Len())
	b.Write(data)
	pad4(&b, len(data))
	_, c.err = c.w.Write(b.Bytes())
}

func pad4(b *bytes.Buffer, n int) {
	for n%4 != 0 {
		b.WriteByte(0)
		n++
	}
}

func (c *cpioWriter) dir(name string)               { c.entry(name, modeDir|0o755, nil, 0, 0) }
func (c *cpioWriter) file(name string, data []byte) { c.entry(name, modeFile|0o755, data, 0, 0) }
func (c *cpioWriter) chardev(name string, major, minor uint32) {
	c.entry(name, modeChar|0o600, nil, major, minor)
}

func (c *cpioWriter) close() error {
	c.entry("TRAILER!!!", 0, nil, 0, 0)
	return c.err
}

// initramfs is what goes into the guest's initramfs: files by their path
// in the guest (without the leading slash), and the kernel modules to load
// at boot in that order.
type initramfs struct {
	files   map[string][]byte
	modules []string // paths of .ko files on the host, in load order
}

// write packs the initramfs, gzipped, into path. The directories every
// file needs are made, as is /dev/console (the kernel opens it for /init
// before devtmpfs is mounted).
func (r *initramfs) write(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err != nil {
		return err
	}
	c := &cpioWriter{w: zw}
	dirs := map[string]bool{}
	var mkdir func(string)
	mkdir = func(d string) {
		if d == "." || dirs[d] {
			return
		}
		mkdir(filepath.Dir(d))
		dirs[d] = true
		c.dir(d)
	}
	for _, d := range []string{"dev", "proc", "sys", "tmp", "bin", "sbin", "usr/bin", "usr/sbin", "etc", "lib/modules"} {
		mkdir(d)
	}
	c.chardev("dev/console", 5, 1)
	add := func(name string, data []byte) {
		mkdir(filepath.Dir(name))
		c.file(name, data)
	}
	for name, data := range r.files {
		add(name, data)
	}
	var order []string
	for _, m := range r.modules {
		data, err := os.ReadFile(m)
		if err != nil {
			return err
		}
		base := filepath.Base(m)
		add("lib/modules/"+base, data)
		order = append(order, base)
	}
	add("lib/modules/order", []byte(strings.Join(order, "\n")+"\n"))
	if err := c.close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// moduleOrder returns the .ko files under dir that the named modules need,
// dependencies first, reading each module's "depends=" from its .modinfo
// section (so no depmod is needed). Names may use - or _.
func moduleOrder(dir string, names []string) ([]string, error) {
	byName := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ko") {
			byName[modName(strings.TrimSuffix(d.Name(), ".ko"))] = p
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(byName) == 0 {
		return nil, fmt.Errorf("no uncompressed .ko modules under %s", dir)
	}
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name, from string) error
	visit = func(name, from string) error {
		name = modName(name)
		switch state[name] {
		case 1:
			return fmt.Errorf("modules: dependency loop at %s", name)
		case 2:
			return nil
		}
		p, ok := byName[name]
		if !ok {
			return fmt.Errorf("modules: %s (needed by %s) is not under %s", name, from, dir)
		}
		state[name] = 1
		deps, err := moduleDepends(p)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, p)
		return nil
	}
	for _, n := range names {
		if err := visit(n, "the rig"); err != nil {
			return nil, err
		}
	}
	return order, nil
}

func modName(s string) string { return strings.ReplaceAll(s, "-", "_") }

// moduleDepends reads the depends= entry of a module's .modinfo section.
func moduleDepends(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	defer f.Close()
	s := f.Section(".modinfo")
	if s == nil {
		return nil, fmt.Errorf("module %s: no .modinfo section", path)
	}
	data, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	for kv := range bytes.SplitSeq(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			if len(v) == 0 {
				return nil, nil
			}
			return strings.Split(string(v), ","), nil
		}
	}
	return nil, nil
}
