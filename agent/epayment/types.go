package epayment

import "time"

// Wire types of the ePayment API v1 (specs/epayment-api.yaml, 1.8.1), shared by
// the client and the simulator. Money is always an integer count of minor units
// (øre, cents); there is no float anywhere in these types.

// Currency is an ISO 4217 code accepted for wallet payments.
type Currency string

// Currencies of wallet payments (FACTS.md §11).
const (
	NOK Currency = "NOK"
	DKK Currency = "DKK"
	EUR Currency = "EUR"
)

// MinAmount is the smallest payment in minor units for a currency (FACTS.md §11),
// and false for a currency that wallet payments do not take.
func MinAmount(c Currency) (int64, bool) {
	switch c {
	case NOK:
		return 100, true
	case DKK, EUR:
		return 1, true
	}
	return 0, false
}

// MaxAmount is the largest payment, in minor units, the API accepts.
const MaxAmount = 65_000_000

// Amount is a sum of money in minor units.
type Amount struct {
	Currency Currency `json:"currency"`
	Value    int64    `json:"value"`
}

// State is the state of a payment. There is no captured or refunded state: after
// capture, refund or cancel an authorised payment stays AUTHORIZED and only its
// Aggregate tells what moved.
type State string

// Payment states (FACTS.md §5).
const (
	StateCreated    State = "CREATED"
	StateAuthorized State = "AUTHORIZED"
	StateAborted    State = "ABORTED"
	StateExpired    State = "EXPIRED"
	StateTerminated State = "TERMINATED"
)

// Final reports whether no user action can change the state any more.
func (s State) Final() bool { return s != StateCreated }

// EventName names an entry of a payment's event log and a webhook event.
type EventName string

// Payment event names (FACTS.md §5).
const (
	EventCreated    EventName = "CREATED"
	EventAuthorized EventName = "AUTHORIZED"
	EventAborted    EventName = "ABORTED"
	EventExpired    EventName = "EXPIRED"
	EventCancelled  EventName = "CANCELLED"
	EventCaptured   EventName = "CAPTURED"
	EventRefunded   EventName = "REFUNDED"
	EventTerminated EventName = "TERMINATED"
)

// WebhookEventType is the Webhooks API event type for an ePayment event name,
// e.g. "epayments.payment.captured.v1".
func WebhookEventType(n EventName) string {
	var s string
	switch n {
	case EventCreated:
		s = "created"
	case EventAuthorized:
		s = "authorized"
	case EventAborted:
		s = "aborted"
	case EventExpired:
		s = "expired"
	case EventCancelled:
		s = "cancelled"
	case EventCaptured:
		s = "captured"
	case EventRefunded:
		s = "refunded"
	case EventTerminated:
		s = "terminated"
	default:
		return ""
	}
	return "epayments.payment." + s + ".v1"
}

// User flows of createPayment.
const (
	FlowPushMessage    = "PUSH_MESSAGE"
	FlowQR             = "QR"
	FlowWebRedirect    = "WEB_REDIRECT"
	FlowNativeRedirect = "NATIVE_REDIRECT"
)

// Customer interactions of createPayment.
const (
	CustomerPresent    = "CUSTOMER_PRESENT"
	CustomerNotPresent = "CUSTOMER_NOT_PRESENT"
)

// Customer identifies who is asked to pay. Exactly one field must be set.
type Customer struct {
	PhoneNumber   string `json:"phoneNumber,omitempty"`
	PersonalQR    string `json:"personalQr,omitempty"`
	CustomerToken string `json:"customerToken,omitempty"`
}

// PaymentMethod is the paymentMethod object of createPayment.
type PaymentMethod struct {
	Type           string   `json:"type"`
	BlockedSources []string `json:"blockedSources,omitempty"`
}

// PaymentMethodResponse is the paymentMethod object of getPayment.
type PaymentMethodResponse struct {
	Type    string `json:"type"`
	CardBin string `json:"cardBin,omitempty"`
}

// CreatePaymentRequest is the body of createPayment (fields a till uses, plus
// the few others a faithful client must be able to send).
type CreatePaymentRequest struct {
	Amount              Amount            `json:"amount"`
	Customer            *Customer         `json:"customer,omitempty"`
	CustomerInteraction string            `json:"customerInteraction,omitempty"`
	PaymentMethod       PaymentMethod     `json:"paymentMethod"`
	Reference           string            `json:"reference"`
	UserFlow            string            `json:"userFlow"`
	ReturnURL           string            `json:"returnUrl,omitempty"`
	PaymentDescription  string            `json:"paymentDescription,omitempty"`
	ExpiresAt           *time.Time        `json:"expiresAt,omitempty"`
	MinimumUserAge      *int              `json:"minimumUserAge,omitempty"`
	Receipt             *Receipt          `json:"receipt,omitempty"`
	ReceiptURL          string            `json:"receiptUrl,omitempty"`
	Metadata            map[string]string `json:"metadata,omitempty"`
	Profile             *ProfileRequest   `json:"profile,omitempty"`
	QRFormat            *QRFormat         `json:"qrFormat,omitempty"`
}

// ProfileRequest asks for profile sharing.
type ProfileRequest struct {
	Scope string `json:"scope,omitempty"`
}

// QRFormat selects the format of a QR user flow's code.
type QRFormat struct {
	Format string `json:"format"`
	Size   *int   `json:"size,omitempty"`
}

// CreatePaymentResponse is the 201 answer of createPayment.
type CreatePaymentResponse struct {
	Reference   string `json:"reference"`
	RedirectURL string `json:"redirectUrl,omitempty"`
}

// Aggregate is what has moved on a payment: the only reliable source of it.
type Aggregate struct {
	AuthorizedAmount Amount `json:"authorizedAmount"`
	CancelledAmount  Amount `json:"cancelledAmount"`
	CapturedAmount   Amount `json:"capturedAmount"`
	RefundedAmount   Amount `json:"refundedAmount"`
}

// ProfileResponse carries the profile subject after profile sharing.
type ProfileResponse struct {
	Sub string `json:"sub,omitempty"`
}

// Payment is the answer of getPayment.
type Payment struct {
	Aggregate     Aggregate             `json:"aggregate"`
	Amount        Amount                `json:"amount"`
	State         State                 `json:"state"`
	PaymentMethod PaymentMethodResponse `json:"paymentMethod"`
	Profile       ProfileResponse       `json:"profile"`
	PSPReference  string                `json:"pspReference"`
	RedirectURL   string                `json:"redirectUrl,omitempty"`
	Reference     string                `json:"reference"`
	Metadata      map[string]string     `json:"metadata,omitempty"`
	// CaptureGuaranteedUntil is sent since August 2026; it is not in spec 1.8.1.
	CaptureGuaranteedUntil string `json:"captureGuaranteedUntil,omitempty"`
}

// PaymentEvent is one entry of a payment's event log.
type PaymentEvent struct {
	Reference      string    `json:"reference"`
	PSPReference   string    `json:"pspReference"`
	Name           EventName `json:"name"`
	Amount         Amount    `json:"amount"`
	Timestamp      time.Time `json:"timestamp"`
	IdempotencyKey *string   `json:"idempotencyKey"`
	Success        bool      `json:"success"`
}

// WebhookEvent is the body Vipps MobilePay posts to a webhook for an ePayment event.
type WebhookEvent struct {
	MSN            string    `json:"msn"`
	Reference      string    `json:"reference"`
	PSPReference   string    `json:"pspReference"`
	Name           EventName `json:"name"`
	Amount         Amount    `json:"amount"`
	Timestamp      time.Time `json:"timestamp"`
	IdempotencyKey *string   `json:"idempotencyKey,omitempty"`
	Success        bool      `json:"success"`
}

// CancelRequest is the optional body of cancelPayment.
type CancelRequest struct {
	CancelTransactionOnly bool `json:"cancelTransactionOnly,omitempty"`
}

// ModificationRequest is the body of capturePayment and refundPayment.
type ModificationRequest struct {
	ModificationAmount Amount `json:"modificationAmount"`
}

// ModificationResponse is the answer of cancel, capture and refund.
type ModificationResponse struct {
	Amount       Amount    `json:"amount"`
	State        State     `json:"state"`
	Aggregate    Aggregate `json:"aggregate"`
	PSPReference string    `json:"pspReference"`
	Reference    string    `json:"reference"`
}

// ForceApproveRequest is the body of the test environment's force approve.
type ForceApproveRequest struct {
	Customer *Customer `json:"customer,omitempty"`
	Token    string    `json:"token,omitempty"`
}

// Receipt is the order lines and bottom line of a sale, sent inside
// createPayment or with the Order Management API (same schema in both).
type Receipt struct {
	OrderLines []OrderLine `json:"orderLines"`
	BottomLine BottomLine  `json:"bottomLine"`
}

// OrderLine is one line of a receipt. Amounts are minor units, tax included
// unless the name says otherwise. TaxRate is in hundredths of a percent
// (2500 = 25 %).
type OrderLine struct {
	Name                    string    `json:"name"`
	ID                      string    `json:"id"`
	TotalAmount             int64     `json:"totalAmount"`
	TotalAmountExcludingTax int64     `json:"totalAmountExcludingTax"`
	TotalTaxAmount          int64     `json:"totalTaxAmount"`
	TaxRate                 *int64    `json:"taxRate,omitempty"`
	TaxPercentage           *int64    `json:"taxPercentage,omitempty"`
	UnitInfo                *UnitInfo `json:"unitInfo,omitempty"`
	Discount                *int64    `json:"discount,omitempty"`
	ProductURL              string    `json:"productUrl,omitempty"`
	IsReturn                bool      `json:"isReturn,omitempty"`
	IsShipping              bool      `json:"isShipping,omitempty"`
}

// UnitInfo describes the unit price and quantity of an order line.
type UnitInfo struct {
	UnitPrice    int64  `json:"unitPrice"`
	Quantity     string `json:"quantity"`
	QuantityUnit string `json:"quantityUnit,omitempty"`
}

// BottomLine is the summary of a receipt.
type BottomLine struct {
	Currency       Currency        `json:"currency"`
	TipAmount      *int64          `json:"tipAmount,omitempty"`
	PosID          string          `json:"posId,omitempty"`
	ReceiptNumber  string          `json:"receiptNumber,omitempty"`
	PaymentSources *PaymentSources `json:"paymentSources,omitempty"`
	Barcode        *Barcode        `json:"barcode,omitempty"`
}

// PaymentSources splits a sale over other means of payment.
type PaymentSources struct {
	GiftCard *int64 `json:"giftCard,omitempty"`
	Card     *int64 `json:"card,omitempty"`
	Voucher  *int64 `json:"voucher,omitempty"`
	Cash     *int64 `json:"cash,omitempty"`
}

// Barcode is printed on the receipt in the app.
type Barcode struct {
	Format string `json:"format"`
	Data   string `json:"data"`
}

// Order Management categories (PUT /v2/{paymentType}/categories/{orderId}).
const (
	CategoryGeneral           = "GENERAL"
	CategoryReceipt           = "RECEIPT"
	CategoryOrderConfirmation = "ORDER_CONFIRMATION"
	CategoryDelivery          = "DELIVERY"
	CategoryTicket            = "TICKET"
	CategoryBooking           = "BOOKING"
)

// Category links an order to a page of order details.
type Category struct {
	Category        string `json:"category"`
	OrderDetailsURL string `json:"orderDetailsUrl"`
	ImageID         string `json:"imageId,omitempty"`
}

// Order is what Order Management holds for an order.
type Order struct {
	Category *Category `json:"category,omitempty"`
	Receipt  *Receipt  `json:"receipt,omitempty"`
}

// Webhook is one webhook registration.
type Webhook struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// RegisterWebhookRequest is the body of a webhook registration.
type RegisterWebhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// RegisterWebhookResponse is the wire answer of a registration.
// Client.RegisterWebhook returns it as a WebhookRegistration, whose Secret
// never prints or logs.
type RegisterWebhookResponse struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// WebhookList is the answer of listing registrations.
type WebhookList struct {
	Webhooks []Webhook `json:"webhooks"`
}

// QRExchangeRequest asks what a scanned personal QR code stands for.
type QRExchangeRequest struct {
	QRCode        string   `json:"qrCode"`
	RequestedData []string `json:"requestedData,omitempty"`
}

// QRExchangeResponse is the answer of a personal QR exchange. Version "2.0" is a
// tokenised code with its generation Timestamp (epoch seconds); "1.0" is the
// deprecated clear-text one.
type QRExchangeResponse struct {
	MSISDN    string `json:"msisdn"`
	Version   string `json:"version"`
	Timestamp *int64 `json:"timestamp,omitempty"`
}

// TokenResponse is the answer of POST /accesstoken/get. Every value is a
// string on the wire, numbers included.
type TokenResponse struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    string `json:"expires_in"`
	ExtExpiresIn string `json:"ext_expires_in"`
	ExpiresOn    string `json:"expires_on"`
	NotBefore    string `json:"not_before"`
	Resource     string `json:"resource"`
	AccessToken  string `json:"access_token"`
}

// Problem is an RFC 7807 error body of the ePayment, Webhooks and QR APIs.
type Problem struct {
	Type         string        `json:"type"`
	Title        string        `json:"title"`
	Detail       string        `json:"detail,omitempty"`
	Status       int           `json:"status"`
	TraceID      string        `json:"traceId"`
	Instance     string        `json:"instance,omitempty"`
	ExtraDetails []ExtraDetail `json:"extraDetails,omitempty"`
}

// ExtraDetail is a name/reason pair of a Problem. Domain errors carry
// {"name":"ErrorCode","reason":"6080"}.
type ExtraDetail struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// OMError is the error body of the Order Management API, which differs from Problem.
type OMError struct {
	Type          string         `json:"type,omitempty"`
	Title         string         `json:"title,omitempty"`
	Detail        string         `json:"detail,omitempty"`
	Instance      string         `json:"instance,omitempty"`
	InvalidParams []InvalidParam `json:"invalidParams,omitempty"`
}

// InvalidParam names a field Order Management refused, and why.
type InvalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}
