// Package fleet is the box's link to headquarters (cmd/tillbox-hq): one
// outbound NATS connection that ships the box's event log to
// headquarters' journal stream exactly once and in order, says how the box
// is (a heartbeat every few seconds), and takes the Vipps MobilePay
// webhooks headquarters relays for this box's payments. The subjects, the
// headers and what a box may do are package wire's; docs/chain.md tells
// the whole story.
//
// Nothing on the box waits for the link: a sale goes on whether
// headquarters answers or not, and the link catches up when it can.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/store"
)

// Link is the box's link to headquarters. Make it with [New], run it with
// [Link.Run] until its context ends; [Link.Status] may be called at any
// time, from any goroutine.
type Link struct {
	o   Options
	db  *store.DB
	log *slog.Logger

	state   *signal // fired at every change of the connection's state
	mark    marks   // the shipped mark's batched writes (ship.go)
	refunds refunds // refunds asked here or for this box's sales (refund.go)
	gapOnce sync.Once

	mu         sync.Mutex
	connected  bool
	epoch      uint64 // counts the connections made; a resume belongs to one
	server     string // the server connected to (no credentials), or the last one
	since      time.Time
	lastErr    string
	lastErrAt  time.Time
	shipped    uint64 // the newest event headquarters acknowledged, as far as known
	atHQ       uint64 // what headquarters held at the last resume
	gapFrom    uint64 // events gapFrom..gapTo were pruned before they were shipped
	gapTo      uint64
	ahead      bool // headquarters holds more of this till's log than the box
	published  uint64
	relayed    uint64
	reconnects uint64
	conn       *nats.Conn // the session's connection, for token requests (token.go)
	token      tokenHeld  // the last token headquarters gave (token.go)
}

// New makes a link over the box's open store (opened with
// store.Options.HoldUnshipped, so that nothing headquarters lacks is
// pruned). It checks o and connects nothing: [Link.Run] does.
func New(db *store.DB, o Options) (*Link, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &Link{o: o, db: db, log: o.Logger.With("till", o.Till.String()), state: newSignal(), since: time.Now()}
	if err := db.View(func(tx *store.Tx) error {
		l.shipped = tx.Shipped()
		return nil
	}); err != nil {
		return nil, err
	}
	l.mark.written = l.shipped
	return l, nil
}

// Run connects to headquarters and keeps the link up until ctx ends:
// reconnecting with back-off for as long as it takes, it ships the event
// log, sends heartbeats and takes relayed webhooks. It returns nil when
// ctx ends, once its goroutines have stopped and the shipped mark is
// written.
func (l *Link) Run(ctx context.Context) error {
	defer l.mark.flush(l)
	for fails := 0; ; fails++ {
		if err := l.session(ctx); err != nil {
			l.noteErr("connect", err)
		} else {
			fails = 0
		}
		if !sleep(ctx, backoff(l.o.RetryMin, l.o.RetryMax, fails)) {
			return nil
		}
	}
}

// session runs one NATS connection (which reconnects by itself) until ctx
// ends or the connection closes for good.
func (l *Link) session(ctx context.Context) error {
	closed := make(chan struct{})
	nc, err := nats.Connect(joinServers(l.o.Servers), l.natsOptions(closed)...)
	if err != nil {
		return redactErr(err)
	}
	defer nc.Close()
	connCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { l.shipLoop(connCtx, nc) })
	wg.Go(func() { l.heartbeatLoop(connCtx, nc) })
	if l.o.Relay != nil {
		wg.Go(func() { l.relayLoop(connCtx, nc) })
	}
	if l.o.Refunds != nil {
		wg.Go(func() { l.refundLoops(connCtx, nc) })
	}
	if l.o.Act != nil {
		wg.Go(func() { l.actionLoop(connCtx, nc) }) // actions.go
	}
	if l.o.ConfigLayer != nil {
		wg.Go(func() { l.configLoop(connCtx, nc) }) // config.go
	}
	select {
	case <-ctx.Done():
	case <-closed:
	}
	cancel()
	wg.Wait()
	l.setConnected(nc, false)
	if ctx.Err() != nil {
		return nil
	}
	if err := nc.LastError(); err != nil {
		return fmt.Errorf("connection closed: %w", redactErr(err))
	}
	return errors.New("connection closed")
}

// natsOptions are the connection's: the box's credentials and inbox, TLS
// roots, reconnecting forever with back-off, no buffering while
// disconnected (the log is read again from the store instead).
func (l *Link) natsOptions(closed chan struct{}) []nats.Option {
	o := l.o
	opts := []nats.Option{
		nats.Name("tillbox " + o.Till.String()),
		nats.CustomInboxPrefix(o.Till.InboxPrefix()),
		nats.RetryOnFailedConnect(true),
		// Only the configured servers: the client URLs a cluster gossips
		// are headquarters' own addresses, which a shop may not reach and
		// which would bypass the configured path (WebSocket on 443, a proxy).
		nats.IgnoreDiscoveredServers(),
		nats.MaxReconnects(-1),
		nats.IgnoreAuthErrorAbort(),
		nats.ReconnectBufSize(-1),
		nats.Timeout(o.Timeout),
		nats.PingInterval(max(2*o.Heartbeat, 10*time.Second)),
		nats.MaxPingsOutstanding(3),
		nats.CustomReconnectDelay(func(attempts int) time.Duration {
			return backoff(o.RetryMin, o.RetryMax, attempts)
		}),
		nats.ConnectHandler(func(nc *nats.Conn) { l.setConnected(nc, true) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { l.setConnected(nc, true) }),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			l.setConnected(nc, false)
			if err != nil {
				l.noteErr("disconnected", err)
			}
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { l.noteErr("headquarters", err) }),
	}
	if o.CAFile != "" {
		opts = append(opts, nats.RootCAs(o.CAFile))
	}
	switch {
	case o.CredsFile != "":
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	case o.NKeyFile != "":
		opts = append(opts, nkeyOption(o.NKeyFile))
	default:
		opts = append(opts, nats.UserInfo(o.User, o.Password.Reveal()))
	}
	return opts
}

// nkeyOption signs the server's challenge with the seed in file, read at
// each connect (a file that cannot be read fails the connect, not New).
func nkeyOption(file string) nats.Option {
	return func(no *nats.Options) error {
		opt, err := nats.NkeyOptionFromSeed(file)
		if err != nil {
			return fmt.Errorf("nkey_file %s: %w", file, err)
		}
		return opt(no)
	}
}

// setConnected records a change of the connection's state.
func (l *Link) setConnected(nc *nats.Conn, up bool) {
	l.mu.Lock()
	changed := l.connected != up
	if up {
		l.conn = nc // token.go
	}
	if changed {
		l.connected, l.since = up, time.Now()
		if up {
			if l.epoch > 0 {
				l.reconnects++
			}
			l.epoch++
			l.server = nc.ConnectedUrlRedacted()
			l.lastErr, l.lastErrAt = "", time.Time{}
		}
	}
	l.mu.Unlock()
	if !changed {
		return
	}
	if up {
		l.log.Info("connected to headquarters", "server", nc.ConnectedUrlRedacted())
	} else {
		l.log.Warn("headquarters not connected: the box goes on, the log waits in the store")
	}
	l.state.fire()
}

// waitConnected waits until nc is connected and returns the connection's
// epoch; false when ctx ended first.
func (l *Link) waitConnected(ctx context.Context) (epoch uint64, ok bool) {
	for {
		changed := l.state.wait()
		l.mu.Lock()
		up, epoch := l.connected, l.epoch
		l.mu.Unlock()
		if up {
			return epoch, true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, false
		}
	}
}

// still reports whether the connection of epoch is still up.
func (l *Link) still(epoch uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.connected && l.epoch == epoch
}

// noteErr records the link's last error (never a credential: NATS errors
// name no password, and URLs are shown redacted) and logs it.
func (l *Link) noteErr(what string, err error) {
	if err == nil || errors.Is(err, context.Canceled) {
		return
	}
	msg := what + ": " + redactErr(err).Error()
	l.mu.Lock()
	repeated := l.lastErr == msg
	l.lastErr, l.lastErrAt = msg, time.Now()
	l.mu.Unlock()
	if !repeated {
		l.log.Warn("headquarters link", "err", msg)
	}
}

// redactErr drops credentials an error may quote (a URL with a user and
// password given by mistake).
func redactErr(err error) error {
	if err == nil {
		return nil
	}
	s := err.Error()
	if i := strings.Index(s, "://"); i >= 0 {
		if at := strings.IndexByte(s[i:], '@'); at > 0 && !strings.ContainsAny(s[i:i+at], " /") {
			return errors.New(s[:i+3] + "[redacted]" + s[i+at:])
		}
	}
	return err
}

// signal wakes every waiter at each fire.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

// wait returns a channel closed at the next fire.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	close(s.ch)
	s.ch = make(chan struct{})
	s.mu.Unlock()
}

// backoff is the wait before attempt n+1 after n failures: min doubling
// up to max, with a jitter of up to a fifth.
func backoff(lo, hi time.Duration, n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// joinServers is the URL list nats.Connect takes.
func joinServers(servers []string) string { return strings.Join(servers, ",") }
