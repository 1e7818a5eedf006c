package sim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/tillbox/tillbox/agent/epayment"
)

// The Order Management API v2 (FACTS.md §9): receipts (immutable: the second
// POST is 409), categories (last one wins) and reading an order back. Errors use
// Order Management's own shape (epayment.OMError). The API does not check that
// the order exists. A receipt sent inside createPayment is stored here too, for
// paymentType ECOM and the payment's reference. The path's paymentType is
// accepted in any case (docs use "ecom", the spec "ECOM").

var (
	orderIDPattern  = regexp.MustCompile(`^[0-9A-Za-z_.\-]+$`)
	imageIDPattern  = regexp.MustCompile(`^[0-9A-Za-z_.\-]{1,128}$`)
	quantityPattern = regexp.MustCompile(`^\d+([.]\d{1,8})?$`)
	paymentTypes    = map[string]bool{"ECOM": true, "RECURRING": true}
	receiptCurrency = map[epayment.Currency]bool{epayment.NOK: true, epayment.DKK: true, epayment.EUR: true}
	quantityUnits   = map[string]bool{"PCS": true, "KG": true, "KM": true, "MINUTE": true, "LITRE": true, "KWH": true}
	barcodeFormats  = map[string]bool{"EAN-13": true, "CODE 39": true, "CODE 128": true}
	categories      = map[string]bool{
		epayment.CategoryGeneral: true, epayment.CategoryReceipt: true, epayment.CategoryOrderConfirmation: true,
		epayment.CategoryDelivery: true, epayment.CategoryTicket: true, epayment.CategoryBooking: true,
	}
)

type orderKey struct{ msn, paymentType, orderID string }

type order struct {
	receipt    *epayment.Receipt
	receiptID  string
	category   *epayment.Category
	categoryID string
}

// orderPath reads and checks {paymentType} and {orderId}.
func (c *call) orderPath() (orderKey, *reply) {
	pt := strings.ToUpper(c.r.PathValue("paymentType"))
	id := c.r.PathValue("orderId")
	var fs []field
	if !paymentTypes[pt] {
		fs = append(fs, field{"paymentType", "The paymentType must be ECOM or RECURRING."})
	}
	if !orderIDPattern.MatchString(id) {
		fs = append(fs, field{"orderId", "The orderId must match the regular expression '" + orderIDPatternDescription + "'."})
	}
	if len(fs) > 0 {
		return orderKey{}, c.invalid(fs...)
	}
	return orderKey{c.msn, pt, id}, nil
}

// handleCreateReceipt is POST /order-management/v2/{paymentType}/receipts/{orderId}.
func (s *Server) handleCreateReceipt(c *call) *reply {
	key, rep := c.orderPath()
	if rep != nil {
		return rep
	}
	var r epayment.Receipt
	if err := json.Unmarshal(c.body, &r); err != nil {
		return c.invalid(typeErrorField(err))
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(c.body, &raw)
	var fs []field
	if !present(raw, "orderLines") {
		fs = append(fs, field{"orderLines", "The orderLines field is required."})
	}
	if !present(raw, "bottomLine") {
		fs = append(fs, field{"bottomLine", "The bottomLine field is required."})
	}
	if fs = append(fs, validateReceipt("", &r)...); len(fs) > 0 {
		return c.invalid(fs...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[key]
	if o == nil {
		o = &order{}
		s.orders[key] = o
	}
	if o.receipt != nil {
		return c.problem(http.StatusConflict, "", "Conflict", "A receipt was already added to this order; receipts cannot be changed.")
	}
	o.receipt, o.receiptID = &r, newUUID()
	return jsonReply(http.StatusCreated, ctJSON, o.receiptID)
}

// handlePutCategory is PUT /order-management/v2/{paymentType}/categories/{orderId}.
func (s *Server) handlePutCategory(c *call) *reply {
	key, rep := c.orderPath()
	if rep != nil {
		return rep
	}
	var cat epayment.Category
	if err := json.Unmarshal(c.body, &cat); err != nil {
		return c.invalid(typeErrorField(err))
	}
	var fs []field
	if !categories[cat.Category] {
		fs = append(fs, field{"category", "The category must be one of GENERAL, RECEIPT, ORDER_CONFIRMATION, DELIVERY, TICKET, BOOKING."})
	}
	if u, err := url.Parse(cat.OrderDetailsURL); err != nil || !u.IsAbs() {
		fs = append(fs, field{"orderDetailsUrl", "The orderDetailsUrl must be an absolute URL."})
	}
	if cat.ImageID != "" && !imageIDPattern.MatchString(cat.ImageID) {
		fs = append(fs, field{"imageId", "The imageId must match '^[0-9A-Za-z-_\\.]+$' and be at most 128 characters."})
	}
	if len(fs) > 0 {
		return c.invalid(fs...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[key]
	if o == nil {
		o = &order{}
		s.orders[key] = o
	}
	o.category, o.categoryID = &cat, newUUID()
	return jsonReply(http.StatusOK, ctJSON, o.categoryID)
}

// handleGetOrder is GET /order-management/v2/{paymentType}/{orderId}.
func (s *Server) handleGetOrder(c *call) *reply {
	key, rep := c.orderPath()
	if rep != nil {
		return rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[key]
	if o == nil {
		return c.problem(http.StatusNotFound, "", "Not Found", "No category or receipt was added to this order.")
	}
	return jsonReply(http.StatusOK, ctJSON, epayment.Order{Category: o.category, Receipt: o.receipt})
}

// validateReceipt checks a receipt (Order Management's or createPayment's)
// against the spec. prefix is prepended to field names.
func validateReceipt(prefix string, r *epayment.Receipt) []field {
	var fs []field
	add := func(name, reason string) { fs = append(fs, field{prefix + name, reason}) }
	if len(r.OrderLines) == 0 {
		add("orderLines", "At least one order line is required.")
	}
	for i, l := range r.OrderLines {
		at := "orderLines[" + strconv.Itoa(i) + "]."
		if l.Name == "" {
			add(at+"name", "The name field is required.")
		}
		if l.ID == "" {
			add(at+"id", "The id field is required.")
		}
		switch {
		case l.TaxRate == nil && l.TaxPercentage == nil:
			add(at+"taxRate", "Either taxRate or taxPercentage must be set.")
		case l.TaxRate != nil && (*l.TaxRate < 0 || *l.TaxRate > 10000):
			add(at+"taxRate", "The taxRate must be between 0 and 10000.")
		case l.TaxPercentage != nil && (*l.TaxPercentage < 0 || *l.TaxPercentage > 100):
			add(at+"taxPercentage", "The taxPercentage must be between 0 and 100.")
		}
		if l.Discount != nil && *l.Discount < 0 {
			add(at+"discount", "The discount must not be negative.")
		}
		if u := l.UnitInfo; u != nil {
			if u.UnitPrice < 0 {
				add(at+"unitInfo.unitPrice", "The unitPrice must not be negative.")
			}
			if len(u.Quantity) > 10 || !quantityPattern.MatchString(u.Quantity) {
				add(at+"unitInfo.quantity", "The quantity must match '^\\d+([\\.]\\d{1,8})?$' and be at most 10 characters.")
			}
			if u.QuantityUnit != "" && !quantityUnits[u.QuantityUnit] {
				add(at+"unitInfo.quantityUnit", "The quantityUnit must be one of PCS, KG, KM, MINUTE, LITRE, KWH.")
			}
		}
	}
	b := r.BottomLine
	if !receiptCurrency[b.Currency] {
		add("bottomLine.currency", "The currency must be one of NOK, DKK, EUR.")
	}
	if b.TipAmount != nil && *b.TipAmount < 0 {
		add("bottomLine.tipAmount", "The tipAmount must not be negative.")
	}
	if bc := b.Barcode; bc != nil && (!barcodeFormats[bc.Format] || bc.Data == "") {
		add("bottomLine.barcode", "A barcode needs a format (EAN-13, CODE 39, CODE 128) and data.")
	}
	return fs
}
