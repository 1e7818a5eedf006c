// Package fleetdemo starts and manages a chain of tillbox boxes on
// loopback, for `tillbox-hq demo` and for the chain test: the Vipps
// MobilePay simulator in-process, with one webhook registration per sales
// unit (MSN) pointing at headquarters' relay; headquarters as a
// `tillbox-hq run` process; every box as a real `tillbox run` process with
// its own data folder, configuration and a serial scanner on a
// pseudo-terminal the orchestrator writes personal QR codes into; and a
// stream of sales through the boxes' POS APIs, each followed until its
// outcome.
//
// The engines stay outside: the caller gives the NATS servers with the
// users (headquarters' and one per box, as natsconf or natstest make
// them) and the PostgreSQL DSN, so the test runs them with natstest and
// pgtest and the demo embeds them.
package fleetdemo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// Store is one store of the chain: its sales unit and its tills.
type Store struct {
	ID  string // the store's id at headquarters (wire.CheckID)
	MSN string // its Vipps MobilePay sales unit, 4 to 10 digits
	// Tills are the ids of its tills: 1 to 20 letters, digits or dashes
	// (a box's till name), unique in the store.
	Tills []string
}

// Creds are a NATS user's name and password.
type Creds struct{ User, Password string }

// NATS is where the chain's NATS servers are and who may use them.
type NATS struct {
	URLs   []string // client URLs (nats:// or tls://) of every node
	CAFile string   // PEM roots of the servers' certificate; empty without TLS
	// Replicas of headquarters' streams: 3 on a cluster, 1 alone (default).
	Replicas int
	HQ       Creds
	// Box gives the user of each box (its permissions wire.BoxPermissions).
	Box func(wire.Till) Creds
	// BoxURLs, when set, gives the URLs a box is configured with instead
	// of URLs (the chain test puts a proxy it can cut in between).
	BoxURLs func(wire.Till) []string
}

// User is one person who may log in to the fleet page.
type User struct {
	Name         string
	PasswordHash string // argon2id, as technician.HashPassword makes it
}

// Options say what chain to run and where.
type Options struct {
	Chain  string
	Stores []Store
	// Dir is the working folder (made when missing; the caller removes
	// it): a folder per box, headquarters' configuration and secrets.
	Dir string
	// TillboxBin and HQBin are the tillbox and tillbox-hq programs.
	TillboxBin, HQBin string
	NATS              NATS
	PostgresDSN       string
	Users             []User
	// HQListen is headquarters' HTTP address; empty: a free port of
	// 127.0.0.1, kept across its restarts.
	HQListen string
	// Heartbeat is the boxes' heartbeat interval (and headquarters'
	// expectation of it); default 2 s.
	Heartbeat time.Duration
	// App is what the simulated customer does; default approve after
	// 300 ms.
	App sim.AppPolicy
	// NoRelay leaves the simulator without webhook registrations: the
	// boxes learn every outcome by polling alone (a benchmark's baseline).
	NoRelay bool
	// NoScanner makes sales carry the customer in the POS request instead
	// of a scan on the box's serial scanner.
	NoScanner bool
	// PollDelay and PollEvery are the boxes' [sync] poll_delay and
	// poll_every; zero keeps the box's defaults (5 s, then every 2 s).
	PollDelay, PollEvery time.Duration
	// Broker makes headquarters the token broker (issue 15): it holds each
	// sales unit's client id, client secret and subscription key (files in
	// its folder, `[[unit]]` with the stores of the unit) and fetches the
	// access tokens from the simulator; the boxes hold no client secret
	// (token_source "hq") but those OwnSecret names, which keep it to fall
	// back on (token_source "auto"). Without Broker every box holds the
	// unit's keys and headquarters none. Needs the relay (not NoRelay).
	Broker    bool
	OwnSecret func(wire.Till) bool
	// TokenLifetime is the life of the simulator's access tokens; default
	// 1 h (the test environment's).
	TokenLifetime time.Duration
	// LogLevel of the boxes and headquarters; default "info".
	LogLevel string
	// Output gets every line the processes write, prefixed with their
	// name; nil keeps them only in their tails (Box.Log, HQ.Log).
	Output io.Writer
	// Logger gets the orchestrator's own messages; nil discards them.
	Logger *slog.Logger
}

// The sales units' keys, the simulator's: it pins them (a token call with
// any other client id, secret or subscription key gets 401).
const (
	simClientID     = "00000000-0000-4000-8000-00000000c4a1"
	simClientSecret = "fleet-demo-client-secret"
	simSubKey       = "fleet-demo-subscription-key"
)

// Chain is a running chain.
type Chain struct {
	o      Options
	log    *slog.Logger
	sim    *sim.Server
	simSrv *http.Server
	simURL string
	hq     *HQ
	boxes  []*Box

	closeOnce sync.Once
}

func (o *Options) defaults() error {
	if o.Heartbeat == 0 {
		o.Heartbeat = 2 * time.Second
	}
	if o.App.Action == 0 {
		o.App = sim.AppPolicy{Action: sim.Approve, Delay: 300 * time.Millisecond}
	}
	if o.NATS.Replicas == 0 {
		o.NATS.Replicas = 1
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if err := wire.CheckID("chain", o.Chain); err != nil {
		errs = append(errs, err)
	}
	if o.TillboxBin == "" || o.HQBin == "" {
		errs = append(errs, errors.New("fleetdemo: TillboxBin and HQBin are required"))
	}
	if len(o.NATS.URLs) == 0 || o.NATS.Box == nil || o.NATS.HQ.User == "" {
		errs = append(errs, errors.New("fleetdemo: NATS needs URLs, HQ and Box"))
	}
	if o.Broker && o.NoRelay {
		errs = append(errs, errors.New("fleetdemo: Broker needs headquarters' units: not with NoRelay"))
	}
	if o.PostgresDSN == "" {
		errs = append(errs, errors.New("fleetdemo: PostgresDSN is required"))
	}
	for _, s := range o.Stores {
		for _, t := range s.Tills {
			if err := (wire.Till{Chain: o.Chain, Store: s.ID, Till: t}).Check(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Start starts the simulator, headquarters and every box, and returns
// once headquarters is ready (PostgreSQL and NATS reached, streams made),
// every box serves its POS API, and headquarters has a heartbeat of each
// (it routes their webhooks). On an error, what was started is
// stopped.
func Start(ctx context.Context, o Options) (*Chain, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	c := &Chain{o: o, log: o.Logger}
	if err := c.start(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Chain) start(ctx context.Context) error {
	if err := c.startSim(); err != nil {
		return err
	}
	listen := c.o.HQListen
	if listen == "" {
		port, err := freePort()
		if err != nil {
			return err
		}
		listen = fmt.Sprintf("127.0.0.1:%d", port)
	}
	hq, err := c.newHQ(ctx, listen)
	if err != nil {
		return err
	}
	c.hq = hq
	if err := hq.Start(ctx); err != nil {
		return err
	}
	for _, s := range c.o.Stores {
		for _, t := range s.Tills {
			b, err := c.newBox(s, t)
			if err != nil {
				return err
			}
			b.index = len(c.boxes)
			c.boxes = append(c.boxes, b)
		}
	}
	errs := make([]error, len(c.boxes))
	var wg sync.WaitGroup
	for i, b := range c.boxes {
		wg.Go(func() { errs[i] = b.Start(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return c.WaitOnline(ctx)
}

// startSim serves the simulator on a free port of 127.0.0.1.
func (c *Chain) startSim() error {
	c.sim = sim.New(sim.Options{App: c.o.App, Logger: c.log.With("component", "sim"), TokenLifetime: c.o.TokenLifetime,
		ClientID: simClientID, ClientSecret: simClientSecret, SubscriptionKey: simSubKey})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	c.simSrv = &http.Server{Handler: c.sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.simSrv.Serve(ln) }()
	c.simURL = "http://" + ln.Addr().String()
	return nil
}

// registerWebhook registers headquarters' relay URL of msn with the
// simulator, for every ePayment event, and returns the secret.
func (c *Chain) registerWebhook(ctx context.Context, msn, url string) (string, error) {
	client, err := epayment.New(epayment.Config{BaseURL: c.simURL, ClientID: simClientID,
		ClientSecret: simClientSecret, SubscriptionKey: simSubKey, MSN: msn})
	if err != nil {
		return "", err
	}
	var events []string
	for _, n := range []epayment.EventName{epayment.EventCreated, epayment.EventAuthorized, epayment.EventAborted, epayment.EventExpired,
		epayment.EventCancelled, epayment.EventCaptured, epayment.EventRefunded, epayment.EventTerminated} {
		events = append(events, epayment.WebhookEventType(n))
	}
	reg, err := client.RegisterWebhook(ctx, url, events)
	if err != nil {
		return "", fmt.Errorf("registering %s's webhook with the simulator: %w", msn, err)
	}
	return reg.Secret.Reveal(), nil
}

// Sim is the simulator (its customer app, its payments).
func (c *Chain) Sim() *sim.Server { return c.sim }

// SimURL is the simulator's base URL.
func (c *Chain) SimURL() string { return c.simURL }

// UnitKeys are the client secret and the subscription key of every sales
// unit (the simulator's), for a test that looks for them where they must
// not be.
func (c *Chain) UnitKeys() (clientSecret, subscriptionKey string) { return simClientSecret, simSubKey }

// HQ is headquarters.
func (c *Chain) HQ() *HQ { return c.hq }

// Boxes are every box, store by store, in the order of Options.Stores.
func (c *Chain) Boxes() []*Box { return c.boxes }

// Box is the box of till, or nil.
func (c *Chain) Box(till wire.Till) *Box {
	for _, b := range c.boxes {
		if b.Till == till {
			return b
		}
	}
	return nil
}

// Close stops every box and headquarters (SIGTERM, then SIGKILL after
// their shutdown time) and the simulator. The working folder stays.
func (c *Chain) Close() error {
	var errs []error
	c.closeOnce.Do(func() {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, b := range c.boxes {
			wg.Go(func() {
				err := b.Stop()
				b.closeScanner()
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			})
		}
		wg.Wait()
		if c.hq != nil {
			errs = append(errs, c.hq.Stop())
		}
		if c.simSrv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = c.simSrv.Shutdown(ctx)
			cancel()
		}
		if c.sim != nil {
			_ = c.sim.Close()
		}
	})
	return errors.Join(errs...)
}

// writeSecret writes a secret into a file of dir only its owner reads,
// and returns its path.
func writeSecret(dir, name, value string) (string, error) {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
		return "", err
	}
	return path, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
