package display

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/device/classify"
)

// replay is how many of the latest events Follow reads at start to find the
// sale on the counter.
const replay = 64

// Follow feeds t from a until ctx ends: each sale's changes from the event
// log, each scan (the customer masked by c, never the code) and the
// network from a's watchers. It returns nil when ctx ends.
func Follow(ctx context.Context, t *Till, a *agent.Agent, c *classify.Classifier, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stop := a.Watch(agent.Watcher{
		Scan: func(code string, res agent.ScanResult, err error) {
			var ve *agent.ValidationError
			switch {
			case err == nil:
				customer := c.Recognised(code)
				if customer == classify.Greeting {
					customer = "" // the page greets in its language
				}
				t.Scanned(customer, res.Outcome, res.Reference)
			case errors.As(err, &ve):
				t.NotRecognised(reason(c, code))
			}
		},
		Online: t.SetOnline,
	})
	defer stop()

	st, err := a.Status()
	if err != nil {
		return err
	}
	t.SetOnline(st.Online)
	after := st.LastSeq - min(st.LastSeq, replay)
	for {
		evs, err := a.Events(ctx, after, 100, 30*time.Second)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, agent.ErrEventsPruned):
			if st, err = a.Status(); err == nil {
				after = st.LastSeq
			}
			continue
		case err != nil:
			log.Error("display: reading the event log", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		for _, ev := range evs {
			t.SaleChanged(ev.Sale, ev.At)
			after = ev.Seq
		}
	}
}

// reason is the key of why code is not a personal QR code.
func reason(c *classify.Classifier, code string) string {
	_, err := c.Classify(code)
	if r, ok := errors.AsType[*classify.Refusal](err); ok {
		return string(r.Reason)
	}
	if len(code) > classify.MaxLen {
		return string(classify.ReasonTooLong)
	}
	return string(classify.ReasonUnknown)
}
