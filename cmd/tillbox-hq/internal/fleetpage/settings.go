package fleetpage

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/settings"
)

// Settings is the chain's layered configuration the settings page reads
// and writes (*settings.Settings).
type Settings interface {
	Chain() string
	Overview(ctx context.Context) (*settings.Overview, error)
	Apply(ctx context.Context, c settings.Change) (settings.Result, error)
	Promote(ctx context.Context, store string, fields []string, by, note string) (settings.Result, error)
	Rollback(ctx context.Context, key string, rev uint64, by, note string) (settings.Written, error)
	History(ctx context.Context, key string) ([]settings.Revision, error)
}

// settingsPage serves, for signed-in users, GET /settings (every layer,
// and per till what its box applied, refused and waits to restart for,
// with forms to set, unset, seal a secret and promote a canary store),
// POST /settings (those forms), GET /history?key=KEY (a key's revisions)
// and POST /rollback. Forms post without script; the page's cross-origin
// protection and SameSite=Strict cookie guard them. A sealed secret is
// never shown: only its field's name.
type settingsPage struct {
	p     *page
	st    Settings
	log   *slog.Logger
	pages *template.Template
}

// settingsRoutes adds the settings page to mux when o.Settings is set.
func (p *page) settingsRoutes(mux *http.ServeMux) {
	if p.o.Settings == nil {
		return
	}
	loc := p.o.Location
	sp := &settingsPage{p: p, st: p.o.Settings, log: p.log,
		pages: template.Must(template.New("").Funcs(template.FuncMap{
			"when": func(t time.Time) string {
				if t.IsZero() {
					return "never"
				}
				return t.In(loc).Format("2006-01-02 15:04:05")
			},
			"views": p.o.views,
		}).ParseFS(assets, "assets/settings/*.html", "assets/nav.html"))}
	mux.HandleFunc("GET /static/settings.css", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, assets, "assets/static/settings.css")
	})
	mux.HandleFunc("GET /settings", sp.signedIn(sp.show))
	mux.HandleFunc("POST /settings", sp.signedIn(sp.change))
	mux.HandleFunc("GET /history", sp.signedIn(sp.history))
	mux.HandleFunc("POST /rollback", sp.signedIn(sp.rollback))
}

// signedIn runs h for a signed-in user (in the context, as loggedIn
// does); others are sent to the login form, or get 401 for a form.
func (sp *settingsPage) signedIn(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user := sp.p.sessions.get(sp.p.sessionID(r), sp.p.o.Clock.Now())
		if user == "" {
			if r.Method == http.MethodGet {
				seeOther(w, "login")
				return
			}
			http.Error(w, "your session has ended: log in again and repeat the change", http.StatusUnauthorized)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), userKey{}, user)))
	}
}

// settingsView is what settings.html shows.
type settingsView struct {
	User     string
	Alerts   bool // the alerts page is on (a link to it)
	Notice   []string
	Problem  string
	Overview *settings.Overview
	Fields   []string // offered by the forms
	Secrets  []string
}

func (sp *settingsPage) render(w http.ResponseWriter, r *http.Request, status int, v settingsView) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	ov, err := sp.st.Overview(ctx)
	if err != nil {
		sp.log.Error("fleetpage: reading the settings", "err", err)
		http.Error(w, "the settings cannot be read now (NATS or headquarters' database does not answer); try again in a moment", http.StatusServiceUnavailable)
		return
	}
	v.User, _ = r.Context().Value(userKey{}).(string)
	v.Overview, v.Fields, v.Secrets = ov, settings.KnownFields, settings.SecretFields
	v.Alerts = sp.p.o.Alerts != nil
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := sp.pages.ExecuteTemplate(w, "settings.html", v); err != nil {
		sp.log.Error("fleetpage: rendering", "page", "settings.html", "err", err)
	}
}

func (sp *settingsPage) show(w http.ResponseWriter, r *http.Request) {
	sp.render(w, r, http.StatusOK, settingsView{})
}

// change takes the forms of the settings page: op set, secret, unset or
// promote, for scope, with field(s), value or secret, and note.
func (sp *settingsPage) change(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "a form too big or not a form", http.StatusBadRequest)
		return
	}
	user, _ := r.Context().Value(userKey{}).(string)
	f := r.PostForm
	op, field, note := f.Get("op"), f.Get("field"), f.Get("note")
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	sc, err := settings.ParseScope(f.Get("scope"))
	var res settings.Result
	if err == nil {
		res, err = sp.apply(ctx, op, sc, f["field"], f.Get("value"), f.Get("secret"), user, note)
	}
	if err != nil {
		sp.log.Warn("fleetpage: settings change refused", "user", user, "op", op, "scope", sc.Param(), "field", field, "written", len(res.Written), "err", err)
		problem := err.Error()
		if len(res.Written) > 0 {
			// A secret sealed for many tills stopped partway: what was
			// written stays, the rest was not.
			problem = "Stopped partway, the keys above are written, the others not: " + problem
		}
		sp.render(w, r, http.StatusBadRequest, settingsView{Notice: describe(res), Problem: problem})
		return
	}
	sp.log.Info("fleetpage: settings changed", "user", user, "op", op, "scope", sc.Param(), "fields", f["field"])
	sp.render(w, r, http.StatusOK, settingsView{Notice: describe(res)})
}

// apply makes the change a form asks for.
func (sp *settingsPage) apply(ctx context.Context, op string, sc settings.Scope, fields []string, value, secret, user, note string) (settings.Result, error) {
	field := ""
	if len(fields) > 0 {
		field = fields[0]
	}
	switch op {
	case "set":
		v, err := settings.ParseValue(field, value)
		if err != nil {
			return settings.Result{}, err
		}
		return sp.st.Apply(ctx, settings.Change{Scope: sc, Set: map[string]any{field: v}, By: user, Note: note})
	case "secret":
		return sp.st.Apply(ctx, settings.Change{Scope: sc, Secrets: map[string]string{field: secret}, By: user, Note: note})
	case "unset":
		return sp.st.Apply(ctx, settings.Change{Scope: sc, Unset: []string{field}, By: user, Note: note})
	case "promote":
		if sc.Level != "store" {
			return settings.Result{}, fmt.Errorf("only a store's fields are promoted to the chain")
		}
		return sp.st.Promote(ctx, sc.Store, fields, user, note)
	}
	return settings.Result{}, fmt.Errorf("no such change %q", op)
}

// describe says what a change wrote, for people.
func describe(res settings.Result) []string {
	var out []string
	for _, x := range res.Written {
		out = append(out, fmt.Sprintf("Wrote %s, revision %d.", x.Key, x.Revision))
	}
	for _, t := range res.NoKey {
		out = append(out, fmt.Sprintf("No secret for till %s/%s: its heartbeat carries no key yet; set it again once it does.", t.Store, t.Till))
	}
	return out
}

// historyView is what history.html shows.
type historyView struct {
	User      string
	Alerts    bool
	Key       string
	Scope     settings.Scope
	Current   uint64
	Revisions []settings.Revision // newest first
	Notice    string
	Problem   string
}

func (sp *settingsPage) renderHistory(w http.ResponseWriter, r *http.Request, status int, key string, v historyView) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	sc, ok := settings.ScopeOfKey(sp.st.Chain(), key)
	if !ok {
		http.Error(w, "no such key of the chain's settings", http.StatusNotFound)
		return
	}
	revs, err := sp.st.History(ctx, key)
	if err != nil {
		sp.log.Error("fleetpage: reading a key's history", "key", key, "err", err)
		http.Error(w, "the history cannot be read now; try again in a moment", http.StatusServiceUnavailable)
		return
	}
	slices.Reverse(revs)
	v.User, _ = r.Context().Value(userKey{}).(string)
	v.Key, v.Scope, v.Revisions = key, sc, revs
	v.Alerts = sp.p.o.Alerts != nil
	if len(revs) > 0 {
		v.Current = revs[0].Revision
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := sp.pages.ExecuteTemplate(w, "history.html", v); err != nil {
		sp.log.Error("fleetpage: rendering", "page", "history.html", "err", err)
	}
}

func (sp *settingsPage) history(w http.ResponseWriter, r *http.Request) {
	sp.renderHistory(w, r, http.StatusOK, r.URL.Query().Get("key"), historyView{})
}

// rollback takes the history page's form: key, revision, note.
func (sp *settingsPage) rollback(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "a form too big or not a form", http.StatusBadRequest)
		return
	}
	user, _ := r.Context().Value(userKey{}).(string)
	key := r.PostForm.Get("key")
	rev, err := strconv.ParseUint(r.PostForm.Get("revision"), 10, 64)
	if err != nil {
		http.Error(w, "no revision to roll back to", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	wr, err := sp.st.Rollback(ctx, key, rev, user, r.PostForm.Get("note"))
	if err != nil {
		sp.log.Warn("fleetpage: rollback refused", "user", user, "key", key, "revision", rev, "err", err)
		sp.renderHistory(w, r, http.StatusBadRequest, key, historyView{Problem: err.Error()})
		return
	}
	sp.log.Info("fleetpage: rolled back", "user", user, "key", key, "to", rev, "revision", wr.Revision)
	sp.renderHistory(w, r, http.StatusOK, key, historyView{
		Notice: fmt.Sprintf("Wrote %s, revision %d, as it was at revision %d.", wr.Key, wr.Revision, rev)})
}
