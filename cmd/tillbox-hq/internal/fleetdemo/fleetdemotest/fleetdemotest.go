// Package fleetdemotest helps tests run a fleetdemo chain: it builds the
// tillbox and tillbox-hq programs and turns natstest's servers into
// fleetdemo's NATS options.
package fleetdemotest

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo"
)

// Binaries builds tillbox and tillbox-hq from this module into the
// test's temporary folder (Go's build cache makes a second build a link)
// and returns their paths.
func Binaries(t testing.TB) (tillbox, hq string) {
	t.Helper()
	dir := t.TempDir()
	tillbox, hq = filepath.Join(dir, "tillbox"), filepath.Join(dir, "tillbox-hq")
	for bin, pkg := range map[string]string{tillbox: "github.com/tillbox/tillbox/cmd/tillbox",
		hq: "github.com/tillbox/tillbox/cmd/tillbox-hq"} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("fleetdemotest: go build %s: %v\n%s", pkg, err, out)
		}
	}
	return tillbox, hq
}

// Tills are the tills of stores in chain, for natstest.Options.Tills.
func Tills(chain string, stores []fleetdemo.Store) []wire.Till {
	var out []wire.Till
	for _, s := range stores {
		for _, t := range s.Tills {
			out = append(out, wire.Till{Chain: chain, Store: s.ID, Till: t})
		}
	}
	return out
}

// Users are what natstest's servers and clusters give: headquarters' user
// and each box's.
type Users interface {
	HQ() natstest.Creds
	Box(wire.Till) natstest.Creds
	CAFile() string
}

// NATS is fleetdemo's NATS options for servers at urls with the users of
// u; replicas as fleetdemo.NATS.Replicas.
func NATS(urls []string, u Users, replicas int) fleetdemo.NATS {
	return fleetdemo.NATS{
		URLs: urls, CAFile: u.CAFile(), Replicas: replicas,
		HQ: fleetdemo.Creds{User: u.HQ().User, Password: u.HQ().Password},
		Box: func(t wire.Till) fleetdemo.Creds {
			c := u.Box(t)
			return fleetdemo.Creds{User: c.User, Password: c.Password}
		},
	}
}
