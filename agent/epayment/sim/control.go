package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent/clock"
	"github.com/tillbox/tillbox/agent/epayment"
)

// The control API under /sim/, for tests and the demo. It needs no credentials.
//
//	GET    /sim/payments                 the payments, oldest first ([]PaymentInfo); optional filters
//	                                     ?state=AUTHORIZED ?reference=R ?msn=M and ?limit=N (the first N)
//	GET    /sim/payments/{reference}     one payment (?msn= to pick among MSNs)
//	POST   /sim/app                      {"phoneNumber"|"reference"|neither, "action":"approve|reject|ignore", "delayMs":N};
//	                                     for a reference, also re-schedules that payment if still CREATED
//	GET    /sim/users                    the test users ([]User)
//	POST   /sim/users                    {"phoneNumber","token","customerToken","ineligible"} adds a user
//	GET    /sim/faults                   the faults in force ([]Fault)
//	POST   /sim/faults                   a Fault: {"endpoint","latencyMs","drop","status5xx","tooMany","locked","lost","count"}
//	DELETE /sim/faults                   clears every fault
//	GET    /sim/webhooks/deliveries      every delivery attempt ([]DeliveryAttempt)
//	POST   /sim/tokens/revoke            invalidates every access token
//	GET    /sim/clock                    {"now": time}
//	POST   /sim/clock/advance            {"ms":N}: moves a clock.Fake (tillbox sim --fake-clock; 400 for other clocks)

// PaymentInfo is what the simulator knows about a payment.
type PaymentInfo struct {
	MSN         string             `json:"msn"`
	Reference   string             `json:"reference"`
	State       epayment.State     `json:"state"`
	Amount      epayment.Amount    `json:"amount"`
	Aggregate   epayment.Aggregate `json:"aggregate"`
	Customer    *epayment.Customer `json:"customer,omitempty"`    // as sent
	PhoneNumber string             `json:"phoneNumber,omitempty"` // the customer's MSISDN, once known
	UserFlow    string             `json:"userFlow"`
	// CustomerInteraction and PaymentDescription are as created
	// (CUSTOMER_NOT_PRESENT when not sent).
	CustomerInteraction string `json:"customerInteraction"`
	PaymentDescription  string `json:"paymentDescription,omitempty"`
	// SystemHeaders are the Vipps-System-* headers sent with the create.
	SystemHeaders map[string]string       `json:"systemHeaders,omitempty"`
	PSPReference  string                  `json:"pspReference"`
	CreatedAt     time.Time               `json:"createdAt"`
	ExpiresAt     time.Time               `json:"expiresAt"`
	Ops           OpCounts                `json:"ops"`
	Events        []epayment.PaymentEvent `json:"events"`
}

func (p *payment) info() PaymentInfo {
	var cu *epayment.Customer
	if p.customer != nil {
		c := *p.customer
		cu = &c
	}
	return PaymentInfo{
		MSN:                 p.key.msn,
		Reference:           p.key.reference,
		State:               p.state,
		Amount:              p.amount,
		Aggregate:           p.aggregate(),
		Customer:            cu,
		PhoneNumber:         p.phone,
		UserFlow:            p.userFlow,
		CustomerInteraction: p.interaction,
		PaymentDescription:  p.description,
		SystemHeaders:       maps.Clone(p.system),
		PSPReference:        p.pspReference,
		CreatedAt:           p.createdAt,
		ExpiresAt:           p.expiresAt,
		Ops:                 p.ops,
		Events:              slices.Clone(p.events),
	}
}

// PaymentFilter picks payments for ListPayments. Zero fields do not filter.
type PaymentFilter struct {
	MSN       string
	Reference string
	State     epayment.State
	// Limit, when positive, keeps the first Limit payments (oldest first).
	Limit int
}

// Payments returns every payment the simulator holds, oldest first. Payments
// in a final state are forgotten after Options.Retention.
func (s *Server) Payments() []PaymentInfo { return s.ListPayments(PaymentFilter{}) }

// ListPayments returns the payments f picks, oldest first (then by MSN and
// reference). Only the payments returned are copied.
func (s *Server) ListPayments(f PaymentFilter) []PaymentInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := func(p *payment) bool {
		return (f.MSN == "" || p.key.msn == f.MSN) && (f.State == "" || p.state == f.State)
	}
	var ps []*payment
	if f.Reference != "" {
		for _, p := range s.refs[f.Reference] {
			if keep(p) {
				ps = append(ps, p)
			}
		}
	} else {
		ps = make([]*payment, 0, len(s.payments))
		for _, p := range s.payments {
			if keep(p) {
				ps = append(ps, p)
			}
		}
	}
	slices.SortFunc(ps, func(a, b *payment) int {
		if c := a.createdAt.Compare(b.createdAt); c != 0 {
			return c
		}
		if c := strings.Compare(a.key.msn, b.key.msn); c != 0 {
			return c
		}
		return strings.Compare(a.key.reference, b.key.reference)
	})
	if f.Limit > 0 && len(ps) > f.Limit {
		ps = ps[:f.Limit]
	}
	out := make([]PaymentInfo, len(ps))
	for i, p := range ps {
		out[i] = p.info()
	}
	return out
}

// Payment returns the payment with this reference under msn, or, when msn is
// "", the oldest with this reference under any MSN.
func (s *Server) Payment(msn, reference string) (PaymentInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var p *payment
	if msn != "" {
		p = s.payments[payKey{msn, reference}]
	} else if ps := s.refs[reference]; len(ps) > 0 {
		p = ps[0]
	}
	if p == nil {
		return PaymentInfo{}, false
	}
	return p.info(), true
}

// Now returns the simulator's clock.
func (s *Server) Now() time.Time { return s.now() }

func (s *Server) controlRoutes() {
	m := s.mux
	m.HandleFunc("GET /sim/payments", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := PaymentFilter{MSN: q.Get("msn"), Reference: q.Get("reference"), State: epayment.State(strings.ToUpper(q.Get("state")))}
		switch f.State {
		case "", epayment.StateCreated, epayment.StateAuthorized, epayment.StateAborted, epayment.StateExpired, epayment.StateTerminated:
		default:
			controlError(w, http.StatusBadRequest, "state must be CREATED, AUTHORIZED, ABORTED, EXPIRED or TERMINATED")
			return
		}
		if l := q.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 0 {
				controlError(w, http.StatusBadRequest, "limit must be a non-negative integer")
				return
			}
			f.Limit = n
		}
		writeControl(w, http.StatusOK, s.ListPayments(f))
	})
	m.HandleFunc("GET /sim/payments/{reference}", func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.Payment(r.URL.Query().Get("msn"), r.PathValue("reference"))
		if !ok {
			controlError(w, http.StatusNotFound, "no such payment")
			return
		}
		writeControl(w, http.StatusOK, p)
	})
	m.HandleFunc("POST /sim/app", s.controlApp)
	m.HandleFunc("GET /sim/users", func(w http.ResponseWriter, r *http.Request) {
		users := s.Users()
		slices.SortFunc(users, func(a, b User) int { return strings.Compare(a.PhoneNumber, b.PhoneNumber) })
		writeControl(w, http.StatusOK, users)
	})
	m.HandleFunc("POST /sim/users", func(w http.ResponseWriter, r *http.Request) {
		var u User
		if !readControl(w, r, &u) {
			return
		}
		switch {
		case !phonePattern.MatchString(u.PhoneNumber):
			controlError(w, http.StatusBadRequest, `phoneNumber must match ^\d{9,15}$`)
			return
		case u.Token != "" && !tokenPattern.MatchString(u.Token):
			controlError(w, http.StatusBadRequest, "token must be 4 to 200 URL-safe characters")
			return
		}
		s.AddUser(u)
		writeControl(w, http.StatusCreated, u)
	})
	m.HandleFunc("GET /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusOK, s.Faults())
	})
	m.HandleFunc("POST /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !readControl(w, r, &f) {
			return
		}
		if err := f.Validate(); err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return
		}
		s.SetFault(f)
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("DELETE /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /sim/webhooks/deliveries", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusOK, s.Deliveries())
	})
	m.HandleFunc("POST /sim/tokens/revoke", func(w http.ResponseWriter, r *http.Request) {
		s.RevokeTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /sim/clock", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusOK, clockState{Now: s.now()})
	})
	m.HandleFunc("POST /sim/clock/advance", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Ms int64 `json:"ms"`
		}
		if !readControl(w, r, &req) {
			return
		}
		fc, ok := s.clock.(*clock.Fake)
		switch {
		case !ok:
			controlError(w, http.StatusBadRequest, "the simulator's clock runs by itself and cannot be moved: start the simulator with a fake clock (tillbox sim --fake-clock, or Options.Clock = clock.NewFake(...))")
			return
		case req.Ms < 0:
			controlError(w, http.StatusBadRequest, "ms must not be negative")
			return
		}
		fc.Advance(time.Duration(req.Ms) * time.Millisecond)
		writeControl(w, http.StatusOK, clockState{Now: s.now()})
	})
}

type clockState struct {
	Now time.Time `json:"now"`
}

// appRequest is the body of POST /sim/app.
type appRequest struct {
	PhoneNumber string `json:"phoneNumber,omitempty"`
	Reference   string `json:"reference,omitempty"`
	Action      Action `json:"action"`
	DelayMs     int64  `json:"delayMs"`
}

func (s *Server) controlApp(w http.ResponseWriter, r *http.Request) {
	var req appRequest
	if !readControl(w, r, &req) {
		return
	}
	p := AppPolicy{Action: req.Action, Delay: time.Duration(req.DelayMs) * time.Millisecond}
	switch {
	case req.Action == 0:
		controlError(w, http.StatusBadRequest, "action must be approve, reject or ignore")
	case req.DelayMs < 0:
		controlError(w, http.StatusBadRequest, "delayMs must not be negative")
	case req.PhoneNumber != "" && req.Reference != "":
		controlError(w, http.StatusBadRequest, "give phoneNumber or reference, not both")
	case req.PhoneNumber != "" && !phonePattern.MatchString(req.PhoneNumber):
		controlError(w, http.StatusBadRequest, `phoneNumber must match ^\d{9,15}$`)
	case req.PhoneNumber != "":
		s.SetApp(req.PhoneNumber, p)
		w.WriteHeader(http.StatusNoContent)
	case req.Reference != "":
		s.SetApp("ref:"+req.Reference, p)
		w.WriteHeader(http.StatusNoContent)
	default:
		s.SetApp("", p)
		w.WriteHeader(http.StatusNoContent)
	}
}

func readControl(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBodyBytes))
	if err != nil {
		controlError(w, http.StatusBadRequest, "cannot read the body")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		controlError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return false
	}
	return true
}

func writeControl(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ctJSON)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func controlError(w http.ResponseWriter, status int, msg string) {
	writeControl(w, status, map[string]string{"error": msg})
}
