package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
)

// A loop woken as its context ends stops: the outbox must start no send
// once Run's context has ended (those would outlive it by StopGrace), and
// a wake-up pending then (a send just finished, a sale just queued) is
// common while a backlog drains.
func TestSleepReportsAnEndedContextOverAPendingWake(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wake := make(chan struct{}, 1)
	for i := range 200 {
		wake <- struct{}{}
		if agent.Sleep(ctx, nil, time.Time{}, wake) {
			t.Fatalf("try %d: sleep reported a wake-up after its context ended: the outbox would dispatch again", i)
		}
		select {
		case <-wake:
		default:
		}
	}
}
