package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The chaos of the chain test: a schedule drawn from a seed (printed, and
// given again with -chain.seed to replay the same schedule) of the faults
// a chain meets, while sales flow: a box killed with SIGKILL and started
// again, a box's link to headquarters cut for a while, tillbox-hq killed
// with SIGKILL and started again, one NATS node killed with SIGKILL and
// started again, PostgreSQL restarted (a fast stop, or a crash: SIGKILL).

// fault is a kind of fault.
type fault int

const (
	killBox   fault = iota // SIGKILL a box, start it again after a while
	cutLink                // cut a box's link, restore it after a while
	killHQ                 // SIGKILL tillbox-hq, start it again after a while
	killNATS               // SIGKILL one NATS node, start it again after a while
	restartPG              // restart PostgreSQL: a fast stop, or a crash
	nFaults
)

func (f fault) String() string {
	return [...]string{"kill box", "cut link", "kill tillbox-hq", "kill NATS node", "restart PostgreSQL"}[f]
}

// episode is one fault: from At (since the chaos began) for For, on
// target (a box's or a NATS node's index). A PostgreSQL restart has no
// length; Crash makes it a SIGKILL instead of a fast stop.
type episode struct {
	At, For time.Duration
	Fault   fault
	Target  int
	Crash   bool
}

func (e episode) String() string {
	switch e.Fault {
	case killBox, cutLink:
		return fmt.Sprintf("%s %d for %s", e.Fault, e.Target, e.For.Round(time.Millisecond))
	case killNATS:
		return fmt.Sprintf("%s n%d for %s", e.Fault, e.Target, e.For.Round(time.Millisecond))
	case restartPG:
		if e.Crash {
			return e.Fault.String() + " (crash)"
		}
		return e.Fault.String() + " (fast)"
	}
	return fmt.Sprintf("%s for %s", e.Fault, e.For.Round(time.Millisecond))
}

// chaosPlan draws the schedule of seed for a chaos of length with boxes
// boxes and nodes NATS nodes: a fault every 0.3 to 2 s, each of the five
// kinds once first (in an order of the seed) so that even a short run
// meets them all, then drawn by weight. Faults of one target never
// overlap; one NATS node at most is down at a time (the streams have
// three replicas), tillbox-hq is killed again only once it was started,
// and at most a quarter of the boxes are down or cut at once. Every
// episode ends within length.
func chaosPlan(seed uint64, length time.Duration, boxes, nodes int) []episode {
	r := rand.New(rand.NewPCG(seed, seed^0x7e11b0c5))
	between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(r.Int64N(int64(hi-lo))) }
	first := []fault{killBox, cutLink, killHQ, killNATS, restartPG}
	r.Shuffle(len(first), func(i, j int) { first[i], first[j] = first[j], first[i] })
	weights := [nFaults]int{killBox: 30, cutLink: 30, killHQ: 12, killNATS: 13, restartPG: 15}

	boxFree := make([]time.Duration, boxes) // when each box is free again
	var hqFree, natsFree, pgFree time.Duration
	var plan []episode
	for at := between(time.Second, 2*time.Second); at < length-2*time.Second; at += between(300*time.Millisecond, 2*time.Second) {
		var f fault
		if len(first) > 0 {
			f, first = first[0], first[1:]
		} else {
			f = pick(r, weights[:])
		}
		e := episode{At: at, Fault: f}
		switch f {
		case killBox, cutLink:
			e.For = between(300*time.Millisecond, 6*time.Second)
			if f == killBox {
				e.For = between(0, 3*time.Second)
			}
			busy := 0
			var free []int
			for i, until := range boxFree {
				if until > at {
					busy++
				} else {
					free = append(free, i)
				}
			}
			if len(free) == 0 || busy >= max(1, boxes/4) {
				continue
			}
			e.Target = free[r.IntN(len(free))]
			boxFree[e.Target] = at + e.For + time.Second
		case killHQ:
			if hqFree > at {
				continue
			}
			e.For = between(200*time.Millisecond, 4*time.Second)
			hqFree = at + e.For + 2*time.Second
		case killNATS:
			if natsFree > at {
				continue
			}
			e.Target, e.For = r.IntN(nodes), between(500*time.Millisecond, 6*time.Second)
			natsFree = at + e.For + 3*time.Second // and its restart waits until it has caught up
		case restartPG:
			if pgFree > at {
				continue
			}
			e.Crash = r.IntN(2) == 0
			pgFree = at + 3*time.Second
		}
		if e.At+e.For > length {
			e.For = length - e.At
		}
		plan = append(plan, e)
	}
	return plan
}

// pick draws an index with the given weights.
func pick(r *rand.Rand, weights []int) fault {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.IntN(total)
	for i, w := range weights {
		if n < w {
			return fault(i)
		}
		n -= w
	}
	return fault(len(weights) - 1)
}

// chaosTargets are what the chaos acts on. Each call returns once done:
// a start once the process is up again (a NATS node once it has caught
// up with the cluster).
type chaosTargets interface {
	KillBox(i int) error
	StartBox(i int) error
	CutLink(i int) error
	RestoreLink(i int) error
	KillHQ() error
	StartHQ() error
	KillNATS(i int) error
	StartNATS(i int) error
	RestartPG(crash bool) error
}

// step is one action of an episode at a time since the chaos began.
type step struct {
	at   time.Duration
	do   func() error
	what string
}

// lanes turns plan into steps per target: the steps of one lane (a box,
// tillbox-hq, the NATS cluster, PostgreSQL) run one after the other, in
// order; lanes run side by side, so a slow restart of a NATS node does
// not hold back a box's.
func lanes(plan []episode, tg chaosTargets) map[string][]step {
	out := map[string][]step{}
	add := func(lane string, e episode, down, up func() error, downWhat, upWhat string) {
		out[lane] = append(out[lane], step{at: e.At, do: down, what: downWhat})
		if up != nil {
			out[lane] = append(out[lane], step{at: e.At + e.For, do: up, what: upWhat})
		}
	}
	for _, e := range plan {
		i := e.Target
		switch e.Fault {
		case killBox:
			add(fmt.Sprint("box", i), e, func() error { return tg.KillBox(i) }, func() error { return tg.StartBox(i) },
				fmt.Sprintf("SIGKILL box %d", i), fmt.Sprintf("start box %d", i))
		case cutLink:
			add(fmt.Sprint("box", i), e, func() error { return tg.CutLink(i) }, func() error { return tg.RestoreLink(i) },
				fmt.Sprintf("cut the link of box %d", i), fmt.Sprintf("restore the link of box %d", i))
		case killHQ:
			add("hq", e, tg.KillHQ, tg.StartHQ, "SIGKILL tillbox-hq", "start tillbox-hq")
		case killNATS:
			add("nats", e, func() error { return tg.KillNATS(i) }, func() error { return tg.StartNATS(i) },
				fmt.Sprintf("SIGKILL NATS node n%d", i), fmt.Sprintf("start NATS node n%d", i))
		case restartPG:
			add("pg", e, func() error { return tg.RestartPG(e.Crash) }, nil, e.String(), "")
		}
	}
	for _, steps := range out {
		slices.SortStableFunc(steps, func(a, b step) int { return int(a.at - b.at) })
	}
	return out
}

// chaosLog is what the chaos did, for the test's log: the step, when it
// was meant to run and when it ran.
type chaosLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *chaosLog) add(s step, ran time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	line := fmt.Sprintf("%8.1fs (planned %8.1fs) %s", ran.Seconds(), s.at.Seconds(), s.what)
	if err != nil {
		line += ": " + err.Error()
	}
	l.lines = append(l.lines, line)
}

// Len is the number of steps run.
func (l *chaosLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

func (l *chaosLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// count is the number of episodes of each fault in plan.
func count(plan []episode) map[fault]int {
	n := map[fault]int{}
	for _, e := range plan {
		n[e.Fault]++
	}
	return n
}

// runChaos runs plan against tg from now on and returns once every step
// has run. The first error stops every lane and is returned: the test
// fails then, and its clean-up stops whatever runs.
func runChaos(t testing.TB, plan []episode, tg chaosTargets, log *chaosLog) error {
	t.Helper()
	begin := time.Now()
	stop := make(chan struct{})
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	for _, steps := range lanes(plan, tg) {
		wg.Go(func() {
			for _, s := range steps {
				// The schedule's clock, not a wait for a state: a fault
				// comes when the plan says, whatever the chain is doing.
				timer := time.NewTimer(time.Until(begin.Add(s.at)))
				select {
				case <-stop:
					timer.Stop()
					return
				case <-timer.C:
				}
				err := s.do()
				log.add(s, time.Since(begin), err)
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("%s: %w", s.what, err); close(stop) })
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

// TestChaosPlan: a seed gives the same plan every time; a short plan
// meets every fault; faults of one target never overlap, one NATS node at
// most is down at a time, and every episode ends within the chaos.
func TestChaosPlan(t *testing.T) {
	const length, boxes, nodes = 40 * time.Second, 20, 3
	for seed := range uint64(50) {
		plan := chaosPlan(seed, length, boxes, nodes)
		if !slices.Equal(plan, chaosPlan(seed, length, boxes, nodes)) {
			t.Fatalf("seed %d: two plans", seed)
		}
		if n := count(plan); len(n) != int(nFaults) {
			t.Fatalf("seed %d: the plan lacks a fault: %v", seed, n)
		}
		if slices.Equal(plan, chaosPlan(seed+1, length, boxes, nodes)) {
			t.Fatalf("seeds %d and %d: the same plan", seed, seed+1)
		}
		busyUntil := map[string]time.Duration{}
		for _, e := range plan {
			lane := map[fault]string{killBox: fmt.Sprint("box", e.Target), cutLink: fmt.Sprint("box", e.Target),
				killHQ: "hq", killNATS: "nats", restartPG: "pg"}[e.Fault]
			if e.At < busyUntil[lane] {
				t.Fatalf("seed %d: %s at %s overlaps the one before on %s", seed, e, e.At, lane)
			}
			if e.At+e.For > length || e.For < 0 {
				t.Fatalf("seed %d: %s at %s ends after the chaos", seed, e, e.At)
			}
			busyUntil[lane] = e.At + e.For
		}
	}
}
