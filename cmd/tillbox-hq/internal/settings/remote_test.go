package settings

import (
	"slices"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/agent/config"
)

// Headquarters offers and takes exactly the fields a box takes from its
// layers (config.RemoteKeys, the sealed secrets, the scanners): a field a
// box refuses as "cannot be set by headquarters" is refused when it is
// set, before any box sees it. (A test import: headquarters itself does
// not link the box's configuration.)
func TestRemoteFieldsAreTheBoxs(t *testing.T) {
	var box []string
	for section, keys := range config.RemoteKeys {
		for _, k := range keys {
			box = append(box, section+"."+k)
		}
	}
	slices.Sort(box)
	if hq := slices.Sorted(slices.Values(RemoteFields)); !slices.Equal(hq, box) {
		t.Errorf("headquarters sets %v; a box takes %v", hq, box)
	}
	if !slices.Equal(SecretFields, config.SealedKeys) {
		t.Errorf("headquarters seals %v; a box opens %v", SecretFields, config.SealedKeys)
	}
	for _, f := range KnownFields {
		if err := CheckField(f); err != nil {
			t.Errorf("the forms offer %s, refused: %v", f, err)
		}
	}
	for _, f := range []string{"sales.max_queued", "metrics.enabled", "box.hosts", "log.level", "sync.workers", "sales.capture", "pos.listen",
		"vipps.client_secret_file", "vipps.subscription_key_file", "pos.token_file"} {
		err := CheckField(f)
		if err == nil || !strings.Contains(err.Error(), "cannot be set by headquarters") {
			t.Errorf("CheckField(%s) = %v, want a refusal: a box takes it from its file only", f, err)
		}
	}
}
