package crashtest

import (
	"context"
	"math/rand/v2"
	"slices"
	"time"
)

// strike waits for the moment of the next kill: a random moment, or right
// after the agent's next answer to the POS.
func (w *world) strike(ctx context.Context) {
	if rand.N(4) > 0 {
		pause(ctx, nil, randDuration(0, strikeAfter))
		return
	}
	select {
	case <-w.pos.kick: // an answer from the agent before this one
	default:
	}
	t := time.NewTimer(strikeAfter)
	defer t.Stop()
	select {
	case <-w.pos.kick:
	case <-t.C:
	case <-ctx.Done():
	}
}

// scenes are the moments of a round, by kill, when more than a kill
// happens: twice Vipps MobilePay cannot be reached for about the
// customer-present window, once the agent stays down longer than it, and
// once it lives through a spell of slow creates. So creates are abandoned,
// or sent just in time, or answered just too late, too.
type scenes struct {
	outageAt   []int
	outageEnds time.Time // zero when there is no outage
	downAt     int
	slowAt     int
	slowDone   bool
}

func newScenes() *scenes {
	half := killsPerRound / 2
	return &scenes{outageAt: []int{rand.N(half * 3 / 4), half + rand.N(half*3/4)},
		downAt: rand.N(killsPerRound), slowAt: rand.N(killsPerRound)}
}

// slowNow reports whether the slow spell is due (it waits for an outage to
// end).
func (sc *scenes) slowNow(kill int) bool {
	if kill < sc.slowAt || sc.slowDone || !sc.outageEnds.IsZero() {
		return false
	}
	sc.slowDone = true
	return true
}

// outage starts or ends an outage of Vipps MobilePay before the kill.
func (w *world) outage(sc *scenes, round, kill int) {
	if slices.Contains(sc.outageAt, kill) {
		d := randDuration(window-time.Second, window+2*time.Second)
		sc.outageEnds = time.Now().Add(d)
		unreachable(w.sim)
		w.t.Logf("round %d: Vipps MobilePay unreachable for %v after %d kills", round, d.Round(time.Millisecond), kill)
	}
	if !sc.outageEnds.IsZero() && time.Now().After(sc.outageEnds) {
		sc.outageEnds = time.Time{}
		faultsOn(w.sim)
		w.t.Logf("round %d: Vipps MobilePay reachable again after %d kills", round, kill)
	}
}

// slowSpell lets the agent live through a spell in which Vipps MobilePay
// answers a create only just after the customer-present window.
func (w *world) slowSpell(ctx context.Context, round int) {
	w.t.Logf("round %d: the agent lives %v, creates answered after %v", round, slowFor, slowCreate)
	slowCreates(w.sim, slowCreate)
	pause(ctx, nil, slowFor)
	faultsOn(w.sim)
}
