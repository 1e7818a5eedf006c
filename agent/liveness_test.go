package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment/sim"
)

// TestAlive: the loops of a running agent answer; once they stopped,
// Alive names them when its context ends.
func TestAlive(t *testing.T) {
	r := newRig(t, sim.Options{}, fast())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for range 3 {
		if err := r.agent.Alive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	r.stop()
	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := r.agent.Alive(ctx)
	if err == nil || !strings.Contains(err.Error(), "outbox") || !strings.Contains(err.Error(), "poll") {
		t.Fatalf("stopped loops: %v", err)
	}
}
