package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tillbox/tillbox/agent/epayment"
)

var referencePattern = regexp.MustCompile(`^[a-zA-Z0-9-]{8,64}$`)

// Enumerations of createPayment (specs/epayment-api.yaml).
var (
	specCurrencies   = map[string]bool{"NOK": true, "DKK": true, "EUR": true, "SEK": true, "USD": true, "GBP": true}
	paymentMethods   = map[string]bool{"WALLET": true, "CARD": true, "CARD_PASSTHROUGH": true}
	userFlows        = map[string]bool{epayment.FlowPushMessage: true, epayment.FlowQR: true, epayment.FlowWebRedirect: true, epayment.FlowNativeRedirect: true}
	interactions     = map[string]bool{epayment.CustomerPresent: true, epayment.CustomerNotPresent: true}
	qrFormats        = map[string]bool{"TEXT/TARGETURL": true, "IMAGE/SVG+XML": true, "IMAGE/PNG": true}
	profileScopes    = map[string]bool{"name": true, "address": true, "email": true, "phoneNumber": true, "birthDate": true, "nin": true}
	blockableSources = map[string]bool{"COMMERCIAL_CARDS": true}
)

// handleCreate is POST /epayment/v1/payments.
func (s *Server) handleCreate(c *call) *reply {
	ref := peekReference(c.body)
	if rep := s.rateLimit(c, ref); rep != nil {
		return rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maybeSweep()
	if rep := s.replay(c, ref); rep != nil {
		return rep
	}
	rep := s.create(c)
	s.remember(c, ref, rep)
	return rep
}

// peekReference reads the reference of a create body, for rate limiting and
// idempotency, before the body is validated.
func peekReference(body []byte) string {
	var v struct {
		Reference any `json:"reference"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	s, _ := v.Reference.(string)
	return s
}

// create validates and applies a createPayment. Must be called with s.mu held.
func (s *Server) create(c *call) *reply {
	req, raw, rep := c.decodeCreate()
	if rep != nil {
		return rep
	}
	if fields := validateCreate(req, raw); len(fields) > 0 {
		return c.invalid(fields...)
	}
	if rep := s.checkCreateRules(c, req); rep != nil {
		return rep
	}
	phone, rep := s.resolveCustomer(c, req.Customer)
	if rep != nil {
		return rep
	}
	key := payKey{c.msn, req.Reference}
	if s.payments[key] != nil {
		return c.domainError(http.StatusConflict, codeReferenceExists, "Reference already exists",
			"A payment with this reference already exists for this sales unit. Use a new reference for a new payment.")
	}
	if phone != "" && !s.users.eligible(phone) {
		return c.domainError(http.StatusBadRequest, codeCustomerNotFound, "Customer not found",
			"The customer cannot pay with Vipps MobilePay at this sales unit.")
	}

	now := s.now()
	p := &payment{
		key:         key,
		amount:      req.Amount,
		customer:    req.Customer,
		phone:       phone,
		userFlow:    req.UserFlow,
		interaction: req.CustomerInteraction,
		method:      req.PaymentMethod.Type,
		description: req.PaymentDescription,
		metadata:    req.Metadata,
		state:       epayment.StateCreated,
		createdAt:   now,
		system:      systemHeaders(c.r.Header),
	}
	if req.Profile != nil {
		p.scope = req.Profile.Scope
	}
	if p.interaction == "" {
		p.interaction = epayment.CustomerNotPresent
	}
	p.token = newOpaqueToken()
	switch req.UserFlow {
	case epayment.FlowQR:
		p.redirectURL = "https://qr-image.vipps.no/v1?token=" + p.token
	case epayment.FlowWebRedirect:
		p.redirectURL = "https://landing.vipps.no?token=" + p.token
	case epayment.FlowNativeRedirect:
		p.redirectURL = "vipps://?token=" + p.token
	}
	s.payments[key] = p
	s.refs[key.reference] = append(s.refs[key.reference], p)
	p.pspReference = s.record(p, epayment.EventCreated, p.amount.Value, c.idemKey, true).PSPReference
	p.ops.Create++
	s.startPayment(p)
	if req.Receipt != nil {
		okey := orderKey{c.msn, "ECOM", req.Reference}
		if o := s.orders[okey]; o == nil {
			s.orders[okey] = &order{receipt: req.Receipt, receiptID: newUUID()}
		} else if o.receipt == nil {
			o.receipt, o.receiptID = req.Receipt, newUUID()
		}
	}
	return jsonReply(http.StatusCreated, ctJSON, epayment.CreatePaymentResponse{Reference: p.key.reference, RedirectURL: p.redirectURL})
}

// systemHeaders keeps the Vipps-System-* headers of a request.
func systemHeaders(h http.Header) map[string]string {
	var out map[string]string
	for _, name := range []string{"Vipps-System-Name", "Vipps-System-Version", "Vipps-System-Plugin-Name", "Vipps-System-Plugin-Version"} {
		if v := h.Get(name); v != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[name] = v
		}
	}
	return out
}

// decodeCreate parses a create body. Decimals in amount.value are 4040; other
// malformed fields are a 400 naming them.
func (c *call) decodeCreate() (*epayment.CreatePaymentRequest, map[string]json.RawMessage, *reply) {
	var raw map[string]json.RawMessage
	if len(bytes.TrimSpace(c.body)) == 0 {
		return nil, nil, c.invalid(field{"body", "A non-empty request body is required."})
	}
	if err := json.Unmarshal(c.body, &raw); err != nil {
		return nil, nil, c.invalid(field{"body", "The request body is not a valid JSON object."})
	}
	if a, ok := raw["amount"]; ok {
		var am map[string]json.RawMessage
		if json.Unmarshal(a, &am) == nil {
			if v, ok := am["value"]; ok && isNonIntegerNumber(v) {
				return nil, nil, c.domainError(http.StatusBadRequest, codeInvalidAmount, "Invalid amount",
					"The amount must be an integer number of minor units (øre, cents), without decimals.")
			}
		}
	}
	if e, ok := raw["expiresAt"]; ok && string(e) != "null" {
		var str string
		if json.Unmarshal(e, &str) != nil {
			return nil, nil, c.invalid(field{"expiresAt", "The expiresAt field must be an RFC 3339 date and time."})
		}
		if _, err := time.Parse(time.RFC3339, str); err != nil {
			return nil, nil, c.invalid(field{"expiresAt", "The expiresAt field must be an RFC 3339 date and time."})
		}
	}
	var req epayment.CreatePaymentRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		return nil, nil, c.invalid(typeErrorField(err))
	}
	return &req, raw, nil
}

// isNonIntegerNumber reports whether a JSON value is a number with a fraction
// or an exponent.
func isNonIntegerNumber(v json.RawMessage) bool {
	s := strings.TrimSpace(string(v))
	if s == "" || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) {
		return false
	}
	return strings.ContainsAny(s, ".eE")
}

// typeErrorField names the field of a JSON decoding error.
func typeErrorField(err error) field {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return field{te.Field, "The value is not a valid " + te.Type.String() + "."}
	}
	return field{"body", "The request body does not match the schema."}
}

func present(raw map[string]json.RawMessage, name string) bool {
	v, ok := raw[name]
	return ok && string(v) != "null"
}

// validateCreate checks the shape of a create body against the spec; it returns
// every malformed field (400, no error code).
func validateCreate(req *epayment.CreatePaymentRequest, raw map[string]json.RawMessage) []field {
	var fs []field
	add := func(name, reason string) { fs = append(fs, field{name, reason}) }

	switch {
	case !present(raw, "reference"):
		add("reference", "The reference field is required.")
	case !referencePattern.MatchString(req.Reference):
		add("reference", "The field reference must match the regular expression '"+referencePatternDesc+"'.")
	}
	if !present(raw, "amount") {
		add("amount", "The amount field is required.")
	} else {
		var am map[string]json.RawMessage
		if json.Unmarshal(raw["amount"], &am) != nil || !present(am, "value") {
			add("amount.value", "The value field is required.")
		}
		if !specCurrencies[string(req.Amount.Currency)] {
			add("amount.currency", "The currency must be one of NOK, DKK, EUR, SEK, USD, GBP.")
		}
	}
	if !present(raw, "paymentMethod") {
		add("paymentMethod", "The paymentMethod field is required.")
	} else {
		if !paymentMethods[req.PaymentMethod.Type] {
			add("paymentMethod.type", "The type must be one of WALLET, CARD, CARD_PASSTHROUGH.")
		}
		for _, b := range req.PaymentMethod.BlockedSources {
			if !blockableSources[b] {
				add("paymentMethod.blockedSources", "The blocked source must be COMMERCIAL_CARDS.")
			}
		}
	}
	if !userFlows[req.UserFlow] {
		add("userFlow", "The userFlow field is required and must be one of PUSH_MESSAGE, QR, WEB_REDIRECT, NATIVE_REDIRECT.")
	}
	if present(raw, "customerInteraction") && !interactions[req.CustomerInteraction] {
		add("customerInteraction", "The customerInteraction must be CUSTOMER_PRESENT or CUSTOMER_NOT_PRESENT.")
	}
	if present(raw, "paymentDescription") {
		if n := utf8.RuneCountInString(req.PaymentDescription); n < 3 || n > 100 {
			add("paymentDescription", "The paymentDescription must be 3 to 100 characters long.")
		}
	}
	if len(req.ReturnURL) > 2500 {
		add("returnUrl", "The returnUrl must be at most 2500 characters long.")
	}
	if present(raw, "customer") {
		switch n := countCustomerFields(req.Customer); {
		case n == 0:
			add("customer", "One of phoneNumber, personalQr or customerToken is required.")
		case n > 1:
			add("customer", "Only one of phoneNumber, personalQr or customerToken may be given.")
		}
	}
	if req.MinimumUserAge != nil && (*req.MinimumUserAge < 0 || *req.MinimumUserAge > 100) {
		add("minimumUserAge", "The minimumUserAge must be between 0 and 100.")
	}
	if req.QRFormat != nil {
		if !qrFormats[req.QRFormat.Format] {
			add("qrFormat.format", "The format must be one of TEXT/TARGETURL, IMAGE/SVG+XML, IMAGE/PNG.")
		}
		if req.QRFormat.Size != nil && (*req.QRFormat.Size < 100 || *req.QRFormat.Size > 2000) {
			add("qrFormat.size", "The size must be between 100 and 2000.")
		}
	}
	if req.Receipt != nil {
		fs = append(fs, validateReceipt("receipt.", req.Receipt)...)
	}
	return fs
}

func countCustomerFields(cu *epayment.Customer) int {
	if cu == nil {
		return 0
	}
	n := 0
	for _, v := range []string{cu.PhoneNumber, cu.PersonalQR, cu.CustomerToken} {
		if v != "" {
			n++
		}
	}
	return n
}

// checkCreateRules applies the domain rules of createPayment, in the order the
// simulator checks them; the first broken rule answers.
func (s *Server) checkCreateRules(c *call, req *epayment.CreatePaymentRequest) *reply {
	bad := func(status int, code, title, detail string) *reply {
		return c.domainError(status, code, title, detail)
	}
	v := req.Amount.Value
	if v < 0 || v > epayment.MaxAmount {
		return bad(http.StatusBadRequest, codeInvalidAmount, "Invalid amount", "The amount must be between 0 and 65000000 minor units.")
	}
	if req.Amount.Currency != s.opts.Currency {
		return bad(http.StatusBadRequest, codeInvalidCurrency, "Invalid currency for merchant",
			"The currency must be the sales unit's currency, "+string(s.opts.Currency)+".")
	}
	if minimum, _ := epayment.MinAmount(req.Amount.Currency); v < minimum {
		return bad(http.StatusBadRequest, codeAmountTooSmall, "Amount too small", "The amount is below the minimum for the currency.")
	}
	switch req.PaymentMethod.Type {
	case "CARD":
		if req.UserFlow != epayment.FlowWebRedirect {
			return c.invalid(field{"paymentMethod.type", "CARD can only be used with userFlow WEB_REDIRECT."})
		}
	case "CARD_PASSTHROUGH":
		return c.invalid(field{"paymentMethod.type", "CARD_PASSTHROUGH is for PSPs only."})
	}
	if len(req.PaymentMethod.BlockedSources) > 0 && s.opts.Currency == epayment.NOK {
		return bad(http.StatusBadRequest, codeBlockedSources, "Blocking sources not applicable",
			"blockedSources applies only to Danish and Finnish sales units.")
	}
	switch {
	case req.UserFlow == epayment.FlowPushMessage && countCustomerFields(req.Customer) == 0:
		return bad(http.StatusBadRequest, codeMissingParameter, "Missing required parameter",
			"The customer field is required for userFlow PUSH_MESSAGE.")
	case req.UserFlow == epayment.FlowWebRedirect && req.ReturnURL == "":
		return bad(http.StatusBadRequest, codeMissingParameter, "Missing required parameter",
			"The returnUrl field is required for userFlow WEB_REDIRECT.")
	}
	for _, u := range []struct{ name, value string }{{"returnUrl", req.ReturnURL}, {"receiptUrl", req.ReceiptURL}} {
		if u.value != "" && !validMerchantURL(u.value) {
			return bad(http.StatusBadRequest, codeInvalidURL, "Invalid URL", "The "+u.name+" must be an https:// URL or use a custom scheme.")
		}
	}
	if req.UserFlow == epayment.FlowPushMessage && s.opts.PushDisabled {
		return bad(http.StatusForbidden, codePushNotAllowed, "PUSH_MESSAGE not allowed",
			"The sales unit is not approved for userFlow PUSH_MESSAGE (skip landing page).")
	}
	if req.ExpiresAt != nil {
		return bad(http.StatusBadRequest, codeLongLivingNotAllowed, "Long-living payment not allowed",
			"The sales unit is not approved for long-living payments (expiresAt).")
	}
	if req.Profile != nil {
		for _, sc := range strings.Fields(req.Profile.Scope) {
			if !profileScopes[sc] {
				return bad(http.StatusBadRequest, codeInvalidScope, "Invalid scope", "Unknown scope "+sc+".")
			}
		}
	}
	if len(req.Metadata) > 5 {
		return bad(http.StatusBadRequest, codeMetadataCapacity, "Metadata capacity exceeded", "At most 5 metadata entries are allowed.")
	}
	for k, val := range req.Metadata {
		if utf8.RuneCountInString(k) > 100 {
			return bad(http.StatusBadRequest, codeMetadataKeyLength, "Metadata key length exceeded", "A metadata key is at most 100 characters.")
		}
		if utf8.RuneCountInString(val) > 500 {
			return bad(http.StatusBadRequest, codeMetadataValueLength, "Metadata value length exceeded", "A metadata value is at most 500 characters.")
		}
	}
	return nil
}

// validMerchantURL accepts https:// URLs and custom schemes (not http).
func validMerchantURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || strings.EqualFold(u.Scheme, "http") {
		return false
	}
	return !strings.EqualFold(u.Scheme, "https") || u.Host != ""
}

// resolveCustomer finds the MSISDN of a customer field: 4070 for a malformed
// phone number, 4060 for what is not a personal QR code (or an unknown token),
// 4050 for an unknown customer token. No customer gives "".
// Must be called with s.mu held.
func (s *Server) resolveCustomer(c *call, cu *epayment.Customer) (string, *reply) {
	switch {
	case cu == nil:
		return "", nil
	case cu.PhoneNumber != "":
		if !phonePattern.MatchString(cu.PhoneNumber) {
			return "", c.domainError(http.StatusBadRequest, codeInvalidPhoneNumber, "Invalid phone number",
				"The phone number must be an MSISDN: country code and subscriber number, digits only (^\\d{9,15}$).")
		}
		return cu.PhoneNumber, nil
	case cu.PersonalQR != "":
		bad := c.domainError(http.StatusBadRequest, codeInvalidPersonalQR, "Invalid PersonalQr",
			"The personalQr is not the complete content of a personal QR code.")
		if n := utf8.RuneCountInString(cu.PersonalQR); n < 5 || n > 255 {
			return "", bad
		}
		switch kind, v := parsePersonalQR(cu.PersonalQR); kind {
		case qrClearText:
			return v, nil
		case qrTokenised:
			if e := s.users.byToken[v]; e != nil {
				return e.PhoneNumber, nil
			}
		}
		return "", bad
	case cu.CustomerToken != "":
		if e := s.users.byCustomerToken[cu.CustomerToken]; e != nil {
			return e.PhoneNumber, nil
		}
		return "", c.domainError(http.StatusBadRequest, codeInvalidCustomerToken, "Invalid CustomerToken",
			"The customerToken is unknown or has expired.")
	}
	return "", nil
}
