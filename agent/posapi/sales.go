package posapi

import (
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/device"
)

// referencePattern is the pattern of a sale's reference (issue 3 §2).
var referencePattern = regexp.MustCompile(`^[a-zA-Z0-9-]{8,64}$`)

// Limits of GET /api/v1/sales and GET /api/v1/events.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// SalesPage is the answer of GET /api/v1/sales. Next, when set, is the
// after of the next page.
type SalesPage struct {
	Sales []agent.Sale `json:"sales"`
	Next  string       `json:"next,omitempty"`
}

// CaptureRequest is the body of POST /api/v1/sales/{reference}/capture.
// A nil Amount captures all that is authorised and not captured yet.
type CaptureRequest struct {
	Amount *int64 `json:"amount,omitempty"`
}

// RefundRequest is the body of POST /api/v1/sales/{reference}/refund.
// A nil Amount refunds all that is captured and not refunded yet.
// RefundID, chosen by the POS, makes the request safe to repeat: the same
// id refunds once.
type RefundRequest struct {
	Amount   *int64 `json:"amount,omitempty"`
	RefundID string `json:"refundId,omitempty"`
}

// ScanRequest is the body of POST /api/v1/scans: the whole text a scanner
// read.
type ScanRequest struct {
	Code string `json:"code"`
}

// createSale commits a sale and answers 201, or 200 with the sale as it
// stands when the same request with the same reference was taken before.
func (s *server) createSale(w http.ResponseWriter, r *http.Request) {
	var req agent.SaleRequest
	if err := s.noQuery(r); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := decodeBody(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	sale, created, err := s.agent.Accept(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK // the same request again: the sale it made
	if created {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/api/v1/sales/"+sale.Reference)
	writeJSON(w, status, sale)
}

func (s *server) getSale(w http.ResponseWriter, r *http.Request) {
	ref, err := s.reference(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sale, err := s.agent.GetSale(ref)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sale)
}

func (s *server) listSales(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "after", "limit")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	after := q.Get("after")
	if q.Has("after") && !referencePattern.MatchString(after) {
		s.fail(w, r, invalidRequest("after", "must be a reference: 8 to 64 letters, digits or dashes"))
		return
	}
	limit, err := queryUint(q, "limit", defaultLimit, 1, maxLimit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sales, err := s.agent.ListSales(after, int(limit)+1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := SalesPage{Sales: sales}
	if len(sales) > int(limit) {
		page.Sales = sales[:limit]
		page.Next = page.Sales[limit-1].Reference
	}
	if page.Sales == nil {
		page.Sales = []agent.Sale{}
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *server) cancelSale(w http.ResponseWriter, r *http.Request) {
	ref, err := s.reference(r)
	if err == nil {
		err = decodeBody(w, r, &struct{}{}, true)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sale, acted, err := s.agent.Cancel(r.Context(), ref)
	if err == nil && !acted {
		// Ended without payment already (a repeated cancel): the sale as
		// it stands, nothing queued.
		w.Header().Set("Location", "/api/v1/sales/"+sale.Reference)
		writeJSON(w, http.StatusOK, sale)
		return
	}
	s.accepted(w, r)(sale, err)
}

func (s *server) captureSale(w http.ResponseWriter, r *http.Request) {
	var req CaptureRequest
	ref, err := s.reference(r)
	if err == nil {
		err = decodeBody(w, r, &req, true)
	}
	if err == nil && req.Amount != nil && *req.Amount < 1 {
		err = invalidRequest("amount", "must be at least 1; leave it out to capture all that is left")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var amount int64
	if req.Amount != nil {
		amount = *req.Amount
	}
	s.accepted(w, r)(s.agent.CaptureSale(r.Context(), ref, amount))
}

func (s *server) refundSale(w http.ResponseWriter, r *http.Request) {
	var req RefundRequest
	ref, err := s.reference(r)
	if err == nil {
		err = decodeBody(w, r, &req, true)
	}
	if err == nil && req.Amount != nil && *req.Amount < 1 {
		err = invalidRequest("amount", "must be at least 1; leave it out to refund all that is left")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var amount int64 // all that is left
	if req.Amount != nil {
		amount = *req.Amount
	}
	sale, err := s.agent.RefundSale(r.Context(), ref, amount, req.RefundID)
	if s.refundElsewhere(ref, err) { // another till's sale (remote.go)
		sale, err = s.remote(r.Context(), ref, amount, req.RefundID)
	}
	s.accepted(w, r)(sale, err)
}

// accepted answers a queued command: 202 with the sale as it stands.
func (s *server) accepted(w http.ResponseWriter, r *http.Request) func(agent.Sale, error) {
	return func(sale agent.Sale, err error) {
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Location", "/api/v1/sales/"+sale.Reference)
		writeJSON(w, http.StatusAccepted, sale)
	}
}

// reference is the {reference} of the path, checked, and refuses a query.
func (s *server) reference(r *http.Request) (string, error) {
	if err := s.noQuery(r); err != nil {
		return "", err
	}
	ref := r.PathValue("reference")
	if !referencePattern.MatchString(ref) {
		return "", invalidRequest("reference", "must be 8 to 64 letters, digits or dashes")
	}
	return ref, nil
}

func (s *server) noQuery(r *http.Request) error {
	_, err := query(r)
	return err
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	if err := s.noQuery(r); err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.agent.Status()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := struct {
		agent.Status
		Scanners *[]device.Status `json:"scanners,omitempty"`
		TLS      *TLSStatus       `json:"tls,omitempty"`
	}{Status: st}
	if s.scanners != nil {
		sc := s.scanners()
		if sc == nil {
			sc = []device.Status{}
		}
		out.Scanners = &sc
	}
	if s.tlsPrint != "" {
		out.TLS = &TLSStatus{Fingerprint: s.tlsPrint}
	}
	writeJSON(w, http.StatusOK, out)
}

// TLSStatus is the "tls" member of GET /api/v1/status when the API speaks
// TLS: the SHA-256 fingerprint of its certificate (AB:CD:…), to pin.
type TLSStatus struct {
	Fingerprint string `json:"fingerprint"`
}

// backup streams a consistent copy of the database, taken from one read
// transaction while the agent goes on working.
func (s *server) backup(w http.ResponseWriter, r *http.Request) {
	if err := s.noQuery(r); err != nil {
		s.fail(w, r, err)
		return
	}
	name := fmt.Sprintf("tillbox-%s-%s.db", s.agent.Options().Till, time.Now().UTC().Format("20060102T150405Z"))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	n, err := s.agent.Backup(w)
	if err != nil {
		// The status is sent: the client gets a short body, which does not
		// open as a database (tillbox backup checks it).
		s.log.Error("backup failed", "written", n, "err", err)
		return
	}
	s.log.Info("backup downloaded", "bytes", n)
}

// scan takes a code as if a scanner had read it: a test scan from the
// technician, or the POS's own scanner.
func (s *server) scan(w http.ResponseWriter, r *http.Request) {
	var req ScanRequest
	err := s.noQuery(r)
	if err == nil {
		err = decodeBody(w, r, &req, false)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.agent.Scan(req.Code)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
