// Package version tells which build of tillbox this is.
//
// Release builds stamp it with
//
//	-ldflags "-X github.com/tillbox/tillbox/agent/version.stamp=v1.2.3"
//
// Unstamped builds fall back to the module version or VCS revision the Go
// toolchain recorded, and finally to "dev".
package version

import (
	"runtime/debug"
	"strings"
)

// stamp is set by the linker in release builds.
var stamp string

// String is the version of this build, e.g. "v0.1.0" or "dev-3f2a1c9".
func String() string {
	if stamp != "" {
		return stamp
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev != "" {
		return "dev-" + rev[:min(len(rev), 12)] + dirty
	}
	return "dev"
}

// Header is String cut to the 30 characters a Vipps-System-Version header may hold.
func Header() string {
	s := strings.TrimSpace(String())
	if len(s) > 30 {
		s = s[:30]
	}
	return s
}
