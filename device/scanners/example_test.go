package scanners_test

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/classify"
	"github.com/tillbox/tillbox/device/scanners"
)

// The wiring of the agent: scans from every configured scanner, checked by
// the classifier; a personal QR code goes to the agent whole, anything else
// is refused on the display and never sent to Vipps.
func Example() {
	// cmd/tillbox converts the [[scanner]] entries (config.Specs).
	cfgs := []device.Spec{{Name: "front", Driver: device.DriverSerial, Match: device.Match{VID: 0x0c2e, PID: 0x0b61}, Baud: 9600, Terminator: device.Terminator{Bytes: "\r"}}}
	m, err := scanners.Open(cfgs, scanners.Options{Logger: slog.Default()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	c := classify.Default()
	agentScan := func(code string) {} // (*agent.Agent).Scan
	show := func(text string) {}      // the customer display
	for s := range m.Scans() {
		code := string(s.Data)
		if _, err := c.Classify(code); err != nil {
			var r *classify.Refusal
			errors.As(err, &r)
			slog.Info("scan refused", "scan", device.Shorten(s.Data), "reason", r.Reason)
			show(r.Reason.Message())
			continue
		}
		show(c.Recognised(code))
		agentScan(code)
	}
}
