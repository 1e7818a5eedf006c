package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/posapi"
	"github.com/tillbox/tillbox/store"
)

// Environment of the child roles.
const (
	appEnv       = "TILLBOX_BENCH_APP"        // sim: approve or ignore
	dbEnv        = "TILLBOX_BENCH_DB"         // agent: the store file
	vippsEnv     = "TILLBOX_BENCH_VIPPS"      // agent: the Vipps base URL
	maxQueuedEnv = "TILLBOX_BENCH_MAX_QUEUED" // agent: Options.MaxQueued
	windowEnv    = "TILLBOX_BENCH_WINDOW"     // agent: Options.CustomerPresentWindow
)

// startSim runs the simulator in a child process, so that its CPU time is
// not the agent's, and returns its base URL. app is what its customer app
// does with a payment request: "approve" (after 20 ms) or "ignore".
func startSim(tb testing.TB, app string) (*child, string) {
	tb.Helper()
	c := startChild(tb, roleSim, appEnv+"="+app)
	return c, c.expect(tb, "ready", 30*time.Second)
}

// simChild serves the simulator on 127.0.0.1, says "ready URL", and serves
// until its stdin closes.
func simChild() int {
	act, err := sim.ParseAction(os.Getenv(appEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s := sim.New(sim.Options{MSN: benchMSN, App: sim.AppPolicy{Action: act, Delay: 20 * time.Millisecond}})
	defer s.Close()
	return serveUntilEOF(s, func(url string) { fmt.Println("ready", url) }, nil)
}

// agentChild is a till box as `tillbox run` wires it: the store (durable),
// the agent with its loops, and the POS API on 127.0.0.1. It says
// "ready URL OPEN-µs" once it serves, answers "mem" with its memory figures
// and "reset" by resetting its peak RSS, and shuts down when its stdin
// closes.
func agentChild() int {
	start := time.Now()
	db, err := store.Open(os.Getenv(dbEnv), store.Options{}) // the child process: no test to check it (not storetest)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	opened := time.Since(start)
	o, err := agentOptionsFromEnv()
	var x *box
	if err == nil {
		x, err = newBox(db, os.Getenv(vippsEnv), o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		db.Close()
		return 2
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", posapi.New(x.agent, posToken, nil))
	x.start()
	code := serveUntilEOF(mux, func(url string) { fmt.Println("ready", url, opened.Microseconds()) },
		map[string]func() string{"mem": memLine, "reset": resetPeak})
	if err := x.stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return code
}

// agentOptionsFromEnv reads the agent child's options.
func agentOptionsFromEnv() (agent.Options, error) {
	var o agent.Options
	var err error
	if v := os.Getenv(maxQueuedEnv); v != "" {
		if o.MaxQueued, err = strconv.Atoi(v); err != nil {
			return o, fmt.Errorf("%s: %w", maxQueuedEnv, err)
		}
	}
	if v := os.Getenv(windowEnv); v != "" {
		if o.CustomerPresentWindow, err = time.ParseDuration(v); err != nil {
			return o, fmt.Errorf("%s: %w", windowEnv, err)
		}
	}
	return o, nil
}

// memLine is "mem VmHWM VmRSS HeapInuse Sys", all in kB.
func memLine() string {
	st, err := procStatus("VmHWM", "VmRSS")
	if err != nil {
		return "mem error " + err.Error()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return fmt.Sprintf("mem %d %d %d %d", st["VmHWM"], st["VmRSS"], ms.HeapInuse>>10, ms.Sys>>10)
}

// resetPeak resets VmHWM to the current RSS (Linux: 5 > clear_refs).
func resetPeak() string {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return "reset error " + err.Error()
	}
	return "reset ok"
}

// serveUntilEOF serves h on 127.0.0.1:0, calls ready with its URL, answers
// each line of stdin that names a request in requests, and shuts the server
// down when stdin closes.
func serveUntilEOF(h http.Handler, ready func(url string), requests map[string]func() string) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	var serveErr error
	wg.Go(func() { serveErr = srv.Serve(ln) })
	ready("http://" + ln.Addr().String())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if f := requests[sc.Text()]; f != nil {
			fmt.Println(f())
		} else {
			fmt.Println("error unknown request", sc.Text())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
	wg.Wait()
	if !errors.Is(serveErr, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, serveErr)
		return 1
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
