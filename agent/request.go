package agent

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/tillbox/tillbox/agent/epayment"
)

// SaleRequest is what the cash register asks for. Money is minor units.
type SaleRequest struct {
	// Reference is the POS's own reference; empty means one is generated
	// (till id + counter).
	Reference   string `json:"reference,omitempty"`
	Amount      int64  `json:"amount"`
	Currency    string `json:"currency"`
	Description string `json:"description,omitempty"`
	// Customer is optional: without it the sale waits for a scan.
	Customer *Customer `json:"customer,omitempty"`
	// Lines are the receipt's lines; when given they must sum to Amount.
	Lines []Line `json:"lines,omitempty"`
	// Capture overrides the agent's capture mode for this sale: "auto" or
	// "manual"; empty keeps the agent's.
	Capture string `json:"capture,omitempty"`
}

// Customer is who pays: the whole text of the personal QR code they showed,
// or a phone number typed by the cashier. Exactly one.
type Customer struct {
	PersonalQR  string `json:"personalQr,omitempty"`
	PhoneNumber string `json:"phoneNumber,omitempty"`
}

// Line is one line of the receipt. Amount includes tax and discount;
// TaxRate is in hundredths of a percent (2500 = 25 %).
type Line struct {
	ID        string `json:"id,omitempty"`
	Name      string `json:"name"`
	Quantity  string `json:"quantity,omitempty"`
	UnitPrice int64  `json:"unitPrice,omitempty"`
	Amount    int64  `json:"amount"`
	TaxRate   int64  `json:"taxRate"`
	Discount  int64  `json:"discount,omitempty"`
	IsReturn  bool   `json:"isReturn,omitempty"`
}

// ValidationError names the field of a request that is wrong, and why.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

func invalid(field, format string, a ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, a...)}
}

var (
	referencePattern = regexp.MustCompile(`^[a-zA-Z0-9-]{8,64}$`)
	msisdnPattern    = regexp.MustCompile(`^\d{9,15}$`)
	quantityPattern  = regexp.MustCompile(`^\d+(\.\d{1,8})?$`)
)

// validate checks r against the rules of ePayment (FACTS.md §4) and of this
// sales unit, so that a bad sale is refused at the till, not by Vipps
// MobilePay minutes later. It fills in defaults.
func (r *SaleRequest) validate(o *Options) error {
	if r.Reference != "" && !referencePattern.MatchString(r.Reference) {
		return invalid("reference", "must be 8 to 64 letters, digits or dashes")
	}
	if r.Currency == "" {
		return invalid("currency", "is required (%s)", o.Currency)
	}
	if epayment.Currency(r.Currency) != o.Currency {
		return invalid("currency", "this till takes %s, not %q", o.Currency, r.Currency)
	}
	min, _ := epayment.MinAmount(o.Currency)
	switch {
	case r.Amount < min:
		return invalid("amount", "must be at least %d (minor units of %s)", min, o.Currency)
	case r.Amount > epayment.MaxAmount:
		return invalid("amount", "must be at most %d (minor units)", epayment.MaxAmount)
	}
	if r.Description == "" {
		r.Description = o.DefaultDescription
	}
	if n := utf8.RuneCountInString(r.Description); n < 3 || n > 100 {
		return invalid("description", "must be 3 to 100 characters, not %d", n)
	}
	if !utf8.ValidString(r.Description) {
		return invalid("description", "is not valid UTF-8")
	}
	if c := r.Customer; c != nil {
		switch {
		case c.PersonalQR != "" && c.PhoneNumber != "":
			return invalid("customer", "give personalQr or phoneNumber, not both")
		case c.PersonalQR != "":
			// The same check as a scan's: the configured [[scan.pattern]]s
			// (Options.CheckScan), so that a code the scanner refuses is not
			// sent to Vipps MobilePay from the POS either.
			err := checkPersonalQR(c.PersonalQR)
			if err == nil && o.CheckScan != nil {
				err = o.CheckScan(c.PersonalQR)
			}
			if err != nil {
				return invalid("customer.personalQr", "%s", err)
			}
		case c.PhoneNumber != "":
			if !msisdnPattern.MatchString(c.PhoneNumber) {
				return invalid("customer.phoneNumber", "must be 9 to 15 digits: country code and number, no + or spaces (e.g. 4712345678)")
			}
		default:
			r.Customer = nil
		}
	}
	switch r.Capture {
	case "", "auto", "manual":
	default:
		return invalid("capture", `must be "auto" or "manual"`)
	}
	if len(r.Lines) > 0 {
		if len(r.Lines) > 500 {
			return invalid("lines", "at most 500 lines")
		}
		var sum int64
		for i, l := range r.Lines {
			field := fmt.Sprintf("lines[%d]", i)
			switch {
			case strings.TrimSpace(l.Name) == "" || utf8.RuneCountInString(l.Name) > 100:
				return invalid(field+".name", "must be 1 to 100 characters")
			case l.Amount < 0 || l.Amount > epayment.MaxAmount:
				return invalid(field+".amount", "must be 0 to %d; mark returns with isReturn", epayment.MaxAmount)
			case l.TaxRate < 0 || l.TaxRate > 10000:
				return invalid(field+".taxRate", "must be 0 to 10000 (hundredths of a percent)")
			case l.Discount < 0 || l.UnitPrice < 0:
				return invalid(field, "discount and unitPrice must not be negative")
			case l.Quantity != "" && (!quantityPattern.MatchString(l.Quantity) || len(l.Quantity) > 10):
				return invalid(field+".quantity", `must be a number like "2" or "0.822"`)
			}
			if l.IsReturn {
				sum -= l.Amount
			} else {
				sum += l.Amount
			}
		}
		if sum != r.Amount {
			return invalid("lines", "sum to %d, but amount is %d", sum, r.Amount)
		}
	}
	return nil
}

// checkPersonalQR checks what ePayment checks of customer.personalQr: the
// length. Whether the text is a personal QR code is the scanner's and
// Vipps MobilePay's to judge; it is sent whole, never parsed.
func checkPersonalQR(s string) error {
	if n := len(s); n < 5 || n > 255 {
		return fmt.Errorf("must be the whole scanned code, 5 to 255 characters, not %d", n)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("contains bytes that are not printable text")
	}
	return nil
}

// receipt builds the Vipps receipt of the POS's lines; nil without lines.
func (r *SaleRequest) receipt(till string) *epayment.Receipt {
	if len(r.Lines) == 0 {
		return nil
	}
	rc := &epayment.Receipt{BottomLine: epayment.BottomLine{Currency: epayment.Currency(r.Currency), PosID: till}}
	for i, l := range r.Lines {
		id := l.ID
		if id == "" {
			id = fmt.Sprint(i + 1)
		}
		// Tax included in Amount at TaxRate/10000: excl = amount / (1 + rate).
		excl := (l.Amount*10000 + (10000+l.TaxRate)/2) / (10000 + l.TaxRate)
		rate := l.TaxRate
		ol := epayment.OrderLine{Name: l.Name, ID: id, TotalAmount: l.Amount, TotalAmountExcludingTax: excl,
			TotalTaxAmount: l.Amount - excl, TaxRate: &rate, IsReturn: l.IsReturn}
		if l.Discount > 0 {
			d := l.Discount
			ol.Discount = &d
		}
		if l.Quantity != "" || l.UnitPrice > 0 {
			q := l.Quantity
			if q == "" {
				q = "1"
			}
			ol.UnitInfo = &epayment.UnitInfo{UnitPrice: l.UnitPrice, Quantity: q, QuantityUnit: "PCS"}
		}
		rc.OrderLines = append(rc.OrderLines, ol)
	}
	return rc
}
