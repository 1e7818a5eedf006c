package version

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// commit and date are set by the linker in release builds (see the
// Makefile): the commit the binary was built from and the commit's date.
var commit, date string

// Commit is the VCS revision of this build: the stamp, or what the Go
// toolchain recorded, or "unknown".
func Commit() string {
	if commit != "" {
		return commit
	}
	if v := setting("vcs.revision"); v != "" {
		return v[:min(len(v), 12)]
	}
	return "unknown"
}

// Date is when the build's commit was made (RFC 3339): the stamp, or what
// the Go toolchain recorded, or "unknown".
func Date() string {
	if date != "" {
		return date
	}
	if v := setting("vcs.time"); v != "" {
		return v
	}
	return "unknown"
}

func setting(key string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// Print writes what `tillbox version` shows: the version, commit, date,
// Go version and platform, then each dependency module linked into the
// binary with its version.
func Print(w io.Writer) error {
	_, err := fmt.Fprintf(w, "tillbox %s\ncommit %s\ndate %s\ngo %s %s/%s\n",
		String(), Commit(), Date(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if err != nil {
		return err
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		_, err = fmt.Fprintln(w, "dependencies unknown (no build information)")
		return err
	}
	for _, s := range bi.Settings {
		if s.Key == "CGO_ENABLED" || s.Key == "-tags" || s.Key == "GOARM" {
			if _, err := fmt.Fprintf(w, "build %s=%s\n", s.Key, s.Value); err != nil {
				return err
			}
		}
	}
	for _, d := range bi.Deps {
		v := d.Version
		if d.Replace != nil {
			v += " => " + d.Replace.Path + " " + d.Replace.Version
		}
		if _, err := fmt.Fprintf(w, "dep %s %s\n", d.Path, v); err != nil {
			return err
		}
	}
	return nil
}
