// Package settings is headquarters' side of the chain's layered
// configuration (docs/chain.md, "## Layered configuration"): it writes the
// layers of the chain, its stores and its tills into the key-value bucket
// wire.ConfigBucket, each write a new revision that says who made it, when
// and why; seals the Vipps MobilePay secrets for each till with the public
// key of its last heartbeat; rolls a change to one store first and then
// promotes it to the whole chain; rolls any key back to an earlier
// revision of its history; and tells, from the boxes' heartbeats, which
// revisions each box applied, which it refused and why, and which fields
// wait for a restart. The fleet page and `tillbox-hq settings` use it.
package settings

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// Box is a till as headquarters last heard of it.
type Box struct {
	Till    wire.Till
	HeardAt time.Time         // zero: never
	Config  *wire.ConfigState // nil: the box takes no configuration from headquarters (or was never heard of)
}

// Options are what [New] needs.
type Options struct {
	// JS reaches the bucket (headquarters creates it with the streams).
	JS    jetstream.JetStream
	Chain string
	// Boxes lists the chain's tills with their last heartbeats.
	Boxes func(ctx context.Context) ([]Box, error)
	// Now is the clock of the layers' At; nil: time.Now.
	Now func() time.Time
}

// Settings reads and writes the chain's layers.
type Settings struct {
	o  Options
	mu sync.Mutex
	kv jetstream.KeyValue
}

// New returns the chain's settings over o.
func New(o Options) *Settings {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Settings{o: o}
}

// Chain is the chain's id.
func (s *Settings) Chain() string { return s.o.Chain }

// bucket opens the bucket (once it exists).
func (s *Settings) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kv != nil {
		return s.kv, nil
	}
	kv, err := s.o.JS.KeyValue(ctx, wire.ConfigBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("the settings bucket %s does not exist yet: tillbox-hq run makes it with the streams", wire.ConfigBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("the settings bucket %s: %w", wire.ConfigBucket, err)
	}
	s.kv = kv
	return kv, nil
}

// Written is a key written at a revision.
type Written struct {
	Key      string
	Revision uint64
}

// Result is what a change wrote.
type Result struct {
	Written []Written
	// NoKey are the tills of the scope that got no sealed secret: their
	// heartbeat carries no key (a version without layered configuration).
	// Tills never heard of are not listed: they get none either.
	NoKey []wire.Till
}

// Change is a change of one scope's layer.
type Change struct {
	Scope Scope
	// Set are fields and their values ([ParseValue]); Unset fields are
	// removed from the layer (a secret: from every till key of the scope).
	Set   map[string]any
	Unset []string
	// Secrets are secret fields ([SecretFields]) and their values in
	// clear: each is sealed for every till of the scope that has a key.
	Secrets map[string]string
	// By and Note say who and why, for the history.
	By, Note string
}

// mutation changes one key's layer.
type mutation func(*wire.ConfigLayer) error

// Apply writes c: the scope's key for its settings, and each till key of
// the scope for its secrets. Nothing is written when a field is wrong,
// nor when a secret has no till to be sealed for.
func (s *Settings) Apply(ctx context.Context, c Change) (Result, error) {
	if err := s.check(c); err != nil {
		return Result{}, err
	}
	kv, err := s.bucket(ctx)
	if err != nil {
		return Result{}, err
	}
	muts := map[string][]mutation{}
	key := c.Scope.Key(s.o.Chain)
	c, addr := c.withoutAddress()
	if len(c.Set) > 0 || slices.ContainsFunc(c.Unset, func(f string) bool { return !IsSecret(f) }) {
		muts[key] = append(muts[key], func(l *wire.ConfigLayer) error {
			for f, v := range c.Set {
				if l.Settings == nil {
					l.Settings = map[string]any{}
				}
				l.Settings[f] = v
			}
			for _, f := range c.Unset {
				if IsSecret(f) {
					continue
				}
				if _, ok := l.Settings[f]; !ok {
					return fmt.Errorf("%s is not set for %s: nothing to unset", f, c.Scope)
				}
				delete(l.Settings, f)
			}
			return nil
		})
	}
	var res Result
	if len(c.Secrets) > 0 {
		if res.NoKey, err = s.sealings(ctx, c, addr, muts); err != nil {
			return Result{}, err
		}
	}
	if err := s.unsealings(ctx, kv, c, muts); err != nil {
		return Result{}, err
	}
	note := c.Note
	if c.Scope.Level != wire.LevelTill && len(c.Secrets)+len(c.Unset) > 0 {
		note = noteFor(c.Scope, c.Note)
	}
	for _, k := range slices.Sorted(maps.Keys(muts)) {
		n := note
		if k == key {
			n = c.Note
		}
		rev, err := s.edit(ctx, kv, k, c.By, n, muts[k]...)
		if err != nil {
			return res, err
		}
		res.Written = append(res.Written, Written{k, rev})
	}
	return res, nil
}

// noteFor is the note of a till key written for a secret of scope.
func noteFor(sc Scope, note string) string {
	if note == "" {
		return "for " + sc.String()
	}
	return "for " + sc.String() + ": " + note
}

// AddressFields move a box's Vipps MobilePay address. A box takes them
// only from its own till's layer and only with both secrets sealed in it
// (it never sends its credentials to an address headquarters chose
// without them), so for a store or the chain they go, with the secrets,
// into each till's key of the scope.
var AddressFields = []string{"vipps.base_url", "vipps.environment"}

// withoutAddress is c less its address fields when its scope is wider
// than a till, and those fields.
func (c Change) withoutAddress() (Change, map[string]any) {
	if c.Scope.Level == wire.LevelTill {
		return c, nil
	}
	addr := map[string]any{}
	rest := map[string]any{}
	for f, v := range c.Set {
		if slices.Contains(AddressFields, f) {
			addr[f] = v
		} else {
			rest[f] = v
		}
	}
	if len(addr) == 0 {
		return c, nil
	}
	c.Set = rest
	return c, addr
}

// check refuses a change with a wrong scope, field or value.
func (s *Settings) check(c Change) error {
	if err := c.Scope.Check(); err != nil {
		return err
	}
	if len(c.Set)+len(c.Unset)+len(c.Secrets) == 0 {
		return errors.New("nothing to change: name a field to set or unset")
	}
	for f := range c.Set {
		if err := CheckField(f); err != nil {
			return err
		}
		if IsSecret(f) {
			return fmt.Errorf("%s is a secret: give it as a secret, to be sealed for each till", f)
		}
		if slices.Contains(AddressFields, f) && c.Scope.Level != wire.LevelTill && len(c.Secrets) < len(SecretFields) {
			return fmt.Errorf("%s moves the boxes' Vipps MobilePay address: give %s with it, to be sealed for each till (a box never sends its credentials to a new address without them)",
				f, strings.Join(SecretFields, " and "))
		}
	}
	for _, f := range c.Unset {
		if slices.Contains(AddressFields, f) && c.Scope.Level != wire.LevelTill {
			return fmt.Errorf("%s is in each till's own layer: unset it with --till", f)
		}
	}
	for f := range c.Secrets {
		if !IsSecret(f) {
			return fmt.Errorf("%s is no secret headquarters seals (only %v)", f, SecretFields)
		}
		if c.Secrets[f] == "" {
			return fmt.Errorf("%s: an empty secret (to remove it, unset it)", f)
		}
	}
	for _, f := range c.Unset {
		if err := CheckField(f); err != nil && !IsSecret(f) {
			return err
		}
		if _, ok := c.Set[f]; ok {
			return fmt.Errorf("%s: both set and unset", f)
		}
	}
	return nil
}

// sealings adds to muts, for each till of c's scope that has a key, its
// secrets sealed for it and the address fields addr; it returns the tills
// heard of without a key.
func (s *Settings) sealings(ctx context.Context, c Change, addr map[string]any, muts map[string][]mutation) ([]wire.Till, error) {
	boxes, err := s.o.Boxes(ctx)
	if err != nil {
		return nil, fmt.Errorf("the tills' keys: %w", err)
	}
	var noKey []wire.Till
	sealedFor := 0
	for _, b := range boxes {
		if b.Till.Chain != s.o.Chain || !c.Scope.Contains(b.Till) {
			continue
		}
		if b.Config == nil || b.Config.Key == "" {
			noKey = append(noKey, b.Till)
			continue
		}
		sealed := map[string]string{}
		for f, v := range c.Secrets {
			if sealed[f], err = wire.SealSecret(b.Config.Key, b.Till, f, v); err != nil {
				return nil, err
			}
		}
		sealedFor++
		k := b.Till.TillConfigKey()
		muts[k] = append(muts[k], func(l *wire.ConfigLayer) error {
			if l.Sealed == nil {
				l.Sealed = map[string]string{}
			}
			maps.Copy(l.Sealed, sealed)
			if len(addr) > 0 {
				if l.Settings == nil {
					l.Settings = map[string]any{}
				}
				maps.Copy(l.Settings, addr)
			}
			return nil
		})
	}
	if sealedFor == 0 {
		what := "no till of " + c.Scope.String() + " has been heard of yet"
		if len(noKey) > 0 {
			what = "no till of " + c.Scope.String() + " has said its key yet (its heartbeat carries none)"
		}
		return nil, fmt.Errorf("the secret cannot be sealed: %s; set it again once the box is connected", what)
	}
	return noKey, nil
}

// unsealings adds to muts the removal of c's unset secrets from every till
// key of its scope that holds one.
func (s *Settings) unsealings(ctx context.Context, kv jetstream.KeyValue, c Change, muts map[string][]mutation) error {
	var fields []string
	for _, f := range c.Unset {
		if IsSecret(f) {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 {
		return nil
	}
	layers, err := s.current(ctx, kv)
	if err != nil {
		return err
	}
	found := map[string]bool{}
	for k, cur := range layers {
		sc, ok := ScopeOfKey(s.o.Chain, k)
		if !ok || sc.Level != wire.LevelTill || !c.Scope.Contains(wire.Till{Chain: s.o.Chain, Store: sc.Store, Till: sc.Till}) {
			continue
		}
		held := false
		for _, f := range fields {
			if _, ok := cur.Layer.Sealed[f]; ok {
				found[f], held = true, true
			}
		}
		if !held {
			continue
		}
		muts[k] = append(muts[k], func(l *wire.ConfigLayer) error {
			for _, f := range fields {
				delete(l.Sealed, f)
			}
			return nil
		})
	}
	for _, f := range fields {
		if !found[f] {
			return fmt.Errorf("%s is sealed for no till of %s: nothing to unset", f, c.Scope)
		}
	}
	return nil
}

// maxTries bounds the writes of one key that lose to another writer.
const maxTries = 5

// edit reads key's layer, changes it with muts and writes it as a new
// revision stamped with by, now and note; when another write came in
// between, it reads and tries again. Every write is confirmed by reading
// it back (confirm): the reply to a write may come from a box.
func (s *Settings) edit(ctx context.Context, kv jetstream.KeyValue, key, by, note string, muts ...mutation) (uint64, error) {
	var wrote [][]byte
	for try := 1; ; try++ {
		l, rev, raw, err := readRaw(ctx, kv, key)
		if err != nil {
			return 0, err
		}
		if rev != 0 && slices.ContainsFunc(wrote, func(w []byte) bool { return bytes.Equal(w, raw) }) {
			return rev, nil // an earlier try landed after all
		}
		for _, m := range muts {
			if err := m(&l); err != nil {
				return 0, err
			}
		}
		l.By, l.At, l.Note = by, s.o.Now().UTC().Truncate(time.Millisecond), note
		b, err := l.Marshal()
		if err != nil {
			return 0, err
		}
		if len(b) > wire.MaxConfigLayer {
			return 0, fmt.Errorf("%s: the layer would be %d bytes, more than a box takes (%d)", key, len(b), wire.MaxConfigLayer)
		}
		var n uint64
		if rev == 0 {
			n, err = kv.Create(ctx, key, b)
		} else {
			n, err = kv.Update(ctx, key, b, rev)
		}
		wrote = append(wrote, b)
		n, err = confirm(ctx, kv, key, b, n, err)
		lost := errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, errUnconfirmed)
		if lost && try < maxTries {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("writing %s: %w", key, err)
		}
		return n, nil
	}
}

// errUnconfirmed is a reply of success that the bucket does not bear out.
var errUnconfirmed = errors.New("the reply to the write is not borne out by the bucket")

// confirm checks the reply to a write of b to key (revision n, or err)
// against the bucket. A box may subscribe to its own key and answer
// headquarters' writes there (it may answer requests, for its actions),
// so a reply may be forged: a success counts only when the revision it
// names holds b, and an error does not count when the key holds b.
func confirm(ctx context.Context, kv jetstream.KeyValue, key string, b []byte, n uint64, err error) (uint64, error) {
	if err == nil {
		if e, gerr := kv.GetRevision(ctx, key, n); gerr == nil && bytes.Equal(e.Value(), b) {
			return n, nil
		}
		return 0, errUnconfirmed
	}
	if e, gerr := kv.Get(ctx, key); gerr == nil && bytes.Equal(e.Value(), b) {
		return e.Revision(), nil
	}
	return 0, err
}

// read is key's layer and revision: an empty layer at 0 when never set
// (or deleted).
func read(ctx context.Context, kv jetstream.KeyValue, key string) (wire.ConfigLayer, uint64, error) {
	l, rev, _, err := readRaw(ctx, kv, key)
	return l, rev, err
}

// readRaw is read with the layer's bytes as stored.
func readRaw(ctx context.Context, kv jetstream.KeyValue, key string) (wire.ConfigLayer, uint64, []byte, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return wire.ConfigLayer{}, 0, nil, nil
	}
	if err != nil {
		return wire.ConfigLayer{}, 0, nil, fmt.Errorf("reading %s: %w", key, err)
	}
	l, err := wire.ParseConfigLayer(e.Value())
	if err != nil {
		return wire.ConfigLayer{}, 0, nil, fmt.Errorf("%s at revision %d: %w", key, e.Revision(), err)
	}
	return l, e.Revision(), e.Value(), nil
}
