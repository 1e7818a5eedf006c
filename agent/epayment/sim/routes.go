package sim

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// api is one of the simulated APIs; it decides the checks on headers and the
// shape of error bodies.
type api int

const (
	apiToken api = iota + 1
	apiEPayment
	apiOrderManagement
	apiWebhooks
	apiQR
	apiReport
)

// idemRule says whether an operation takes an Idempotency-Key.
type idemRule int

const (
	idemNone idemRule = iota
	idemOptional
	idemRequired
)

// Operation names, as used by fault injection (POST /sim/faults "endpoint").
const (
	opToken            = "token"
	opCreatePayment    = "createPayment"
	opGetPayment       = "getPayment"
	opGetEventLog      = "getPaymentEventLog"
	opCancelPayment    = "cancelPayment"
	opCapturePayment   = "capturePayment"
	opRefundPayment    = "refundPayment"
	opForceApprove     = "forceApprove"
	opCreateReceipt    = "createReceipt"
	opPutCategory      = "putCategory"
	opGetOrder         = "getOrder"
	opRegisterWebhook  = "registerWebhook"
	opListWebhooks     = "listWebhooks"
	opDeleteWebhook    = "deleteWebhook"
	opExchangeQR       = "exchangeQr"
	opExchangeCustomer = "exchangeCustomer"
)

type route struct {
	pattern string
	op      string
	api     api
	idem    idemRule
	handle  func(*call) *reply
}

// call is one request to a simulated API, after its headers were checked.
type call struct {
	s       *Server
	r       *http.Request
	rt      *route
	body    []byte
	msn     string // Merchant-Serial-Number ("" where optional and absent)
	subKey  string // Ocp-Apim-Subscription-Key
	idemKey string
	traceID string
}

func (c *call) api() api { return c.rt.api }

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	for _, rt := range []*route{
		{"POST /accesstoken/get", opToken, apiToken, idemNone, s.handleToken},

		{"POST /epayment/v1/payments", opCreatePayment, apiEPayment, idemRequired, s.handleCreate},
		{"GET /epayment/v1/payments/{reference}", opGetPayment, apiEPayment, idemNone, s.handleGet},
		{"GET /epayment/v1/payments/{reference}/events", opGetEventLog, apiEPayment, idemNone, s.handleEvents},
		{"POST /epayment/v1/payments/{reference}/cancel", opCancelPayment, apiEPayment, idemOptional, s.handleCancel},
		{"POST /epayment/v1/payments/{reference}/capture", opCapturePayment, apiEPayment, idemRequired, s.handleCapture},
		{"POST /epayment/v1/payments/{reference}/refund", opRefundPayment, apiEPayment, idemRequired, s.handleRefund},
		{"POST /epayment/v1/test/payments/{reference}/approve", opForceApprove, apiEPayment, idemNone, s.handleForceApprove},

		{"POST /order-management/v2/{paymentType}/receipts/{orderId}", opCreateReceipt, apiOrderManagement, idemNone, s.handleCreateReceipt},
		{"PUT /order-management/v2/{paymentType}/categories/{orderId}", opPutCategory, apiOrderManagement, idemNone, s.handlePutCategory},
		{"GET /order-management/v2/{paymentType}/{orderId}", opGetOrder, apiOrderManagement, idemNone, s.handleGetOrder},

		{"POST /webhooks/v1/webhooks", opRegisterWebhook, apiWebhooks, idemNone, s.handleRegisterWebhook},
		{"GET /webhooks/v1/webhooks", opListWebhooks, apiWebhooks, idemNone, s.handleListWebhooks},
		{"DELETE /webhooks/v1/webhooks/{id}", opDeleteWebhook, apiWebhooks, idemNone, s.handleDeleteWebhook},

		{"POST /qr/v1/exchange", opExchangeQR, apiQR, idemNone, s.handleExchangeQR},
		{"POST /qr/v1/exchange/customer", opExchangeCustomer, apiQR, idemNone, s.handleExchangeCustomer},

		{"GET /settlement/v1/ledgers", opGetLedgers, apiReport, idemNone, s.handleLedgers},
		{"GET /report/v2/ledgers/{ledgerId}/{topic}/dates/{ledgerDate}", opReportByDate, apiReport, idemNone, s.handleReportByDate},
		{"GET /report/v2/ledgers/{ledgerId}/{topic}/feed", opReportFeed, apiReport, idemNone, s.handleReportFeed},
	} {
		s.mux.Handle(rt.pattern, s.serveAPI(rt))
		s.apiPaths = append(s.apiPaths, strings.Split(rt.pattern[strings.IndexByte(rt.pattern, ' ')+1:], "/"))
	}
	s.controlRoutes()
	s.reportControlRoutes()
	s.mux.HandleFunc("/", s.handleUnknownPath)
}

// knownOps are the names fault injection accepts.
func knownOps() map[string]bool {
	return map[string]bool{
		opToken: true, opCreatePayment: true, opGetPayment: true, opGetEventLog: true,
		opCancelPayment: true, opCapturePayment: true, opRefundPayment: true, opForceApprove: true,
		opCreateReceipt: true, opPutCategory: true, opGetOrder: true,
		opRegisterWebhook: true, opListWebhooks: true, opDeleteWebhook: true,
		opExchangeQR: true, opExchangeCustomer: true, faultAllOps: true,
		opGetLedgers: true, opReportByDate: true, opReportFeed: true,
	}
}

// serveAPI is the pipeline of every simulated API operation: read the body,
// inject faults, check credentials and headers, run the operation, answer.
func (s *Server) serveAPI(rt *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{s: s, r: r, rt: rt, traceID: newTraceID()}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBodyBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				c.invalid(field{"body", "The request body is too large."}).write(w)
			}
			return // the client went away
		}
		c.body = body

		f := s.takeFault(rt.op)
		if f.latency > 0 {
			t := time.NewTimer(f.latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
			case <-s.ctx.Done():
			}
			t.Stop()
		}
		var rep *reply
		switch f.kind {
		case faultDrop:
			s.log.Debug("fault: dropping connection", "op", rt.op)
			abortConnection(w)
			return
		case fault5xx, faultTooMany, faultLocked:
			rep = s.faultReply(c, f.kind)
		}
		if rep == nil {
			rep = s.checkHeaders(c)
		}
		if rep == nil {
			rep = rt.handle(c)
		}
		if f.kind == faultLost {
			s.log.Debug("fault: losing the answer", "op", rt.op, "status", rep.status)
			abortConnection(w)
			return
		}
		s.log.Debug("request", "op", rt.op, "method", r.Method, "path", r.URL.Path, "status", rep.status)
		rep.write(w)
	})
}

// abortConnection closes the client's connection without an answer.
func abortConnection(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	// HTTP/2 or a recorder: let net/http reset the stream.
	panic(http.ErrAbortHandler)
}

func (s *Server) handleUnknownPath(w http.ResponseWriter, r *http.Request) {
	c := &call{s: s, r: r, rt: &route{api: apiEPayment}, traceID: newTraceID()}
	c.problem(http.StatusNotFound, "", "Not Found", "No API operation at "+r.Method+" "+r.URL.Path+".").write(w)
}
