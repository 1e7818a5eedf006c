package fleetpage

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/recon"
)

// reconSource is a reconciliation held in memory.
type reconSource struct {
	lines []recon.Line
	err   error
}

func (s *reconSource) Summaries(context.Context, string, string, string) ([]recon.Summary, error) {
	return []recon.Summary{{Day: "2026-12-07", Store: "oslo-1", MSN: "123456", Currency: "NOK", Closed: true,
		LedgerCaptured: 10000, Fee: 175, Payout: 9825, RunAt: start,
		Counts: map[string]int64{recon.Matched: 1}, Amounts: map[string]int64{recon.Matched: 10000}}}, s.err
}

func (s *reconSource) Lines(_ context.Context, day, store, kind string) ([]recon.Line, error) {
	return s.lines, s.err
}

func (s *reconSource) Sale(_ context.Context, store, till, ref string) (recon.Sale, error) {
	if ref != "oslo-1-t1-1" {
		return recon.Sale{}, recon.ErrNoSale
	}
	return recon.Sale{Store: store, Till: till, Reference: ref, Currency: "NOK", Amount: 10000, Captured: 10000,
		Created: start, Changes: []recon.Change{{Seq: 3, At: start, State: "completed", Captured: 10000}}}, nil
}

// TestReconPages: the reconciliation's pages and CSV need a login, check
// their arguments, show what the source has and say when it cannot be
// read; the CSV is an attachment of the day's lines.
func TestReconPages(t *testing.T) {
	src := &reconSource{lines: []recon.Line{{Day: "2026-12-07", MSN: "123456", Reference: "oslo-1-t1-1", Kind: recon.Matched,
		Store: "oslo-1", Till: "t1", Currency: "NOK", JournalCaptured: 10000, LedgerCaptured: 10000}}}
	r := newRig(t, twoStores(start), func(o *Options) { o.Recon = src })
	c := r.client(t)
	for _, p := range []string{"/recon", "/recon-sale?store=oslo-1&till=t1&reference=oslo-1-t1-1"} {
		if a := r.get(t, c, p); a.status != http.StatusSeeOther || a.header.Get("Location") != "login" {
			t.Errorf("%s before login: %d %s", p, a.status, a.header.Get("Location"))
		}
	}
	if a := r.get(t, c, "/recon.csv?day=2026-12-07"); a.status != http.StatusUnauthorized {
		t.Errorf("the CSV before login: %d", a.status)
	}
	r.login(t, c, "alice", alicePassword)
	a := r.get(t, c, "/")
	if !strings.Contains(a.body, `href="recon"`) {
		t.Error("no menu entry for the reconciliation")
	}
	a = r.get(t, c, "/recon")
	if a.status != http.StatusOK || !strings.Contains(a.body, `data-day="2026-12-07"`) || !strings.Contains(a.body, "98,25") {
		t.Errorf("/recon: %d %s", a.status, a.body)
	}
	a = r.get(t, c, "/recon?day=2026-12-07&store=oslo-1")
	if !strings.Contains(a.body, `href="recon-sale?reference=oslo-1-t1-1&amp;store=oslo-1&amp;till=t1"`) {
		t.Errorf("the lines link their sale: %s", a.body)
	}
	for _, p := range []string{"/recon?day=7.12.2026", "/recon?day=2026-12-07&kind=lost", "/recon.csv?day=", "/recon.csv?day=x"} {
		if a := r.get(t, c, p); a.status != http.StatusBadRequest {
			t.Errorf("%s: %d", p, a.status)
		}
	}
	a = r.get(t, c, "/recon.csv?day=2026-12-07&store=oslo-1")
	if a.status != http.StatusOK || a.header.Get("Content-Disposition") != `attachment; filename="recon-2026-12-07-oslo-1.csv"` ||
		!strings.HasPrefix(a.body, strings.Join(recon.CSVHeader, ",")+"\r\n") || !strings.Contains(a.body, ",100.00,100.00,0.00\r\n") {
		t.Errorf("the CSV: %d %v\n%s", a.status, a.header, a.body)
	}
	a = r.get(t, c, "/recon-sale?store=oslo-1&till=t1&reference=oslo-1-t1-1")
	if a.status != http.StatusOK || !strings.Contains(a.body, `data-seq="3"`) {
		t.Errorf("the sale: %d %s", a.status, a.body)
	}
	if a := r.get(t, c, "/recon-sale?store=oslo-1&till=t1&reference=nope"); a.status != http.StatusNotFound {
		t.Errorf("an unknown sale: %d", a.status)
	}
	src.err = errors.New("postgres: down with secret-dsn")
	a = r.get(t, c, "/recon?day=2026-12-07")
	if !strings.Contains(a.body, "cannot be read now") || strings.Contains(a.body, "secret-dsn") {
		t.Errorf("a source's error: %s", a.body)
	}
	if a := r.get(t, c, "/recon.csv?day=2026-12-07"); a.status != http.StatusServiceUnavailable || strings.Contains(a.body, "secret-dsn") {
		t.Errorf("the CSV on a source's error: %d %s", a.status, a.body)
	}
}
