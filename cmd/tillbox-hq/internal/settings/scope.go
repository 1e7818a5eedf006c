package settings

import (
	"fmt"
	"strings"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// Scope is where a layer applies: the chain, one store or one till.
type Scope struct {
	Level       wire.Level
	Store, Till string
}

// ChainScope is every box of the chain.
func ChainScope() Scope { return Scope{Level: wire.LevelChain} }

// StoreScope is every box of store.
func StoreScope(store string) Scope { return Scope{Level: wire.LevelStore, Store: store} }

// TillScope is one box.
func TillScope(store, till string) Scope {
	return Scope{Level: wire.LevelTill, Store: store, Till: till}
}

// ParseScope reads a scope as [Scope.Param] writes it: "chain",
// "store:STORE" or "till:STORE/TILL".
func ParseScope(s string) (Scope, error) {
	kind, rest, _ := strings.Cut(s, ":")
	var sc Scope
	switch kind {
	case "chain":
		sc = ChainScope()
	case "store":
		sc = StoreScope(rest)
	case "till":
		store, till, _ := strings.Cut(rest, "/")
		sc = TillScope(store, till)
	default:
		return Scope{}, fmt.Errorf("scope %q: chain, store:STORE or till:STORE/TILL", s)
	}
	return sc, sc.Check()
}

// Check says what is wrong with s's ids.
func (s Scope) Check() error {
	switch s.Level {
	case wire.LevelChain:
		return nil
	case wire.LevelStore:
		return wire.CheckID("store", s.Store)
	case wire.LevelTill:
		if err := wire.CheckID("store", s.Store); err != nil {
			return err
		}
		return wire.CheckID("till", s.Till)
	}
	return fmt.Errorf("no level %q: chain, store or till", s.Level)
}

// Param is s as ParseScope reads it (a form's value).
func (s Scope) Param() string {
	switch s.Level {
	case wire.LevelStore:
		return "store:" + s.Store
	case wire.LevelTill:
		return "till:" + s.Store + "/" + s.Till
	}
	return "chain"
}

// String is s for people.
func (s Scope) String() string {
	switch s.Level {
	case wire.LevelStore:
		return "store " + s.Store
	case wire.LevelTill:
		return "till " + s.Store + "/" + s.Till
	}
	return "the chain"
}

// Key is s's key in the bucket for chain.
func (s Scope) Key(chain string) string {
	switch s.Level {
	case wire.LevelStore:
		return wire.StoreConfigKey(chain, s.Store)
	case wire.LevelTill:
		return wire.Till{Chain: chain, Store: s.Store, Till: s.Till}.TillConfigKey()
	}
	return wire.ChainConfigKey(chain)
}

// Contains tells whether till t is in s.
func (s Scope) Contains(t wire.Till) bool {
	switch s.Level {
	case wire.LevelStore:
		return t.Store == s.Store
	case wire.LevelTill:
		return t.Store == s.Store && t.Till == s.Till
	}
	return true
}

// ScopeOfKey is the scope of chain's key, if it is one.
func ScopeOfKey(chain, key string) (Scope, bool) {
	rest, ok := strings.CutPrefix(key, chain+".")
	if !ok {
		return Scope{}, false
	}
	var sc Scope
	switch parts := strings.Split(rest, "."); {
	case len(parts) == 1 && parts[0] == "all":
		sc = ChainScope()
	case len(parts) == 2 && parts[0] == "store":
		sc = StoreScope(parts[1])
	case len(parts) == 3 && parts[0] == "till":
		sc = TillScope(parts[1], parts[2])
	default:
		return Scope{}, false
	}
	return sc, sc.Check() == nil
}
