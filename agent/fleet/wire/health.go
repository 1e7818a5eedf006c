package wire

// What a heartbeat's health fields (issue 14, alerts) say; headquarters
// turns them into alerts (cmd/tillbox-hq/internal/alerts).

// Values of [Heartbeat.Auth]: what the last answer of Vipps MobilePay said
// of the box's credentials (its token request, or a call).
const (
	AuthUnknown  = "unknown"  // no answer yet
	AuthAccepted = "accepted" // the last answer showed a valid token
	AuthRefused  = "refused"  // 401 or 403: a wrong client secret, subscription key or MSN; LastError says how
)

// QueueNear reports whether queue has reached fraction (0 to 1) of the
// box's cap; false when the box did not say its cap.
func (h Heartbeat) QueueNear(fraction float64) bool {
	return h.QueueCap > 0 && float64(h.Queue) >= fraction*float64(h.QueueCap)
}
