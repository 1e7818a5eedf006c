package agent

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/tillbox/tillbox/store"
)

// The scheduler is tested on data alone: no store, no network, no agent.

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func due(id uint64, ref, kind string) store.DueCommand {
	return store.DueCommand{ID: id, Reference: ref, Kind: kind, NextAttempt: t0.Add(-time.Second)}
}

// create is a create never sent whose window ends at notAfter.
func create(id uint64, ref string, notAfter time.Time) store.DueCommand {
	c := due(id, ref, cmdCreate)
	c.NotAfter = notAfter
	return c
}

// firsts makes every command the first of its sale, but for the exceptions.
func firsts(cmds []store.DueCommand, except map[string]uint64) map[string]uint64 {
	m := map[string]uint64{}
	for _, c := range cmds {
		if _, ok := m[c.Reference]; !ok {
			m[c.Reference] = c.ID
		}
	}
	maps.Copy(m, except)
	return m
}

func online() outboxState {
	return outboxState{now: t0, online: true, freeWorkers: 4, maxOnTheWay: 16}
}

func offline(probeAt time.Time) outboxState {
	in := online()
	in.online, in.probeAt = false, probeAt
	return in
}

// callsAgo is a history of calls made the given durations ago, oldest first.
func callsAgo(ago ...time.Duration) []time.Time {
	var ts []time.Time
	for _, d := range ago {
		ts = append(ts, t0.Add(-d))
	}
	return ts
}

var (
	inWindow  = t0.Add(time.Minute)
	pastWin   = t0.Add(-time.Second)
	fiveCalls = callsAgo(50*time.Second, 40*time.Second, 30*time.Second, 20*time.Second, 10*time.Second)
	// 70 sales, a capture due each.
	many = func() []store.DueCommand {
		var cmds []store.DueCommand
		for i := range 70 {
			cmds = append(cmds, due(uint64(i+1), fmt.Sprint("s", i), cmdCapture))
		}
		return cmds
	}()
	maybeSentPast = func() store.DueCommand {
		c := create(1, "a", pastWin)
		c.MaybeSent = true
		return c
	}()
)

// scheduleWant is what a plan must be.
type scheduleWant struct {
	send    []uint64 // in order
	counted []bool   // of each sent
	held    map[uint64]holdReason
	stop    stopReason
	next    time.Time
	calls   map[string][]time.Time // the plan's history, for the sales named
}

type scheduleCase struct {
	name  string
	in    outboxState
	due   []store.DueCommand
	first map[string]uint64 // overrides: the first command of a sale, when not the first due
	later time.Time
	want  scheduleWant
}

var scheduleCases = []scheduleCase{
	{
		name: "nothing due: look again when the next command is",
		in:   online(), later: t0.Add(3 * time.Second),
		want: scheduleWant{next: t0.Add(3 * time.Second)},
	},
	{
		name: "sales side by side, each once",
		in:   online(),
		due:  []store.DueCommand{due(1, "a", cmdCapture), due(2, "b", cmdCapture), due(3, "a", cmdCancel)},
		want: scheduleWant{send: []uint64{1, 2}, counted: []bool{true, true},
			held: map[uint64]holdReason{3: behindOnItsWay}},
	},
	{
		name:  "order within a sale: an earlier command not due yet goes first",
		in:    online(),
		due:   []store.DueCommand{due(7, "a", cmdCapture), due(8, "b", cmdCapture)},
		first: map[string]uint64{"a": 5},
		later: t0.Add(2 * time.Second),
		want: scheduleWant{send: []uint64{8}, counted: []bool{true},
			held: map[uint64]holdReason{7: behindEarlier}, next: t0.Add(2 * time.Second)},
	},
	{
		name: "a sale with a command on its way waits, not counted as looked at",
		in: func() outboxState {
			in := online()
			in.inflight, in.onTheWay = map[string]bool{"a": true}, 1
			return in
		}(),
		due:  []store.DueCommand{due(2, "a", cmdCapture), due(3, "b", cmdCapture)},
		want: scheduleWant{send: []uint64{3}, counted: []bool{true}, held: map[uint64]holdReason{2: behindOnItsWay}},
	},
	{
		name: "offline, probe due: one command probes, the others wait",
		in:   offline(t0.Add(-time.Second)),
		due:  []store.DueCommand{due(1, "a", cmdCapture), due(2, "b", cmdCapture), create(3, "c", inWindow)},
		want: scheduleWant{send: []uint64{1}, counted: []bool{true},
			held: map[uint64]holdReason{2: offlineProbe, 3: offlineProbe},
			// The create is abandoned on time if the probe takes long.
			next: inWindow.Add(time.Millisecond)},
	},
	{
		name: "offline before the probe time: all wait until it",
		in:   offline(t0.Add(5 * time.Second)),
		due:  []store.DueCommand{due(1, "a", cmdCapture), due(2, "b", cmdRefund)},
		want: scheduleWant{held: map[uint64]holdReason{1: offlineProbe, 2: offlineProbe}, next: t0.Add(5 * time.Second)},
	},
	{
		name: "offline before the probe time: a create's window ends first",
		in:   offline(t0.Add(5 * time.Minute)),
		due:  []store.DueCommand{create(1, "a", inWindow)},
		want: scheduleWant{held: map[uint64]holdReason{1: offlineProbe}, next: inWindow.Add(time.Millisecond)},
	},
	{
		name: "offline with a probe on its way: no second one, and no probe time",
		in: func() outboxState {
			in := offline(t0.Add(-time.Second))
			in.inflight, in.onTheWay = map[string]bool{"z": true}, 1
			return in
		}(),
		due:   []store.DueCommand{due(1, "a", cmdCapture)},
		later: t0.Add(time.Hour),
		want:  scheduleWant{held: map[uint64]holdReason{1: offlineProbe}, next: t0.Add(time.Hour)},
	},
	{
		name: "a create past its window goes to be abandoned, offline, with no call counted",
		in: func() outboxState {
			in := offline(t0.Add(time.Minute))
			in.calls = map[string][]time.Time{"a": fiveCalls}
			return in
		}(),
		due: []store.DueCommand{create(1, "a", pastWin), due(2, "b", cmdCapture)},
		want: scheduleWant{send: []uint64{1}, counted: []bool{false},
			held: map[uint64]holdReason{2: offlineProbe}, next: t0.Add(time.Minute),
			calls: map[string][]time.Time{"a": fiveCalls}},
	},
	{
		name: "a create past its window that may have been sent waits to be settled by GET when offline",
		in:   offline(t0.Add(time.Minute)),
		due:  []store.DueCommand{maybeSentPast},
		want: scheduleWant{held: map[uint64]holdReason{1: offlineProbe}, next: t0.Add(time.Minute)},
	},
	{
		name: "a create past its window that may have been sent goes online, with no call counted",
		in:   online(),
		due:  []store.DueCommand{maybeSentPast},
		want: scheduleWant{send: []uint64{1}, counted: []bool{false}, calls: map[string][]time.Time{"a": nil}},
	},
	{
		name: "5 calls a minute per sale: the sixth waits for the oldest to be a minute old",
		in: func() outboxState {
			in := online()
			in.calls = map[string][]time.Time{"a": fiveCalls}
			return in
		}(),
		due: []store.DueCommand{due(1, "a", cmdCapture), due(2, "b", cmdCapture)},
		want: scheduleWant{send: []uint64{2}, counted: []bool{true},
			held: map[uint64]holdReason{1: rateLimited}, next: t0.Add(10 * time.Second),
			calls: map[string][]time.Time{"a": fiveCalls, "b": {t0}}},
	},
	{
		name: "5 calls a minute per sale: calls a minute old are forgotten",
		in: func() outboxState {
			in := online()
			in.calls = map[string][]time.Time{"a": callsAgo(time.Minute, 40*time.Second, 30*time.Second, 20*time.Second, 10*time.Second)}
			return in
		}(),
		due: []store.DueCommand{due(1, "a", cmdCapture)},
		want: scheduleWant{send: []uint64{1}, counted: []bool{true},
			calls: map[string][]time.Time{"a": append(callsAgo(40*time.Second, 30*time.Second, 20*time.Second, 10*time.Second), t0)}},
	},
	{
		name: "5 calls a minute per sale: a create waiting for the limit is abandoned on time",
		in: func() outboxState {
			in := online()
			in.calls = map[string][]time.Time{"a": fiveCalls}
			return in
		}(),
		due:  []store.DueCommand{create(1, "a", t0.Add(3*time.Second))},
		want: scheduleWant{held: map[uint64]holdReason{1: rateLimited}, next: t0.Add(3*time.Second + time.Millisecond)},
	},
	{
		name: "workers full: the walk stops, the rest is neither sent nor held",
		in: func() outboxState {
			in := online()
			in.freeWorkers = 2
			return in
		}(),
		due:   []store.DueCommand{due(1, "a", cmdCapture), due(2, "b", cmdCapture), due(3, "c", cmdCapture), due(4, "d", cmdCapture)},
		later: t0.Add(time.Second),
		want:  scheduleWant{send: []uint64{1, 2}, counted: []bool{true, true}, stop: workersBusy, next: t0.Add(time.Second)},
	},
	{
		name: "no worker free",
		in: func() outboxState {
			in := online()
			in.freeWorkers = 0
			return in
		}(),
		due:  []store.DueCommand{due(1, "a", cmdCapture)},
		want: scheduleWant{stop: workersBusy},
	},
	{
		name: "maxOnTheWay: answers waiting for a slow commit hold the next sends",
		in: func() outboxState {
			in := online()
			in.inflight, in.onTheWay = map[string]bool{"x": true, "y": true, "z": true}, 14
			return in
		}(),
		due:  []store.DueCommand{due(1, "a", cmdCapture), due(2, "b", cmdCapture), due(3, "c", cmdCapture)},
		want: scheduleWant{send: []uint64{1, 2}, counted: []bool{true, true}, stop: commitsSlow},
	},
	{
		name: "at most 64 due commands looked at",
		in:   offline(t0.Add(time.Hour)),
		due:  many,
		want: scheduleWant{
			held: func() map[uint64]holdReason {
				m := map[uint64]holdReason{}
				for i := range 64 {
					m[uint64(i+1)] = offlineProbe
				}
				return m
			}(),
			stop: lookedEnough, next: t0.Add(time.Hour)},
	},
	{
		name: "earliest next wake: the limit's wait, a probe time, a window's end, the next due",
		in: func() outboxState {
			in := offline(t0.Add(40 * time.Second))
			in.calls = map[string][]time.Time{"b": fiveCalls}
			return in
		}(),
		due: []store.DueCommand{
			create(1, "a", t0.Add(30*time.Second)), // offline: its window's end, then the probe time
			create(2, "b", pastWin),                // past its window: goes (no limit)
		},
		later: t0.Add(20 * time.Second),
		want: scheduleWant{send: []uint64{2}, counted: []bool{false},
			held: map[uint64]holdReason{1: offlineProbe}, next: t0.Add(20 * time.Second)},
	},
}

func TestSchedule(t *testing.T) {
	for _, tc := range scheduleCases {
		t.Run(tc.name, func(t *testing.T) {
			before := map[string][]time.Time{}
			for ref, ts := range tc.in.calls {
				before[ref] = slices.Clone(ts)
			}
			p := schedule(tc.in, tc.due, firsts(tc.due, tc.first), tc.later)
			checkPlan(t, p, tc.want)
			// Pure: the caller's history is untouched.
			if !maps.EqualFunc(before, tc.in.calls, func(a, b []time.Time) bool { return slices.EqualFunc(a, b, time.Time.Equal) }) {
				t.Errorf("the input history changed: %v, was %v", tc.in.calls, before)
			}
		})
	}
}

// A scheduler reused from one look to the next (as the outbox loop does)
// decides as a new one.
func TestScheduleReused(t *testing.T) {
	var s scheduler
	for range 2 {
		for _, tc := range scheduleCases {
			s.reset(tc.in)
			p := s.all(tc.due, firsts(tc.due, tc.first), tc.later)
			t.Run(tc.name, func(t *testing.T) { checkPlan(t, p, tc.want) })
		}
	}
}

func checkPlan(t *testing.T, p outboxPlan, want scheduleWant) {
	t.Helper()
	var send []uint64
	var counted []bool
	for _, c := range p.send {
		send = append(send, c.ID)
		counted = append(counted, c.counted)
	}
	if !slices.Equal(send, want.send) || !slices.Equal(counted, want.counted) {
		t.Errorf("send %v counted %v, want %v %v", send, counted, want.send, want.counted)
	}
	gotHeld := map[uint64]holdReason{}
	for _, h := range p.held {
		if _, dup := gotHeld[h.ID]; dup {
			t.Errorf("command %d held twice", h.ID)
		}
		gotHeld[h.ID] = h.why
	}
	if len(want.held) == 0 {
		want.held = map[uint64]holdReason{}
	}
	if !maps.Equal(gotHeld, want.held) {
		t.Errorf("held %v, want %v", gotHeld, want.held)
	}
	if p.stop != want.stop {
		t.Errorf("stop %v, want %v", p.stop, want.stop)
	}
	if !p.next.Equal(want.next) {
		t.Errorf("next %v, want %v", p.next, want.next)
	}
	for ref, w := range want.calls {
		if got := p.calls[ref]; !slices.EqualFunc(got, w, time.Time.Equal) {
			t.Errorf("calls of %s %v, want %v", ref, got, w)
		}
	}
}

// A call taken back (no answer) leaves room under the limit: the history
// the plan writes over the caller's does not share its array.
func TestScheduleAppendsToACopy(t *testing.T) {
	hist := make([]time.Time, 4, 8)
	copy(hist, callsAgo(40*time.Second, 30*time.Second, 20*time.Second, 10*time.Second))
	backing := hist[:5]
	backing[4] = t0.Add(-5 * time.Second)
	in := online()
	in.calls = map[string][]time.Time{"a": hist}
	p := schedule(in, []store.DueCommand{due(1, "a", cmdCapture)}, map[string]uint64{"a": 1}, time.Time{})
	if len(p.send) != 1 {
		t.Fatalf("sent %v, want command 1", p.send)
	}
	if !backing[4].Equal(t0.Add(-5 * time.Second)) {
		t.Errorf("the plan wrote into the caller's array: %v", backing[4])
	}
	if got := p.calls["a"]; len(got) != 5 || !got[4].Equal(t0) {
		t.Errorf("calls %v, want the four and now", got)
	}
}
