package fleetdemo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
)

// HQ is headquarters: a `tillbox-hq run` process on a fixed address, so
// that the simulator's webhook registrations stay valid across restarts.
type HQ struct {
	c      *Chain
	dir    string
	config string
	listen string
	tail   *tailBuffer

	mu   sync.Mutex
	proc *proc
}

// newHQ registers the relay's URLs with the simulator and writes
// headquarters' configuration with their secrets.
func (c *Chain) newHQ(ctx context.Context, listen string) (*HQ, error) {
	h := &HQ{c: c, dir: filepath.Join(c.o.Dir, "hq"), listen: listen, tail: &tailBuffer{}}
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return nil, err
	}
	o := c.o
	natsPW, err := writeSecret(h.dir, "nats-password", o.NATS.HQ.Password)
	if err != nil {
		return nil, err
	}
	dsn, err := writeSecret(h.dir, "postgres-dsn", o.PostgresDSN)
	if err != nil {
		return nil, err
	}
	nats := map[string]any{"servers": o.NATS.URLs, "user": o.NATS.HQ.User, "password_file": natsPW,
		"replicas": o.NATS.Replicas}
	if o.NATS.CAFile != "" {
		nats["ca_file"] = o.NATS.CAFile
	}
	doc := map[string]any{
		"hq": map[string]any{"chain": o.Chain, "time_zone": "Europe/Oslo",
			"heartbeat_interval": o.Heartbeat.String(), "shutdown_timeout": "10s"},
		"nats":     nats,
		"postgres": map[string]any{"dsn_file": dsn},
		"http":     map[string]any{"listen": listen},
		"log":      map[string]any{"level": o.LogLevel},
	}
	var units []map[string]any
	seen := map[string]bool{}
	for _, s := range o.Stores {
		if o.NoRelay || seen[s.MSN] {
			continue
		}
		seen[s.MSN] = true
		url := h.URL() + "/webhooks/vipps/" + s.MSN
		secret, err := c.registerWebhook(ctx, s.MSN, url)
		if err != nil {
			return nil, err
		}
		file, err := writeSecret(h.dir, "webhook-"+s.MSN, secret)
		if err != nil {
			return nil, err
		}
		unit := map[string]any{"msn": s.MSN, "webhook_url": url, "webhook_secret_file": file}
		if o.Broker {
			if err := h.unitKeys(unit, s.MSN); err != nil {
				return nil, err
			}
		}
		units = append(units, unit)
	}
	if units != nil {
		doc["unit"] = units
	}
	if o.Broker {
		doc["vipps"] = map[string]any{"base_url": c.simURL}
		// The demo's ledger is the simulator's: reconciled every minute,
		// not every hour, so /recon fills while one looks.
		doc["recon"] = map[string]any{"every": "1m"}
	}
	var users []map[string]any
	for _, u := range o.Users {
		file, err := writeSecret(h.dir, "user-"+u.Name+".hash", u.PasswordHash)
		if err != nil {
			return nil, err
		}
		users = append(users, map[string]any{"name": u.Name, "password_hash_file": file})
	}
	if users != nil {
		doc["user"] = users
	}
	var b bytes.Buffer
	b.WriteString("# headquarters of a fleetdemo chain, written by it\n\n")
	if err := toml.NewEncoder(&b).Encode(doc); err != nil {
		return nil, err
	}
	h.config = filepath.Join(h.dir, "hq.toml")
	if err := os.WriteFile(h.config, b.Bytes(), 0o600); err != nil {
		return nil, err
	}
	return h, nil
}

// unitKeys gives unit msn's keys to headquarters' token broker, for the
// stores of that sales unit only.
func (h *HQ) unitKeys(unit map[string]any, msn string) error {
	secret, err := writeSecret(h.dir, "client-secret-"+msn, simClientSecret)
	if err != nil {
		return err
	}
	subKey, err := writeSecret(h.dir, "subscription-key-"+msn, simSubKey)
	if err != nil {
		return err
	}
	var stores []string
	for _, s := range h.c.o.Stores {
		if s.MSN == msn {
			stores = append(stores, s.ID)
		}
	}
	unit["client_id"], unit["client_secret_file"], unit["subscription_key_file"], unit["stores"] = simClientID, secret, subKey, stores
	return nil
}

// URL is headquarters' base URL (the fleet page, /webhooks/vipps/{msn},
// /healthz, /readyz, /metrics), the same across restarts.
func (h *HQ) URL() string { return "http://" + h.listen }

// ConfigFile is headquarters' configuration file.
func (h *HQ) ConfigFile() string { return h.config }

// Log is the tail of what headquarters wrote, across its runs.
func (h *HQ) Log() string { return h.tail.String() }

// Running reports whether the process runs.
func (h *HQ) Running() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.proc != nil && !h.proc.exited()
}

// Start starts `tillbox-hq run` and waits until /readyz answers 200
// (PostgreSQL migrated, NATS connected, streams made) or ctx ends.
func (h *HQ) Start(ctx context.Context) error {
	h.mu.Lock()
	if h.proc != nil && !h.proc.exited() {
		h.mu.Unlock()
		return errors.New("fleetdemo: headquarters runs already")
	}
	p, err := startProc("hq", h.c.o.HQBin, []string{"run", "--config", h.config}, h.dir, nil, h.tail, h.c.o.Output, nil)
	if err != nil {
		h.mu.Unlock()
		return err
	}
	h.proc = p
	h.mu.Unlock()
	return h.waitReady(ctx, p)
}

// waitReady asks /readyz until it answers 200; it fails at once when the
// process exits.
func (h *HQ) waitReady(ctx context.Context, p *proc) error {
	client := &http.Client{Timeout: 3 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.URL()+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = strings.TrimSpace(body.String())
		}
		select {
		case <-p.done:
			return fmt.Errorf("fleetdemo: tillbox-hq %v before it was ready:\n%s", p.exitError(), h.Log())
		case <-ctx.Done():
			return fmt.Errorf("fleetdemo: tillbox-hq not ready (%s): %w", last, ctx.Err())
		case <-tick.C:
		}
	}
}

// Kill kills headquarters with SIGKILL and waits until it is gone.
func (h *HQ) Kill() {
	h.mu.Lock()
	p := h.proc
	h.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

// Stop stops headquarters (SIGTERM; SIGKILL after 30 s) and reports an
// exit that was not clean.
func (h *HQ) Stop() error {
	h.mu.Lock()
	p := h.proc
	h.mu.Unlock()
	if p == nil || p.exited() {
		return nil
	}
	if err := p.stop(30 * time.Second); err != nil {
		return fmt.Errorf("fleetdemo: tillbox-hq: %w", err)
	}
	return nil
}

// Restart stops headquarters if it runs and starts it again on the same
// address, waiting until it is ready.
func (h *HQ) Restart(ctx context.Context) error {
	if err := h.Stop(); err != nil {
		return err
	}
	return h.Start(ctx)
}

// TillsOnline is headquarters' count of tills whose last heartbeat is
// recent (its /metrics, tillbox_hq_tills_online).
func (h *HQ) TillsOnline(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL()+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		return 0, err
	}
	for line := range strings.Lines(body.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "tillbox_hq_tills_online "); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("fleetdemo: no tillbox_hq_tills_online in headquarters' /metrics")
}

// WaitOnline waits until headquarters has a recent heartbeat of every box
// (so it routes their webhooks) or ctx ends.
func (c *Chain) WaitOnline(ctx context.Context) error {
	var n int
	var err error
	for {
		if n, err = c.hq.TillsOnline(ctx); err == nil && n >= len(c.boxes) {
			return nil
		}
		if serr := sleep(ctx, 50*time.Millisecond); serr != nil {
			return fmt.Errorf("fleetdemo: %d of %d tills online at headquarters (%v): %w", n, len(c.boxes), err, serr)
		}
	}
}
