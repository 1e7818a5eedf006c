// Package hidpos decodes the reports of a barcode scanner in HID POS mode
// (USB HID usage page 0x8C, Bar Code Scanner): the scanner sends each code
// in one or more "scanned data" input reports instead of typing it.
//
// The decoder does not parse the HID report descriptor: it reads reports of
// a fixed, known layout, a Format. Standard is the layout of the Scanned
// Data Report (usage 0x8C:0x12) as scanners in HID POS mode send it, e.g.
// Honeywell's "USB HID POS" interface (the WebHID and hidapi readers of
// those scanners use the same offsets):
//
//	byte  0      report ID 0x02
//	byte  1      number of data bytes in this report, 0..56
//	bytes 2..4   AIM symbology identifier (Symbology Identifier 1..3,
//	             usages 0xFB..0xFD), e.g. "]Q1" for QR Code, "]E0" for EAN-13
//	bytes 5..60  decoded data (usage 0xFE), 56 bytes, the unused ones zero
//	bytes 61..62 vendor symbology code and reserved
//	byte  63     bit 0: Decode Data Continued (usage 0xFF): more reports
//	             of this code follow
//
// A code longer than 56 bytes spans several reports: every one but the last
// has bit 0 of byte 63 set. Some scanners (e.g. Newland's HID POS) have no
// such flag and carry the data from byte 2: for them a Format with MoreAt
// < 0 says that a full report (56 bytes) means more follow, and a shorter
// (possibly empty) one ends the code.
//
// Reports are passed as read from the device with the report ID as their
// first byte (the hidapi convention for devices with numbered reports).
package hidpos

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/tillbox/tillbox/device"
)

// Format is the layout of a scanned data report. Offsets count from the
// report ID byte.
type Format struct {
	Name        string
	ReportID    byte // the first byte of a scanned data report
	Size        int  // bytes in a report, report ID included (for Encode)
	LengthAt    int  // the byte with the number of data bytes
	DataAt      int  // the first data byte
	DataMax     int  // the data bytes one report holds
	SymbologyAt int  // the 3-byte AIM symbology identifier; < 0: none
	MoreAt      int  // the byte with the continuation flag; < 0: a full report means more follow
	MoreMask    byte // the continuation bit(s) in that byte
}

// Standard is the HID POS scanned data report described in the package
// comment.
var Standard = Format{
	Name: "hidpos", ReportID: 0x02, Size: 64,
	LengthAt: 1, SymbologyAt: 2, DataAt: 5, DataMax: 56, MoreAt: 63, MoreMask: 0x01,
}

// Newland is the report of Newland scanners in HID POS mode: data from
// byte 2, no AIM identifier, no continuation flag.
var Newland = Format{
	Name: "newland", ReportID: 0x02, Size: 64,
	LengthAt: 1, SymbologyAt: -1, DataAt: 2, DataMax: 56, MoreAt: -1,
}

func (f Format) validate() error {
	switch {
	case f.LengthAt < 1 || f.DataAt < 1 || f.DataMax < 1:
		return errors.New("hidpos: format needs a length byte and data after the report ID")
	case f.Size < f.DataAt+f.DataMax || f.Size <= f.LengthAt:
		return fmt.Errorf("hidpos: format %q: %d-byte report cannot hold %d data bytes at %d", f.Name, f.Size, f.DataMax, f.DataAt)
	case f.MoreAt >= f.Size || f.SymbologyAt+3 > f.Size:
		return fmt.Errorf("hidpos: format %q: flag or symbology beyond the %d-byte report", f.Name, f.Size)
	case f.MoreAt >= 0 && f.MoreMask == 0:
		return fmt.Errorf("hidpos: format %q: continuation byte without a mask", f.Name)
	}
	return nil
}

// Scan is one decoded code.
type Scan struct {
	Data      []byte
	Symbology string // AIM identifier, e.g. "]Q1"; empty when not sent
}

// Stats count what a Decoder saw and threw away.
type Stats struct {
	Reports   uint64 // reports fed
	Scans     uint64 // codes completed
	Other     uint64 // reports with another report ID: ignored
	Malformed uint64 // reports too short or with a bad length: their code is dropped
	Dropped   uint64 // codes longer than the bound: dropped
}

// Decoder joins scanned data reports into codes. It is not safe for
// concurrent use.
type Decoder struct {
	f        Format
	max      int
	buf      []byte
	sym      string
	started  bool // a code is in progress
	dropping bool // the code in progress is lost: skip to its last report
	stats    Stats
}

// NewDecoder returns a Decoder for reports of format f; codes longer than
// device.MaxScan are dropped.
func NewDecoder(f Format) (*Decoder, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	return &Decoder{f: f, max: device.MaxScan}, nil
}

// Feed takes one report and returns the code it completes, if any. The
// Scan owns its bytes.
func (d *Decoder) Feed(report []byte) (Scan, bool) {
	d.stats.Reports++
	f := d.f
	if len(report) == 0 {
		d.stats.Malformed++
		return Scan{}, false
	}
	if report[0] != f.ReportID {
		d.stats.Other++
		return Scan{}, false
	}
	more := false
	if f.MoreAt >= 0 && f.MoreAt < len(report) {
		more = report[f.MoreAt]&f.MoreMask != 0
	}
	if len(report) <= f.LengthAt {
		return d.malformed(more)
	}
	n := int(report[f.LengthAt])
	if n > f.DataMax || f.DataAt+n > len(report) {
		return d.malformed(more)
	}
	if f.MoreAt < 0 {
		more = n == f.DataMax
	}
	if !d.started {
		d.started = true
		d.sym = ""
		if f.SymbologyAt >= 0 && f.SymbologyAt+3 <= len(report) {
			d.sym = aim(report[f.SymbologyAt : f.SymbologyAt+3])
		}
	}
	if !d.dropping {
		d.buf = append(d.buf, report[f.DataAt:f.DataAt+n]...)
		if len(d.buf) > d.max {
			d.stats.Dropped++
			d.dropping = true
			d.buf = d.buf[:0]
		}
	}
	if more {
		return Scan{}, false
	}
	return d.end()
}

// malformed drops the code in progress; when the bad report said more
// follow, the rest of the code is skipped too.
func (d *Decoder) malformed(more bool) (Scan, bool) {
	d.stats.Malformed++
	d.buf = d.buf[:0]
	d.started = more
	d.dropping = more
	return Scan{}, false
}

// end finishes the code in progress.
func (d *Decoder) end() (Scan, bool) {
	data, sym, dropped := d.buf, d.sym, d.dropping
	d.buf, d.started, d.dropping = d.buf[:0], false, false
	if dropped || len(data) == 0 {
		return Scan{}, false
	}
	d.stats.Scans++
	return Scan{Data: bytes.Clone(data), Symbology: sym}, true
}

// Flush ends a code whose last report never came (with MoreAt < 0, a code
// of exactly a multiple of DataMax bytes): call it after a gap in the
// reports.
func (d *Decoder) Flush() (Scan, bool) {
	if !d.started {
		return Scan{}, false
	}
	return d.end()
}

// Stats returns the counts so far.
func (d *Decoder) Stats() Stats { return d.stats }

// Reset forgets the code in progress, e.g. after the device was lost.
func (d *Decoder) Reset() {
	d.buf, d.started, d.dropping = d.buf[:0], false, false
}

// aim returns a symbology identifier if b holds one: "]" and two printable
// ASCII characters.
func aim(b []byte) string {
	if b[0] != ']' || b[1] <= ' ' || b[1] > '~' || b[2] <= ' ' || b[2] > '~' {
		return ""
	}
	return string(b)
}

// Encode returns the reports a scanner sends for data in format f, with the
// symbology identifier sym when f has room for one. It is the inverse of
// the Decoder, for test fixtures and emulated scanners.
func Encode(f Format, data []byte, sym string) ([][]byte, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	var out [][]byte
	for first := true; first || len(data) > 0; first = false {
		n := min(len(data), f.DataMax)
		r := make([]byte, f.Size)
		r[0] = f.ReportID
		r[f.LengthAt] = byte(n)
		if f.SymbologyAt >= 0 {
			copy(r[f.SymbologyAt:f.SymbologyAt+3], sym)
		}
		copy(r[f.DataAt:], data[:n])
		data = data[n:]
		if f.MoreAt >= 0 && len(data) > 0 {
			r[f.MoreAt] |= f.MoreMask
		}
		out = append(out, r)
		if f.MoreAt < 0 && len(data) == 0 && n == f.DataMax {
			// A full last report would say "more": end with an empty one.
			end := make([]byte, f.Size)
			end[0] = f.ReportID
			out = append(out, end)
		}
	}
	return out, nil
}
