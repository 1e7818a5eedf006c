package display

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent/clock"
)

// Options configure a Hub. The zero value of each field is a default.
type Options struct {
	// Clock is the time of holds and expiry; nil is the real clock. Use the
	// agent's (agent.Options().Clock).
	Clock clock.Clock
	// OutcomeHold is how long paid, declined, expired and cancelled stay
	// on screen before the display is idle again. Default 8 s.
	OutcomeHold time.Duration
	// FlashFor is how long "code not recognised" stays. Default 5 s.
	FlashFor time.Duration
	// ScanWindow is how long a scan waits for a sale: the agent's
	// (agent.Options().ScanWindow). Default 60 s.
	ScanWindow time.Duration
	// PaymentLifetime is the time the customer has to confirm, counted from
	// the payment request: 10 minutes at Vipps MobilePay.
	PaymentLifetime time.Duration
	// QueueLen is how many changes a display may fall behind before it is
	// dropped. Default 16.
	QueueLen int
	// PingEvery is how often a display's connection is pinged (and sent a
	// keepalive the page watches for); WriteWait bounds each write. Default
	// 15 s and 5 s.
	PingEvery, WriteWait time.Duration
	// Logger gets the hub's log; nil discards it.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.OutcomeHold, 8*time.Second)
	def(&o.FlashFor, 5*time.Second)
	def(&o.ScanWindow, time.Minute)
	def(&o.PaymentLifetime, 10*time.Minute)
	def(&o.PingEvery, 15*time.Second)
	def(&o.WriteWait, 5*time.Second)
	if o.QueueLen <= 0 {
		o.QueueLen = 16
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Hub holds the tills of a box and their displays.
type Hub struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	tills  map[string]*Till
	first  string
	closed bool
}

// NewHub returns a hub with no till.
func NewHub(opts Options) *Hub {
	o := opts.withDefaults()
	return &Hub{opts: o, log: o.Logger, tills: map[string]*Till{}}
}

// ErrClosed is the error of AddTill after Close.
var ErrClosed = errors.New("display: hub closed")

func errLanguage(lang string) error {
	return fmt.Errorf("display: language %q: use one of %s", lang, strings.Join(Languages, ", "))
}

// AddTill adds a till whose displays speak lang; the till starts online,
// idle. The first till added is the one a display gets when it names none.
func (h *Hub) AddTill(id, lang string) (*Till, error) {
	if !ValidLanguage(lang) {
		return nil, errLanguage(lang)
	}
	if id == "" {
		return nil, errors.New("display: a till needs an id")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if _, ok := h.tills[id]; ok {
		return nil, fmt.Errorf("display: till %q added twice", id)
	}
	t := &Till{id: id, hub: h, lang: lang, online: true, subs: map[*Subscription]struct{}{}}
	t.shown, t.sent = t.view(h.opts.Clock.Now()), true
	h.tills[id] = t
	if h.first == "" {
		h.first = id
	}
	return t, nil
}

// Till returns the till id, or the first till for "", or nil.
func (h *Hub) Till(id string) *Till {
	h.mu.Lock()
	defer h.mu.Unlock()
	if id == "" {
		id = h.first
	}
	return h.tills[id]
}

// Close drops every display (their connections close) and stops the
// tills' timers. Safe to call more than once.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	tills := make([]*Till, 0, len(h.tills))
	for _, t := range h.tills {
		tills = append(tills, t)
	}
	h.mu.Unlock()
	for _, t := range tills {
		t.close()
	}
}
