package fleet

import (
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/store"
)

// TestPrunedBeforeTheLink: a box whose oldest events were pruned before
// the link was on ships from its oldest kept event and says which never
// reached headquarters.
func TestPrunedBeforeTheLink(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{tillA}})
	js := hq(t, s)
	hqStreams(t, js, time.Minute)
	j := watchJournal(t, js, tillA)
	b := newBox(t, "", store.Options{EventRetention: time.Hour})
	b.add(t, 10, time.Now().Add(-48*time.Hour))
	b.add(t, 5, time.Time{})
	if err := b.db.Update(func(tx *store.Tx) error { return tx.SetShipped(10) }); err != nil { // as if shipped elsewhere
		t.Fatal(err)
	}
	if p, err := b.db.Prune(time.Now()); err != nil || p.Events != 10 {
		t.Fatalf("prune: %+v %v", p, err)
	}
	if err := b.db.Update(func(tx *store.Tx) error { return tx.SetShipped(0) }); err != nil { // a new headquarters
		t.Fatal(err)
	}
	l := b.run(t, boxOptions(s, tillA))
	st := l.until(t, "the kept events shipped", func(s Status) bool { return s.Shipped == 15 })
	if st.PrunedFrom != 1 || st.PrunedTo != 10 {
		t.Errorf("status %+v: want events 1 to 10 named as never shipped", st)
	}
	j.waitCount(t, 5)
	j.check(t, tillA, b.raw(t))
}

// TestHeadquartersAhead: a box whose log is shorter than what
// headquarters holds for its till (an older copy of its database, or
// another box with its id) ships nothing and says why.
func TestHeadquartersAhead(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{tillA}})
	js := hq(t, s)
	hqStreams(t, js, time.Minute)
	first := newBox(t, "", store.Options{})
	first.add(t, 8, time.Time{})
	l := first.run(t, boxOptions(s, tillA))
	l.until(t, "8 shipped", func(s Status) bool { return s.Shipped == 8 })
	l.stop()

	restored := newBox(t, "", store.Options{})
	restored.add(t, 3, time.Time{})
	l2 := restored.run(t, boxOptions(s, tillA))
	st := l2.until(t, "the refusal", func(s Status) bool { return s.Ahead })
	if !strings.Contains(st.LastError, "headquarters holds events up to 8") || st.AtHQ != 8 {
		t.Errorf("status %+v", st)
	}
	j := watchJournal(t, js, tillA)
	j.waitCount(t, 8)
	if n := j.count(); n != 8 {
		t.Errorf("headquarters holds %d events, want the first box's 8", n)
	}
}
