package agent_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment/sim"
)

type scanSeen struct {
	code string
	res  agent.ScanResult
	err  error
}

// recorder keeps what a watcher was told.
type recorder struct {
	mu     sync.Mutex
	scans  []scanSeen
	online []bool
}

func (r *recorder) watcher() agent.Watcher {
	return agent.Watcher{
		Scan: func(code string, res agent.ScanResult, err error) {
			r.mu.Lock()
			r.scans = append(r.scans, scanSeen{code, res, err})
			r.mu.Unlock()
		},
		Online: func(online bool) {
			r.mu.Lock()
			r.online = append(r.online, online)
			r.mu.Unlock()
		},
	}
}

func (r *recorder) seen() ([]scanSeen, []bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]scanSeen(nil), r.scans...), append([]bool(nil), r.online...)
}

// A watcher is told each scan with what became of it, and each change of
// the network; after stop, nothing.
func TestWatch(t *testing.T) {
	o := fast()
	o.CheckScan = func(code string) error {
		if code == "7038010055512" {
			return errors.New("a product barcode")
		}
		return nil
	}
	r := newRig(t, sim.Options{}, o)
	var rec recorder
	stop := r.agent.Watch(rec.watcher())

	if _, err := r.agent.Scan("7038010055512"); err == nil {
		t.Fatal("the barcode was taken")
	}
	if res, err := r.agent.Scan(vippsQR); err != nil || res.Outcome != "held" {
		t.Fatalf("scan: %+v %v", res, err)
	}
	s := r.sale(agent.SaleRequest{Amount: 1000})
	r.waitState(s.Reference, agent.Completed)

	// The network goes: the next sale's request finds no one; it comes back.
	r.sim.SetFault(sim.Fault{Endpoint: "*", Drop: 1})
	s2 := r.sale(agent.SaleRequest{Amount: 1000, Customer: &agent.Customer{PersonalQR: otherQR}})
	for {
		if st, err := r.agent.Status(); err != nil {
			t.Fatal(err)
		} else if !st.Online {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.sim.ClearFaults()
	r.waitState(s2.Reference, agent.Completed)
	stop()
	if _, err := r.agent.Scan("7038010055512"); err == nil {
		t.Fatal("the barcode was taken")
	}

	scans, online := rec.seen()
	if len(scans) != 2 {
		t.Fatalf("%d scans seen, want 2: %+v", len(scans), scans)
	}
	var ve *agent.ValidationError
	if scans[0].code != "7038010055512" || scans[0].res.Outcome != "refused" || !errors.As(scans[0].err, &ve) {
		t.Errorf("first scan seen as %+v", scans[0])
	}
	if scans[1].code != vippsQR || scans[1].res.Outcome != "held" || scans[1].err != nil {
		t.Errorf("second scan seen as %+v", scans[1])
	}
	if len(online) != 2 || online[0] || !online[1] {
		t.Errorf("network changes seen: %v, want [false true]", online)
	}
}
