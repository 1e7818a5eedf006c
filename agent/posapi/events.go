package posapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/display/wsstream"
	"github.com/tillbox/tillbox/store"
)

// The event log, two ways. The POS acknowledges nothing: it stores the Seq
// of the last event it handled and asks for the events after it, after its
// own restart too, so it sees every result exactly once.

// MaxWait is the longest wait of a long-poll, in seconds.
const MaxWait = 60

// streamBatch is how many events the WebSocket stream reads at a time.
const streamBatch = 100

// CloseEventsPruned is the WebSocket close code when the stream reaches
// events that were pruned (the HTTP answer 410, once streaming).
const CloseEventsPruned = 4410

// EventsPage is the answer of GET /api/v1/events. Next is the after of the
// next call: the Seq of the last event, or the after asked for when there
// was none.
type EventsPage struct {
	Events []agent.Event `json:"events"`
	Next   uint64        `json:"next"`
}

// events is the long-poll: the events after after, waiting up to wait
// seconds for the first when there is none yet.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "after", "wait", "limit")
	var after, wait, limit uint64
	if err == nil {
		after, err = queryUint(q, "after", 0, 0, math.MaxInt64)
	}
	if err == nil {
		wait, err = queryUint(q, "wait", 0, 0, MaxWait)
	}
	if err == nil {
		limit, err = queryUint(q, "limit", defaultLimit, 1, maxLimit)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := time.Duration(wait) * time.Second
	if d > 0 {
		// The http.Server's WriteTimeout may be shorter than the wait.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d + s.writeWait))
	}
	evs, err := s.agent.Events(r.Context(), after, int(limit), d)
	if err != nil && r.Context().Err() != nil {
		// The POS went away, or the server is shutting down: an empty
		// page, as if the wait had ended, tells a POS still there to ask
		// again.
		evs, err = nil, nil
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := EventsPage{Events: evs, Next: after}
	if len(evs) > 0 {
		page.Next = evs[len(evs)-1].Seq
	}
	if page.Events == nil {
		page.Events = []agent.Event{}
	}
	writeJSON(w, http.StatusOK, page)
}

// eventStream is the same log over WebSocket: every event after after, one
// JSON text message each, as they are committed, until either side closes.
// The server pings every pingEvery and drops a POS that does not answer
// within pongWait; every write has a deadline.
func (s *server) eventStream(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "after")
	var after uint64
	if err == nil {
		after, err = queryUint(q, "after", 0, 0, math.MaxInt64)
	}
	if err == nil {
		// A pruned position is told as an HTTP answer, before the upgrade.
		_, err = s.agent.Events(r.Context(), after, 1, 0)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	up := wsstream.Options{
		WriteWait: s.writeWait,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			code := codeInvalidRequest
			switch status {
			case http.StatusForbidden:
				code = codeForbidden
			case http.StatusInternalServerError:
				s.log.Error("POS API: WebSocket upgrade", "err", reason)
				writeError(w, status, apiError{Code: codeInternal, Message: "internal error: see the box's log"})
				return
			}
			e := apiError{Code: code, Message: reason.Error()}
			if status == http.StatusBadRequest {
				e = invalidRequest("Upgrade", "must be a WebSocket handshake (RFC 6455): "+reason.Error()).body
			}
			writeError(w, status, e)
		},
	}
	conn, err := wsstream.Upgrade(w, r, up)
	if err != nil {
		return // answered by up.Error
	}
	s.stream(r.Context(), conn, after)
}

// stream owns conn: it pumps the events after after into it (wsstream reads
// the pongs and the close handshake) until either side ends, then closes it.
func (s *server) stream(ctx context.Context, conn *websocket.Conn, after uint64) {
	var damaged *store.CorruptError
	o := wsstream.Options{PingEvery: s.pingEvery, PongWait: s.pongWait, WriteWait: s.writeWait, ReadLimit: 1 << 10}
	wsstream.Serve(ctx, conn, o, func(ctx context.Context, st *wsstream.Stream, wait time.Duration) error {
		evs, err := s.agent.Events(ctx, after, streamBatch, wait)
		switch {
		case ctx.Err() != nil:
			return &wsstream.Close{Code: websocket.CloseGoingAway, Reason: "stream ended"}
		case errors.Is(err, agent.ErrEventsPruned):
			return &wsstream.Close{Code: CloseEventsPruned, Reason: "events pruned: resume after lastSeq of GET /api/v1/status"}
		case errors.As(err, &damaged) && damaged.Seq != 0:
			s.log.Error("POS API: event stream: a damaged record", "record", damaged.Record, "err", err)
			return &wsstream.Close{Code: websocket.CloseInternalServerErr, Reason: fmt.Sprintf("event %d cannot be read; after=%d skips it", damaged.Seq, damaged.Seq)}
		case err != nil:
			s.log.Error("POS API: event stream", "err", err)
			return &wsstream.Close{Code: websocket.CloseInternalServerErr, Reason: "internal error: see the box's log"}
		}
		for _, ev := range evs {
			if err := st.WriteJSON(ev); err != nil {
				return err
			}
			after = ev.Seq
		}
		return nil
	})
}
