package fleetdemo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/creack/pty"
	"golang.org/x/term"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/agent/posapi"
)

// Box is one till: a `tillbox run` process with its data folder, its
// configuration and its serial scanner (a pseudo-terminal whose other end
// the orchestrator writes scans into; it outlives the process, as a
// scanner outlives a restart of the box).
type Box struct {
	Till   wire.Till
	MSN    string
	Prefix string // the start of its payment references: <store>-<till>

	c      *Chain
	dir    string
	config string
	token  string
	tail   *tailBuffer
	// scanner is the pseudo-terminal's master (the scanner's end) and tty
	// its other end, kept open so that writes never fail while the box is
	// down; scannerPath is the link the box's configuration names.
	scanner, tty *os.File
	scannerPath  string

	mu      sync.Mutex
	proc    *proc
	url     string
	techURL string
	up      chan struct{} // closed when the running process serves its POS API
	scanMu  sync.Mutex
	number  atomic.Uint64 // the last sale's number
	index   int           // its place in the chain
}

var (
	posLine  = regexp.MustCompile(`POS API on (https?://[0-9.:]+)/api/v1/`)
	techLine = regexp.MustCompile(`technician page on (https?://\S+)`)
)

// newBox makes the box's folder, scanner and configuration.
func (c *Chain) newBox(s Store, till string) (*Box, error) {
	t := wire.Till{Chain: c.o.Chain, Store: s.ID, Till: till}
	b := &Box{Till: t, MSN: s.MSN, Prefix: s.ID + "-" + till, c: c, tail: &tailBuffer{},
		dir: filepath.Join(c.o.Dir, "box-"+s.ID+"-"+till), token: randomHex(16)}
	if err := os.MkdirAll(filepath.Join(b.dir, "data"), 0o700); err != nil {
		return nil, err
	}
	if !c.o.NoScanner {
		if err := b.openScanner(); err != nil {
			return nil, err
		}
	}
	if err := b.writeConfig(); err != nil {
		b.closeScanner()
		return nil, err
	}
	return b, nil
}

// openScanner opens the pseudo-terminal the box reads as its serial
// scanner, under a stable name in its folder.
func (b *Box) openScanner() error {
	master, tty, err := pty.Open()
	if err != nil {
		return fmt.Errorf("fleetdemo: a pseudo-terminal for %s's scanner: %w", b.Till, err)
	}
	if _, err := term.MakeRaw(int(tty.Fd())); err != nil {
		master.Close()
		tty.Close()
		return err
	}
	b.scanner, b.tty = master, tty
	b.scannerPath = filepath.Join(b.dir, "scanner")
	_ = os.Remove(b.scannerPath)
	return os.Symlink(tty.Name(), b.scannerPath)
}

func (b *Box) closeScanner() {
	if b.scanner != nil {
		b.scanner.Close()
		b.tty.Close()
	}
}

// writeConfig writes the box's tillbox.toml: the simulator, its store's
// sales unit without a webhook of its own (headquarters relays them),
// loopback listeners on free ports, the link to headquarters and the
// scanner.
func (b *Box) writeConfig() error {
	o := b.c.o
	pw, err := writeSecret(b.dir, "fleet-password", o.NATS.Box(b.Till).Password)
	if err != nil {
		return err
	}
	servers := o.NATS.URLs
	if o.NATS.BoxURLs != nil {
		servers = o.NATS.BoxURLs(b.Till)
	}
	fleet := map[string]any{"chain": b.Till.Chain, "store": b.Till.Store, "till": b.Till.Till,
		"servers": servers, "user": o.NATS.Box(b.Till).User, "password_file": pw,
		"heartbeat": o.Heartbeat.String()}
	if o.NATS.CAFile != "" {
		fleet["ca_file"] = o.NATS.CAFile
	}
	// The subscription key goes with every ePayment call: every box has it.
	vipps := map[string]any{"base_url": b.c.simURL, "subscription_key": simSubKey, "msn": b.MSN}
	if !o.Broker || (o.OwnSecret != nil && o.OwnSecret(b.Till)) {
		vipps["client_id"], vipps["client_secret"] = simClientID, simClientSecret
	} else {
		vipps["token_source"] = "hq" // no secret: the token comes from headquarters alone
	}
	doc := map[string]any{
		"box":     map[string]any{"till": b.Till.Till, "data_dir": filepath.Join(b.dir, "data"), "shutdown_timeout": "10s"},
		"vipps":   vipps,
		"sales":   map[string]any{"reference_prefix": b.Prefix},
		"pos":     map[string]any{"listen": "127.0.0.1:0", "token": b.token},
		"display": map[string]any{"listen": "127.0.0.1:0", "language": "en"},
		"console": map[string]any{"listen": "127.0.0.1:0"},
		"log":     map[string]any{"level": o.LogLevel},
		"fleet":   fleet,
	}
	sync := map[string]any{}
	if o.PollDelay > 0 {
		sync["poll_delay"] = o.PollDelay.String()
	}
	if o.PollEvery > 0 {
		sync["poll_every"] = o.PollEvery.String()
	}
	if len(sync) > 0 {
		doc["sync"] = sync
	}
	if b.scannerPath != "" {
		doc["scanner"] = []map[string]any{{"name": "counter", "driver": "serial", "match": b.scannerPath, "terminator": "CR"}}
	}
	var buf bytes.Buffer
	buf.WriteString("# a box of a fleetdemo chain, written by it\n\n")
	if err := toml.NewEncoder(&buf).Encode(doc); err != nil {
		return err
	}
	b.config = filepath.Join(b.dir, "tillbox.toml")
	return os.WriteFile(b.config, buf.Bytes(), 0o600)
}

// Name is chain/store/till.
func (b *Box) Name() string { return b.Till.String() }

// Dir is the box's folder (data/, tillbox.toml).
func (b *Box) Dir() string { return b.dir }

// ConfigFile is the box's configuration.
func (b *Box) ConfigFile() string { return b.config }

// Token is the box's POS token.
func (b *Box) Token() string { return b.token }

// Log is the tail of what the box wrote, across its runs.
func (b *Box) Log() string { return b.tail.String() }

// URL is the POS API's base URL of the running box, "" while it is down.
func (b *Box) URL() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.url
}

// TechnicianURL is the technician page of the running box, "" while it is
// down. The first sign-in takes the one-time code in FirstBootCode.
func (b *Box) TechnicianURL() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.techURL
}

// FirstBootCode is the technician page's one-time code, once the box has
// made it.
func (b *Box) FirstBootCode() string {
	data, err := os.ReadFile(filepath.Join(b.dir, "data", "first-boot-code"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// Client is a POS API client of the running box (nil while it is down).
func (b *Box) Client() *posapi.Client {
	u := b.URL()
	if u == "" {
		return nil
	}
	return &posapi.Client{BaseURL: u, Token: epayment.Secret(b.token)}
}

// Running reports whether the box's process runs.
func (b *Box) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.proc != nil && !b.proc.exited()
}

// Start starts `tillbox run` and waits until it serves its POS API and
// technician page (it prints their addresses) or ctx ends.
func (b *Box) Start(ctx context.Context) error {
	b.mu.Lock()
	if b.proc != nil && !b.proc.exited() {
		b.mu.Unlock()
		return fmt.Errorf("fleetdemo: %s runs already", b.Till)
	}
	up := make(chan struct{})
	b.up, b.url, b.techURL = up, "", ""
	var once sync.Once
	// The box prints the POS API's address, then the display's, then the
	// technician page's: it is up with the last.
	watch := func(line string) {
		if m := posLine.FindStringSubmatch(line); m != nil {
			b.mu.Lock()
			if b.up == up {
				b.url = m[1]
			}
			b.mu.Unlock()
		}
		if m := techLine.FindStringSubmatch(line); m != nil {
			b.mu.Lock()
			if b.up == up {
				b.techURL = m[1]
			}
			b.mu.Unlock()
			once.Do(func() { close(up) })
		}
	}
	p, err := startProc(b.Till.Store+"/"+b.Till.Till, b.c.o.TillboxBin, []string{"run", "--config", b.config},
		b.dir, nil, b.tail, b.c.o.Output, watch)
	if err != nil {
		b.mu.Unlock()
		return err
	}
	b.proc = p
	b.mu.Unlock()
	select {
	case <-up:
		return nil
	case <-p.done:
		return fmt.Errorf("fleetdemo: %s: tillbox run %v before it served:\n%s", b.Till, p.exitError(), b.Log())
	case <-ctx.Done():
		return fmt.Errorf("fleetdemo: %s does not serve: %w", b.Till, ctx.Err())
	}
}

// waitUp waits until the box serves its POS API (after a restart, say)
// and returns its URL.
func (b *Box) waitUp(ctx context.Context) (string, error) {
	for {
		b.mu.Lock()
		up, url := b.up, b.url
		b.mu.Unlock()
		if url != "" {
			return url, nil
		}
		if up == nil {
			up = make(chan struct{}) // never started: wait for ctx
		}
		t := time.NewTimer(time.Second) // a restart replaces up
		select {
		case <-up:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		}
		t.Stop()
	}
}

// down marks the box as not serving.
func (b *Box) down() {
	b.mu.Lock()
	b.url, b.techURL = "", ""
	b.mu.Unlock()
}

// Kill kills the box with SIGKILL and waits until it is gone.
func (b *Box) Kill() {
	b.mu.Lock()
	p := b.proc
	b.mu.Unlock()
	b.down()
	if p != nil {
		p.kill()
	}
}

// Stop stops the box (SIGTERM; SIGKILL after 30 s) and reports an exit
// that was not clean.
func (b *Box) Stop() error {
	b.mu.Lock()
	p := b.proc
	b.mu.Unlock()
	b.down()
	if p == nil || p.exited() {
		return nil
	}
	if err := p.stop(30 * time.Second); err != nil {
		return fmt.Errorf("fleetdemo: %s: %w", b.Till, err)
	}
	return nil
}

// Restart stops the box if it runs and starts it again on the same data
// folder (new ports: URL changes).
func (b *Box) Restart(ctx context.Context) error {
	if err := b.Stop(); err != nil {
		return err
	}
	return b.Start(ctx)
}

// Scan writes code to the box's scanner as a scanner does (the code and a
// CR). It fails without a scanner (Options.NoScanner).
func (b *Box) Scan(code string) error {
	if b.scanner == nil {
		return errors.New("fleetdemo: the box has no scanner (Options.NoScanner)")
	}
	b.scanMu.Lock()
	defer b.scanMu.Unlock()
	_, err := b.scanner.Write([]byte(code + "\r"))
	return err
}

func randomHex(n int) string {
	p := make([]byte, n)
	if _, err := rand.Read(p); err != nil {
		panic(err)
	}
	return hex.EncodeToString(p)
}
