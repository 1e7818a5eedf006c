package devicetest

import (
	"testing"
)

func TestScanner(t *testing.T) {
	s := New("front")
	got := make(chan string, 1)
	go func() {
		sc := <-s.Scans()
		got <- sc.Source + " " + string(sc.Data)
	}()
	if !s.Send("hello") {
		t.Fatal("Send on an open scanner reported false")
	}
	if g := <-got; g != "front hello" {
		t.Errorf("got %q", g)
	}
	st := s.Status()
	if st.Scans != 1 || st.LastScan != "hello" || !st.Connected {
		t.Errorf("status %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.Send("late") {
		t.Error("Send after Close reported true")
	}
	if _, ok := <-s.Scans(); ok {
		t.Error("Scans not closed after Close")
	}
	if s.Status().Connected {
		t.Error("connected after Close")
	}
}
