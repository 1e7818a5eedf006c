package main

import (
	"fmt"
	"strings"

	"github.com/tillbox/tillbox/agent/config"
)

// fleetConfigFinding says which of headquarters' layers the box runs with
// (as kept in the data folder) and which it refused, with the field and
// the reason: WARN when one was refused.
func fleetConfigFinding(c *config.Config) finding {
	var applied []string
	for _, l := range c.Layers() {
		applied = append(applied, fmt.Sprintf("%s (revision %d)", l.Key, l.Revision))
	}
	detail := "no layer from headquarters yet"
	if len(applied) > 0 {
		detail = "layers from headquarters applied: " + strings.Join(applied, ", ")
	}
	refused := c.LayersRefused()
	if len(refused) == 0 {
		return finding{"fleet-config", "ok", detail}
	}
	var r []string
	for _, x := range refused {
		r = append(r, fmt.Sprintf("%s revision %d (%s: %s)", x.Key, x.Revision, x.Field, x.Reason))
	}
	return finding{"fleet-config", "warn", detail + "; refused, the last good one kept: " + strings.Join(r, "; ") + " — headquarters sees the same in the heartbeat"}
}
