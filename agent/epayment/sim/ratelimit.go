package sim

import (
	"sync"
	"time"
)

// Rate limits of the ePayment API (FACTS.md §6), counted in a sliding window of
// one minute by the simulator's clock. Each operation is counted on its own:
// createPayment, capturePayment, cancelPayment and refundPayment 5 per minute
// per reference and MSN; getPayment and getPaymentEventLog 120 per minute per
// reference and subscription key. Replays count (the gateway cannot tell them
// apart); refused requests do not.
const (
	rateWindow      = time.Minute
	modifyRateLimit = 5
	queryRateLimit  = 120
	sweepThreshold  = 4096
)

type rateLimiter struct {
	mu        sync.Mutex
	hits      map[string][]time.Time
	lastSweep time.Time
}

func newRateLimiter() *rateLimiter {
	return &rateLimiter{hits: make(map[string][]time.Time)}
}

// allow counts a request under key, or reports how long until one is allowed.
func (l *rateLimiter) allow(key string, limit int, now time.Time) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.hits) > sweepThreshold && now.Sub(l.lastSweep) > rateWindow {
		l.lastSweep = now
		for k, h := range l.hits {
			if len(h) == 0 || !h[len(h)-1].After(now.Add(-rateWindow)) {
				delete(l.hits, k)
			}
		}
	}
	h := l.hits[key]
	cut := 0
	for cut < len(h) && !h[cut].After(now.Add(-rateWindow)) {
		cut++
	}
	h = h[cut:]
	if len(h) >= limit {
		l.hits[key] = h
		return false, h[0].Add(rateWindow).Sub(now)
	}
	l.hits[key] = append(h, now)
	return true, 0
}

// rateLimit applies c's operation's limit for reference; nil means go ahead.
func (s *Server) rateLimit(c *call, reference string) *reply {
	var key string
	var limit int
	switch c.rt.op {
	case opCreatePayment, opCapturePayment, opCancelPayment, opRefundPayment:
		key, limit = c.rt.op+"\x00"+c.msn+"\x00"+reference, modifyRateLimit
	case opGetPayment, opGetEventLog:
		key, limit = c.rt.op+"\x00"+c.subKey+"\x00"+reference, queryRateLimit
	default:
		return nil
	}
	ok, wait := s.limiter.allow(key, limit, s.now())
	if ok {
		return nil
	}
	secs := int((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return c.tooManyRequests(secs)
}
