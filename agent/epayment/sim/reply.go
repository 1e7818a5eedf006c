package sim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tillbox/tillbox/agent/epayment"
)

// A reply is an answer computed before it is written, so that it can be stored
// for idempotent replay, or withheld by a "lost" fault after the operation ran.
type reply struct {
	status      int
	contentType string
	retryAfter  int // seconds; 0 = no Retry-After header
	body        []byte
}

const (
	ctJSON        = "application/json"
	ctProblemJSON = "application/problem+json"
	// ctTokenJSON is the token endpoint's content type, spelled as in its spec.
	ctTokenJSON = "application/json;charset=UTF-8"
)

func (rep *reply) write(w http.ResponseWriter) {
	h := w.Header()
	if rep.contentType != "" {
		h.Set("Content-Type", rep.contentType)
	}
	if rep.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(rep.retryAfter))
	}
	if len(rep.body) > 0 {
		h.Set("Content-Length", strconv.Itoa(len(rep.body)))
	}
	w.WriteHeader(rep.status)
	if len(rep.body) > 0 {
		_, _ = w.Write(rep.body)
	}
}

func jsonReply(status int, contentType string, v any) *reply {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own wire types are marshalled here; they always encode.
		panic(fmt.Sprintf("sim: encoding a %T: %v", v, err))
	}
	return &reply{status: status, contentType: contentType, body: b}
}

func emptyReply(status int) *reply { return &reply{status: status} }

// Error codes of the ePayment API (FACTS.md §5, §6, and the official error
// list), as the reason of the extraDetails entry named "ErrorCode".
const (
	codeCaptureIdemConflict  = "4010"
	codeIdempotency          = "4020"
	codeInvalidAmount        = "4040"
	codeInvalidCustomerToken = "4050"
	codeInvalidPersonalQR    = "4060"
	codeInvalidPhoneNumber   = "4070"
	codeInvalidScope         = "4080"
	codeInvalidURL           = "4090"
	codeMetadataCapacity     = "4100"
	codeMetadataKeyLength    = "4120"
	codeMetadataValueLength  = "4130"
	codeMissingParameter     = "4140"
	codeReferenceExists      = "4150" // also the refund idempotency conflict
	codeBlockedSources       = "5010"
	codeInvalidCurrency      = "5040"
	codeLongLivingNotAllowed = "5050"
	codePushNotAllowed       = "5080"
	codeReferenceNotFound    = "5090"
	codeRefundNotPossible    = "5100"
	codeAmountTooSmall       = "6010"
	codeRefundBeforeReserve  = "6020"
	codeCancelCaptured       = "6040"
	codeCancelAuthorized     = "6060"
	codeCaptureCancelled     = "6070"
	codeCaptureBeforeReserve = "6080"
	codeCaptureTooHigh       = "6090"
	codeNotEnoughRefundable  = "6150"
	codeOrderProcessing      = "6160"
	codeCannotCancel         = "6190"
	codeCannotCapture        = "6200"
	codeCannotRefund         = "6210"
	codeRefundPeriodExpired  = "6220"
	codeAlreadyReserved      = "6230"
	codeCancelProcessing     = "6250" // the customer is mid-authorisation
	codeCustomerNotFound     = "7010"
	codeApproveFailed        = "10010" // test environment only
	codeApproveNotAllowed    = "10020" // test environment only
)

const (
	errorCodeExtraDetailName = "ErrorCode"
	problemTypePrefix        = "https://httpstatuses.io/" // as the real API's "type"
	validationDetail         = "One or more validation errors occurred."
	qrIncompleteReason       = "The complete data contained in the QR code is required."
	defaultRetryAfterSeconds = 1
	maxRequestBodyBytes      = 1 << 20
	maxIdempotencyKeyLength  = 50

	msnPatternDescription     = "^[0-9]{4,10}$"
	referencePatternDesc      = "^[a-zA-Z0-9-]{8,64}$"
	orderIDPatternDescription = `^[0-9A-Za-z-_\.]+$`
)

// field is one name/reason pair of a validation error.
type field struct{ name, reason string }

// newTraceID returns a W3C traceparent-like id, as the real API's traceId.
func newTraceID() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}

// instance is the request path as the API behind the gateway sees it: without
// its base path (/epayment, /webhooks, /order-management, /qr).
func instance(path string) string {
	for _, base := range []string{"/epayment", "/webhooks", "/order-management", "/qr"} {
		if rest, ok := strings.CutPrefix(path, base+"/"); ok {
			return "/" + rest
		}
	}
	return path
}

// problem builds the error answer of c's API with an optional domain error code
// and named fields, in that API's own error shape:
//   - ePayment, Webhooks: RFC 7807 application/problem+json;
//   - Order Management: {type,title,detail,instance,invalidParams} application/json;
//   - QR: {title,status,detail,extraDetails} application/json;
//   - token: {error,error_description} application/json.
func (c *call) problem(status int, code, title, detail string, fields ...field) *reply {
	switch c.api() {
	case apiOrderManagement:
		e := epayment.OMError{
			Type:     problemTypePrefix + strconv.Itoa(status),
			Title:    title,
			Detail:   detail,
			Instance: c.traceID,
		}
		for _, f := range fields {
			e.InvalidParams = append(e.InvalidParams, epayment.InvalidParam{Name: f.name, Reason: f.reason})
		}
		return jsonReply(status, ctJSON, e)
	case apiReport:
		return c.reportProblem(status, title, detail, fields...)
	case apiToken:
		return jsonReply(status, ctJSON, map[string]string{
			"error":             strings.ToLower(strings.ReplaceAll(title, " ", "_")),
			"error_description": detail,
			"trace_id":          c.traceID,
		})
	}
	p := epayment.Problem{
		Type:     problemTypePrefix + strconv.Itoa(status),
		Title:    title,
		Detail:   detail,
		Status:   status,
		TraceID:  c.traceID,
		Instance: instance(c.r.URL.Path),
	}
	if code != "" {
		p.ExtraDetails = append(p.ExtraDetails, epayment.ExtraDetail{Name: errorCodeExtraDetailName, Reason: code})
	}
	for _, f := range fields {
		p.ExtraDetails = append(p.ExtraDetails, epayment.ExtraDetail{Name: f.name, Reason: f.reason})
	}
	ct := ctProblemJSON
	if c.api() == apiQR {
		ct = ctJSON // the QR spec declares its errors as application/json
	}
	return jsonReply(status, ct, p)
}

// domainError is an ePayment domain error: HTTP status plus error code.
func (c *call) domainError(status int, code, title, detail string) *reply {
	return c.problem(status, code, title, detail)
}

// invalid is a 400 naming malformed fields, without an error code.
func (c *call) invalid(fields ...field) *reply {
	return c.problem(http.StatusBadRequest, "", "Bad Request", validationDetail, fields...)
}

func (c *call) notFound(detail string) *reply {
	code := ""
	if c.api() == apiEPayment {
		code = codeReferenceNotFound
	}
	return c.problem(http.StatusNotFound, code, "Not Found", detail)
}

func (c *call) unauthorized(detail string) *reply {
	return c.problem(http.StatusUnauthorized, "", "Unauthorized", detail)
}

func (c *call) tooManyRequests(retryAfter int) *reply {
	rep := c.problem(http.StatusTooManyRequests, "", "Too Many Requests",
		"Rate limit is exceeded. Try again in "+strconv.Itoa(retryAfter)+" seconds.")
	rep.retryAfter = retryAfter
	return rep
}
