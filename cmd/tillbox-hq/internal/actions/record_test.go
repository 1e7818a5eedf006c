package actions

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// TestAnswerRecorded: an answer with an outcome headquarters does not
// know is recorded as failed, the box's word kept; a write of the answer
// that fails (the database restarting) is tried again, so the action does
// not stay pending.
func TestAnswerRecorded(t *testing.T) {
	g := newRig(t, Options{Timeout: wait})
	var fails atomic.Int32
	write := g.r.answerAction
	g.r.answerAction = func(ctx context.Context, id int64, outcome, result, errText string, reply *wire.ActionReply) error {
		if fails.Add(-1) >= 0 {
			return errors.New("the database is restarting")
		}
		return write(ctx, id, outcome, result, errText, reply)
	}
	g.answer(t, func(req wire.ActionRequest) *wire.ActionReply {
		return &wire.ActionReply{ID: req.ID, Action: req.Action, Outcome: "exploded", Error: "the scanner smokes"}
	})
	a := g.run(t, wire.ActionScanners, wire.ActionArgs{})
	if a.Outcome != wire.OutcomeFailed || !strings.Contains(a.Result, `"exploded"`) || a.Error != "the scanner smokes" {
		t.Errorf("an unknown outcome: %+v", a)
	}
	fails.Store(2)
	began := time.Now()
	a = g.run(t, wire.ActionScanners, wire.ActionArgs{})
	if a.Outcome != wire.OutcomeFailed || fails.Load() >= 0 {
		t.Errorf("after two writes that failed: %+v (failures left %d)", a, fails.Load())
	}
	t.Logf("recorded after %s", time.Since(began))
}
