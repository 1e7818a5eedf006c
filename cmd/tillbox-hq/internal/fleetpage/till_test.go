package fleetpage

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// fakeActions records what is started; each action stays pending unless
// answer is set, and every record is kept for the views.
type fakeActions struct {
	mu      sync.Mutex
	list    []Action // oldest first
	answer  *wire.ActionReply
	started []string // user action till
}

func (f *fakeActions) Start(_ context.Context, user string, till wire.Till, action string, args wire.ActionArgs) (int64, <-chan struct{}, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := Action{ID: int64(len(f.list) + 1), Till: till, Operator: user, Action: action, Args: args,
		AskedAt: start, Deadline: start.Add(time.Minute), Outcome: "pending"}
	if f.answer != nil {
		a.AnsweredAt, a.Outcome, a.Reply, a.Result = start.Add(time.Second), f.answer.Outcome, f.answer, "answered"
	}
	f.list = append(f.list, a)
	f.started = append(f.started, user+" "+action+" "+till.String())
	done := make(chan struct{})
	close(done)
	return a.ID, done, nil
}

func (f *fakeActions) Actions(_ context.Context, till *wire.Till, limit int) ([]Action, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Action
	for i := len(f.list) - 1; i >= 0 && len(out) < limit; i-- {
		if till == nil || f.list[i].Till == *till {
			out = append(out, f.list[i])
		}
	}
	return out, nil
}

func (f *fakeActions) Action(_ context.Context, id int64) (Action, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id < 1 || int(id) > len(f.list) {
		return Action{}, ErrNoAction
	}
	return f.list[id-1], nil
}

func (f *fakeActions) startedList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.started...)
}

var tokenOf = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestTillActionsForms: the till's view and its forms are for a logged-in
// operator only, with a token bound to the session; a posted action is
// started as that operator and shown; what cannot be asked is refused
// before anything is started.
func TestTillActionsForms(t *testing.T) {
	fa := &fakeActions{}
	r := newRig(t, twoStores(start), func(o *Options) { o.Actions = fa })
	view := "/till?store=bergen-1&till=till-1"
	anon := r.client(t)
	if a := r.get(t, anon, view); a.status != http.StatusSeeOther || a.header.Get("Location") != "login" {
		t.Errorf("the till's view without a login: %d %q", a.status, a.header.Get("Location"))
	}
	form := url.Values{"store": {"bergen-1"}, "till": {"till-1"}, "action": {"restart"}}
	if a := r.post(t, anon, "/action", form); a.status != http.StatusUnauthorized {
		t.Errorf("an action without a login: %d", a.status)
	}

	alice, bob := r.client(t), r.client(t)
	r.login(t, alice, "alice", alicePassword)
	r.login(t, bob, "bob", bobPassword)
	page := r.get(t, alice, view)
	if page.status != http.StatusOK || !strings.Contains(page.body, `id="act-restart"`) {
		t.Fatalf("the till's view: %d %s", page.status, page.body)
	}
	if !strings.Contains(r.get(t, alice, "/").body, `href="till?store=bergen-1&amp;till=till-1"`) {
		t.Error("the fleet page does not link the till's view")
	}
	if a := r.get(t, alice, "/till?store=bergen-1&till=till-9"); a.status != http.StatusNotFound {
		t.Errorf("an unknown till: %d", a.status)
	}
	token := tokenOf.FindStringSubmatch(page.body)[1]
	if bobs := tokenOf.FindStringSubmatch(r.get(t, bob, view).body)[1]; bobs == token {
		t.Error("two sessions share a form token")
	}
	// Bob's session with alice's token, a forged one, a form from another
	// site: refused, nothing started.
	form.Set("csrf", token)
	if a := r.post(t, bob, "/action", form); a.status != http.StatusForbidden {
		t.Errorf("another session's token: %d", a.status)
	}
	if a := r.post(t, alice, "/action", form, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); a.status != http.StatusForbidden {
		t.Errorf("a form from another site: %d", a.status)
	}
	bad := url.Values{"csrf": {token}, "store": {"bergen-1"}, "till": {"till-1"}, "action": {"logs"}, "level": {"loud"}}
	if a := r.post(t, alice, "/action", bad); a.status != http.StatusUnprocessableEntity {
		t.Errorf("a bad level: %d", a.status)
	}
	bad.Set("action", "format-disk")
	if a := r.post(t, alice, "/action", bad); a.status != http.StatusUnprocessableEntity {
		t.Errorf("an unknown action: %d", a.status)
	}
	if got := fa.startedList(); len(got) != 0 {
		t.Fatalf("started %v", got)
	}

	// Alice's restart: started as alice, then shown, pending: the view
	// reloads itself.
	a := r.post(t, alice, "/action", form)
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "till?action=1&store=bergen-1&till=till-1#shown" {
		t.Fatalf("the action: %d %q", a.status, a.header.Get("Location"))
	}
	if got := fa.startedList(); len(got) != 1 || got[0] != "alice restart nordkjede/bergen-1/till-1" {
		t.Errorf("started %v", got)
	}
	shown := r.get(t, alice, "/till?store=bergen-1&till=till-1&action=1")
	for _, want := range []string{`id="shown"`, `data-outcome="pending"`, `http-equiv="refresh"`, "waiting for the box"} {
		if !strings.Contains(shown.body, want) {
			t.Errorf("the pending action's view lacks %q", want)
		}
	}
	// Another till's action is not shown under this one.
	if v := r.get(t, alice, "/till?store=oslo-1&till=till-7&action=1"); !strings.Contains(v.body, "No such action of this till.") {
		t.Error("an action shown under another till")
	}
	// An answered one: shown with the box's answer, no reload.
	fa.mu.Lock()
	fa.answer = &wire.ActionReply{Outcome: wire.OutcomeOK, Status: &wire.BoxStatus{Version: "9.9.9", Online: true, InFlight: []string{}}}
	fa.mu.Unlock()
	form.Set("action", "status")
	r.post(t, alice, "/action", form)
	fa.mu.Lock()
	fa.list[0].AnsweredAt, fa.list[0].Outcome = start, "refused"
	fa.mu.Unlock()
	v := r.get(t, alice, "/till?store=bergen-1&till=till-1&action=2")
	if !strings.Contains(v.body, "9.9.9") || strings.Contains(v.body, `http-equiv="refresh"`) {
		t.Errorf("the answered status's view: %s", v.body)
	}
	if au := r.get(t, alice, "/actions"); au.status != http.StatusOK || strings.Count(au.body, `<article class="action`) != 2 {
		t.Errorf("the audit page: %d %s", au.status, au.body)
	}
}

// TestTillViewOff: without Actions, no till view.
func TestTillViewOff(t *testing.T) {
	r := newRig(t, twoStores(start), nil)
	c := r.client(t)
	r.login(t, c, "alice", alicePassword)
	if a := r.get(t, c, "/till?store=bergen-1&till=till-1"); a.status != http.StatusNotFound {
		t.Errorf("the till's view without actions: %d", a.status)
	}
	if strings.Contains(r.get(t, c, "/").body, "till?store=") {
		t.Error("the fleet page links a till's view without actions")
	}
}
