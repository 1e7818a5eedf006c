// Package hidreport reads what a USB HID report descriptor says an
// interface is: the usage page and usage of its first top-level
// (application) collection, as the HID specification (Device Class
// Definition for HID 1.11, §6.2.2) encodes them. 0x8C is a bar code
// scanner in HID POS mode; 0x01 with usage 0x06 a keyboard.
//
// Only what that needs is decoded: item headers (short and long items),
// Usage Page (global), Push and Pop, Usage (local, 1, 2 or 4 bytes; 4
// bytes is an extended usage whose high half is the page), and the first
// Collection; other main items end the local usages. Everything else is
// skipped by its size.
package hidreport

import (
	"errors"
	"fmt"
)

// Usage is a usage page and a usage within it.
type Usage struct {
	Page uint16
	ID   uint16
}

func (u Usage) String() string { return fmt.Sprintf("0x%04x:0x%04x", u.Page, u.ID) }

// Errors of TopLevel.
var (
	// ErrTruncated: an item runs past the end of the descriptor before a
	// top-level collection.
	ErrTruncated = errors.New("hidreport: truncated item")
	// ErrNoCollection: the descriptor opens no collection.
	ErrNoCollection = errors.New("hidreport: no top-level collection")
	// ErrNoUsagePage: the first top-level collection has no usage page.
	ErrNoUsagePage = errors.New("hidreport: the top-level collection has no usage page")
)

// maxPush bounds the Push nesting; a descriptor deeper than that is
// nonsense (the kernel allows 4).
const maxPush = 16

// Item prefixes: tag and type, without the size bits.
const (
	tagUsagePage  = 0x04 // global
	tagPush       = 0xA4 // global
	tagPop        = 0xB4 // global
	tagUsage      = 0x08 // local
	tagCollection = 0xA0 // main
	typeMain      = 0x00
	longItem      = 0xFE
)

// TopLevel returns the usage of the descriptor's first top-level
// collection: the usage page in force there (or the page of an extended
// usage) and the first usage declared before it (0 when none).
func TopLevel(desc []byte) (Usage, error) {
	var (
		page  uint16   // the global usage page
		stack []uint16 // pages saved by Push
		usage uint32   // the first local usage since the last main item
		ext   bool     // usage is extended (4 bytes: page in the high half)
		seen  bool     // a usage is set
	)
	for i := 0; i < len(desc); {
		prefix := desc[i]
		if prefix == longItem {
			// bDataSize, bLongItemTag, then the data.
			if i+2 >= len(desc) {
				return Usage{}, ErrTruncated
			}
			i += 3 + int(desc[i+1])
			if i > len(desc) {
				return Usage{}, ErrTruncated
			}
			continue
		}
		size := int(prefix & 0x03)
		if size == 3 {
			size = 4
		}
		if i+1+size > len(desc) {
			return Usage{}, ErrTruncated
		}
		var v uint32
		for k := size - 1; k >= 0; k-- {
			v = v<<8 | uint32(desc[i+1+k])
		}
		i += 1 + size

		switch tag := prefix &^ 0x03; tag {
		case tagUsagePage:
			page = uint16(v)
		case tagPush:
			if len(stack) == maxPush {
				return Usage{}, fmt.Errorf("hidreport: Push nested deeper than %d", maxPush)
			}
			stack = append(stack, page)
		case tagPop:
			if n := len(stack); n > 0 {
				page, stack = stack[n-1], stack[:n-1]
			}
		case tagUsage:
			if !seen {
				usage, ext, seen = v, size == 4, true
			}
		case tagCollection:
			// The first collection is a top-level one: nothing encloses it.
			u := Usage{Page: page, ID: uint16(usage)}
			if ext {
				u.Page = uint16(usage >> 16)
			}
			if u.Page == 0 {
				return u, ErrNoUsagePage
			}
			return u, nil
		default:
			if (prefix>>2)&0x03 == typeMain { // Input, Output, Feature, End Collection
				usage, ext, seen = 0, false, false
			}
		}
	}
	return Usage{}, ErrNoCollection
}
