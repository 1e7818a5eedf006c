package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// Layered configuration (wire/config.go): the box reads its three keys of
// headquarters' bucket (the chain's, its store's, its own) with direct
// gets at every connect, so a box offline for days catches up, and
// subscribes to their subjects to hear of a change at once, reading the
// key again at each message (again a little later, a few times, while
// the read still gives the revision seen before: the stream stores a
// message a moment after the subject's subscribers get it). It never
// lists or watches the bucket. Each
// key's newest value goes to Options.ConfigLayer when its revision
// differs from the last one handed over, and a heartbeat follows at once
// so that headquarters learns what the box made of it.

// configRetry is how often the box looks again for a bucket that does not
// answer (headquarters has not made it yet), besides at each change.
const configRetry = time.Minute

// configLoop follows the box's keys for as long as ctx lasts, starting
// again at each connection and after each error.
func (l *Link) configLoop(ctx context.Context, nc *nats.Conn) {
	seen := map[string]uint64{} // the revision handed over, by key
	for fails := 0; ; {
		epoch, ok := l.waitConnected(ctx)
		if !ok {
			return
		}
		err := l.watchConfig(ctx, nc, epoch, seen)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			fails = 0
			continue
		}
		l.noteErr("configuration", err)
		fails++
		if !sleep(ctx, backoff(l.o.RetryMin, l.o.RetryMax, fails)) {
			return
		}
	}
}

// watchConfig subscribes to the keys' subjects, reads each key, and reads
// a key again at each message on its subject, until the connection of
// epoch changes (nil) or a read fails.
func (l *Link) watchConfig(ctx context.Context, nc *nats.Conn, epoch uint64, seen map[string]uint64) error {
	keys := l.o.Till.ConfigKeys()
	p := &pendingKeys{more: make(chan struct{}, 1)}
	for _, k := range keys {
		sub, err := nc.Subscribe(wire.ConfigSubject(k), func(*nats.Msg) { p.changed(k) })
		if err != nil {
			return fmt.Errorf("subscribing to %s: %w", wire.ConfigSubject(k), err)
		}
		defer func() { _ = sub.Unsubscribe() }()
	}
	// The subscriptions are at the server before the first reads: no
	// change falls between.
	fctx, cancel := context.WithTimeout(ctx, l.o.Timeout)
	err := nc.FlushWithContext(fctx)
	cancel()
	if err != nil {
		return fmt.Errorf("subscribing to the configuration: %w", err)
	}
	p.add(keys...)
	retry := time.NewTimer(configRetry)
	defer retry.Stop()
	for {
		changed := l.state.wait()
		if !l.still(epoch) {
			return nil
		}
		todo, messaged := p.take()
		for _, k := range todo {
			rev, value, err := getLayer(ctx, nc, k, l.o.Timeout)
			if errors.Is(err, errNoJetStream) {
				l.log.Debug("headquarters' configuration bucket does not answer (not made yet?): looking again later", "bucket", wire.ConfigBucket)
				continue // at the next change or retry
			}
			if err != nil {
				return err
			}
			last, ok := seen[k] // a key never read counts as revision 0
			if messaged[k] && rev <= last {
				// The stream stores a message a moment after its
				// subscribers hear of it: a read may still give the
				// revision before, or none at all.
				p.stale(k)
				if ok {
					continue
				}
			} else if ok && last == rev {
				continue
			}
			p.fresh(k)
			seen[k] = rev
			if l.o.ConfigLayer != nil {
				l.o.ConfigLayer(k, rev, value)
			}
			l.beat(nc) // headquarters learns at once what the box made of it
		}
		select {
		case <-p.more:
		case <-changed:
		case <-retry.C:
			p.add(keys...)
			retry.Reset(configRetry)
		case <-ctx.Done():
			return nil
		}
	}
}

// getLayer reads the newest message of key (a direct get): its revision
// and value; an empty value for a key deleted or purged, and a revision 0
// too for one never set.
func getLayer(ctx context.Context, nc *nats.Conn, key string, timeout time.Duration) (uint64, []byte, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := nc.RequestWithContext(rctx, wire.ConfigGetSubject(key), nil)
	if errors.Is(err, nats.ErrNoResponders) {
		return 0, nil, fmt.Errorf("reading %s: %w", key, errNoJetStream)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("reading %s of the configuration: %w", key, err)
	}
	if status := resp.Header.Get("Status"); status != "" {
		if status == "404" {
			return 0, nil, nil
		}
		return 0, nil, fmt.Errorf("reading %s of the configuration: %s %s", key, status, resp.Header.Get("Description"))
	}
	rev, err := strconv.ParseUint(resp.Header.Get(wire.HeaderStreamSeq), 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("reading %s of the configuration: no revision in the answer", key)
	}
	switch resp.Header.Get(wire.HeaderKVOperation) {
	case "DEL", "PURGE":
		return rev, nil, nil
	}
	return rev, resp.Data, nil
}

// staleRetries bound the reads again of a key whose subject carried a
// message while the read still gave the revision seen before: the
// stream stores a message a moment after the subject's subscribers get
// it. The waits double from staleFirst (about 2.5 s in all).
const (
	staleRetries = 8
	staleFirst   = 10 * time.Millisecond
)

// pendingKeys are the keys to read again.
type pendingKeys struct {
	mu       sync.Mutex
	keys     []string
	messaged map[string]bool // a message on the key's subject since its last read
	tries    map[string]int  // stale reads in a row
	more     chan struct{}   // a token when keys were added
}

func (p *pendingKeys) add(keys ...string) {
	p.mu.Lock()
	for _, k := range keys {
		if !slices.Contains(p.keys, k) {
			p.keys = append(p.keys, k)
		}
	}
	p.mu.Unlock()
	select {
	case p.more <- struct{}{}:
	default:
	}
}

// changed notes a message on key's subject.
func (p *pendingKeys) changed(key string) {
	p.mu.Lock()
	if p.messaged == nil {
		p.messaged = map[string]bool{}
	}
	p.messaged[key] = true
	p.mu.Unlock()
	p.add(key)
}

// take returns the keys to read, and those of them whose subject carried
// a message.
func (p *pendingKeys) take() ([]string, map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k, m := p.keys, p.messaged
	p.keys, p.messaged = nil, nil
	return k, m
}

// stale reads key again a little later, a few times.
func (p *pendingKeys) stale(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tries == nil {
		p.tries = map[string]int{}
	}
	n := p.tries[key]
	if n >= staleRetries {
		delete(p.tries, key)
		return
	}
	p.tries[key] = n + 1
	time.AfterFunc(staleFirst<<n, func() { p.changed(key) })
}

// fresh notes a read that gave a new revision.
func (p *pendingKeys) fresh(key string) {
	p.mu.Lock()
	delete(p.tries, key)
	p.mu.Unlock()
}
