package scanners

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/classify"
	"github.com/tillbox/tillbox/store"
	"github.com/tillbox/tillbox/store/storetest"
	xterm "golang.org/x/term"
)

// BenchmarkScanToCreatePayment measures, with a sale waiting for its
// customer, the time from writing a personal QR code (and its CR) to a
// serial scanner's pty to the createPayment request arriving at the
// simulator: the real serial driver, the Manager, the agent (a real bbolt
// file, fsync on, the outbox worker) and the ePayment client over loopback
// HTTP. Between scans the simulated customer rejects, so that each sale ends
// and the next one waits. It reports the median and the 99th percentile.
//
//	go test -run '^$' -bench ScanToCreatePayment -benchtime 500x ./device/scanners
func BenchmarkScanToCreatePayment(b *testing.B) {
	// The simulator, with a hook that notes when a createPayment arrives.
	s := sim.New(sim.Options{App: sim.AppPolicy{Action: sim.Reject, Delay: time.Millisecond}})
	arrived := make(chan time.Time, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/epayment/v1/payments") {
			select {
			case arrived <- time.Now():
			default:
			}
		}
		s.ServeHTTP(w, r)
	}))
	b.Cleanup(func() { srv.Close(); s.Close() })

	// The agent, as tillbox run makes it.
	db := storetest.Open(b, filepath.Join(b.TempDir(), "tillbox.db"), store.Options{})
	vipps, err := epayment.New(epayment.Config{BaseURL: srv.URL, ClientID: "6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d",
		ClientSecret: "bench-secret", SubscriptionKey: "bench-key", MSN: "123456"})
	if err != nil {
		b.Fatal(err)
	}
	personalQR := classify.Default()
	a, err := agent.New(db, vipps, agent.Options{Till: "bench", PollDelay: time.Millisecond, PollEvery: 5 * time.Millisecond,
		CheckScan: func(code string) error { _, err := personalQR.Classify(code); return err }})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	agentDone := make(chan error, 1)
	go func() { agentDone <- a.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-agentDone })

	// The scanner: a pty behind the serial driver, through the Manager,
	// each scan handed to the agent as tillbox run does.
	master, tty, err := pty.Open()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { master.Close(); tty.Close() })
	if _, err := xterm.MakeRaw(int(tty.Fd())); err != nil {
		b.Fatal(err)
	}
	link := filepath.Join(b.TempDir(), "scanner")
	if err := os.Symlink(tty.Name(), link); err != nil {
		b.Fatal(err)
	}
	m, err := Open([]device.Spec{{Name: "front", Driver: "serial", Match: device.Match{Path: link}, Baud: 115200, Terminator: device.Terminator{Bytes: "\r"}}}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	scanErrs := make(chan error, 1)
	commits := make(chan time.Duration, 1) // how long each agent.Scan took (its durable commit)
	go func() {
		defer close(scanErrs)
		for sc := range m.Scans() {
			t0 := time.Now()
			_, err := a.Scan(string(sc.Data))
			if err != nil {
				select {
				case scanErrs <- err:
				default:
				}
				continue
			}
			select {
			case commits <- time.Since(t0):
			default:
			}
		}
	}()
	b.Cleanup(func() { m.Close() })
	agenttest.Until(b, "the scanner connected", func() bool { return m.Statuses()[0].Connected })

	const code = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"
	var after uint64
	// one waits for a sale's createPayment after the scan, then for its end.
	one := func() (total, commit time.Duration) {
		sale, err := a.CreateSale(ctx, agent.SaleRequest{Amount: 1000, Currency: "NOK"})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := master.Write([]byte(code + "\r")); err != nil {
			b.Fatal(err)
		}
		var at time.Time
		select {
		case at = <-arrived:
		case err := <-scanErrs:
			b.Fatalf("scan refused: %v", err)
		case <-time.After(10 * time.Second):
			b.Fatalf("no createPayment; scanner %+v", m.Statuses()[0])
		}
		commit = <-commits
		for done := false; !done; {
			evs, err := a.Events(ctx, after, 100, 10*time.Second)
			if err != nil || len(evs) == 0 {
				b.Fatalf("events: %v", err)
			}
			for _, e := range evs {
				after = e.Seq
				done = done || (e.Reference == sale.Reference && e.State.Outcome())
			}
		}
		return at.Sub(start), commit
	}
	one() // the access token, the connections

	lat := make([]time.Duration, 0, b.N)
	commit := make([]time.Duration, 0, b.N)
	for b.Loop() {
		l, c := one()
		lat, commit = append(lat, l), append(commit, c)
	}
	pct := func(d []time.Duration, p float64) float64 {
		slices.Sort(d)
		return float64(d[min(len(d)-1, int(p*float64(len(d))))].Microseconds())
	}
	b.ReportMetric(pct(lat, 0.50), "p50-µs")
	b.ReportMetric(pct(lat, 0.99), "p99-µs")
	b.ReportMetric(pct(lat, 1), "max-µs")
	// Of which the agent's durable commit of the scan (agent.Scan).
	b.ReportMetric(pct(commit, 0.50), "scan-commit-p50-µs")
	b.ReportMetric(pct(commit, 0.99), "scan-commit-p99-µs")
}
