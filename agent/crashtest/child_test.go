package crashtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/posapi"
	"github.com/tillbox/tillbox/store"
)

// childEnv carries the childConfig (JSON) to the agent process.
const childEnv = "TILLBOX_CRASHTEST_AGENT"

// readyPrefix starts the line the agent process prints once it listens.
const readyPrefix = "crashtest agent listening on "

// The sales unit of the test.
const (
	msn      = "123456"
	clientID = "6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d"
	dbName   = "tillbox.db"
)

// childConfig is what TestCrash hands to the agent process.
type childConfig struct {
	DataDir       string        `json:"dataDir"`
	SimURL        string        `json:"simURL"`
	WebhookURL    string        `json:"webhookURL"`
	WebhookSecret string        `json:"webhookSecret"`
	Token         string        `json:"token"`
	Window        time.Duration `json:"window"` // the customer-present window
}

// agentOptions are the agent's options in the crash test: fast polls and
// retries, and a short customer-present window so that abandonment happens.
func (c childConfig) agentOptions(log *slog.Logger) agent.Options {
	return agent.Options{
		MSN: msn, Till: "crash",
		CustomerPresentWindow: c.Window,
		PollDelay:             50 * time.Millisecond, PollEvery: 50 * time.Millisecond,
		RetryBase: 20 * time.Millisecond, RetryMax: 500 * time.Millisecond,
		WebhookURL: c.WebhookURL, WebhookSecret: epayment.Secret(c.WebhookSecret),
		Logger: log,
	}
}

// TestMain runs the agent process of TestCrash when TestCrash started this
// binary with childEnv set, and the tests otherwise.
func TestMain(m *testing.M) {
	raw, ok := os.LookupEnv(childEnv)
	if !ok {
		os.Exit(m.Run())
	}
	var cfg childConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "crashtest agent: %s: %v\n", childEnv, err)
		os.Exit(2)
	}
	if err := runAgent(cfg, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "crashtest agent %d: %v\n", os.Getpid(), err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runAgent opens the store, runs the agent with the POS API and the webhook
// endpoint on a free loopback port, announces the address on out, and runs
// until it is killed. If stdin closes (TestCrash is gone), it stops cleanly.
func runAgent(cfg childConfig, stdin io.Reader, out, logw io.Writer) error {
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo})).With("pid", os.Getpid())
	// store.Open, not storetest: this is the child process, with no test;
	// TestCrash verifies the file after each kill (world.readStore).
	db, err := store.Open(filepath.Join(cfg.DataDir, dbName), store.Options{Timeout: 10 * time.Second, Logger: log})
	if err != nil {
		return err
	}
	defer db.Close()
	vipps, err := epayment.New(epayment.Config{BaseURL: cfg.SimURL, ClientID: clientID,
		ClientSecret: "crash-secret", SubscriptionKey: "crash-key", MSN: msn,
		HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		return err
	}
	a, err := agent.New(db, vipps, cfg.agentOptions(log.With("part", "agent")))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mux := http.NewServeMux()
	mux.Handle("/api/", posapi.New(a, epayment.Secret(cfg.Token), log.With("part", "pos")))
	mux.Handle("/webhooks/vipps", a.WebhookHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}

	var wg sync.WaitGroup
	runErr := make(chan error, 1)
	wg.Go(func() { runErr <- a.Run(ctx) })
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("serve", "err", err)
		}
	})
	// The reader of stdin ends when TestCrash closes it or dies; it is not
	// waited for, as a read of a blocking pipe cannot be interrupted.
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(stdinClosed)
	}()
	fmt.Fprintf(out, "%shttp://%s\n", readyPrefix, ln.Addr())

	select {
	case <-stdinClosed:
		err = nil
	case err = <-runErr:
		if err == nil {
			err = errors.New("agent.Run returned before it was stopped")
		}
	}
	cancel()
	_ = srv.Close()
	wg.Wait()
	return err
}
