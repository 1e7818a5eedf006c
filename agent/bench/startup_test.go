package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/posapi"
	"github.com/tillbox/tillbox/store"
)

// Start-up fixture: 100 000 sales, of which 300 unfinished.
const (
	startupSales      = 100_000
	startupUnfinished = 300
)

// BenchmarkStartup100kSales is start-up to ready with a shop's database of
// 100 000 sales (buildSalesFixture: most final over 60 days with their
// events, 300 unfinished in every state, with their commands), Vipps
// MobilePay out of reach (a dead loopback URL). Ready is the first answer
// of GET /api/v1/status on the POS API. Each sub-benchmark works on its own
// copy of the fixture, which every start opens in turn (a copy per start
// would cost a 400 MB copy per 10 ms start); the starts change it little:
// the sale waiting for a scan is abandoned and the queued creates are tried
// (and abandoned once their 2-minute window has passed).
//
//   - child: from exec of a child process (the test binary wired as
//     `tillbox run` wires the store, the agent and the POS API) to its first
//     status answer: runtime start, store.Open, agent.New, agent.Run's
//     reconciliation beside the first request. open-ms is the child's own
//     measure of store.Open.
//   - child-cold: the same with the file evicted from the page cache first
//     (fdatasync + POSIX_FADV_DONTNEED), as after a reboot.
//   - in-process: store.Open to the first status answer, in this process.
//
// Run it with:
//
//	go test -run '^$' -bench Startup -benchtime 20x ./agent/bench/
func BenchmarkStartup100kSales(b *testing.B) {
	if !supported {
		b.Skip(errUnsupported)
	}
	dir := b.TempDir()
	fixture := filepath.Join(dir, "fixture.db")
	fc := buildSalesFixture(b, fixture, startupSales, startupUnfinished)
	if fc.Sales != startupSales || fc.Unfinished != startupUnfinished {
		b.Fatalf("the fixture has %d sales, %d unfinished", fc.Sales, fc.Unfinished)
	}
	fi, err := os.Stat(fixture)
	if err != nil {
		b.Fatal(err)
	}
	dead := deadURL(b)
	fileMB := float64(fi.Size()) / (1 << 20)

	child := func(cold bool) func(b *testing.B) {
		return func(b *testing.B) {
			path := copyFixture(b, fixture)
			var ready, open time.Duration
			for b.Loop() {
				b.StopTimer()
				if cold {
					if err := evict(path); err != nil {
						b.Skip("cannot evict the file from the page cache:", err)
					}
				}
				b.StartTimer()
				start := time.Now()
				c := startChild(b, roleAgent, dbEnv+"="+path, vippsEnv+"="+dead)
				url, openUS, _ := strings.Cut(c.expect(b, "ready", time.Minute), " ")
				waitReady(b, url)
				ready += time.Since(start)
				b.StopTimer()
				us, err := strconv.Atoi(openUS)
				if err != nil {
					b.Fatalf("open time %q", openUS)
				}
				open += time.Duration(us) * time.Microsecond
				if err := c.stop(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(ms(ready)/float64(b.N), "ready-ms")
			b.ReportMetric(ms(open)/float64(b.N), "open-ms")
			b.ReportMetric(fileMB, "file-MB")
		}
	}
	b.Run("child", child(false))
	b.Run("child-cold", child(true))
	b.Run("in-process", func(b *testing.B) {
		path := copyFixture(b, fixture)
		var ready time.Duration
		for b.Loop() {
			start := time.Now()
			stop := startInProcess(b, path, dead)
			ready += time.Since(start)
			b.StopTimer()
			stop()
			b.StartTimer()
		}
		b.ReportMetric(ms(ready)/float64(b.N), "ready-ms")
		b.ReportMetric(fileMB, "file-MB")
	})
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// startInProcess opens the store at path, starts an agent and the POS API
// on loopback, and returns once GET /api/v1/status answered. stop shuts
// everything down.
func startInProcess(tb testing.TB, path, vippsURL string) (stop func()) {
	tb.Helper()
	// Not storetest: this runs in the benchmark's loop over a copy of the
	// 100 000-sale fixture, and a Verify per round would take longer than
	// the round; TestSalesFixture checks the fixture.
	db, err := store.Open(path, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	x, err := newBox(db, vippsURL, agent.Options{})
	if err != nil {
		db.Close()
		tb.Fatal(err)
	}
	x.start()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", posapi.New(x.agent, posToken, nil))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ln) })
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		wg.Wait()
		if err := x.stop(); err != nil {
			tb.Error(err)
		}
	}
	waitReady(tb, "http://"+ln.Addr().String())
	return stop
}

// waitReady asks base's POS API for its status until it answers 200, and
// checks that the answer shows the start-up fixture's unfinished sales.
func waitReady(tb testing.TB, base string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/api/v1/status", nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+posToken.Reveal())
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := client.Do(req)
		if err == nil {
			var st agent.Status
			derr := json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			switch {
			case resp.StatusCode != http.StatusOK:
				tb.Fatalf("status: %s", resp.Status)
			case derr != nil:
				tb.Fatalf("status: %v", derr)
			case st.Unfinished == 0 || st.Unfinished > startupUnfinished:
				tb.Fatalf("status: %d unfinished sales, want up to %d", st.Unfinished, startupUnfinished)
			}
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("status: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}

// copyFixture copies the fixture beside it, to be opened (and changed) by
// a benchmark, and syncs the copy.
func copyFixture(tb testing.TB, src string) string {
	tb.Helper()
	dst := filepath.Join(filepath.Dir(src), fmt.Sprintf("copy-%d.db", time.Now().UnixNano()))
	in, err := os.Open(src)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		tb.Fatal(err)
	}
	// Written now, so that the benchmark's first fsync does not pay for it.
	if err := out.Sync(); err != nil {
		out.Close()
		tb.Fatal(err)
	}
	if err := out.Close(); err != nil {
		tb.Fatal(err)
	}
	return dst
}
