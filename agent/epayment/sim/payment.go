package sim

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
)

// Payment lifetimes (FACTS.md §4, §10).
const (
	paymentLifetime        = 10 * time.Minute // 5 min to open + 5 min to approve
	unknownOutcomeLifetime = time.Hour        // magic amount 201
)

// payKey names a payment: references are unique per MSN, not globally.
type payKey struct{ msn, reference string }

// payment is one simulated payment and its state machine. Guarded by Server.mu.
type payment struct {
	key         payKey
	amount      epayment.Amount
	customer    *epayment.Customer // as sent
	phone       string             // the customer's MSISDN, once known
	userFlow    string
	interaction string
	method      string
	description string
	metadata    map[string]string
	scope       string
	redirectURL string
	token       string            // the token of redirectUrl, for force approve
	sub         string            // profile.sub, once authorised with a scope
	system      map[string]string // Vipps-System-* headers of the create

	state                                     epayment.State
	authorized, captured, refunded, cancelled int64
	pspReference                              string // of the CREATED event
	events                                    []epayment.PaymentEvent
	createdAt, expiresAt                      time.Time
	ops                                       OpCounts

	stopExpiry, stopApp func()
	// The customer app's pending decision: what it will do and when (zero
	// when nothing is scheduled). appGen counts the schedules, so that a
	// decision replaced while its timer was already firing does nothing.
	appAction Action
	appAt     time.Time
	appGen    uint64
}

// OpCounts counts the operations actually applied to a payment. Idempotent
// replays, rejected requests and faults that did not apply are not counted.
type OpCounts struct {
	Create  int `json:"create"`
	Capture int `json:"capture"`
	Refund  int `json:"refund"`
	Cancel  int `json:"cancel"`
}

func (p *payment) money(v int64) epayment.Amount {
	return epayment.Amount{Currency: p.amount.Currency, Value: v}
}

func (p *payment) aggregate() epayment.Aggregate {
	return epayment.Aggregate{
		AuthorizedAmount: p.money(p.authorized),
		CancelledAmount:  p.money(p.cancelled),
		CapturedAmount:   p.money(p.captured),
		RefundedAmount:   p.money(p.refunded),
	}
}

func (p *payment) view() epayment.Payment {
	v := epayment.Payment{
		Aggregate:     p.aggregate(),
		Amount:        p.amount,
		State:         p.state,
		PaymentMethod: epayment.PaymentMethodResponse{Type: p.method},
		Profile:       epayment.ProfileResponse{Sub: p.sub},
		PSPReference:  p.pspReference,
		RedirectURL:   p.redirectURL,
		Reference:     p.key.reference,
		Metadata:      p.metadata,
	}
	return v
}

func (p *payment) modification() epayment.ModificationResponse {
	return epayment.ModificationResponse{
		Amount:       p.amount,
		State:        p.state,
		Aggregate:    p.aggregate(),
		PSPReference: p.pspReference,
		Reference:    p.key.reference,
	}
}

// uncaptured is what is still reserved: authorised, not captured, not cancelled.
func (p *payment) uncaptured() int64 { return p.authorized - p.captured - p.cancelled }

// lastActivity is the time of p's last event.
func (p *payment) lastActivity() time.Time {
	if len(p.events) == 0 {
		return p.createdAt
	}
	return p.events[len(p.events)-1].Timestamp
}

// stopTimers cancels the pending expiry and app decision of a payment that
// reached a final state.
func (p *payment) stopTimers() {
	if p.stopExpiry != nil {
		p.stopExpiry()
		p.stopExpiry = nil
	}
	if p.stopApp != nil {
		p.stopApp()
		p.stopApp = nil
	}
	p.appAction, p.appAt = 0, time.Time{}
}

// record appends an event to p's log and queues its webhook deliveries.
// Must be called with s.mu held.
func (s *Server) record(p *payment, name epayment.EventName, value int64, idemKey string, success bool) epayment.PaymentEvent {
	ev := epayment.PaymentEvent{
		Reference:    p.key.reference,
		PSPReference: s.newPSPReference(),
		Name:         name,
		Amount:       p.money(value),
		Timestamp:    s.now(),
		Success:      success,
	}
	if idemKey != "" {
		k := idemKey
		ev.IdempotencyKey = &k
	}
	p.events = append(p.events, ev)
	s.noteLedger(p, ev)
	s.enqueueWebhooks(p.key.msn, ev)
	return ev
}

// newPSPReference returns a new unique numeric pspReference. Must be called
// with s.mu held.
func (s *Server) newPSPReference() string {
	s.pspSeq++
	return strconv.FormatUint(s.pspBase+s.pspSeq, 10)
}

// authorize moves a CREATED payment to AUTHORIZED. Must be called with s.mu held.
func (s *Server) authorize(p *payment) {
	p.state = epayment.StateAuthorized
	p.authorized = p.amount.Value
	if p.scope != "" {
		p.sub = newUUID()
	}
	p.stopTimers()
	s.record(p, epayment.EventAuthorized, p.amount.Value, "", true)
}

// abort moves a CREATED payment to ABORTED (the customer said no, or the
// approval failed). Must be called with s.mu held.
func (s *Server) abort(p *payment) {
	p.state = epayment.StateAborted
	p.stopTimers()
	s.record(p, epayment.EventAborted, p.amount.Value, "", true)
}

// expire moves a CREATED payment to EXPIRED. Must be called with s.mu held.
func (s *Server) expire(p *payment) {
	p.state = epayment.StateExpired
	p.stopTimers()
	s.record(p, epayment.EventExpired, p.amount.Value, "", true)
}

// newUUID returns a random version 4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// newOpaqueToken returns a random URL-safe token.
func newOpaqueToken() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
