package wire

import (
	"strings"
	"testing"
)

func TestSubjectsRoundTrip(t *testing.T) {
	till := Till{Chain: "acme", Store: "oslo-1", Till: "t-2"}
	if err := till.Check(); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{till.JournalSubject(), till.HeartbeatSubject(), till.RelaySubject()} {
		kind, got, err := ParseSubject(subj)
		if err != nil {
			t.Fatal(err)
		}
		if got != till || !strings.Contains(subj, "."+kind+".") {
			t.Errorf("%s: parsed %q %+v", subj, kind, got)
		}
	}
	if got := till.MsgID(42); got != "acme/oslo-1/t-2:42" {
		t.Errorf("MsgID = %q", got)
	}
}

func TestBadIDsAndSubjects(t *testing.T) {
	for _, till := range []Till{
		{Chain: "a.b", Store: "s", Till: "t"}, {Chain: "a", Store: "*", Till: "t"}, {Chain: "a", Store: "s", Till: ">"},
		{Chain: "", Store: "s", Till: "t"}, {Chain: "a", Store: "unrouted", Till: "t"}, {Chain: "a", Store: "s", Till: "t t"},
		{Chain: "a_b", Store: "s", Till: "t"}, {Chain: "a", Store: "s_1", Till: "t"}, {Chain: "a", Store: "s", Till: "t_1"},
	} {
		if till.Check() == nil {
			t.Errorf("%+v accepted", till)
		}
	}
	for _, subj := range []string{"", "tillbox", "tillbox.a.journal.s", "tillbox.a.journal.s.t.u", "other.a.journal.s.t",
		UnroutedSubject("a", "123456")} {
		if _, _, err := ParseSubject(subj); err == nil {
			t.Errorf("%q parsed", subj)
		}
	}
}

func TestBoxPermissionsAreItsOwn(t *testing.T) {
	a := Till{Chain: "acme", Store: "s1", Till: "t1"}
	b := Till{Chain: "acme", Store: "s1", Till: "t2"}
	p := BoxPermissions(a)
	for _, s := range append(p.Publish, p.Subscribe...) {
		if strings.Contains(s, "*") || strings.HasSuffix(s, ".t2") || strings.Contains(s, "_t2") {
			t.Errorf("box %s may use %q", a, s)
		}
		if s == b.JournalSubject() || s == b.RelaySubject() {
			t.Errorf("box %s may use box %s's %q", a, b, s)
		}
	}
}

// TestIDsNeverShareNames: consumers and inboxes join the ids with "_", so
// an id may not hold one: till b_c of store a and till c of store a_b
// would share their relay and refund consumers and their inbox prefix.
func TestIDsNeverShareNames(t *testing.T) {
	x := Till{Chain: "acme", Store: "a", Till: "b_c"}
	y := Till{Chain: "acme", Store: "a_b", Till: "c"}
	if x.RelayConsumer() != y.RelayConsumer() {
		t.Fatalf("the names no longer collide (%s, %s): this test wants a new pair", x.RelayConsumer(), y.RelayConsumer())
	}
	for _, till := range []Till{x, y} {
		err := till.Check()
		if err == nil || !strings.Contains(err.Error(), "no underscore") {
			t.Errorf("%+v: %v, want a refusal saying why", till, err)
		}
	}
	if err := CheckID("till", "kasse-3"); err != nil {
		t.Errorf("kasse-3: %v", err)
	}
}
