package natstest

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// A port taken between choosing it and the server binding it: Start tries
// again with new ports.
func TestStartRetriesTakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	calls := 0
	pickPorts = func(n int) ([]int, error) {
		calls++
		ps, err := freePorts(n)
		if err == nil && calls == 1 {
			ps[0] = taken.Addr().(*net.TCPAddr).Port // the client port
		}
		return ps, err
	}
	defer func() { pickPorts = freePorts }()
	s := Start(t, Options{})
	if calls != 2 {
		t.Fatalf("ports chosen %d times, want 2", calls)
	}
	if strings.HasSuffix(s.URL(), ":"+strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)) {
		t.Fatalf("the server listens on the taken port: %s", s.URL())
	}
	nc := s.Connect(t, s.URL(), s.HQ())
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}
