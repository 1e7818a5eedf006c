package ingest

import (
	"fmt"
	"testing"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
)

// TestDecodeNewest: when the newest events of a sale in a batch do not
// decode, they are left out and the newest one that decodes is decoded,
// so the sale is written from it.
func TestDecodeNewest(t *testing.T) {
	till := wire.Till{Chain: "oslo", Store: "s", Till: "t1"}
	good := `{"reference":"s1","amount":1000,"state":"completed"}`
	var evs []hqdb.Event
	for i, data := range []string{good, `{"amount":"ten"}`, `{"amount":"eleven"}`} {
		seq := uint64(i + 1)
		body := fmt.Sprintf(`{"seq":%d,"reference":"s1","kind":"sale","state":"completed","at":"2026-12-07T10:00:00Z","data":%s}`, seq, data)
		ev, err := hqdb.ReadEvent(till, []byte(body), seq)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	var unreadable []uint64
	bad := decodeNewest(evs, func(i int, err error) { unreadable = append(unreadable, evs[i].Seq) })
	if len(bad) != 2 || len(unreadable) != 2 {
		t.Fatalf("left out %v, unreadable seqs %v: want the two that do not decode", bad, unreadable)
	}
	for i, e := range evs {
		if e.Seq == 1 && (bad[i] || e.Sale == nil || e.Sale.Amount != 1000) {
			t.Errorf("the newest event that decodes: left out %v, sale %+v; want it decoded", bad[i], e.Sale)
		}
		if e.Seq != 1 && !bad[i] {
			t.Errorf("event %d does not decode but was kept", e.Seq)
		}
	}
}
