package settings

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// A canary is a change written at one store's key first (an [Apply] with
// a store's scope): its boxes take it, and their heartbeats say whether
// they applied or refused it ([Overview]). Promote then writes it at the
// chain's key for every box and removes the store's copy.

// Promote writes fields of store's layer at the chain's key, then removes
// them from store's layer (those still holding the promoted value): the
// canary store's boxes see no change, every other box gets it.
func (s *Settings) Promote(ctx context.Context, store string, fields []string, by, note string) (Result, error) {
	sc := StoreScope(store)
	if err := sc.Check(); err != nil {
		return Result{}, err
	}
	if len(fields) == 0 {
		return Result{}, errors.New("name the fields of the store's layer to promote to the chain")
	}
	kv, err := s.bucket(ctx)
	if err != nil {
		return Result{}, err
	}
	storeKey := sc.Key(s.o.Chain)
	l, _, err := read(ctx, kv, storeKey)
	if err != nil {
		return Result{}, err
	}
	values := map[string]any{}
	for _, f := range fields {
		v, ok := l.Settings[f]
		switch {
		case IsSecret(f):
			return Result{}, fmt.Errorf("%s is a secret, sealed for each till: set it for the chain instead", f)
		case !ok:
			return Result{}, fmt.Errorf("%s is not in %s's layer: nothing to promote", f, sc)
		}
		values[f] = v
	}
	if note == "" {
		note = "promoted from " + sc.String()
	} else {
		note = "promoted from " + sc.String() + ": " + note
	}
	var res Result
	chainKey := wire.ChainConfigKey(s.o.Chain)
	rev, err := s.edit(ctx, kv, chainKey, by, note, func(l *wire.ConfigLayer) error {
		if l.Settings == nil {
			l.Settings = map[string]any{}
		}
		for f, v := range values {
			l.Settings[f] = v
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	res.Written = append(res.Written, Written{chainKey, rev})
	rev, err = s.edit(ctx, kv, storeKey, by, note+" (the store's copy removed)", func(l *wire.ConfigLayer) error {
		for f, v := range values {
			if reflect.DeepEqual(l.Settings[f], v) {
				delete(l.Settings, f)
			}
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("promoted to the chain, but %w", err)
	}
	res.Written = append(res.Written, Written{storeKey, rev})
	return res, nil
}

// Rollback writes key's layer of revision rev as key's newest revision
// (stamped with by, now and note): the history keeps every step.
func (s *Settings) Rollback(ctx context.Context, key string, rev uint64, by, note string) (Written, error) {
	if _, ok := ScopeOfKey(s.o.Chain, key); !ok {
		return Written{}, fmt.Errorf("%q is not a key of chain %s's settings", key, s.o.Chain)
	}
	kv, err := s.bucket(ctx)
	if err != nil {
		return Written{}, err
	}
	e, err := kv.GetRevision(ctx, key, rev)
	var old wire.ConfigLayer
	switch {
	case errors.Is(err, jetstream.ErrKeyDeleted):
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrMsgNotFound):
		return Written{}, fmt.Errorf("%s has no revision %d (the bucket keeps the last %d of each key)", key, rev, wire.ConfigHistory)
	case err != nil:
		return Written{}, fmt.Errorf("reading %s at revision %d: %w", key, rev, err)
	default:
		if old, err = wire.ParseConfigLayer(e.Value()); err != nil {
			return Written{}, fmt.Errorf("%s at revision %d: %w", key, rev, err)
		}
	}
	n := fmt.Sprintf("rollback to revision %d", rev)
	if note != "" {
		n += ": " + note
	}
	w, err := s.edit(ctx, kv, key, by, n, func(l *wire.ConfigLayer) error {
		l.Settings, l.Sealed = old.Settings, old.Sealed
		return nil
	})
	return Written{key, w}, err
}

// Revision is one revision of a key, as the history shows it.
type Revision struct {
	Revision uint64
	Created  time.Time // when the bucket stored it
	Deleted  bool      // a deletion or purge (an empty layer)
	Layer    Layer
}

// History is key's revisions, oldest first (none: never set).
func (s *Settings) History(ctx context.Context, key string) ([]Revision, error) {
	if _, ok := ScopeOfKey(s.o.Chain, key); !ok {
		return nil, fmt.Errorf("%q is not a key of chain %s's settings", key, s.o.Chain)
	}
	kv, err := s.bucket(ctx)
	if err != nil {
		return nil, err
	}
	es, err := kv.History(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("the history of %s: %w", key, err)
	}
	out := make([]Revision, 0, len(es))
	for _, e := range es {
		r := Revision{Revision: e.Revision(), Created: e.Created(), Deleted: e.Operation() != jetstream.KeyValuePut}
		l := wire.ConfigLayer{}
		if !r.Deleted {
			if l, err = wire.ParseConfigLayer(e.Value()); err != nil {
				return nil, fmt.Errorf("%s at revision %d: %w", key, e.Revision(), err)
			}
		}
		r.Layer = layerOf(key, e.Revision(), l)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Revision) int { return cmp.Compare(a.Revision, b.Revision) })
	return out, nil
}
