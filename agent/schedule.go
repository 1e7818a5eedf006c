package agent

import (
	"slices"
	"time"

	"github.com/tillbox/tillbox/store"
)

// The outbox's decisions, as data: given the due commands and what the
// agent knows (what is on its way, online or not, the calls made per sale,
// the free workers, now), which commands go now, which wait and why, and
// when to look again. No store, no network, no lock: the caller reads the
// due index, collects the state and carries the decisions out (outbox.go).

// maxOnTheWay bounds, per worker, the commands on their way: sent, or
// answered with the answer waiting for its commit. A worker is free again
// once its call is answered, so that answers pile up into fewer, larger
// commits (store.DB.Batch) while the next calls go out; this keeps the
// answers waiting for a slow disk from growing without end.
const maxOnTheWay = 4

// maxExamined is how many due commands one look at the outbox decides on
// (those behind a command of their sale on its way not counted).
const maxExamined = 64

// ePayment allows 5 create, capture, cancel and refund calls a minute per
// reference (FACTS.md §6); the worker keeps under it rather than earn 429s.
const (
	refLimit  = 5
	refWindow = time.Minute
)

// outboxState is what the scheduler knows besides the due commands.
type outboxState struct {
	now     time.Time
	online  bool
	probeAt time.Time // offline: no probe before
	// inflight holds the sales with a command on its way; onTheWay counts
	// those commands.
	inflight map[string]bool
	onTheWay int
	// calls holds the calls counted against each sale's limit, oldest
	// first; the scheduler only reads it.
	calls       map[string][]time.Time
	freeWorkers int
	maxOnTheWay int // commands on their way at most (maxOnTheWay per worker)
}

// toSend is a command to send now.
type toSend struct {
	store.DueCommand
	// counted: the call counts against the sale's limit. A create past its
	// window is not: it is abandoned, or settled by GET, with no
	// modification call.
	counted bool
}

// holdReason says why a due command waits.
type holdReason int

const (
	behindOnItsWay holdReason = iota + 1 // a command of its sale is on its way
	behindEarlier                        // an earlier command of its sale goes first
	offlineProbe                         // offline: one probe at a time, at the back-off's pace
	rateLimited                          // the sale's calls a minute are used up
)

type held struct {
	store.DueCommand
	why holdReason
}

// stopReason says why the scheduler stopped looking before the end of the
// due commands.
type stopReason int

const (
	walkedAll    stopReason = iota // every due command was looked at
	lookedEnough                   // maxExamined commands were
	commitsSlow                    // maxOnTheWay commands are on their way: a finished send wakes the outbox
	workersBusy                    // every worker is busy: a finished send wakes the outbox
)

// outboxPlan is what the scheduler decided.
type outboxPlan struct {
	send []toSend // in this order
	held []held
	stop stopReason
	// next is when to look again (zero: when woken).
	next time.Time
	// calls is the new history of each sale whose limit was looked at:
	// the calls of the last refWindow, and the ones counted now (empty:
	// forget the sale).
	calls map[string][]time.Time
}

// scheduler decides on the due commands one at a time, earliest first, so
// that its caller can stop reading the due index as soon as it is done
// (see) and read a sale's first command only when it is needed (decide).
type scheduler struct {
	in       outboxState
	plan     outboxPlan
	started  map[string]bool // sales of the commands in plan.send
	examined int
	probing  int // offline: commands on their way or chosen (one probe at a time)
}

func newScheduler(in outboxState) *scheduler {
	s := &scheduler{}
	s.reset(in)
	return s
}

// reset readies s for a new look at the outbox, keeping its storage: the
// plan it made before goes.
func (s *scheduler) reset(in outboxState) {
	clear(s.started)
	clear(s.plan.calls)
	*s = scheduler{
		in:      in,
		probing: in.onTheWay,
		started: s.started,
		plan:    outboxPlan{send: s.plan.send[:0], held: s.plan.held[:0], calls: s.plan.calls},
	}
}

// see reports whether due command c is to be decided on (then decide), and
// whether to go on to the next due command.
func (s *scheduler) see(c store.DueCommand) (look, more bool) {
	if s.in.inflight[c.Reference] || s.started[c.Reference] {
		s.hold(c, behindOnItsWay)
		return false, true
	}
	if s.examined++; s.examined > maxExamined {
		s.plan.stop = lookedEnough
		return false, false
	}
	return true, true
}

// decide decides on c, given first, the lowest id of the commands queued
// for c's sale, and reports whether to go on to the next due command.
func (s *scheduler) decide(c store.DueCommand, first uint64) bool {
	now := s.in.now
	if first != c.ID {
		s.hold(c, behindEarlier)
		return true
	}
	// Offline, one command at a time probes the network, at the pace of the
	// back-off; a create whose window has passed needs no call to be
	// abandoned, and goes.
	pastWindow := c.Kind == cmdCreate && !c.MaybeSent && !c.NotAfter.IsZero() && now.After(c.NotAfter)
	if !s.in.online && !pastWindow {
		if s.probing > 0 || now.Before(s.in.probeAt) {
			if s.probing == 0 {
				s.plan.next = earliest(s.plan.next, s.in.probeAt)
			}
			s.plan.next = wakeAtWindowEnd(s.plan.next, c)
			s.hold(c, offlineProbe)
			return true
		}
		s.probing++
	}
	// A create past its window is abandoned or settled by GET: no
	// modification call, so the per-reference limit does not apply.
	counted := !(c.Kind == cmdCreate && !c.NotAfter.IsZero() && now.After(c.NotAfter))
	if wait := s.rateWait(c.Reference); counted && wait > 0 {
		s.plan.next = earliest(s.plan.next, now.Add(wait))
		if c.Kind == cmdCreate && !c.NotAfter.IsZero() {
			s.plan.next = earliest(s.plan.next, c.NotAfter.Add(time.Millisecond))
		}
		s.hold(c, rateLimited)
		return true
	}
	if s.in.onTheWay+len(s.plan.send) >= s.in.maxOnTheWay {
		s.plan.stop = commitsSlow
		return false
	}
	if len(s.plan.send) >= s.in.freeWorkers {
		s.plan.stop = workersBusy
		return false
	}
	if s.started == nil {
		s.started = map[string]bool{}
	}
	s.started[c.Reference] = true
	if counted {
		s.plan.calls[c.Reference] = append(s.plan.calls[c.Reference], now)
	}
	s.plan.send = append(s.plan.send, toSend{DueCommand: c, counted: counted})
	return true
}

// rateWait is how long a sale's next call must wait to stay under the
// limit; it notes the sale's calls of the last refWindow in the plan.
func (s *scheduler) rateWait(ref string) time.Duration {
	times, ok := s.plan.calls[ref]
	if !ok {
		times = s.in.calls[ref]
	}
	i := 0
	for i < len(times) && s.in.now.Sub(times[i]) >= refWindow {
		i++
	}
	// Clipped: what the plan appends must not write into the caller's
	// history.
	times = slices.Clip(times[i:])
	if s.plan.calls == nil {
		s.plan.calls = map[string][]time.Time{}
	}
	s.plan.calls[ref] = times
	if len(times) < refLimit {
		return 0
	}
	return refWindow - s.in.now.Sub(times[0])
}

func (s *scheduler) hold(c store.DueCommand, why holdReason) {
	s.plan.held = append(s.plan.held, held{DueCommand: c, why: why})
}

// done ends the plan; later is the earliest NextAttempt after now of any
// queued command (zero: none). Due commands held back (behind an earlier
// command of their sale, or by the rate limit) are covered by the first's
// NextAttempt, the limit's wait, or a finished send.
func (s *scheduler) done(later time.Time) outboxPlan {
	if !later.IsZero() {
		s.plan.next = earliest(s.plan.next, later)
	}
	return s.plan
}

// schedule decides on the due commands (earliest first, as the due index
// holds them) given the first command id of each of their sales, and the
// earliest NextAttempt of the commands not yet due (zero: none).
func schedule(in outboxState, due []store.DueCommand, first map[string]uint64, later time.Time) outboxPlan {
	return newScheduler(in).all(due, first, later)
}

// all is schedule with s's storage.
func (s *scheduler) all(due []store.DueCommand, first map[string]uint64, later time.Time) outboxPlan {
	for _, c := range due {
		look, more := s.see(c)
		if look {
			more = s.decide(c, first[c.Reference])
		}
		if !more {
			break
		}
	}
	return s.done(later)
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}
