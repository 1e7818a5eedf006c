package classify

// Reason is why a scan is not a personal QR code: a stable key for the
// customer display to translate.
type Reason string

// The reasons.
const (
	ReasonEmpty          Reason = "empty"           // nothing was read
	ReasonNotText        Reason = "not-text"        // bytes that are not text, or control characters
	ReasonTooLong        Reason = "too-long"        // longer than MaxLen
	ReasonProductBarcode Reason = "product-barcode" // digits only: EAN, UPC, GTIN
	ReasonOtherVipps     Reason = "other-vipps"     // a qr.vipps.no code that is not a personal QR (a payment or merchant code)
	ReasonOtherURL       Reason = "other-url"       // a link elsewhere
	ReasonUnknown        Reason = "unknown"         // anything else
)

var messages = map[Reason]string{
	ReasonEmpty:          "Nothing was read. Please scan again.",
	ReasonNotText:        "The code could not be read. Please scan again.",
	ReasonTooLong:        "This code is too long to be a personal QR code.",
	ReasonProductBarcode: "This is a product barcode. Please scan the personal QR code in your Vipps or MobilePay app.",
	ReasonOtherVipps:     "This Vipps MobilePay code is not a personal QR code. Please scan the QR code from your profile in the app.",
	ReasonOtherURL:       "This QR code is not a Vipps MobilePay personal QR code.",
	ReasonUnknown:        "This is not a Vipps MobilePay personal QR code.",
}

// Message is the reason in English, for the display and the log.
func (r Reason) Message() string {
	if m, ok := messages[r]; ok {
		return m
	}
	return messages[ReasonUnknown]
}

// Refusal is the error of a scan that is not a personal QR code. It never
// holds the code, which may carry a phone number.
type Refusal struct {
	Reason Reason
}

func (r *Refusal) Error() string {
	return "not a personal QR code (" + string(r.Reason) + "): " + r.Reason.Message()
}
