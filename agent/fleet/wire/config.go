package wire

import (
	"crypto/ecdh"
	"crypto/hpke"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Layered configuration (issue 14). Headquarters keeps the chain's
// settings in the key-value bucket [ConfigBucket] at three levels — the
// chain, a store, a till — and each box lays them over its own
// configuration file, the most specific last:
//
//	<chain>.all                  every box of the chain
//	<chain>.store.<store>        every box of one store
//	<chain>.till.<store>.<till>  one box
//
// A key's value is a [ConfigLayer] (JSON); a deleted or purged key is an
// empty layer. The bucket keeps each key's history ([ConfigHistory]
// revisions), from which headquarters rolls a change back. A box reads its
// three keys with direct gets when it connects (it may have missed changes
// for days) and watches them with a plain subscription to their subjects,
// reading a key again at each message; it never lists or watches the
// bucket, so it learns nothing of other stores or tills. A box reports
// what it applied and what it refused in its heartbeat ([ConfigState]).
//
// Secrets (the Vipps MobilePay client secret and subscription key) are
// never in the bucket in clear: headquarters seals each for one box with
// that box's public key ([ConfigState.Key], from its heartbeat) into the
// till's own key ([ConfigLayer.Sealed]); a layer never names a file on
// the box. No other box, and no reader of the bucket or its history, can
// open it.

// ConfigBucket is the key-value bucket of the layered settings;
// headquarters creates it (a box never does). Its stream is "KV_" + it.
const ConfigBucket = "TILLBOX_CONFIG"

// ConfigHistory is how many revisions of each key the bucket keeps (the
// most JetStream allows).
const ConfigHistory = 64

// HeaderKVOperation marks a deletion ("DEL") or purge ("PURGE") of a key
// in the key-value bucket's message; absent on a put.
const HeaderKVOperation = "KV-Operation"

// MaxConfigLayer bounds a layer's JSON: a box refuses a bigger one.
const MaxConfigLayer = 64 << 10

// Level names where a layer applies.
type Level string

// The levels, least specific first.
const (
	LevelChain Level = "chain"
	LevelStore Level = "store"
	LevelTill  Level = "till"
)

// ChainConfigKey is the key of the layer of every box of chain.
func ChainConfigKey(chain string) string { return chain + ".all" }

// StoreConfigKey is the key of the layer of every box of store.
func StoreConfigKey(chain, store string) string { return chain + ".store." + store }

// TillConfigKey is the key of the layer of box t alone.
func (t Till) TillConfigKey() string { return t.Chain + ".till." + t.Store + "." + t.Till }

// ConfigKeys are the keys of the layers box t lays over its file, least
// specific first: chain, store, till.
func (t Till) ConfigKeys() []string {
	return []string{ChainConfigKey(t.Chain), StoreConfigKey(t.Chain, t.Store), t.TillConfigKey()}
}

// ConfigLevel is the level of key, one of t's [Till.ConfigKeys].
func (t Till) ConfigLevel(key string) (Level, bool) {
	switch key {
	case ChainConfigKey(t.Chain):
		return LevelChain, true
	case StoreConfigKey(t.Chain, t.Store):
		return LevelStore, true
	case t.TillConfigKey():
		return LevelTill, true
	}
	return "", false
}

// ConfigSubject is the subject of key's messages in the bucket's stream:
// a box subscribes to its three to hear of a change at once.
func ConfigSubject(key string) string { return "$KV." + ConfigBucket + "." + key }

// ConfigGetSubject is the direct get that answers key's newest message
// (its revision in the [HeaderStreamSeq] header; a status 404 when the
// key was never set).
func ConfigGetSubject(key string) string {
	return "$JS.API.DIRECT.GET.KV_" + ConfigBucket + "." + ConfigSubject(key)
}

// configPermissions are what box t may do with the bucket: read its three
// keys, nothing else.
func configPermissions(t Till) Permissions {
	var p Permissions
	for _, k := range t.ConfigKeys() {
		p.Publish = append(p.Publish, ConfigGetSubject(k))
		p.Subscribe = append(p.Subscribe, ConfigSubject(k))
	}
	return p
}

// ConfigLayer is one level's settings.
type ConfigLayer struct {
	// Settings are fields of the box's configuration file ("section.key",
	// e.g. "display.language", "sales.customer_present_window",
	// "vipps.msn", "vipps.timeout") with their values as the
	// file would have them (a string, a number or a boolean; a duration
	// as a string, "90s"). "scanner" holds the list of scanner tables, each
	// a map of the [[scanner]] table's keys, and replaces the file's. A
	// box checks them with its file's own rules and refuses the layer
	// with the field and the reason when one fails.
	Settings map[string]any `json:"settings,omitempty"`
	// Sealed are secret fields ("vipps.client_secret") sealed for one box
	// with [SealSecret]: only in a till's key.
	Sealed map[string]string `json:"sealed,omitempty"`
	// By, At and Note say who wrote the layer, when and why, for the
	// history (no secret).
	By   string    `json:"by,omitempty"`
	At   time.Time `json:"at"`
	Note string    `json:"note,omitempty"`
}

// Marshal encodes l.
func (l ConfigLayer) Marshal() ([]byte, error) { return json.Marshal(l) }

// ParseConfigLayer reads a layer; an empty value (a deleted key) is an
// empty layer.
func ParseConfigLayer(b []byte) (ConfigLayer, error) {
	var l ConfigLayer
	if len(b) == 0 {
		return l, nil
	}
	if len(b) > MaxConfigLayer {
		return l, fmt.Errorf("a configuration layer of %d bytes: at most %d", len(b), MaxConfigLayer)
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return ConfigLayer{}, fmt.Errorf("not the JSON of a configuration layer: %w", err)
	}
	return l, nil
}

// ConfigState is what a box says of its layered configuration in its
// heartbeat.
type ConfigState struct {
	// Key is the box's public key for sealed secrets ([ConfigKey.Public]).
	Key string `json:"key"`
	// Applied are the revisions of the layers the box runs with (a key
	// never set: none).
	Applied []LayerRevision `json:"applied,omitempty"`
	// Refused are the newest layers the box refused, each with the first
	// field that failed and why; the box keeps its last good layer.
	Refused []ConfigRefusal `json:"refused,omitempty"`
	// Restart are the fields changed by an applied layer that take
	// effect at the box's next start.
	Restart []string `json:"restart,omitempty"`
}

// LayerRevision is one key at one revision (its stream sequence).
type LayerRevision struct {
	Key      string `json:"key"`
	Revision uint64 `json:"revision"`
}

// ConfigRefusal is a layer a box refused.
type ConfigRefusal struct {
	Key      string `json:"key"`
	Revision uint64 `json:"revision"`
	Field    string `json:"field"`
	Reason   string `json:"reason"`
}

// Sealing: HPKE (RFC 9180) with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256
// and ChaCha20-Poly1305; the info binds the till and the field, so a
// sealed value moved to another till's key or another field does not
// open.
var (
	sealKEM  = hpke.DHKEM(ecdh.X25519())
	sealKDF  = hpke.HKDFSHA256()
	sealAEAD = hpke.ChaCha20Poly1305()
)

func sealInfo(t Till, field string) []byte {
	return []byte("tillbox config secret\x00" + t.String() + "\x00" + field)
}

// ConfigKey is a box's key pair for sealed secrets. The box keeps the
// private half in its data folder.
type ConfigKey struct{ priv hpke.PrivateKey }

// NewConfigKey makes a key pair.
func NewConfigKey() (ConfigKey, error) {
	k, err := sealKEM.GenerateKey()
	return ConfigKey{k}, err
}

// ParseConfigKey reads a private key written by [ConfigKey.Bytes].
func ParseConfigKey(b []byte) (ConfigKey, error) {
	k, err := sealKEM.NewPrivateKey(b)
	if err != nil {
		return ConfigKey{}, errors.New("not a configuration key")
	}
	return ConfigKey{k}, nil
}

// Bytes is the private key, to be stored (mode 0600) on the box.
func (k ConfigKey) Bytes() ([]byte, error) { return k.priv.Bytes() }

// Public is the public key as a heartbeat carries it (base64).
func (k ConfigKey) Public() string {
	return base64.StdEncoding.EncodeToString(k.priv.PublicKey().Bytes())
}

// SealSecret seals secret for field of till t, whose public key is pub
// (its heartbeat's [ConfigState.Key]). The result is base64.
func SealSecret(pub string, t Till, field, secret string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(pub)
	if err != nil {
		return "", fmt.Errorf("the public key of %s is not base64", t)
	}
	pk, err := sealKEM.NewPublicKey(raw)
	if err != nil {
		return "", fmt.Errorf("the public key of %s is not an X25519 key", t)
	}
	ct, err := hpke.Seal(pk, sealKDF, sealAEAD, sealInfo(t, field), []byte(secret))
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}

// OpenSecret opens a value sealed for field of till t. Its error never
// contains the value.
func (k ConfigKey) OpenSecret(t Till, field, sealed string) (string, error) {
	ct, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return "", fmt.Errorf("%s: the sealed value is not base64", field)
	}
	pt, err := hpke.Open(k.priv, sealKDF, sealAEAD, sealInfo(t, field), ct)
	if err != nil {
		return "", fmt.Errorf("%s: the sealed value does not open with this box's key (sealed for another box, another field or an old key)", field)
	}
	return string(pt), nil
}
