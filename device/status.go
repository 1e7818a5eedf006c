package device

import (
	"bytes"
	"fmt"
	"time"
	"unicode/utf8"
)

// Status is what the technician page shows about a scanner.
type Status struct {
	// Name is the scanner's name from the configuration.
	Name string `json:"name"`
	// Driver is "serial" or "hid".
	Driver string `json:"driver"`
	// Match is how the scanner is found, as configured: "VID:PID[:SERIAL]"
	// or a device path.
	Match string `json:"match"`
	// Mode describes how the scanner is read: for serial the baud rate and
	// the terminator ("9600 baud, CR"), for HID the mode and layout
	// ("keyboard, no").
	Mode string `json:"mode"`

	// Connected tells whether the device is open now.
	Connected bool `json:"connected"`
	// Path is the device node in use (or last used), e.g. "/dev/ttyACM0".
	Path string `json:"path,omitempty"`
	// Product and Manufacturer are the USB strings, when known.
	Product      string `json:"product,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	// VIDPID is the USB identity "vvvv:pppp" (lower-case hex, as lsusb
	// shows it), when known.
	VIDPID string `json:"vidpid,omitempty"`
	// SerialNumber is the USB serial number, when known.
	SerialNumber string `json:"serialNumber,omitempty"`
	// Since is when the device was last opened or lost.
	Since time.Time `json:"since,omitzero"`

	// Scans counts the scans read since the scanner was started.
	Scans uint64 `json:"scans"`
	// LastScanAt is when the last scan arrived; zero before the first.
	LastScanAt time.Time `json:"lastScanAt,omitzero"`
	// LastScan is the last scan, shortened and with its digits and a
	// tokenised code's token masked (Shorten): never the whole code, which
	// may hold a phone number or stand for the customer.
	LastScan string `json:"lastScan,omitempty"`
	// Dropped counts input thrown away: frames over MaxScan bytes, reports
	// that could not be decoded.
	Dropped uint64 `json:"dropped"`
	// Reconnects counts the times the device was opened again after it was
	// lost.
	Reconnects uint64 `json:"reconnects"`
	// LastError is the last problem (open failed, device lost, input
	// dropped), with when it happened; empty when there was none.
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
}

// VIDPID formats a USB identity the way lsusb shows it.
func VIDPID(vid, pid uint16) string {
	return fmt.Sprintf("%04x:%04x", vid, pid)
}

// shortenMax is how many characters of a scan Shorten shows at most.
const shortenMax = 64

// Shorten describes a scan for logs and the technician page without
// revealing it: every run of 4 or more digits keeps only its last 3 (a phone
// number in a clear-text Vipps code becomes "•••••••678"), the token of a
// tokenised personal QR code (https://qr.vipps.no/p/TOKEN, which stands
// for the customer as the phone number does) keeps only its last 3
// characters, bytes that are not printable UTF-8 show as "\xNN", and the
// result is cut at 64 characters with the length of the whole scan
// appended ("…(213 bytes)").
func Shorten(code []byte) string {
	size := len(code)
	code = maskToken(code)
	out := make([]rune, 0, shortenMax+16)
	n := 0 // characters written, including escapes
	cut := false
	for i := 0; i < len(code); {
		if n >= shortenMax {
			cut = true
			break
		}
		if d := digitRun(code[i:]); d >= 4 {
			if n+d > shortenMax { // never show digits of a run that is cut
				for range shortenMax - n {
					out = append(out, '•')
				}
				cut = true
				break
			}
			for j := range d {
				if j < d-3 {
					out = append(out, '•')
				} else {
					out = append(out, rune(code[i+j]))
				}
			}
			i += d
			n += d
			continue
		}
		r, size := utf8.DecodeRune(code[i:])
		if (r == utf8.RuneError && size == 1) || r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			out = append(out, []rune(fmt.Sprintf(`\x%02x`, code[i]))...)
			i++
			n += 4
			continue
		}
		out = append(out, r)
		i += size
		n++
	}
	if cut {
		return fmt.Sprintf("%s…(%d bytes)", string(out), size)
	}
	return string(out)
}

// tokenPrefix begins a tokenised personal QR code (in any case, as the
// classifier's default pattern takes it).
const tokenPrefix = "https://qr.vipps.no/p/"

// maskToken returns code with all but the last 3 characters after
// tokenPrefix masked, or code itself when it is not a tokenised code.
func maskToken(code []byte) []byte {
	if len(code) < len(tokenPrefix) || !bytes.EqualFold(code[:len(tokenPrefix)], []byte(tokenPrefix)) {
		return code
	}
	token := code[len(tokenPrefix):]
	keep := len(token)
	for range 3 {
		if keep == 0 {
			break
		}
		_, size := utf8.DecodeLastRune(token[:keep])
		keep -= size
	}
	out := append([]byte{}, code[:len(tokenPrefix)]...)
	for i := 0; i < keep; {
		_, size := utf8.DecodeRune(token[i:])
		out = append(out, "•"...)
		i += size
	}
	return append(out, token[keep:]...)
}

func digitRun(b []byte) int {
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	return n
}
