package device_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// module is tillbox's module path.
const module = "github.com/tillbox/tillbox"

// TestDriversKnowNothingOfTheApp: the drivers and everything they import
// (go list -deps ./device/...) are device packages or outside tillbox, and
// never the store's bbolt: configuration is converted where the process is
// wired (cmd/tillbox, agent/config → device.Spec), never read here. With
// and without cgo, which choose the HID driver's files.
func TestDriversKnowNothingOfTheApp(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the imports: %v", err)
	}
	for _, cgo := range []string{"1", "0"} {
		cmd := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", "./...")
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("CGO_ENABLED=%s go list -deps ./device/...: %v\n%s", cgo, err, exitStderr(err))
		}
		devices := 0
		for _, p := range strings.Fields(string(out)) {
			switch {
			case p == module+"/device" || strings.HasPrefix(p, module+"/device/"):
				devices++
			case p == module || strings.HasPrefix(p, module+"/"):
				t.Errorf("CGO_ENABLED=%s: the drivers import %s: give them their own option types (device.Spec) and convert in the wiring", cgo, p)
			case strings.HasPrefix(p, "go.etcd.io/bbolt"):
				t.Errorf("CGO_ENABLED=%s: the drivers link %s, the store's database", cgo, p)
			}
		}
		if devices < 5 {
			t.Errorf("CGO_ENABLED=%s: go list found %d device packages: is it run in device/?\n%s", cgo, devices, out)
		}
	}
}

func exitStderr(err error) []byte {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.Stderr
	}
	return nil
}
