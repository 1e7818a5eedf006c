package wire

import (
	"regexp"
	"strings"
	"testing"
)

func TestRefundSubjectsAndIDs(t *testing.T) {
	a := Till{Chain: "acme", Store: "oslo-1", Till: "t1"}
	for _, subj := range []string{a.RefundRequestSubject(), a.RefundQueueSubject(), a.RefundResultSubject(), a.RefundStatusSubject()} {
		kind, got, err := ParseSubject(subj)
		if err != nil || got != a || !strings.HasPrefix(kind, "refund") {
			t.Errorf("%s: %q %+v %v", subj, kind, got, err)
		}
		matched := false
		for _, s := range RefundStreamSubjects("acme") {
			matched = matched || strings.HasPrefix(subj, strings.TrimSuffix(s, ">"))
		}
		if !matched {
			t.Errorf("%s is not in the refund stream", subj)
		}
	}
	// The owner's refund id is a local refund's id, the same for the same
	// key, another for another asker.
	b := Till{Chain: "acme", Store: "bergen-1", Till: "t1"}
	id := OwnerRefundID(RefundKey(a, "bergen-1-t1-000001", "r1"))
	if !regexp.MustCompile(`^[a-zA-Z0-9-]{1,40}$`).MatchString(id) || id != OwnerRefundID(RefundKey(a, "bergen-1-t1-000001", "r1")) {
		t.Errorf("owner refund id %q", id)
	}
	if id == OwnerRefundID(RefundKey(b, "bergen-1-t1-000001", "r1")) {
		t.Error("two askers' refunds share an id")
	}
	if RefundRank(RefundQueued) >= RefundRank(RefundAccepted) || RefundRank(RefundAccepted) >= RefundRank(RefundCompleted) ||
		RefundRank(RefundRefused) != RefundRank(RefundCompleted) || RefundRank("x") != 0 {
		t.Error("refund ranks out of order")
	}
}

func TestRefundPermissionsAreItsOwn(t *testing.T) {
	a := Till{Chain: "acme", Store: "s1", Till: "t1"}
	b := Till{Chain: "acme", Store: "s1", Till: "t2"}
	p := BoxPermissions(a)
	want := map[string]bool{a.RefundRequestSubject(): false, a.RefundResultSubject(): false,
		a.RefundQueueConsumer().NextSubject(): false, a.RefundStatusConsumer().NextSubject(): false}
	for _, s := range p.Publish {
		if _, ok := want[s]; ok {
			want[s] = true
		}
		for _, theirs := range []string{b.RefundRequestSubject(), b.RefundResultSubject(), b.RefundQueueSubject(), b.RefundStatusSubject(),
			b.RefundQueueConsumer().Name, b.RefundStatusConsumer().Name} {
			if strings.Contains(s, theirs) {
				t.Errorf("box %s may publish %q (%s's)", a, s, b)
			}
		}
	}
	for s, ok := range want {
		if !ok {
			t.Errorf("box %s may not publish %q", a, s)
		}
	}
}
