package posapi

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/store"
	"github.com/tillbox/tillbox/store/storetest"
)

// TestBackupDownload: the copy streamed while the agent runs opens as a
// database and holds the sales.
func TestBackupDownload(t *testing.T) {
	r := newRig(t, rigOptions{})
	for _, ref := range []string{"backup-sale-1", "backup-sale-2"} {
		if a := r.send(call{method: http.MethodPost, path: "/api/v1/sales", body: jsonOf(t, sale(ref, 1000))}); a.status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", ref, a.status, a.body)
		}
	}
	a := r.send(call{method: http.MethodGet, path: "/api/v1/backup"})
	if a.status != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Disposition"), `attachment; filename="tillbox-`) {
		t.Fatalf("backup: %d %v", a.status, a.header)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, a.body, 0o600); err != nil {
		t.Fatal(err)
	}
	db := storetest.Open(t, path, store.Options{})
	if err := db.Verify(); err != nil {
		t.Fatalf("the backup is damaged: %v", err)
	}
	var n int
	if err := db.View(func(tx *store.Tx) error {
		sales, err := tx.Sales("", 10)
		n = len(sales)
		return err
	}); err != nil || n != 2 {
		t.Errorf("the backup holds %d sales (%v), want 2", n, err)
	}

	if a := r.send(call{method: http.MethodGet, path: "/api/v1/backup", auth: "-", malformed: true}); a.status != http.StatusUnauthorized {
		t.Errorf("backup without the token: %d", a.status)
	}
	if a := r.send(call{method: http.MethodGet, path: "/api/v1/backup?x=1", malformed: true}); a.status != http.StatusBadRequest {
		t.Errorf("backup with a query: %d", a.status)
	}
}
