package spectest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReportAPI(t *testing.T) {
	t.Parallel()
	s := Load(t)
	const dates = "/report/v2/ledgers/302321/funds/dates/2026-03-02"
	row := `{"pspReference":"3343121302","time":"2026-03-02T10:00:00.000000Z","ledgerDate":"2026-03-02","entryType":"capture","reference":"till-1-0001","currency":"NOK","amount":10000,"balanceBefore":0,"balanceAfter":10000,"recipientHandle":"api:123456"}`
	for _, c := range []struct {
		name, path string
		status     int
		ct, body   string
		wantOp     string
		wantErr    string // "" = valid
	}{
		{"ledgers", "/settlement/v1/ledgers", 200, "application/json", `{"items":[{"ledgerId":"302321","currency":"NOK","settlesForRecipientHandles":["api:123456"]}]}`, "getLedgers", ""},
		{"a date", dates, 200, "application/json", `{"hasMore":false,"tryLater":true,"items":[` + row + `]}`, "GET /report/v2/ledgers/{ledgerId}/{topic}/dates/{ledgerDate}", ""},
		{"a fraction of an øre", dates, 200, "application/json", `{"items":[` + strings.Replace(row, "10000,", "100.5,", 1) + `]}`, "", "amount"},
		{"an unknown entry type", dates, 200, "application/json", `{"items":[` + strings.Replace(row, `"capture"`, `"sale"`, 1) + `]}`, "", "entryType"},
		{"404 without a body", dates, 404, "", "", "", ""},
		{"401 as declared", dates, 401, "application/json", `{"code":"Unauthorized","message":"no"}`, "", ""},
		{"500 as declared", dates, 500, "application/json", `{"errorCode":"x","errorMessage":"boom"}`, "", "errorCode"},
		{"default: a Problem", "/settlement/v1/ledgers", 401, "application/problem+json", `{"type":"https://httpstatuses.io/401","title":"Unauthorized","status":401}`, "", ""},
		{"default: not a Problem", "/settlement/v1/ledgers", 429, "text/plain", `slow down`, "", "429"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, base+c.path, nil)
			r.Header = headers("", func(h http.Header) { h.Del("Idempotency-Key"); h.Del("Merchant-Serial-Number") })
			if _, err := s.ValidateRequest(r, nil); err != nil {
				t.Fatalf("request: %v", err)
			}
			h := http.Header{}
			if c.ct != "" {
				h.Set("Content-Type", c.ct)
			}
			op, err := s.ValidateResponse(r, nil, c.status, h, []byte(c.body))
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("want an error naming %q, got %v", c.wantErr, err)
			case c.wantOp != "" && op != c.wantOp:
				t.Fatalf("operation %q, want %q", op, c.wantOp)
			}
			if err != nil && strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("a secret in the report: %v", err)
			}
		})
	}
}
