package sim

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The Report API (specs/report-api.yaml, v2), served from the simulator's
// ledger (reportbook.go):
//
//	GET /settlement/v1/ledgers                                 getLedgers: one ledger per MSN
//	GET /report/v2/ledgers/{ledgerId}/{topic}/dates/{date}     getReportByDate: funds or fees of a ledger date
//	GET /report/v2/ledgers/{ledgerId}/{topic}/feed             getReportFeed: every row, in the order it showed
//
// Authentication as the spec says: `Authorization: Bearer <token>` from POST
// /accesstoken/get (its JWT parameter); the spec names no subscription key, so
// none is required (one that is sent must still be the pinned one). Every
// valid token reads every ledger.
//
// A date later than today (in the ledger's zone) answers 404 ("not available
// yet", as the spec says); a date not yet closed answers 200 with the rows
// visible so far and tryLater: true. Pages hold Options.ReportPageSize rows;
// the dates endpoint gives a cursor with hasMore, the feed always a cursor
// (at its end: no items, tryLater, the same cursor).

// Operation names of the Report API, for fault injection.
const (
	opGetLedgers     = "getLedgers"
	opReportByDate   = "getReportByDate"
	opReportFeed     = "getReportFeed"
	topicFunds       = "funds"
	topicFees        = "fees"
	defaultReportLag = 2 * time.Hour
	defaultPageSize  = 100
)

var osloZone = sync.OnceValue(func() ledgerZone {
	loc, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		return ledgerZone{} // no time zone database: the same rule, built in
	}
	return ledgerZone{loc: loc}
})

func (s *Server) reportZone() ledgerZone {
	if s.opts.ReportZone != nil {
		return ledgerZone{loc: s.opts.ReportZone}
	}
	return osloZone()
}

func (s *Server) reportLag() time.Duration {
	switch {
	case s.opts.ReportLag < 0:
		return 0
	case s.opts.ReportLag == 0:
		return defaultReportLag
	}
	return s.opts.ReportLag
}

func (s *Server) reportPageSize() int {
	if s.opts.ReportPageSize <= 0 {
		return defaultPageSize
	}
	return s.opts.ReportPageSize
}

// registerReportFlags adds the Report API's flags of `tillbox sim`.
func (o *Options) registerReportFlags(fs *flag.FlagSet) {
	if o.ReportLag == 0 {
		o.ReportLag = defaultReportLag
	}
	fs.DurationVar(&o.ReportLag, "report-lag", o.ReportLag, "how long after a capture or refund it shows on the Report API's ledger, in simulated time (negative: at once)")
	fs.IntVar(&o.ReportPageSize, "report-page-size", o.ReportPageSize, "rows per page of the Report API (0: 100)")
	fs.Func("report-zone", "the time zone of the Report API's ledger dates (default Europe/Oslo)", func(s string) error {
		loc, err := time.LoadLocation(s)
		if err != nil {
			return fmt.Errorf("report-zone %q: %w", s, err)
		}
		o.ReportZone = loc
		return nil
	})
}

// reportFee is the capture fee in force (Options.ReportFee, nil: the default).
func (s *Server) reportFee() *ReportFee {
	if s.opts.ReportFee == nil {
		return &defaultReportFee
	}
	return s.opts.ReportFee
}

// Wire shapes of the spec.
type (
	bankAccount struct {
		Scheme string `json:"scheme"`
		ID     string `json:"id"`
	}
	organization struct {
		Scheme string `json:"scheme"`
		ID     string `json:"id"`
	}
	ledgerJSON struct {
		LedgerID                   string       `json:"ledgerId"`
		Currency                   string       `json:"currency"`
		PayoutBankAccount          bankAccount  `json:"payoutBankAccount"`
		Owner                      organization `json:"owner"`
		SettlesForRecipientHandles []string     `json:"settlesForRecipientHandles"`
	}
	ledgersPage struct {
		Cursor string       `json:"cursor,omitempty"`
		Items  []ledgerJSON `json:"items"`
	}
	reportPage struct {
		Cursor   string    `json:"cursor,omitempty"`
		HasMore  *bool     `json:"hasMore,omitempty"` // dates only
		TryLater bool      `json:"tryLater"`
		Items    []bookRow `json:"items"`
	}
	// reportCursor is the opaque cursor: where the next page starts.
	reportCursor struct {
		Ledger string `json:"l"`
		Topic  string `json:"t,omitempty"`
		Date   string `json:"d,omitempty"`
		Offset int    `json:"o"`
	}
)

func (rc reportCursor) encode() string {
	b, _ := json.Marshal(rc)
	return base64.URLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (reportCursor, bool) {
	var rc reportCursor
	b, err := base64.URLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &rc) != nil || rc.Offset < 0 {
		return rc, false
	}
	return rc, true
}

func (c *call) badCursor() *reply {
	return c.invalid(field{"cursor", "The cursor is not one this endpoint gave out."})
}

// handleLedgers is GET /settlement/v1/ledgers.
func (s *Server) handleLedgers(c *call) *reply {
	q := c.r.URL.Query()
	start := 0
	if cur := q.Get("cursor"); cur != "" {
		rc, ok := decodeCursor(cur)
		if !ok || rc.Topic != "" {
			return c.badCursor()
		}
		start = rc.Offset
	}
	filter := q.Get("settlesForRecipientHandles")
	s.mu.Lock()
	if s.opts.MSN != "" {
		s.account(s.opts.MSN)
	}
	var all []ledgerJSON
	for _, a := range s.report.byID {
		handle := "api:" + a.msn
		if filter != "" && filter != handle {
			continue
		}
		all = append(all, ledgerJSON{
			LedgerID:                   a.id,
			Currency:                   a.currency,
			PayoutBankAccount:          bankAccount{Scheme: "BBAN:NO", ID: "86011" + a.id},
			Owner:                      organization{Scheme: "business:NO:ORG", ID: "987654321"},
			SettlesForRecipientHandles: []string{handle},
		})
	}
	s.mu.Unlock()
	slices.SortFunc(all, func(x, y ledgerJSON) int {
		return cmpLedgerID(x.LedgerID, y.LedgerID)
	})
	page := ledgersPage{Items: []ledgerJSON{}}
	end := min(start+s.reportPageSize(), len(all))
	if start < end {
		page.Items = all[start:end]
	}
	if end < len(all) {
		page.Cursor = reportCursor{Offset: end}.encode()
	}
	return jsonReply(http.StatusOK, ctJSON, page)
}

func cmpLedgerID(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// reportRequest checks the ledger and topic of a report call.
func (s *Server) reportRequest(c *call) (*ledgerAccount, string, *reply) {
	topic := c.r.PathValue("topic")
	if topic != topicFunds && topic != topicFees {
		return nil, "", c.invalid(field{"topic", "The topic must be funds or fees."})
	}
	s.mu.Lock()
	a := s.report.byID[c.r.PathValue("ledgerId")]
	s.mu.Unlock()
	if a == nil {
		return nil, "", c.problem(http.StatusForbidden, "", "Forbidden", "These API keys have no access to that ledger.")
	}
	return a, topic, nil
}

// handleReportByDate is GET /report/v2/ledgers/{ledgerId}/{topic}/dates/{ledgerDate}.
func (s *Server) handleReportByDate(c *call) *reply {
	a, topic, rep := s.reportRequest(c)
	if rep != nil {
		return rep
	}
	date := c.r.PathValue("ledgerDate")
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return c.invalid(field{"ledgerDate", "The ledger date must be a date in YYYY-MM-DD format."})
	}
	start := 0
	if cur := c.r.URL.Query().Get("cursor"); cur != "" {
		rc, ok := decodeCursor(cur)
		if !ok || rc.Ledger != a.id || rc.Topic != topic || rc.Date != date {
			return c.badCursor()
		}
		start = rc.Offset
	}
	now := s.now()
	zone := s.reportZone()
	if date > zone.date(now) {
		return emptyReply(http.StatusNotFound)
	}
	s.mu.Lock()
	days := s.book(a)
	s.mu.Unlock()
	var rows []bookRow
	tryLater := now.Before(zone.end(date).Add(s.reportLag()))
	for _, d := range days {
		if d.date == date {
			rows = d.funds
			if topic == topicFees {
				rows = d.fees
			}
			rows = visibleRows(rows, now)
		}
	}
	end := min(start+s.reportPageSize(), len(rows))
	page := reportPage{Items: []bookRow{}, TryLater: tryLater}
	if start < end {
		page.Items = rows[start:end]
	}
	more := end < len(rows)
	page.HasMore = &more
	if more {
		page.Cursor = reportCursor{Ledger: a.id, Topic: topic, Date: date, Offset: end}.encode()
	}
	return jsonReply(http.StatusOK, ctJSON, page)
}

// handleReportFeed is GET /report/v2/ledgers/{ledgerId}/{topic}/feed: every
// visible row of every date, in the order the rows showed (their time plus
// the lag, a date's closing rows last).
func (s *Server) handleReportFeed(c *call) *reply {
	a, topic, rep := s.reportRequest(c)
	if rep != nil {
		return rep
	}
	start := 0
	if cur := c.r.URL.Query().Get("cursor"); cur != "" {
		rc, ok := decodeCursor(cur)
		if !ok || rc.Ledger != a.id || rc.Topic != topic || rc.Date != "" {
			return c.badCursor()
		}
		start = rc.Offset
	}
	now := s.now()
	s.mu.Lock()
	days := s.book(a)
	s.mu.Unlock()
	var rows []bookRow
	for _, d := range days {
		if topic == topicFees {
			rows = append(rows, visibleRows(d.fees, now)...)
		} else {
			rows = append(rows, visibleRows(d.funds, now)...)
		}
	}
	slices.SortStableFunc(rows, func(x, y bookRow) int { return x.visible.Compare(y.visible) })
	start = min(start, len(rows))
	end := min(start+s.reportPageSize(), len(rows))
	page := reportPage{Items: slices.Clone(rows[start:end]), TryLater: end == start}
	page.Cursor = reportCursor{Ledger: a.id, Topic: topic, Offset: end}.encode()
	return jsonReply(http.StatusOK, ctJSON, page)
}

// reportProblem is the error body of the Report API: its 401 and 500 shapes
// where the operation declares them, else the spec's Problem.
func (c *call) reportProblem(status int, title, detail string, fields ...field) *reply {
	for _, f := range fields {
		detail += " " + f.name + ": " + f.reason
	}
	switch {
	case status == http.StatusInternalServerError:
		return jsonReply(status, ctJSON, map[string]any{
			"errorCode": status, "errorMessage": title + ": " + detail, "contextId": newUUID(),
		})
	case status == http.StatusUnauthorized && c.rt.op != opGetLedgers:
		return jsonReply(status, ctJSON, map[string]string{"code": "Unauthorized", "message": detail})
	}
	return jsonReply(status, ctProblemJSON, map[string]any{
		"type":     problemTypePrefix + strconv.Itoa(status),
		"title":    title,
		"status":   status,
		"detail":   detail,
		"instance": c.r.URL.Path,
	})
}
