package posapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
)

// TestEventsLongPoll: a long-poll answers at once when there are events,
// after wait when there are none, and as soon as one is committed.
func TestEventsLongPoll(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	ctx := context.Background()

	p, err := r.client.Events(ctx, 0, 0, 0)
	if err != nil || len(p.Events) != 0 || p.Events == nil || p.Next != 0 {
		t.Fatalf("empty log: %+v %v", p, err)
	}
	start := time.Now()
	p, err = r.client.Events(ctx, 0, time.Second, 0)
	if took := time.Since(start); err != nil || len(p.Events) != 0 || took < 900*time.Millisecond || took > 5*time.Second {
		t.Fatalf("wait 1 s with none: %+v %v after %v", p, err, took)
	}

	type result struct {
		page EventsPage
		err  error
		took time.Duration
	}
	got := make(chan result, 1)
	go func() {
		start := time.Now()
		p, err := r.client.Events(ctx, 0, 30*time.Second, 0)
		got <- result{p, err, time.Since(start)}
	}()
	time.Sleep(200 * time.Millisecond)
	if _, _, err := r.client.CreateSale(ctx, agent.SaleRequest{Reference: "poll-0001", Amount: 1000, Currency: "NOK"}); err != nil {
		t.Fatal(err)
	}
	res := <-got
	if res.err != nil || len(res.page.Events) != 1 || res.took > 5*time.Second {
		t.Fatalf("long-poll: %+v %v after %v", res.page, res.err, res.took)
	}
	ev := res.page.Events[0]
	if ev.Seq != 1 || ev.Reference != "poll-0001" || ev.State != agent.WaitingForCustomer || ev.Sale.Reference != "poll-0001" || res.page.Next != 1 {
		t.Errorf("event %+v next %d", ev, res.page.Next)
	}

	// Resuming after it: the cancel, and only it.
	if _, err := r.client.CancelSale(ctx, "poll-0001"); err != nil {
		t.Fatal(err)
	}
	p, err = r.client.Events(ctx, res.page.Next, 10*time.Second, 0)
	if err != nil || len(p.Events) != 1 || p.Events[0].Seq != 2 || p.Events[0].State != agent.Cancelled || p.Next != 2 {
		t.Fatalf("after 1: %+v %v", p, err)
	}
	if p, err := r.client.Events(ctx, 0, 0, 1); err != nil || len(p.Events) != 1 || p.Next != 1 {
		t.Fatalf("limit 1: %+v %v", p, err)
	}

	for _, c := range []struct{ query, field string }{
		{"wait=61", "wait"},
		{"wait=-1", "wait"},
		{"wait=1.5", "wait"},
		{"after=-1", "after"},
		{"after=abc", "after"},
		{"after=01", "after"},
		{"after=9223372036854775808", "after"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"since=3", "since"},
		{"after=1&after=2", "after"},
	} {
		a := r.send(call{method: "GET", path: "/api/v1/events?" + c.query, malformed: true})
		if e := a.error(t); a.status != http.StatusBadRequest || e.Field != c.field {
			t.Errorf("events?%s: %d %+v", c.query, a.status, e)
		}
	}
}

// TestEventsLongPollEndsWithRequest: a long-poll whose POS goes away ends
// at once on the server too.
func TestEventsLongPollEndsWithRequest(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.client.Events(ctx, 0, time.Minute, 0)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("long-poll with a cancelled context: %v after %v", err, time.Since(start))
	}
	agenttest.Until(t, "the long-poll logged", func() bool { return r.logs.Contains("path=/api/v1/events") })

	// A shutdown (the base context) ends it too.
	done := make(chan error, 1)
	go func() {
		_, err := r.client.Events(context.Background(), 0, time.Minute, 0)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	r.stopStreams()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a long-poll outlived the server's base context")
	}
}

// TestEventsPruned: a POS asking for events older than the log keeps gets
// 410, on both the long-poll and the WebSocket; after lastSeq it goes on.
func TestEventsPruned(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	ctx := context.Background()
	if _, _, err := r.client.CreateSale(ctx, agent.SaleRequest{Reference: "prune-0001", Amount: 1000, Currency: "NOK"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.CancelSale(ctx, "prune-0001"); err != nil {
		t.Fatal(err)
	}
	if p, err := r.db.Prune(time.Now().Add(365 * 24 * time.Hour)); err != nil || p.Events != 2 {
		t.Fatalf("prune: %+v %v", p, err)
	}
	a := r.send(call{method: "GET", path: "/api/v1/events?after=0"})
	if e := a.error(t); a.status != http.StatusGone || e.Code != codeEventsPruned || !strings.Contains(e.Message, "lastSeq") {
		t.Fatalf("pruned: %d %+v", a.status, e)
	}
	if _, err := r.client.Events(ctx, 1, 0, 0); !errors.Is(err, agent.ErrEventsPruned) {
		t.Errorf("after 1: %v", err)
	}
	st, err := r.client.Status(ctx)
	if err != nil || st.LastSeq != 2 {
		t.Fatalf("status %+v %v", st, err)
	}
	if p, err := r.client.Events(ctx, st.LastSeq, 0, 0); err != nil || len(p.Events) != 0 || p.Next != 2 {
		t.Errorf("after lastSeq: %+v %v", p, err)
	}
	_, resp, body := r.dial(t, "0", nil)
	if resp.StatusCode != http.StatusGone || !strings.Contains(string(body), codeEventsPruned) {
		t.Errorf("WebSocket after 0: %d %s", resp.StatusCode, body)
	}
	if err := r.client.StreamEvents(ctx, 0, func(agent.Event) error { return nil }); !errors.Is(err, agent.ErrEventsPruned) {
		t.Errorf("StreamEvents after 0: %v", err)
	}
}

// TestEventsExactlyOnce: a POS that long-polls from 0, storing next,
// sees every change of several sales once, in order, with no gaps, to
// their results.
func TestEventsExactlyOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	refs := []string{"once-0001", "once-0002", "once-0003"}
	for _, ref := range refs {
		if _, _, err := r.client.CreateSale(ctx, sale(ref, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	final := map[string]int{}
	var after uint64
	deadline := time.Now().Add(20 * time.Second)
	for len(final) < len(refs) {
		if time.Now().After(deadline) {
			t.Fatalf("results after 20 s: %v", final)
		}
		p, err := r.client.Events(ctx, after, 5*time.Second, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range p.Events {
			if ev.Seq != after+1 {
				t.Fatalf("event %d after %d: a gap or a repeat", ev.Seq, after)
			}
			after = ev.Seq
			if ev.Sale.Outcome {
				final[ev.Reference]++
			}
		}
		if p.Next != after {
			t.Fatalf("next %d, last seq %d", p.Next, after)
		}
	}
	for _, ref := range refs {
		if final[ref] != 1 {
			t.Errorf("%s: %d results", ref, final[ref])
		}
	}
}

// TestStreamsOutliveServerTimeouts: a long-poll and a WebSocket last longer
// than the http.Server's ReadTimeout and WriteTimeout.
func TestStreamsOutliveServerTimeouts(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true, httpTimeout: 300 * time.Millisecond, server: func(s *server) {
		s.pingEvery, s.pongWait = 100*time.Millisecond, 5*time.Second // the test reads only after the long-poll
	}})
	ctx := context.Background()
	conn, _, _ := r.dial(t, "0", nil)
	go func() {
		time.Sleep(time.Second)
		_, _, _ = r.client.CreateSale(ctx, agent.SaleRequest{Reference: "slow-0001", Amount: 1000, Currency: "NOK"})
	}()
	p, err := r.client.Events(ctx, 0, 5*time.Second, 0)
	if err != nil || len(p.Events) != 1 || p.Events[0].Reference != "slow-0001" {
		t.Fatalf("long-poll beyond WriteTimeout: %+v %v", p, err)
	}
	if ev, _ := r.readEvent(t, conn); ev.Reference != "slow-0001" {
		t.Fatalf("WebSocket beyond the timeouts: %+v", ev)
	}
}

// TestEventsAhead: a POS whose stored position is past the newest event
// (its position comes from another database: a backup restored on the box,
// or another box) is told so at once, by the long-poll, the WebSocket and
// the Go client, instead of getting empty pages for ever while the box's
// new events reuse the seqs it believes it has seen.
func TestEventsAhead(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	ctx := context.Background()
	if _, _, err := r.client.CreateSale(ctx, agent.SaleRequest{Reference: "ahead-0001", Amount: 1000, Currency: "NOK"}); err != nil {
		t.Fatal(err)
	}
	st, err := r.client.Status(ctx)
	if err != nil || st.LastSeq != 1 {
		t.Fatalf("status %+v %v", st, err)
	}
	// At the newest event: an empty page, as ever.
	if p, err := r.client.Events(ctx, st.LastSeq, 0, 0); err != nil || len(p.Events) != 0 || p.Next != st.LastSeq {
		t.Errorf("after lastSeq: %+v %v", p, err)
	}
	// Past it, even with a long wait: 409 at once, saying what to do.
	for _, q := range []string{"after=57", "after=2&wait=60"} {
		a := r.send(call{method: "GET", path: "/api/v1/events?" + q})
		if e := a.error(t); a.status != http.StatusConflict || e.Code != codeEventsAhead ||
			!strings.Contains(e.Message, "the newest is 1") || !strings.Contains(e.Message, "lastSeq") {
			t.Errorf("events?%s: %d %+v", q, a.status, e)
		}
	}
	if _, err := r.client.Events(ctx, 57, time.Minute, 0); !errors.Is(err, agent.ErrEventsAhead) {
		t.Errorf("client after 57: %v, want ErrEventsAhead", err)
	}
	_, resp, body := r.dial(t, "57", nil)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), codeEventsAhead) {
		t.Errorf("WebSocket after 57: %d %s", resp.StatusCode, body)
	}
	if err := r.client.StreamEvents(ctx, 57, func(agent.Event) error { return nil }); !errors.Is(err, agent.ErrEventsAhead) {
		t.Errorf("StreamEvents after 57: %v, want ErrEventsAhead", err)
	}
}
