package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// fleetIdleFor is how long BenchmarkIdleFleet lets each box idle.
const fleetIdleFor = 10 * time.Second

// BenchmarkIdleFleet is what the link to headquarters costs an idle box
// in memory: the tillbox binary (built here, as BenchmarkIdle builds it)
// runs against the simulator on loopback, once without [fleet] and once
// connected to a real nats-server (TLS, the box's own user, headquarters'
// streams), and idles 10 s once serving (and connected); rss-MB-off and
// rss-MB-on are its VmRSS then, rss-MB-delta the difference. The issue's
// budget for the link: 3 MB of idle RSS.
//
//	go test -run '^$' -bench IdleFleet -benchtime 3x ./cmd/tillbox/
func BenchmarkIdleFleet(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "tillbox")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	till := wire.Till{Chain: "acme", Store: "oslo-1", Till: "t1"}
	ns := natstest.Start(b, natstest.Options{TLS: true, Tills: []wire.Till{till}})
	hqStreamsFor(b, ns)
	s := sim.New(sim.Options{})
	simHTTP := httptest.NewServer(s)
	defer func() { simHTTP.Close(); s.Close() }()
	box := ns.Box(till)
	fleetCfg := fmt.Sprintf("\n[fleet]\nchain = %q\nstore = %q\nservers = [%q]\nuser = %q\npassword = %q\nca_file = %q\n",
		till.Chain, till.Store, ns.URL(), box.User, box.Password, ns.CAFile())
	var off, on float64
	for i := 0; b.Loop(); i++ {
		for _, link := range []bool{false, true} {
			d := filepath.Join(dir, fmt.Sprintf("%d-%t", i, link))
			if err := os.Mkdir(d, 0o700); err != nil {
				b.Fatal(err)
			}
			cfg := testConfig(b, d, simHTTP.URL, "127.0.0.1:0", "")
			if link {
				f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
				if err == nil {
					_, err = f.WriteString(fleetCfg)
					err = errors.Join(err, f.Close())
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			rss := idleRSS(b, bin, cfg, link)
			if link {
				on += rss
			} else {
				off += rss
			}
		}
	}
	n := float64(b.N)
	b.ReportMetric(off/n, "rss-MB-off")
	b.ReportMetric(on/n, "rss-MB-on")
	b.ReportMetric((on-off)/n, "rss-MB-delta")
}

// hqStreamsFor creates headquarters' streams and bucket on ns.
func hqStreamsFor(b *testing.B, ns *natstest.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js, err := jetstream.New(ns.Connect(b, ns.URL(), ns.HQ()))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []jetstream.StreamConfig{
		{Name: wire.JournalStream, Subjects: []string{"tillbox.*.journal.>"}, AllowDirect: true, Duplicates: time.Minute},
		{Name: wire.RelayStream, Subjects: []string{"tillbox.*.relay.>"}},
		{Name: wire.HeartbeatStream, Subjects: []string{"tillbox.*.heartbeat.>"}, MaxMsgsPerSubject: 1, AllowDirect: true},
		// The box's refund queues and statuses (issue 14) pull from it.
		{Name: wire.RefundStream, Subjects: wire.RefundStreamSubjects("acme"), Duplicates: time.Minute},
	} {
		if _, err := js.CreateStream(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	// The layered settings the box reads and watches (issue 14).
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: wire.ConfigBucket, History: wire.ConfigHistory}); err != nil {
		b.Fatal(err)
	}
}

// idleRSS runs bin with cfg until it serves (and, with link, says it is
// connected to headquarters), lets it idle, and returns its VmRSS in MB.
func idleRSS(b *testing.B, bin, cfg string, link bool) float64 {
	cmd := exec.Command(bin, "run", "--config", cfg)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	serving, connected := false, !link
	sc := bufio.NewScanner(out) // the log, then the notices
	for !(serving && connected) && sc.Scan() {
		serving = serving || strings.Contains(sc.Text(), "POS API on")
		connected = connected || strings.Contains(sc.Text(), "connected to headquarters")
	}
	if !serving || !connected {
		b.Fatalf("tillbox run did not start (serving %t, connected %t)\n%s", serving, connected, logs.String())
	}
	go func() {
		for sc.Scan() {
		}
	}()
	time.Sleep(fleetIdleFor)
	st, err := procStatusKB(cmd.Process.Pid, "VmRSS")
	if err != nil {
		b.Fatal(err)
	}
	return float64(st["VmRSS"]) / 1024
}
