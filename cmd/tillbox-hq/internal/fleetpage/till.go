package fleetpage

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// A till's view and its remote technician actions (docs/chain.md,
// "Remote technician actions"): GET /till?store=S&till=T shows the till,
// a form per action (POST /action) and the till's audit; GET /actions is
// the chain's audit. The page has no script: a form posts, headquarters
// asks the box over NATS and waits a moment for its answer, then sends
// the browser to the till's view with the action shown (the view reloads
// itself while an action is pending). Forms carry a token bound to the
// session besides the cross-origin check every form gets.

// Actions run remote technician actions and keep their audit
// (internal/actions on PostgreSQL).
type Actions interface {
	// Start records that user asked till for action with args and asks
	// the box; it returns the audit row's id at once and a channel closed
	// once the answer (or its absence) is recorded. ctx bounds only the
	// recording of the request.
	Start(ctx context.Context, user string, till wire.Till, action string, args wire.ActionArgs) (id int64, done <-chan struct{}, err error)
	// Actions are the chain's newest actions (till's, when not nil),
	// newest first, at most limit.
	Actions(ctx context.Context, till *wire.Till, limit int) ([]Action, error)
	// Action is the chain's action id ([ErrNoAction] when there is none).
	Action(ctx context.Context, id int64) (Action, error)
}

// ErrNoAction is [Actions.Action]'s error for an id it does not know.
var ErrNoAction = errors.New("no such action")

// Action is one remote technician action as recorded.
type Action struct {
	ID       int64
	Till     wire.Till
	Operator string
	Action   string
	Args     wire.ActionArgs // as sent, a phone number masked
	AskedAt  time.Time
	Deadline time.Time
	// AnsweredAt is zero while the action is pending.
	AnsweredAt time.Time
	// Outcome is "pending", then "ok", "refused", "failed" or "no_answer".
	Outcome string
	Result  string // the result in a line
	Error   string
	Reply   *wire.ActionReply // the box's answer; nil without one
}

// actionWait is how long a posted form waits for the box's answer before
// the browser is sent to the till's view (which shows it pending).
const actionWait = 8 * time.Second

// pendingRefresh is how often the till's view reloads itself while an
// action is pending, in seconds.
const pendingRefresh = 2

// tillRoutes adds the till's view, its actions and the audit to mux.
func (p *page) tillRoutes(mux *http.ServeMux) {
	if p.o.Actions == nil {
		return
	}
	mux.HandleFunc("GET /static/till.css", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, assets, "assets/static/till.css")
	})
	mux.HandleFunc("GET /till", p.viewLoggedIn(p.tillPage))
	mux.HandleFunc("POST /action", p.loggedIn(p.act))
	mux.HandleFunc("GET /actions", p.viewLoggedIn(p.auditPage))
}

// viewLoggedIn runs h for a logged-in session and sends others to the
// login form (a page, not an API).
func (p *page) viewLoggedIn(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p.sessions.get(p.sessionID(r), p.o.Clock.Now()) == "" {
			seeOther(w, "login")
			return
		}
		p.loggedIn(h)(w, r)
	}
}

// csrfToken is the forms' token of r's session: a hash of the session id,
// which only the session's HttpOnly cookie holds.
func (p *page) csrfToken(r *http.Request) string {
	sum := sha256.Sum256([]byte("tillbox-hq forms\x00" + p.sessionID(r)))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

type actionView struct {
	Action
	Name            string // the action's name (.Action is the embedded record)
	Asked, Answered string // in the chain's time zone
	Pending         bool
	Args            string // for people
	Link            string // the till's view with this action shown
}

type tillPageData struct {
	User, CSRF string
	Till       tillView
	Shown      *shownView
	Actions    []actionView
	Problem    string
	Refresh    int // seconds; 0: no reload
	Levels     []string
}

// shownView is the action shown in full, with the box's answer.
type shownView struct {
	actionView
	loc *time.Location
}

// When is t in the chain's time zone, for people.
func (v shownView) When(t time.Time) string { return when(t, v.loc) }

// Money is minor units of currency for people.
func (shownView) Money(minor int64, currency string) string { return money(minor, currency) }

func when(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format("2006-01-02 15:04:05")
}

// findTill is the till as the fleet shows it; false when headquarters
// never heard of it.
func (p *page) findTill(ctx context.Context, store, till string) (tillView, bool, error) {
	tills, err := p.src.Tills(ctx)
	if err != nil {
		return tillView{}, false, err
	}
	for _, t := range tills {
		if t.Store == store && t.Till == till {
			return tillOf(p.o.Clock.Now(), p.o.Heartbeat, t), true, nil
		}
	}
	return tillView{}, false, nil
}

func (p *page) tillPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	tv, known, err := p.findTill(ctx, r.FormValue("store"), r.FormValue("till"))
	if err != nil {
		p.unavailable(w, err)
		return
	}
	if !known {
		http.Error(w, "no such till: headquarters has not heard of it", http.StatusNotFound)
		return
	}
	till := wire.Till{Chain: tv.Chain, Store: tv.Store, Till: tv.Till}
	d := tillPageData{CSRF: p.csrfToken(r), Till: tv, Levels: wire.LogLevels}
	d.User, _ = r.Context().Value(userKey{}).(string)
	list, err := p.o.Actions.Actions(ctx, &till, 50)
	if err != nil {
		p.unavailable(w, err)
		return
	}
	d.Actions = p.actionViews(list)
	if id, err := strconv.ParseInt(r.FormValue("action"), 10, 64); err == nil {
		a, err := p.o.Actions.Action(ctx, id)
		switch {
		case errors.Is(err, ErrNoAction) || err == nil && a.Till != till:
			d.Problem = "No such action of this till."
		case err != nil:
			p.unavailable(w, err)
			return
		default:
			d.Shown = &shownView{actionView: p.actionView(a), loc: p.o.Location}
		}
	}
	for _, a := range d.Actions {
		if a.Pending || d.Shown != nil && d.Shown.Pending {
			d.Refresh = pendingRefresh
		}
	}
	p.render(w, http.StatusOK, "till.html", d)
}

func (p *page) actionViews(list []Action) []actionView {
	out := make([]actionView, len(list))
	for i, a := range list {
		out[i] = p.actionView(a)
	}
	return out
}

func (p *page) actionView(a Action) actionView {
	v := actionView{Action: a, Name: a.Action, Asked: when(a.AskedAt, p.o.Location), Answered: when(a.AnsweredAt, p.o.Location),
		Pending: a.AnsweredAt.IsZero()}
	if v.Pending && p.o.Clock.Now().After(a.Deadline.Add(time.Minute)) {
		// Headquarters stopped while it waited: nobody will record an answer.
		v.Pending, v.Outcome, v.Error = false, "no_answer", "headquarters stopped before the box answered"
	}
	var args []string
	if a.Args.Level != "" {
		args = append(args, "level "+a.Args.Level)
	}
	if a.Args.Phone != "" {
		args = append(args, "to "+a.Args.Phone)
	} else if a.Action == wire.ActionTestPayment {
		args = append(args, "to the next scan")
	}
	if a.Action == wire.ActionRestart || a.Action == wire.ActionTestPayment {
		args = append(args, "wait up to "+a.Args.Wait().String())
	}
	v.Args = strings.Join(args, ", ")
	q := url.Values{"store": {a.Till.Store}, "till": {a.Till.Till}, "action": {strconv.FormatInt(a.ID, 10)}}
	v.Link = "till?" + q.Encode()
	return v
}

// act asks the box for the action posted, waits a moment for its answer,
// and sends the browser to the till's view with the action shown.
func (p *page) act(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form does not read", http.StatusBadRequest)
		return
	}
	user, _ := r.Context().Value(userKey{}).(string)
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(p.csrfToken(r))) != 1 {
		p.log.Warn("fleetpage: action refused: the form's token is not this session's", "user", user, "client", remote(r))
		http.Error(w, "forbidden: the form is not from this session; open the till's page again and try again", http.StatusForbidden)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	tv, known, err := p.findTill(ctx, r.PostFormValue("store"), r.PostFormValue("till"))
	if err != nil {
		p.unavailable(w, err)
		return
	}
	if !known {
		http.Error(w, "no such till: headquarters has not heard of it", http.StatusNotFound)
		return
	}
	till := wire.Till{Chain: tv.Chain, Store: tv.Store, Till: tv.Till}
	args, err := argsOf(r)
	if err == nil {
		err = wire.ActionRequest{ID: "0", Action: r.PostFormValue("action"), Operator: user, Args: args}.Check()
	}
	if err != nil {
		http.Error(w, "the action cannot be asked: "+err.Error(), http.StatusUnprocessableEntity)
		return
	}
	id, done, err := p.o.Actions.Start(ctx, user, till, r.PostFormValue("action"), args)
	if err != nil {
		p.unavailable(w, err)
		return
	}
	t := time.NewTimer(actionWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-r.Context().Done():
	}
	q := url.Values{"store": {till.Store}, "till": {till.Till}, "action": {strconv.FormatInt(id, 10)}}
	seeOther(w, "till?"+q.Encode()+"#shown")
}

// argsOf reads the action's arguments from the form.
func argsOf(r *http.Request) (wire.ActionArgs, error) {
	a := wire.ActionArgs{Level: r.PostFormValue("level"), Phone: strings.TrimSpace(r.PostFormValue("phone"))}
	if s := r.PostFormValue("wait"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return a, errors.New("wait: a number of seconds")
		}
		a.WaitSeconds = n
	}
	return a, nil
}

type auditData struct {
	User    string
	Actions []actionView
}

// auditPage lists the chain's newest actions.
func (p *page) auditPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	list, err := p.o.Actions.Actions(ctx, nil, 200)
	if err != nil {
		p.unavailable(w, err)
		return
	}
	d := auditData{Actions: p.actionViews(list)}
	d.User, _ = r.Context().Value(userKey{}).(string)
	p.render(w, http.StatusOK, "actions.html", d)
}
