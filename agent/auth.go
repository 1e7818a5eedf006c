package agent

import (
	"errors"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
)

// Vipps MobilePay refusing this box's credentials (401 or 403: a wrong
// client secret or subscription key, a sales unit without the product) is
// a condition of its own: the network is fine and nothing will go through
// until a technician mends the settings. The status, /readyz, the metrics
// and the technician page show it; the log says so at once and then every
// authLogEvery while it lasts.

// The agent's view of its credentials (Status.Auth).
const (
	AuthUnknown  = "unknown"  // no answer from Vipps MobilePay yet
	AuthAccepted = "accepted" // the last answer showed a valid token
	AuthRefused  = "refused"  // the last answer refused the credentials
)

// authLogEvery is how often a refusal that lasts is logged again.
const authLogEvery = 5 * time.Minute

// authState is the agent's view of its credentials; guarded by Agent.mu.
type authState struct {
	state    string
	err      string    // the refusal, while refused (no secret: status, code and the API's words)
	loggedAt time.Time // when the refusal was last logged
}

// authOf tells what a call's outcome says of the credentials: refused,
// accepted, or nothing ("").
func authOf(err error) string {
	if err == nil {
		return AuthAccepted
	}
	if epayment.IsAuth(err) {
		return AuthRefused
	}
	var ae *epayment.Error
	var de *epayment.DecodeError
	switch {
	case errors.As(err, &ae) && ae.Op != epayment.OpToken && ae.StatusCode >= 400 && ae.StatusCode < 500,
		errors.As(err, &de) && de.Op != epayment.OpToken:
		return AuthAccepted // the API answered past its token check
	}
	return "" // no answer, a redirect, a 5xx (a gateway's too), or the token call's own failure
}

// noteAuth records what err says of the credentials and logs a change, or
// a refusal that lasts, at most every authLogEvery.
func (a *Agent) noteAuth(err error) {
	got := authOf(err)
	if got == "" {
		return
	}
	now := a.clock.Now()
	a.mu.Lock()
	was := a.auth.state
	a.auth.state = got
	logRefusal := false
	if got == AuthRefused {
		a.auth.err = err.Error()
		if was != AuthRefused || now.Sub(a.auth.loggedAt) >= authLogEvery {
			a.auth.loggedAt, logRefusal = now, true
		}
	} else {
		a.auth.err = ""
	}
	a.mu.Unlock()
	switch {
	case logRefusal:
		a.log.Error("Vipps MobilePay refuses this box's credentials: no payment can be sent; check client_id, client_secret, subscription_key and msn in [vipps]",
			"status", epayment.StatusCode(err), "err", err, "again_in", authLogEvery)
	case got == AuthAccepted && was == AuthRefused:
		a.log.Info("Vipps MobilePay accepts this box's credentials again")
	}
}

// authRefused reports whether the credentials were refused at last answer.
func (a *Agent) authRefused() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.auth.state == AuthRefused
}
