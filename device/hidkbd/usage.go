package hidkbd

// Usages of the Keyboard/Keypad page (0x07) that are not characters, from
// the USB HID Usage Tables 1.4, section 10.
const (
	usageErrorRollOver  = 0x01 // every slot holds it when too many keys are down
	usagePOSTFail       = 0x02
	usageErrorUndef     = 0x03
	usageEnter          = 0x28
	usageTab            = 0x2B
	usageSpace          = 0x2C
	usageCapsLock       = 0x39
	usageKPEnter        = 0x58
	usageKP1            = 0x59 // keypad 1..9 are 0x59..0x61, keypad 0 is 0x62
	usageKP0            = 0x62
	usageNonUSHash      = 0x32 // the ISO key left of Enter; Linux maps it like 0x31
	usageNonUSBackslash = 0x64 // the ISO key left of Z
	usageLeftCtrl       = 0xE0 // the modifiers as keys: 0xE0..0xE7
	usageRightGUI       = 0xE7
)

// Bits of the modifier byte (byte 0 of a boot report).
const (
	modLCtrl  = 0x01
	modLShift = 0x02
	modLAlt   = 0x04
	modLGUI   = 0x08
	modRCtrl  = 0x10
	modRShift = 0x20
	modRAlt   = 0x40 // AltGr on layouts that have it
	modRGUI   = 0x80

	modShift = modLShift | modRShift
	modCtrl  = modLCtrl | modRCtrl
	modGUI   = modLGUI | modRGUI
)

// ReportLen is the length of a boot keyboard report: modifiers, reserved,
// six key slots.
const ReportLen = 8
