package settings

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// Layer is one key's layer as pages show it: the settings' values, the
// names of the sealed secrets (never their values), who, when and why.
type Layer struct {
	Key      string
	Scope    Scope
	Revision uint64 // 0: never set
	Settings []Setting
	Sealed   []string
	By, Note string
	At       time.Time
}

// Setting is one field of a layer.
type Setting struct {
	Field, Value string
}

// Empty tells whether l sets nothing.
func (l Layer) Empty() bool { return len(l.Settings) == 0 && len(l.Sealed) == 0 }

// Field is the value of field in l, and whether l sets it.
func (l Layer) Field(field string) (string, bool) {
	for _, s := range l.Settings {
		if s.Field == field {
			return s.Value, true
		}
	}
	return "", false
}

func layerOf(key string, rev uint64, l wire.ConfigLayer) Layer {
	out := Layer{Key: key, Revision: rev, By: l.By, Note: l.Note, At: l.At}
	for _, f := range slices.Sorted(maps.Keys(l.Settings)) {
		out.Settings = append(out.Settings, Setting{f, FormatValue(l.Settings[f])})
	}
	out.Sealed = slices.Sorted(maps.Keys(l.Sealed))
	return out
}

// entry is a key's newest layer and revision.
type entry struct {
	Layer    wire.ConfigLayer
	Revision uint64
}

// current reads the newest layer of every key of the chain in one pass.
func (s *Settings) current(ctx context.Context, kv jetstream.KeyValue) (map[string]entry, error) {
	w, err := kv.Watch(ctx, s.o.Chain+".>")
	if err != nil {
		return nil, fmt.Errorf("reading the settings: %w", err)
	}
	defer func() { _ = w.Stop() }()
	out := map[string]entry{}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("reading the settings: %w", ctx.Err())
		case e := <-w.Updates():
			if e == nil {
				return out, nil
			}
			l := wire.ConfigLayer{}
			if e.Operation() == jetstream.KeyValuePut {
				if l, err = wire.ParseConfigLayer(e.Value()); err != nil {
					return nil, fmt.Errorf("%s at revision %d: %w", e.Key(), e.Revision(), err)
				}
			}
			out[e.Key()] = entry{l, e.Revision()}
		}
	}
}

// Overview is the chain's layers and what each box made of them.
type Overview struct {
	Chain  string
	Layer  Layer // the chain's
	Stores []StoreView
}

// StoreView is one store: its layer, its tills.
type StoreView struct {
	Store string
	Layer Layer
	Tills []TillView
	// Applied, Refused and Waiting count the store's tills that report
	// their layered configuration by what they made of the store layer's
	// newest revision (a canary's progress).
	Applied, Refused, Waiting int
}

// TillView is one till: its own layer and what its heartbeat says.
type TillView struct {
	Till    wire.Till
	HeardAt time.Time // zero: never heard of
	// Reports is whether its heartbeat tells of layered configuration.
	Reports bool
	HasKey  bool
	Layer   Layer
	Keys    []KeyState // chain, store, till
	Refused []wire.ConfigRefusal
	Restart []string
}

// KeyState is what a box made of one of its keys.
type KeyState struct {
	Key     string
	Level   wire.Level
	Current uint64 // the key's newest revision (0: never set)
	Applied uint64 // the revision the box runs with (0: none)
	State   string // StateApplied, StateRefused, StateWaiting or StateUnset
	Refusal *wire.ConfigRefusal
}

// What a box made of a key's newest revision.
const (
	StateApplied = "applied"
	StateRefused = "refused"
	StateWaiting = "waiting" // not yet applied (offline, or on its way)
	StateUnset   = "not set" // the key was never set
)

// Overview reads every layer of the chain and every box's heartbeat.
func (s *Settings) Overview(ctx context.Context) (*Overview, error) {
	kv, err := s.bucket(ctx)
	if err != nil {
		return nil, err
	}
	layers, err := s.current(ctx, kv)
	if err != nil {
		return nil, err
	}
	boxes, err := s.o.Boxes(ctx)
	if err != nil {
		return nil, fmt.Errorf("the tills: %w", err)
	}
	view := func(key string) Layer {
		e := layers[key]
		l := layerOf(key, e.Revision, e.Layer)
		l.Scope, _ = ScopeOfKey(s.o.Chain, key)
		return l
	}
	ov := &Overview{Chain: s.o.Chain, Layer: view(wire.ChainConfigKey(s.o.Chain))}
	stores := map[string]*StoreView{}
	store := func(name string) *StoreView {
		if stores[name] == nil {
			stores[name] = &StoreView{Store: name, Layer: view(wire.StoreConfigKey(s.o.Chain, name))}
		}
		return stores[name]
	}
	seen := map[wire.Till]bool{}
	for _, b := range boxes {
		if b.Till.Chain != s.o.Chain {
			continue
		}
		seen[b.Till] = true
		st := store(b.Till.Store)
		tv := tillView(b, layers, view)
		st.Tills = append(st.Tills, tv)
		if !tv.Reports {
			continue
		}
		switch tv.Keys[1].State {
		case StateApplied:
			st.Applied++
		case StateRefused:
			st.Refused++
		case StateWaiting:
			st.Waiting++
		}
	}
	for key := range layers {
		sc, ok := ScopeOfKey(s.o.Chain, key)
		switch {
		case !ok || sc.Level == wire.LevelChain:
		case sc.Level == wire.LevelStore:
			store(sc.Store)
		case !seen[wire.Till{Chain: s.o.Chain, Store: sc.Store, Till: sc.Till}]:
			t := wire.Till{Chain: s.o.Chain, Store: sc.Store, Till: sc.Till}
			st := store(sc.Store)
			st.Tills = append(st.Tills, tillView(Box{Till: t}, layers, view))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(stores)) {
		st := stores[name]
		slices.SortFunc(st.Tills, func(a, b TillView) int { return cmp.Compare(a.Till.Till, b.Till.Till) })
		ov.Stores = append(ov.Stores, *st)
	}
	return ov, nil
}

// tillView is what box b made of its three keys.
func tillView(b Box, layers map[string]entry, view func(string) Layer) TillView {
	tv := TillView{Till: b.Till, HeardAt: b.HeardAt, Reports: b.Config != nil, Layer: view(b.Till.TillConfigKey())}
	var cs wire.ConfigState
	if b.Config != nil {
		cs = *b.Config
		tv.HasKey, tv.Refused, tv.Restart = cs.Key != "", cs.Refused, cs.Restart
	}
	for _, key := range b.Till.ConfigKeys() {
		lvl, _ := b.Till.ConfigLevel(key)
		ks := KeyState{Key: key, Level: lvl, Current: layers[key].Revision}
		for _, a := range cs.Applied {
			if a.Key == key {
				ks.Applied = a.Revision
			}
		}
		for i, r := range cs.Refused {
			if r.Key == key && r.Revision == ks.Current {
				ks.Refusal = &cs.Refused[i]
			}
		}
		switch {
		case ks.Current == 0:
			ks.State = StateUnset
		case ks.Refusal != nil:
			ks.State = StateRefused
		case ks.Applied >= ks.Current:
			ks.State = StateApplied
		default:
			ks.State = StateWaiting
		}
		tv.Keys = append(tv.Keys, ks)
	}
	return tv
}
