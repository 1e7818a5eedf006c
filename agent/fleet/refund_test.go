package fleet

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// TestRefundPermissions: with its own credentials a box asks for refunds
// and answers for its sales only as itself, and reads only its own refund
// queue and statuses: the server refuses box A anything of box B's.
func TestRefundPermissions(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{tillA, tillB}})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	hqjs := hq(t, s)
	if _, err := hqjs.CreateStream(ctx, jetstream.StreamConfig{Name: wire.RefundStream, Subjects: wire.RefundStreamSubjects(tillA.Chain)}); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 64)
	nc := s.Connect(t, s.URL(), s.Box(tillA), nats.CustomInboxPrefix(tillA.InboxPrefix()),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case errs <- err:
			default:
			}
		}))

	// What box A may do: ask as itself, answer as itself, use its consumers.
	if err := publishRefund(ctx, nc, tillA.RefundRequestSubject(), "", wire.RefundRequest{Reference: "oslo-1-t2-000001", RefundID: "r1"}, 5*time.Second); err != nil {
		t.Fatalf("a request as itself: %v", err)
	}
	if err := publishRefund(ctx, nc, tillA.RefundResultSubject(), "k", wire.RefundResult{Key: "k", State: wire.RefundAccepted}, 5*time.Second); err != nil {
		t.Fatalf("a result as itself: %v", err)
	}
	for _, c := range []wire.Consumer{tillA.RefundQueueConsumer(), tillA.RefundStatusConsumer()} {
		if err := ensureConsumer(ctx, nc, c, durableConfig(c, "test", time.Minute, 4), 5*time.Second); err != nil {
			t.Fatalf("its consumer %s: %v", c.Name, err)
		}
	}

	// What it must not: each refused by the server.
	qB, stB := tillB.RefundQueueConsumer(), tillB.RefundStatusConsumer()
	stealQueue := "$JS.API.CONSUMER.CREATE." + wire.RefundStream + "." + tillA.RefundQueueConsumer().Name + "." + tillB.RefundQueueSubject()
	for _, subject := range []string{
		tillB.RefundRequestSubject(), // asking as B
		tillB.RefundResultSubject(),  // answering for B's sales
		qB.CreateSubject(), qB.InfoSubject(), qB.NextSubject(), qB.AckPrefix() + "1.1.1.1.1.1.1",
		stB.CreateSubject(), stB.NextSubject(),
		stealQueue, // its own consumer's name on B's queue
		"$JS.API.CONSUMER.CREATE." + wire.RefundStream, // an ephemeral consumer reads any subject
	} {
		if err := nc.Publish(subject, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, errs, subject)
	}
	for _, subject := range []string{tillB.RefundQueueSubject(), tillB.RefundStatusSubject(), "tillbox.acme.refundq.>"} {
		if _, err := nc.Subscribe(subject, func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, errs, subject)
	}
	// Nothing of it reached the stream.
	st, err := hqjs.Stream(ctx, wire.RefundStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter("tillbox.acme.*.oslo-1.t2"))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.State.Subjects) != 0 {
		t.Fatalf("box B's subjects hold %v", info.State.Subjects)
	}
}

// wantRefused waits for the server's permissions violation naming subject.
func wantRefused(t *testing.T, errs <-chan error, subject string) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case err := <-errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+subject+`"`) {
				return
			}
			t.Logf("other asynchronous error: %v", err)
		case <-deadline:
			t.Fatalf("the server did not refuse %s", subject)
		}
	}
}
