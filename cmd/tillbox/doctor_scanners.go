package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/udevrules"
)

// scannerFindings checks each configured scanner. When the box's tillbox
// runs (its POS API answers GET /api/v1/status with the configured token),
// each is reported as that tillbox sees it: open or not and why. Otherwise
// each is looked for among this machine's devices: plugged in or not.
func scannerFindings(ctx context.Context, c *config.Config, en enumerators, timeout time.Duration) []finding {
	if len(c.Scanners) == 0 {
		return []finding{{"scanners", "warn", "none configured: the cashier's POS sends the customer's code or phone number (tillbox devices lists candidates)"}}
	}
	if live, err := runningScanners(ctx, c, timeout); err == nil {
		out := make([]finding, 0, len(live))
		for _, s := range live {
			name := "scanner " + s.Name
			switch {
			case s.Connected:
				out = append(out, finding{name, "ok", fmt.Sprintf("%s %s at %s: open in the running tillbox, %d scans, %d reconnects", s.Driver, s.Match, s.Path, s.Scans, s.Reconnects)})
			case s.LastError != "":
				out = append(out, finding{name, "fail", fmt.Sprintf("%s %s: not open in the running tillbox: %s", s.Driver, s.Match, s.LastError)})
			default:
				out = append(out, finding{name, "fail", fmt.Sprintf("%s %s: not open in the running tillbox", s.Driver, s.Match)})
			}
		}
		return out
	}
	var ports []device.SerialPort
	var hids []device.HIDDevice
	var serialErr, hidErr error
	listed := map[string]bool{}
	out := make([]finding, 0, len(c.Scanners))
	for _, s := range c.Scanners {
		name := "scanner " + s.Name
		m, err := device.ParseMatch(s.Match)
		if err != nil { // Load validated it; kept for safety
			out = append(out, finding{name, "fail", err.Error()})
			continue
		}
		if m.Path != "" {
			if _, err := os.Stat(m.Path); err != nil {
				out = append(out, finding{name, "fail", fmt.Sprintf("%s %s is missing: is the scanner plugged in? (tillbox devices lists what is)", s.Driver, m.Path)})
			} else {
				out = append(out, finding{name, "ok", fmt.Sprintf("%s %s is there (tillbox is not running)", s.Driver, m.Path)})
			}
			continue
		}
		if !listed[s.Driver] {
			listed[s.Driver] = true
			if s.Driver == config.DriverSerial {
				ports, serialErr = en.serial()
			} else {
				hids, hidErr = en.hid()
			}
		}
		var at string
		var listErr error
		if s.Driver == config.DriverSerial {
			listErr = serialErr
			for _, p := range ports {
				if p.USB && p.VID == m.VID && p.PID == m.PID && (m.Serial == "" || p.SerialNumber == m.Serial) {
					at = p.Path
					break
				}
			}
		} else {
			listErr = hidErr
			for _, d := range hids {
				if d.VID == m.VID && d.PID == m.PID && (m.Serial == "" || d.SerialNumber == m.Serial) {
					at = d.Node()
					if at == "" {
						at = "USB " + d.Path
					}
					break
				}
			}
		}
		switch {
		case at != "":
			out = append(out, finding{name, "ok", fmt.Sprintf("%s %s is plugged in at %s (tillbox is not running)", s.Driver, m, at)})
		case listErr != nil:
			out = append(out, finding{name, "fail", fmt.Sprintf("%s %s: cannot list the devices: %v", s.Driver, m, listErr)})
		default:
			out = append(out, finding{name, "fail", fmt.Sprintf("%s %s is not plugged in (tillbox devices lists what is)", s.Driver, m)})
		}
	}
	return out
}

// runningScanners asks the tillbox serving c's POS API for its scanners.
func runningScanners(ctx context.Context, c *config.Config, timeout time.Duration) ([]device.Status, error) {
	base, hc, err := localAPI(c)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/status", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.POS.Token.Reveal())
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return nil, fmt.Errorf("GET /api/v1/status: %s", resp.Status)
	}
	var st struct {
		Scanners []device.Status `json:"scanners"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&st); err != nil {
		return nil, err
	}
	return st.Scanners, nil
}

// udevRulesDir is where install.sh puts the udev rules.
const udevRulesDir = "/etc/udev/rules.d"

// udevFinding compares the udev rules in dir with those of c's scanners
// (as install.sh makes them for the group of the service's user): rules
// made before the scanners changed (on the technician page, say) may not
// let the service open a new scanner, and still grant an old one.
func udevFinding(c *config.Config, path, group, dir string) finding {
	file := filepath.Join(dir, udevrules.FileName)
	us, err := udevScanners(c.Scanners)
	if err != nil {
		return finding{"udev", "fail", fmt.Sprintf("the rules of the configured scanners cannot be made: %v", err)}
	}
	want, _, err := udevrules.Generate(us, group, path)
	if err != nil {
		return finding{"udev", "fail", fmt.Sprintf("the rules of the configured scanners cannot be made: %v", err)}
	}
	have, err := os.ReadFile(file)
	switch {
	case errors.Is(err, os.ErrNotExist) && len(c.Scanners) == 0:
		return finding{"udev", "ok", fmt.Sprintf("no scanners configured, no %s", file)}
	case errors.Is(err, os.ErrNotExist):
		return finding{"udev", "warn", fmt.Sprintf("%s is missing: the service may not open its scanners; run scripts/install.sh as root", file)}
	case err != nil:
		return finding{"udev", "fail", err.Error()}
	case string(have) != want:
		return finding{"udev", "warn", fmt.Sprintf("%s is not that of the configured scanners (changed since install?): run scripts/install.sh as root again", file)}
	}
	return finding{"udev", "ok", fmt.Sprintf("%s grants the %d configured scanner(s) to the group %s, nothing else", file, len(c.Scanners), group)}
}
