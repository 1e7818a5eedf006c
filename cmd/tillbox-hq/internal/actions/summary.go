package actions

import (
	"fmt"
	"strings"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// summary is an answer in one line, for the audit.
func summary(rep *wire.ActionReply) string {
	switch {
	case rep.Status != nil:
		s := rep.Status
		vipps := "Vipps MobilePay online"
		if !s.Online {
			vipps = "Vipps MobilePay offline"
		}
		connected := 0
		for _, sc := range s.Scanners {
			if sc.Connected {
				connected++
			}
		}
		return fmt.Sprintf("version %s, %s, queue %d, %d in flight, scanners %d of %d connected, journal %d/%d at headquarters",
			s.Version, vipps, s.Queue, len(s.InFlight), connected, len(s.Scanners), s.Shipped, s.LastSeq)
	case rep.Logs != nil:
		return fmt.Sprintf("%d log records at %s or above", len(rep.Logs.Records), rep.Logs.Level)
	case rep.TestPayment != nil:
		tp := rep.TestPayment
		return fmt.Sprintf("test payment %s: %s", tp.Reference, tp.Says)
	case rep.Scanners != nil:
		c := rep.Scanners
		var names []string
		for _, sc := range c.Scanners {
			state := "connected"
			if !sc.Connected {
				state = "not connected"
			}
			names = append(names, sc.Name+" "+state)
		}
		if len(names) == 0 {
			names = []string{"no scanner"}
		}
		return fmt.Sprintf("%s; %d recent scans", strings.Join(names, ", "), len(c.Scans))
	case rep.Restart != nil && rep.Restart.Restarting:
		return "restarting"
	}
	return ""
}
