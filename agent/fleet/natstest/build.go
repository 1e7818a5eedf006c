package natstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// serverModule is the Go module whose main package is nats-server; go.mod
// pins its version (a tool dependency, so that go mod tidy keeps it).
const serverModule = "github.com/nats-io/nats-server/v2"

var binary struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the path of a nats-server built from the version go.mod
// requires. The first call of a test binary builds it into
// os.UserCacheDir()/tillbox-test (keyed by the version, the Go version and
// the platform), under a file lock so that packages tested in parallel build
// it once; later runs find it there.
func Binary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() { binary.path, binary.err = buildBinary() })
	if binary.err != nil {
		t.Fatalf("natstest: nats-server: %v", binary.err)
	}
	return binary.path
}

func buildBinary() (string, error) {
	gobin, err := goTool()
	if err != nil {
		return "", err
	}
	out, err := exec.Command(gobin, "list", "-m", "-f", "{{.Version}}", serverModule).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w%s", serverModule, err, stderrOf(err))
	}
	version := strings.TrimSpace(string(out))
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "tillbox-test")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("nats-server-%s-%s-%s-%s", version, runtime.Version(), runtime.GOOS, runtime.GOARCH))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(path); err == nil {
		return path, nil // another package built it while we waited
	}
	tmp := fmt.Sprintf("%s.tmp%d", path, os.Getpid())
	cmd := exec.Command(gobin, "build", "-trimpath", "-o", tmp, serverModule)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build %s@%s: %w\n%s", serverModule, version, err, b)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	return path, nil
}

// goTool finds the go command (go test puts its toolchain's bin first on
// PATH).
func goTool() (string, error) {
	p, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building nats-server needs the go command on PATH: %w", err)
	}
	return p, nil
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return ": " + strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}
