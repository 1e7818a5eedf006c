package technician

import (
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/device/classify"
)

// What the box's answers to headquarters' technician actions (cmd/tillbox,
// fleet_actions.go) share with this page: the same masking of scans and
// the same words for a test payment.

// ScanLog keeps the latest scans the agent was handed, masked as the scan
// test shows them. Hand its Watch to agent.Watcher.Scan.
type ScanLog struct{ s *scans }

// NewScanLog keeps scans classified by c (nil: the default patterns).
func NewScanLog(c *classify.Classifier) *ScanLog {
	if c == nil {
		c = classify.Default()
	}
	return &ScanLog{s: &scans{c: c, now: time.Now}}
}

// Watch records one scan; it returns at once.
func (l *ScanLog) Watch(code string, res agent.ScanResult, err error) { l.s.watch(code, res, err) }

// Latest returns the scans kept, newest first.
func (l *ScanLog) Latest() []Scan { return l.s.latest() }

// TestPaymentOf is sale s as the test payment page shows it (the customer
// masked).
func TestPaymentOf(s agent.Sale) TestPayment { return testPaymentOf(s) }
