package hil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/posapi"
)

// The emulated scanners' USB identities.
const (
	kbdID    = "0627:0001"         // QEMU's usb-kbd: the keyboard-mode scanner
	serialID = "0403:6001"         // QEMU's usb-serial (FTDI): the serial scanner
	posID    = "1d6b:0104:HIL0001" // the configfs gadget: the HID POS scanner
)

// personalQR is a Vipps personal QR code in the documented clear-text form
// (FACTS.md §8). Typed in the Norwegian layout its ":", "/", "?", "=" and
// "." all need other keys than in the US layout.
const personalQR = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"

const posToken = "hil-pos-token-0123456789"

// Bounds of the waits for the box. They are not paces: each wait ends as
// soon as what it waits for has happened, and these only say when to give
// up and show the console. They are far beyond what a loaded 2-core
// machine takes, where the niced QEMU may get little of a CPU.
const (
	bootLimit = 4 * time.Minute // from QEMU's start to the box's POS API and hilguest answering
	waitLimit = 2 * time.Minute // anything else the box does: an answer, a scan's payment, a scanner's status, a key taken
)

// rig is one booted box with the simulator it talks to.
type rig struct {
	m       *machine
	sim     *sim.Server
	simAddr string // the simulator's address on the host's loopback
	pos     *posapi.Client
}

// partsDir holds the parts built for this run of the tests; TestMain
// removes it.
var partsDir string

// builtParts fetches and builds the parts once for every test of the
// package.
var builtParts = sync.OnceValues(func() (*parts, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	return getParts(ctx, partsDir)
})

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tillbox-hil-parts-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	partsDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// boxConfig is the box's configuration: the simulator through the guest's
// loopback relay, the POS API on all the guest's addresses (QEMU forwards
// the host's port to it), quick polling, and the scanners given as TOML
// [[scanner]] tables.
func boxConfig(scanners string) string {
	return fmt.Sprintf(`[box]
till = "hil1"
data_dir = "/var/lib/tillbox"
shutdown_timeout = "5s"

[vipps]
base_url = "http://127.0.0.1:%d"
client_id = "11111111-2222-4333-8444-555555555555"
client_secret = "simulator-client-secret"
subscription_key = "simulator-subscription-key"
msn = "123456"

[sync]
poll_delay = "1s"
poll_every = "1s"

[pos]
listen = ":%d"
token = %q

[log]
level = "debug"

[display]
listen = ""

[console]
listen = ""
%s`, guestVippsPort, guestPOSPort, posToken, scanners)
}

// startRig serves the simulator on the host's loopback, boots the box with
// the scanners configured, and waits until its POS API and hilguest
// answer. On failure of the test the guest's console is logged.
func startRig(t testing.TB, ctx context.Context, scanners string) *rig {
	t.Helper()
	return startRigWith(t, ctx, boxConfig(scanners))
}

// startRigWith is startRig with the whole configuration of the box.
func startRigWith(t testing.TB, ctx context.Context, config string) *rig {
	t.Helper()
	p, err := builtParts()
	if err != nil {
		t.Fatal(err)
	}
	// The simulated customer approves at once; the agent captures.
	s := sim.New(sim.Options{App: sim.AppPolicy{Action: sim.Approve}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: waitLimit}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("simulator: %v", err)
		}
		s.Close()
	})

	dir := t.TempDir()
	initrd := filepath.Join(dir, "initrd.gz")
	if err := buildInitramfs(p, config, posID, initrd); err != nil {
		t.Fatal(err)
	}
	m, err := boot(ctx, machineConfig{dir: dir, kernel: p.kernel, initrd: initrd, simAddr: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.close()
		if t.Failed() || testing.Verbose() {
			t.Logf("the guest's console and QEMU's messages:\n%s", m.console)
		}
	})
	r := &rig{m: m, sim: s, simAddr: ln.Addr().String(), pos: &posapi.Client{BaseURL: m.posURL, Token: epayment.Secret(posToken), HTTPClient: &http.Client{Timeout: waitLimit}}}

	// Generous: TCG boots the arm64 kernel in seconds, but a loaded CI
	// machine may take much longer. Failing here shows the console.
	bootCtx, cancel := context.WithTimeout(ctx, bootLimit)
	defer cancel()
	if err := poll(bootCtx, "the box's POS API", func() error {
		if err := m.alive(); err != nil {
			return permanent(err)
		}
		_, err := r.pos.Status(bootCtx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := m.waitGuest(bootCtx); err != nil {
		t.Fatal(err)
	}
	return r
}

// permanent marks an error that poll must not retry.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

// poll calls fn every 200 ms until it returns nil, a permanent error, or
// ctx ends; the error names what was awaited and fn's last error.
func poll(ctx context.Context, what string, fn func() error) error {
	for {
		err := fn()
		if err == nil {
			return nil
		}
		var pe permanentError
		if errors.As(err, &pe) {
			return fmt.Errorf("waiting for %s: %w", what, pe.err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: gave up (%v); last error: %w", what, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// newSale creates a sale that waits for the customer's scan. Should the
// test end with the sale unfinished (it failed), the sale is cancelled
// then: the box takes one sale waiting for a scan at a time, and the next
// test must be able to create its own.
func (r *rig) newSale(ctx context.Context, t *testing.T, what string) string {
	t.Helper()
	sale, _, err := r.pos.CreateSale(ctx, agent.SaleRequest{Amount: 4990, Currency: "NOK", Description: "HIL " + what})
	if err != nil {
		t.Fatalf("%s: creating the sale: %v", what, err)
	}
	t.Cleanup(func() { r.cancelUnfinished(t, what, sale.Reference) })
	if sale.State != agent.WaitingForCustomer {
		t.Fatalf("%s: new sale %s is %s, want %s", what, sale.Reference, sale.State, agent.WaitingForCustomer)
	}
	return sale.Reference
}

// cancelUnfinished cancels the sale ref unless it has ended, and waits
// until it has.
func (r *rig) cancelUnfinished(t *testing.T, what, ref string) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var was agent.State
	err := poll(ctx, what+": sale "+ref+" ended after its cancel", func() error {
		s, err := r.pos.GetSale(ctx, ref)
		if err != nil {
			return err
		}
		if s.State.Outcome() {
			return nil
		}
		if was == "" {
			was = s.State
			// Waiting for the scan, it is cancelled at once; with a
			// payment under way, a cancel is queued for it.
			if _, err := r.pos.CancelSale(ctx, ref); err != nil && !errors.Is(err, agent.ErrWrongState) {
				was = ""
				return err
			}
		}
		return fmt.Errorf("sale is %s", s.State)
	})
	if err != nil {
		t.Errorf("%s: cancelling the unfinished sale %s at the end of the test: %v", what, ref, err)
		return
	}
	if was != "" {
		t.Logf("%s: sale %s was %s at the end of the test: cancelled it", what, ref, was)
	}
}

// expectPayment waits for the sale's createPayment at the simulator, checks
// that it carries exactly code as personalQr, then waits until the sale
// is finished (approved and captured) so the next scan finds no payment in
// progress.
func (r *rig) expectPayment(ctx context.Context, t *testing.T, what, ref, code string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	var got sim.PaymentInfo
	if err := poll(ctx, what+": createPayment of sale "+ref+" at the simulator", func() error {
		p, ok := r.sim.Payment("", ref)
		if !ok {
			return errors.New("no payment with this reference yet")
		}
		got = p
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got.Customer == nil || got.Customer.PersonalQR != code {
		t.Fatalf("%s: the simulator got customer %+v for sale %s, want personalQr %q", what, got.Customer, ref, code)
	}
	if got.UserFlow != "PUSH_MESSAGE" {
		t.Errorf("%s: userFlow %q, want PUSH_MESSAGE", what, got.UserFlow)
	}
	if err := poll(ctx, what+": sale "+ref+" finished", func() error {
		s, err := r.pos.GetSale(ctx, ref)
		if err != nil {
			return err
		}
		if !s.State.Outcome() {
			return fmt.Errorf("sale is %s", s.State)
		}
		if s.State != agent.Completed {
			return permanent(fmt.Errorf("sale ended %s (%s), want %s", s.State, s.Message, agent.Completed))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
