package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetpage"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
)

// actionsBound bounds every wait of the actions test: long, for a busy
// 2-core machine; a wait ends at its event.
const actionsBound = 3 * time.Minute

const opsPassword = "ops-password-of-the-chain"

// actionsRig is a chain of two real `tillbox run` boxes with the
// simulator, tillbox-hq as a process (this test binary), one nats-server
// (TLS, a user per box) and PostgreSQL; an operator logged in.
type actionsRig struct {
	chain  *fleetdemo.Chain
	db     *hqdb.DB
	client *http.Client // logged in as "ops"
	url    string
}

func startActionsRig(t *testing.T) *actionsRig {
	t.Helper()
	c, pg := opsChain(t, []fleetdemo.Store{{ID: "oslo", MSN: "200001", Tills: []string{"t1", "t2"}}}, opsPassword)
	db, err := hqdb.Open(context.Background(), pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	r := &actionsRig{chain: c, db: db, url: c.HQ().URL()}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	r.client = &http.Client{Jar: jar}
	resp, err := r.client.PostForm(r.url+"/login", url.Values{"name": {"ops"}, "password": {opsPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	return r
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// tillPage reads the till's view as the logged-in operator.
func (r *actionsRig) tillPage(t *testing.T, till wire.Till) string {
	t.Helper()
	resp, err := r.client.Get(r.url + "/till?" + url.Values{"store": {till.Store}, "till": {till.Till}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the till's view: %d %s", resp.StatusCode, body)
	}
	return string(body)
}

// post posts the action's form as the till's view does and returns the
// action's id (from the view it is sent to).
func (r *actionsRig) post(t *testing.T, till wire.Till, action string, form url.Values) int64 {
	t.Helper()
	m := csrfField.FindStringSubmatch(r.tillPage(t, till))
	if m == nil {
		t.Fatal("the till's view has no form token")
	}
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", m[1])
	form.Set("store", till.Store)
	form.Set("till", till.Till)
	form.Set("action", action)
	resp, err := r.client.PostForm(r.url+"/action", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	id, err := strconv.ParseInt(resp.Request.URL.Query().Get("action"), 10, 64)
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("posting %s: %d at %s: %s", action, resp.StatusCode, resp.Request.URL, body)
	}
	if !strings.Contains(string(body), `id="shown"`) {
		t.Errorf("the view after %s does not show the action", action)
	}
	return id
}

// answered waits until action id's record is complete and returns it.
func (r *actionsRig) answered(t *testing.T, id int64) fleetpage.Action {
	t.Helper()
	var a fleetpage.Action
	waitFor(t, actionsBound, "the answer of action "+strconv.FormatInt(id, 10), func() bool {
		var err error
		a, err = r.db.Action(context.Background(), testChain, id)
		if err != nil {
			t.Fatal(err)
		}
		return !a.AnsweredAt.IsZero()
	})
	if a.Operator != "ops" || a.AskedAt.After(a.AnsweredAt) {
		t.Errorf("action %d recorded as asked by %q at %s, answered %s", id, a.Operator, a.AskedAt, a.AnsweredAt)
	}
	return a
}

// do posts the action and waits for its record's answer.
func (r *actionsRig) do(t *testing.T, till wire.Till, action string, form url.Values) fleetpage.Action {
	t.Helper()
	return r.answered(t, r.post(t, till, action, form))
}

// TestRemoteActions: from the fleet page, a signed-in operator asks a
// till for its status, its log at a level, a test payment (paid on the
// simulator), a restart (refused, then waiting while a payment is in
// flight and done after it), and a scanner check; each is recorded with
// who, what, when and the answer. An offline box is a clear "no answer",
// recorded too; a request without a login is refused and not recorded.
func TestRemoteActions(t *testing.T) {
	r := startActionsRig(t)
	b1, b2 := r.chain.Boxes()[0], r.chain.Boxes()[1]

	// Not signed in: refused, nothing asked or recorded.
	resp, err := http.PostForm(r.url+"/action", url.Values{"store": {"oslo"}, "till": {"t1"}, "action": {"restart"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("an action without a login: %d, want 401", resp.StatusCode)
	}
	// A form without this session's token: refused.
	resp, err = r.client.PostForm(r.url+"/action", url.Values{"store": {"oslo"}, "till": {"t1"}, "action": {"status"}, "csrf": {"forged"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("an action with a forged token: %d, want 403", resp.StatusCode)
	}
	if list, err := r.db.Actions(context.Background(), testChain, nil, 10); err != nil || len(list) != 0 {
		t.Fatalf("actions recorded before any was asked: %v %v", list, err)
	}

	status := r.do(t, b1.Till, wire.ActionStatus, nil)
	if status.Outcome != wire.OutcomeOK || status.Reply == nil || status.Reply.Status == nil ||
		status.Reply.Status.Started.IsZero() || !strings.Contains(status.Result, "Vipps MobilePay online") {
		t.Fatalf("status: %+v", status)
	}
	checkLogs(t, r, b1.Till)
	checkTestPayment(t, r, b1.Till)
	checkRestart(t, r, b1, status.Reply.Status.Started)
	checkScanners(t, r, b1)

	// An offline box: a clear answer at once, recorded.
	if err := b2.Stop(); err != nil {
		t.Fatal(err)
	}
	off := r.do(t, b2.Till, wire.ActionStatus, nil)
	if off.Outcome != hqdb.OutcomeNoAnswer || !strings.Contains(off.Error, "offline") || off.Reply != nil {
		t.Errorf("an offline box: %+v", off)
	}
	// The chain's audit lists them all, newest first.
	list, err := r.db.Actions(context.Background(), testChain, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) < 8 || list[0].ID != off.ID || list[len(list)-1].ID != status.ID {
		t.Errorf("the audit: %d actions, newest %d, oldest %d", len(list), list[0].ID, list[len(list)-1].ID)
	}
	checkAuditPage(t, r, off.ID)
	checkBrowser(t, r, b1.Till)
}

// checkLogs: the log's tail at warn has only warnings and errors, at
// info has the info lines too.
func checkLogs(t *testing.T, r *actionsRig, till wire.Till) {
	warn := r.do(t, till, wire.ActionLogs, url.Values{"level": {"warn"}})
	if warn.Outcome != wire.OutcomeOK || warn.Reply == nil || warn.Reply.Logs == nil || len(warn.Reply.Logs.Records) == 0 {
		t.Fatalf("logs at warn: %+v", warn)
	}
	for _, rec := range warn.Reply.Logs.Records {
		if rec.Level != "WARN" && rec.Level != "ERROR" {
			t.Errorf("logs at warn hold a %s record: %+v", rec.Level, rec)
		}
	}
	info := r.do(t, till, wire.ActionLogs, url.Values{"level": {"info"}})
	if info.Outcome != wire.OutcomeOK || info.Reply == nil || info.Reply.Logs == nil ||
		!slices.ContainsFunc(info.Reply.Logs.Records, func(rec wire.LogRecord) bool { return rec.Message == "headquarters action" }) {
		t.Errorf("logs at info lack the action's own line: %+v", info.Reply)
	}
	if info.Args.Level != "info" || warn.Args.Level != "warn" {
		t.Errorf("recorded levels %q and %q", info.Args.Level, warn.Args.Level)
	}
}

// checkTestPayment: a test payment to a phone number is paid on the
// simulator; the phone number is recorded masked and comes back masked.
func checkTestPayment(t *testing.T, r *actionsRig, till wire.Till) {
	tp := r.do(t, till, wire.ActionTestPayment, url.Values{"phone": {"4712345678"}})
	if tp.Outcome != wire.OutcomeOK || tp.Reply == nil || tp.Reply.TestPayment == nil || !tp.Reply.TestPayment.Good ||
		tp.Reply.TestPayment.State != string(agent.Completed) || tp.Reply.TestPayment.Amount <= 0 {
		t.Fatalf("test payment: %+v %+v", tp, tp.Reply)
	}
	if tp.Args.Phone != "•••••••678" {
		t.Errorf("the phone number recorded as %q", tp.Args.Phone)
	}
	if got := string(tp.Reply.Marshal()); strings.Contains(got, "12345678") {
		t.Errorf("the answer holds the phone number: %s", got)
	}
	if !strings.Contains(tp.Result, "paid") {
		t.Errorf("test payment's result %q", tp.Result)
	}
	// The box's log, all of it, has neither the phone number nor a secret.
	all := r.do(t, till, wire.ActionLogs, url.Values{"level": {"debug"}})
	if all.Reply == nil || all.Reply.Logs == nil || !slices.ContainsFunc(all.Reply.Logs.Records, func(rec wire.LogRecord) bool {
		return rec.Message == "test payment for headquarters"
	}) {
		t.Fatalf("the log lacks the test payment: %+v", all.Reply)
	}
	for _, secret := range []string{"12345678", "fleet-demo-client-secret", "fleet-demo-subscription-key", r.chain.Boxes()[0].Token()} {
		if strings.Contains(string(all.Reply.Marshal()), secret) {
			t.Errorf("the box's log tail holds %q", secret)
		}
	}
}

// checkRestart: with a payment in flight a restart that may not wait is
// refused, one that may waits (recorded pending) and is done once the
// payment is: the box answers again from a new process.
func checkRestart(t *testing.T, r *actionsRig, b *fleetdemo.Box, started time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), actionsBound)
	defer cancel()
	sale, _, err := b.Client().CreateSale(ctx, agent.SaleRequest{Amount: 500, Currency: "NOK", Description: "in flight"})
	if err != nil {
		t.Fatal(err)
	}
	if sale.State != agent.WaitingForCustomer {
		t.Fatalf("the sale in flight is %s", sale.State)
	}
	refused := r.do(t, b.Till, wire.ActionRestart, url.Values{"wait": {"0"}})
	if refused.Outcome != wire.OutcomeRefused || refused.Reply == nil || refused.Reply.Restart == nil ||
		!slices.Contains(refused.Reply.Restart.InFlight, sale.Reference) || !strings.Contains(refused.Error, sale.Reference) {
		t.Fatalf("a restart with a payment in flight, no wait: %+v %+v", refused, refused.Reply)
	}
	id := r.post(t, b.Till, wire.ActionRestart, url.Values{"wait": {"300"}})
	// The page waited a moment for the answer: the box is still waiting.
	if a, err := r.db.Action(ctx, testChain, id); err != nil || !a.AnsweredAt.IsZero() || a.Outcome != hqdb.OutcomePending {
		t.Fatalf("the restart while a payment is in flight: %+v %v, want pending", a, err)
	}
	if s, err := b.Client().GetSale(ctx, sale.Reference); err != nil || s.State != agent.WaitingForCustomer {
		t.Fatalf("the sale in flight: %+v %v", s, err)
	}
	if err := b.Scan(fleetdemo.PersonalQR); err != nil { // the customer pays
		t.Fatal(err)
	}
	done := r.answered(t, id)
	if done.Outcome != wire.OutcomeOK || !strings.Contains(done.Result, "restarted after waiting") || done.Reply == nil || !done.Reply.Restart.Restarting {
		t.Fatalf("the restart after the payment: %+v", done)
	}
	// The payment it waited for was paid, as headquarters' record says.
	waitFor(t, actionsBound, "the sale paid at headquarters", func() bool {
		var state string
		err := r.db.Pool().QueryRow(ctx, "SELECT state FROM sales WHERE chain = $1 AND reference = $2", testChain, sale.Reference).Scan(&state)
		return err == nil && state == string(agent.Completed)
	})
	again := r.do(t, b.Till, wire.ActionStatus, nil)
	if again.Reply == nil || again.Reply.Status == nil || !again.Reply.Status.Started.After(started) {
		t.Errorf("after the restart the box runs since %v, before since %s", again.Reply, started)
	}
}

// checkScanners: the scanner check names the box's scanner and shows a
// scan masked.
func checkScanners(t *testing.T, r *actionsRig, b *fleetdemo.Box) {
	var sc fleetpage.Action
	waitFor(t, actionsBound, "a scan in the scanner check", func() bool {
		// The restarted box opens its scanner anew: scan until it reads.
		if err := b.Scan(fleetdemo.PersonalQR); err != nil {
			t.Fatal(err)
		}
		sc = r.do(t, b.Till, wire.ActionScanners, nil)
		return sc.Reply != nil && sc.Reply.Scanners != nil && len(sc.Reply.Scanners.Scans) > 0
	})
	c := sc.Reply.Scanners
	if sc.Outcome != wire.OutcomeOK || len(c.Scanners) != 1 || c.Scanners[0].Name != "counter" || !c.Scanners[0].Connected {
		t.Errorf("scanner check: %+v", c)
	}
	if got := string(sc.Reply.Marshal()); strings.Contains(got, "12345678") || !strings.Contains(c.Scans[0].Sent, "678") {
		t.Errorf("the scan is not masked: %s", got)
	}
}

// checkAuditPage: the chain's audit page lists the actions.
func checkAuditPage(t *testing.T, r *actionsRig, newest int64) {
	resp, err := r.client.Get(r.url + "/actions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`data-id="` + strconv.FormatInt(newest, 10) + `"`, "no answer", "restarted after waiting", "test payment"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the audit page lacks %q", want)
		}
	}
}
