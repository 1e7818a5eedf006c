package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/tillbox/tillbox/agent/fleet/natsconf"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo"
)

// demoNATS is the demo's embedded NATS server: 127.0.0.1 only, JetStream
// in the demo's folder, headquarters' user and one per box with
// wire.BoxPermissions (the configuration natsconf renders, as the tests'
// servers have it).
type demoNATS struct {
	srv   *server.Server
	hq    fleetdemo.Creds
	boxes map[wire.Till]fleetdemo.Creds
}

// startDemoNATS starts the embedded server for tills, its store and
// configuration in dir.
func startDemoNATS(dir string, tills []wire.Till) (*demoNATS, error) {
	n := &demoNATS{hq: fleetdemo.Creds{User: "hq", Password: randomSecret()}, boxes: map[wire.Till]fleetdemo.Creds{}}
	var boxes []natsconf.Box
	for _, t := range tills {
		c := fleetdemo.Creds{User: t.Store + "-" + t.Till, Password: randomSecret()}
		n.boxes[t] = c
		boxes = append(boxes, natsconf.Box{Till: t, User: natsconf.User{Name: c.User, Password: c.Password}})
	}
	conf := map[string]any{
		"server_name": "tillbox-hq-demo",
		"listen":      "127.0.0.1:-1",
		"jetstream":   map[string]any{"store_dir": filepath.Join(dir, "jetstream")},
		"accounts":    natsconf.Accounts(natsconf.User{Name: n.hq.User, Password: n.hq.Password}, boxes),
	}
	data, err := natsconf.Encode(conf)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		return nil, err
	}
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		return nil, fmt.Errorf("nats-server configuration: %w", err)
	}
	// server.NewServer listens on every interface unless told otherwise.
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	opts.NoSigs, opts.NoLog = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats-server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("the embedded nats-server is not ready after 30 s")
	}
	n.srv = srv
	return n, nil
}

// options are fleetdemo's NATS options for this server.
func (n *demoNATS) options() fleetdemo.NATS {
	return fleetdemo.NATS{URLs: []string{n.srv.ClientURL()}, Replicas: 1, HQ: n.hq,
		Box: func(t wire.Till) fleetdemo.Creds { return n.boxes[t] }}
}

// shutdown stops the server and waits until it has.
func (n *demoNATS) shutdown() {
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
}

func randomSecret() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
