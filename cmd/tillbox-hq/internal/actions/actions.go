// Package actions runs remote technician actions from headquarters: it
// records each action an operator asks of a till in PostgreSQL (table
// actions), asks the box over NATS request-reply on the till's action
// subject (wire/action.go), and completes the record with the box's
// answer, or with "no answer" when the box is offline or silent past the
// action's time. A restart is complete once the box answers again from
// its new process. It implements fleetpage.Actions.
package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetpage"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
)

// Defaults of what the page does not say.
const (
	// DefaultFollow is how long a test payment is followed.
	DefaultFollow = time.Minute
	// DefaultTimeout is the time a box has to answer, besides the time an
	// action waits on the box.
	DefaultTimeout = 15 * time.Second
	// DefaultBackWithin bounds the wait for a restarted box to answer again.
	DefaultBackWithin = 3 * time.Minute
)

// Options say where the actions go and are recorded.
type Options struct {
	NC    *nats.Conn // headquarters' connection (its user may publish on every action subject)
	DB    *hqdb.DB
	Chain string
	// Timeout is the time a box has to answer (default DefaultTimeout),
	// besides the time the action waits on the box (a test payment
	// followed, a restart waiting for the payments in flight).
	Timeout time.Duration
	// BackWithin bounds the wait for a restarted box to answer again
	// (default DefaultBackWithin); BackEvery is how often it is asked
	// meanwhile (default 1 s).
	BackWithin, BackEvery time.Duration
	Logger                *slog.Logger
}

// Runner runs actions; Close stops those still waiting.
type Runner struct {
	o      Options
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// answerAction is o.DB.AnswerAction (a test's may fail).
	answerAction func(ctx context.Context, id int64, outcome, result, errText string, reply *wire.ActionReply) error
}

var _ fleetpage.Actions = (*Runner)(nil)

// New returns a runner.
func New(o Options) *Runner {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.BackWithin <= 0 {
		o.BackWithin = DefaultBackWithin
	}
	if o.BackEvery <= 0 {
		o.BackEvery = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{o: o, log: o.Logger, ctx: ctx, cancel: cancel, answerAction: o.DB.AnswerAction}
}

// Close waits for the actions in flight until ctx ends, then stops them:
// each is recorded as not answered ("headquarters stopped").
func (r *Runner) Close(ctx context.Context) {
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		r.cancel()
		<-done
	}
	r.cancel()
}

// normalize keeps the arguments the action reads, with the defaults
// written out (so that the record says what was asked).
func normalize(action string, a wire.ActionArgs) wire.ActionArgs {
	switch action {
	case wire.ActionLogs:
		if a.Level == "" {
			a.Level = "info"
		}
		if a.Limit == 0 {
			a.Limit = wire.DefaultLogRecords
		}
		return wire.ActionArgs{Level: a.Level, Limit: a.Limit}
	case wire.ActionTestPayment:
		if a.WaitSeconds == 0 {
			a.WaitSeconds = int(DefaultFollow / time.Second)
		}
		return wire.ActionArgs{Phone: a.Phone, WaitSeconds: a.WaitSeconds}
	case wire.ActionRestart:
		return wire.ActionArgs{WaitSeconds: a.WaitSeconds}
	}
	return wire.ActionArgs{}
}

// maskPhone keeps a phone number's last three digits.
func maskPhone(p string) string {
	var digits []rune
	for _, c := range p {
		if c >= '0' && c <= '9' {
			digits = append(digits, c)
		}
	}
	if len(digits) <= 3 {
		return strings.Repeat("•", len(digits))
	}
	return strings.Repeat("•", len(digits)-3) + string(digits[len(digits)-3:])
}

// Start records the action, then asks the box in the background.
func (r *Runner) Start(ctx context.Context, user string, till wire.Till, action string, args wire.ActionArgs) (int64, <-chan struct{}, error) {
	if err := till.Check(); err != nil {
		return 0, nil, err
	}
	if till.Chain != r.o.Chain {
		return 0, nil, fmt.Errorf("till %s is not of chain %s", till, r.o.Chain)
	}
	args = normalize(action, args)
	if err := (wire.ActionRequest{ID: "0", Action: action, Operator: user, Args: args}).Check(); err != nil {
		return 0, nil, err
	}
	if r.ctx.Err() != nil {
		return 0, nil, errors.New("headquarters is stopping")
	}
	timeout := args.Wait() + r.o.Timeout
	deadline := time.Now().Add(timeout)
	if action == wire.ActionRestart {
		deadline = deadline.Add(r.o.BackWithin)
	}
	recorded := args
	if recorded.Phone != "" {
		recorded.Phone = maskPhone(recorded.Phone)
	}
	id, err := r.o.DB.AskAction(ctx, till, user, action, recorded, deadline)
	if err != nil {
		return 0, nil, err
	}
	r.log.Info("action asked", "id", id, "till", till.String(), "action", action, "operator", user)
	req := wire.ActionRequest{ID: strconv.FormatInt(id, 10), Action: action, Operator: user, Args: args}
	done := make(chan struct{})
	r.wg.Go(func() {
		defer close(done)
		r.run(till, req, timeout)
	})
	return id, done, nil
}

// answer is what becomes of an action's record.
type answer struct {
	outcome, result, err string
	reply                *wire.ActionReply
}

// run asks the box and records the answer.
func (r *Runner) run(till wire.Till, req wire.ActionRequest, timeout time.Duration) {
	id, _ := strconv.ParseInt(req.ID, 10, 64)
	rep, err := r.ask(r.ctx, till, req, timeout)
	var a answer
	if err != nil {
		a = answer{outcome: hqdb.OutcomeNoAnswer, err: r.noAnswer(err, timeout)}
	} else {
		a = answer{outcome: rep.Outcome, result: summary(rep), err: rep.Error, reply: rep}
		if !slices.Contains([]string{wire.OutcomeOK, wire.OutcomeRefused, wire.OutcomeFailed}, rep.Outcome) {
			// The table takes only the outcomes it knows.
			a.outcome = wire.OutcomeFailed
			a.result = strings.TrimSuffix(fmt.Sprintf("the box answered %q, an outcome headquarters does not know; %s", rep.Outcome, a.result), "; ")
		}
		if req.Action == wire.ActionRestart && rep.Outcome == wire.OutcomeOK && rep.Restart != nil {
			a = r.waitBack(id, till, rep)
		}
	}
	r.record(id, a)
	r.log.Info("action answered", "id", id, "till", till.String(), "action", req.Action, "outcome", a.outcome, "result", a.result, "err", a.err)
}

// recordTries bound the writes of an action's answer; recordPause is
// the wait after the first that fails, doubling.
const (
	recordTries = 4
	recordPause = 500 * time.Millisecond
)

// record writes a, the answer of action id; a write that fails (the
// database restarting) is tried again a few times, lest the action stay
// pending.
func (r *Runner) record(id int64, a answer) {
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := r.answerAction(ctx, id, a.outcome, a.result, a.err, a.reply)
		cancel()
		if err == nil {
			return
		}
		if try == recordTries {
			r.log.Error("action: recording the answer; it stays pending", "id", id, "tries", try, "err", err)
			return
		}
		r.log.Warn("action: recording the answer; trying again", "id", id, "err", err)
		time.Sleep(recordPause << (try - 1))
	}
}

// noAnswer says why the box did not answer.
func (r *Runner) noAnswer(err error, timeout time.Duration) string {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return "the box is offline: it is not connected to headquarters"
	case errors.Is(err, context.Canceled):
		return "headquarters stopped before the box answered"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return "the box did not answer within " + timeout.String() + ": offline, or its link is down"
	case errors.Is(err, errBadReply):
		return err.Error()
	}
	return "headquarters could not ask the box: " + err.Error()
}

var errBadReply = errors.New("the box's answer does not read")

// ask sends req to till and reads its reply within timeout.
func (r *Runner) ask(ctx context.Context, till wire.Till, req wire.ActionRequest, timeout time.Duration) (*wire.ActionReply, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := r.o.NC.RequestWithContext(ctx, till.ActionSubject(), data)
	if err != nil {
		return nil, err
	}
	var rep wire.ActionReply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadReply, err)
	}
	if rep.ID != req.ID || rep.Action != req.Action {
		return nil, fmt.Errorf("%w: it answers action %q %s", errBadReply, rep.ID, rep.Action)
	}
	return &rep, nil
}

// waitBack waits until the restarted box answers a status from a new
// process (one started after the one that answered the restart).
func (r *Runner) waitBack(id int64, till wire.Till, rep *wire.ActionReply) answer {
	ctx, cancel := context.WithTimeout(r.ctx, r.o.BackWithin)
	defer cancel()
	began := time.Now()
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	_ = r.o.DB.ProgressAction(pctx, id, "restarting: waiting for the box to answer again")
	pcancel()
	tick := time.NewTicker(r.o.BackEvery)
	defer tick.Stop()
	for n := 1; ; n++ {
		req := wire.ActionRequest{ID: strconv.FormatInt(id, 10) + ".back." + strconv.Itoa(n), Action: wire.ActionStatus, Operator: "headquarters"}
		st, err := r.ask(ctx, till, req, min(5*time.Second, r.o.BackWithin))
		if err == nil && st.Status != nil && st.Status.Started.After(rep.Restart.Started) {
			took := time.Since(began).Round(100 * time.Millisecond)
			res := fmt.Sprintf("restarted: up again after %s (version %s)", took, st.Status.Version)
			if rep.Restart.WaitedSeconds >= 1 {
				res = fmt.Sprintf("restarted after waiting %.0f s for the payments in flight: up again after %s (version %s)",
					rep.Restart.WaitedSeconds, took, st.Status.Version)
			}
			return answer{outcome: wire.OutcomeOK, result: res, reply: rep}
		}
		select {
		case <-ctx.Done():
			why := "the box said it was restarting, but did not answer again within " + r.o.BackWithin.String()
			if r.ctx.Err() != nil {
				why = "headquarters stopped before the restarted box answered again"
			}
			return answer{outcome: wire.OutcomeFailed, err: why, reply: rep}
		case <-tick.C:
		}
	}
}

// Actions are the chain's newest actions (till's, when not nil).
func (r *Runner) Actions(ctx context.Context, till *wire.Till, limit int) ([]fleetpage.Action, error) {
	return r.o.DB.Actions(ctx, r.o.Chain, till, limit)
}

// Action is the chain's action id.
func (r *Runner) Action(ctx context.Context, id int64) (fleetpage.Action, error) {
	return r.o.DB.Action(ctx, r.o.Chain, id)
}
