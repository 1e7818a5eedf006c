package posapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/store"
)

// Paths of the probes, outside /api/: a load balancer, systemd helper or
// monitoring system calls them without the POS token.
const (
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
)

// Check is one condition of readiness.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Readiness is the answer of /readyz.
type Readiness struct {
	Ready  bool    `json:"ready"`
	Checks []Check `json:"checks"`
}

// healthz answers while the process serves HTTP: it touches nothing else.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Status string `json:"status"`
	}{"ok"})
}

// readyz answers 200 when the box can take a sale, 503 otherwise. The
// details are counts and states, never secrets, error texts or addresses.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	rd := s.readiness()
	status := http.StatusOK
	if !rd.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, rd)
}

func (s *server) readiness() Readiness {
	var checks []Check
	st, err := s.agent.Status()
	if err != nil {
		s.log.Error("readyz: store", "err", err)
		checks = append(checks, Check{Name: "store", Detail: "the database cannot be read: see the box's log"},
			Check{Name: "epayment", Detail: "unknown: the database cannot be read"})
	} else {
		checks = append(checks, s.storeCheck())
		c := Check{Name: "epayment", OK: st.Online && !st.QueueFull}
		switch {
		case st.Online && !st.QueueFull:
			c.Detail = fmt.Sprintf("reachable; %d commands queued", st.Queued)
		case st.QueueFull:
			c.Detail = fmt.Sprintf("outbox over its caps (%d queued, at most %d, none older than %s): new sales are refused", st.Queued, st.MaxQueued, st.MaxQueueAge)
		default:
			c.OK = true
			c.Detail = fmt.Sprintf("unreachable; %d commands queued, within the outbox's caps", st.Queued)
		}
		checks = append(checks, c, credentialsCheck(st))
	}
	if s.scanners != nil {
		for _, sc := range s.scanners() {
			c := Check{Name: "scanner " + sc.Name, OK: sc.Connected, Detail: "connected"}
			if !sc.Connected {
				c.Detail = "not connected"
			}
			checks = append(checks, c)
		}
	}
	rd := Readiness{Ready: true, Checks: checks}
	for _, c := range checks {
		rd.Ready = rd.Ready && c.OK
	}
	return rd
}

// credentialsCheck fails while Vipps MobilePay refuses the box's
// credentials: no sale can go through until a technician mends them.
func credentialsCheck(st agent.Status) Check {
	switch st.Auth {
	case agent.AuthRefused:
		return Check{Name: "credentials", Detail: "refused by Vipps MobilePay (401/403): no payment can be sent; check client_id, client_secret, subscription_key and msn in [vipps]"}
	case agent.AuthAccepted:
		return Check{Name: "credentials", OK: true, Detail: "accepted"}
	}
	return Check{Name: "credentials", OK: true, Detail: "not used yet"}
}

// storeCheck is the store's condition: open, and no damaged record known
// (the store checks every record at start and remembers one met since).
func (s *server) storeCheck() Check {
	var ce *store.CorruptError
	checked, err := s.agent.StoreDamage()
	if errors.As(err, &ce) {
		what := "a record"
		if ce.Record != "" {
			what = ce.Record
		}
		return Check{Name: "store", Detail: fmt.Sprintf("damaged: %s cannot be read; stop tillbox, run `tillbox doctor` (it checks every page and record) and restore the newest backup", what)}
	} else if err != nil {
		return Check{Name: "store", Detail: "damaged: stop tillbox, run `tillbox doctor` (it checks every page and record) and restore the newest backup"}
	}
	if !checked {
		return Check{Name: "store", OK: true, Detail: "open; checking its records"}
	}
	return Check{Name: "store", OK: true, Detail: "open"}
}

// busy tells an update tool whether a payment is in flight.
func (s *server) busy(w http.ResponseWriter, r *http.Request) {
	if err := s.noQuery(r); err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.agent.Busy()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}
