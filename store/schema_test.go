package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestOpenCreatesCurrentSchema(t *testing.T) {
	db, path := newTestDB(t, Options{})
	if st := mustStats(t, db); st.SchemaVersion != uint64(len(schema())) {
		t.Errorf("schema version %d, want %d", st.SchemaVersion, len(schema()))
	}
	// Creation goes through a temporary file linked into place; only the
	// database, its journal and its pid file remain.
	if got, want := dirNames(t, filepath.Dir(path)), []string{"tillbox.db", "tillbox.db.journal", "tillbox.db.pid"}; !reflect.DeepEqual(got, want) {
		t.Errorf("directory holds %v, want %v", got, want)
	}
}

// rawBolt writes a file by hand, as an old tillbox (or another program)
// would have.
func rawBolt(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fn != nil {
		if err := bdb.Update(fn); err != nil {
			t.Fatal(err)
		}
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}
}

// An empty bbolt file is schema version 0 and is migrated.
func TestMigrateFromV0(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tillbox.db")
	rawBolt(t, path, nil)
	db := openTestDB(t, path, Options{})
	if st := mustStats(t, db); st.SchemaVersion != uint64(len(schema())) {
		t.Errorf("schema version %d, want %d", st.SchemaVersion, len(schema()))
	}
	mustUpdate(t, db, func(tx *Tx) error { return tx.CreateSale(testSale("r-1", 1)) })
}

// The mechanism, with migrations a later tillbox might ship: pending ones
// run in order, in one transaction, and transform existing records; a
// failing one leaves the file exactly as it was.
func TestMigrationsInOrderOrNotAtAll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tillbox.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		for _, ref := range []string{"r-1", "r-2"} {
			if err := tx.CreateSale(testSale(ref, 1)); err != nil {
				return err
			}
		}
		return nil
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	var ran []string
	v2 := func(tx *bolt.Tx) error { // a data migration: lower-case every currency
		ran = append(ran, "v2")
		b := tx.Bucket([]byte(bucketSales))
		return b.ForEach(func(k, v []byte) error {
			var s map[string]any
			if err := json.Unmarshal(v, &s); err != nil {
				return err
			}
			s["currency"] = strings.ToLower(s["currency"].(string))
			nv, err := json.Marshal(s)
			if err != nil {
				return err
			}
			return b.Put(k, nv)
		})
	}
	v3 := func(tx *bolt.Tx) error { // a new bucket
		ran = append(ran, "v3")
		_, err := tx.CreateBucket([]byte("receipts"))
		return err
	}
	migs := append(schema(), v2, v3)
	db, err = open(path, Options{}, migs)
	if err != nil {
		t.Fatalf("open with v2, v3: %v", err)
	}
	if !reflect.DeepEqual(ran, []string{"v2", "v3"}) {
		t.Errorf("migrations ran: %v", ran)
	}
	mustView(t, db, func(tx *Tx) error {
		if v, _ := schemaVersion(tx.btx); v != uint64(len(migs)) {
			t.Errorf("schema version %d, want %d", v, len(migs))
		}
		s, err := tx.Sale("r-2")
		if err == nil && s.Currency != "nok" {
			t.Errorf("currency %q: v2 did not run on the data", s.Currency)
		}
		return err
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// v4 fails halfway: nothing of it is kept, and v4 is not recorded.
	before := digest(t, path)
	v4 := func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket([]byte("half")); err != nil {
			return err
		}
		return errors.New("v4 is broken")
	}
	if _, err := open(path, Options{}, append(migs, v4)); err == nil || !strings.Contains(err.Error(), "v4 is broken") {
		t.Fatalf("open with a failing v4 = %v", err)
	}
	if after := digest(t, path); after.sum != before.sum {
		t.Error("a failed migration changed the file")
	}

	// And this binary, which knows only its own schema, refuses the newer
	// file untouched.
	_, err = Open(path, Options{})
	var se *SchemaError
	if !errors.Is(err, ErrSchemaTooNew) || !errors.As(err, &se) || se.Version != uint64(len(migs)) || se.Known != uint64(len(schema())) {
		t.Fatalf("Open of a v%d file = %v, want a SchemaError %d > %d", len(migs), err, len(migs), len(schema()))
	}
	if after := digest(t, path); after != before {
		t.Error("Open of a too-new file changed it")
	}
	t.Log(err)
}

func TestSchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tillbox.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	rawBolt(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketMeta)).Put([]byte(keySchemaVersion), u64Key(99))
	})
	before := digest(t, path)
	_, err = Open(path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), fmt.Sprintf("schema version 99, but this tillbox knows only up to %d", len(schema()))) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
	if after := digest(t, path); after != before {
		t.Error("Open changed a too-new file")
	}
}

// A bbolt file of another program is not taken over.
func TestForeignBboltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	rawBolt(t, path, func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("widgets"))
		return err
	})
	before := digest(t, path)
	_, err := Open(path, Options{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not a tillbox database") {
		t.Fatalf("Open = %v, want ErrCorrupt: not a tillbox database", err)
	}
	if after := digest(t, path); after != before {
		t.Error("Open changed a foreign file")
	}
}
