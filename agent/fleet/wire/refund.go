package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Refund anywhere in the chain (docs/chain.md, "Refund anywhere in the
// chain"): a cashier at one till (the asker) refunds a sale another till
// (the owner) took. The asker publishes a [RefundRequest]; headquarters
// routes it by the reference to the owner's queue, where it waits while
// the owner is offline; the owner applies it as a local refund with an id
// made of the request's key ([OwnerRefundID]: a redelivery or a retry
// refunds once) and publishes [RefundResult]s; headquarters records them
// and tells the asker with [RefundStatus]es.
//
// Subjects, all in [RefundStream]:
//
//	tillbox.<chain>.refundreq.<store>.<till>  the asker's requests (the box publishes)
//	tillbox.<chain>.refundq.<store>.<till>    the owner's queue (headquarters publishes, the box reads)
//	tillbox.<chain>.refundres.<store>.<till>  the owner's results (the box publishes)
//	tillbox.<chain>.refundst.<store>.<till>   the asker's statuses (headquarters publishes, the box reads)

// RefundStream holds the requests, the owners' queues, their results and
// the askers' statuses, until each reader has taken its own.
const RefundStream = "TILLBOX_REFUND"

// Kinds of the refund subjects.
const (
	KindRefundRequest = "refundreq"
	KindRefundQueue   = "refundq"
	KindRefundResult  = "refundres"
	KindRefundStatus  = "refundst"
)

// RefundStreamSubjects are the subjects of chain's [RefundStream].
func RefundStreamSubjects(chain string) []string {
	p := "tillbox." + chain + "."
	return []string{p + KindRefundRequest + ".>", p + KindRefundQueue + ".>", p + KindRefundResult + ".>", p + KindRefundStatus + ".>"}
}

// RefundRequestSubject is where box t asks for refunds of other tills' sales.
func (t Till) RefundRequestSubject() string { return t.subject(KindRefundRequest) }

// RefundQueueSubject is where headquarters queues the refunds of box t's sales.
func (t Till) RefundQueueSubject() string { return t.subject(KindRefundQueue) }

// RefundResultSubject is where box t says what became of a queued refund.
func (t Till) RefundResultSubject() string { return t.subject(KindRefundResult) }

// RefundStatusSubject is where headquarters tells box t what became of its requests.
func (t Till) RefundStatusSubject() string { return t.subject(KindRefundStatus) }

// Consumer is a durable pull consumer a box reads with plain JetStream API
// requests: these are the subjects its permissions name.
type Consumer struct {
	Stream, Name, Filter string
}

// CreateSubject creates (or updates) the consumer, filtered to Filter.
func (c Consumer) CreateSubject() string {
	return "$JS.API.CONSUMER.CREATE." + c.Stream + "." + c.Name + "." + c.Filter
}

// InfoSubject answers the consumer's information.
func (c Consumer) InfoSubject() string { return "$JS.API.CONSUMER.INFO." + c.Stream + "." + c.Name }

// NextSubject asks the consumer for its next messages.
func (c Consumer) NextSubject() string { return "$JS.API.CONSUMER.MSG.NEXT." + c.Stream + "." + c.Name }

// AckPrefix starts the reply subject of every message the consumer delivers.
func (c Consumer) AckPrefix() string { return "$JS.ACK." + c.Stream + "." + c.Name + "." }

// RefundQueueConsumer is box t's durable consumer of its refund queue.
func (t Till) RefundQueueConsumer() Consumer {
	return Consumer{Stream: RefundStream, Name: "refundq_" + t.Store + "_" + t.Till, Filter: t.RefundQueueSubject()}
}

// RefundStatusConsumer is box t's durable consumer of its refund statuses.
func (t Till) RefundStatusConsumer() Consumer {
	return Consumer{Stream: RefundStream, Name: "refundst_" + t.Store + "_" + t.Till, Filter: t.RefundStatusSubject()}
}

// refundPermissions are what box t may publish for refunds: its own
// requests and results, and its two consumers.
func refundPermissions(t Till) []string {
	out := []string{t.RefundRequestSubject(), t.RefundResultSubject()}
	for _, c := range []Consumer{t.RefundQueueConsumer(), t.RefundStatusConsumer()} {
		out = append(out, c.CreateSubject(), c.InfoSubject(), c.NextSubject(), c.AckPrefix()+">")
	}
	return out
}

// The states of a refund asked for at another till.
const (
	// RefundQueued: headquarters queued it for the till that took the
	// sale (which may be offline: it waits there).
	RefundQueued = "queued"
	// RefundAccepted: that till took it and queued the refund to Vipps
	// MobilePay.
	RefundAccepted = "accepted"
	// RefundCompleted: Vipps MobilePay made the refund.
	RefundCompleted = "completed"
	// RefundRefused: headquarters or the till refused it ([RefundRefusal]).
	RefundRefused = "refused"
)

// RefundRank orders the states: a state of a lower rank never follows one
// of a higher rank. 0: not a state.
func RefundRank(state string) int {
	switch state {
	case RefundQueued:
		return 1
	case RefundAccepted:
		return 2
	case RefundCompleted, RefundRefused:
		return 3
	}
	return 0
}

// RefundRequest is what the asker publishes on its request subject (the
// subject names the asker: a box can ask only as itself).
type RefundRequest struct {
	Reference string `json:"reference"`
	// Amount in minor units; 0: all that is captured and not refunded yet.
	Amount int64 `json:"amount,omitempty"`
	// RefundID is the asker's POS's id of the refund (or one the asker
	// made): the same id for the same reference refunds once.
	RefundID string    `json:"refundId"`
	At       time.Time `json:"at"`
}

// RefundKey names a request across the chain: the asker, the reference
// and the refund id.
func RefundKey(asker Till, reference, refundID string) string {
	return asker.String() + "|" + reference + "|" + refundID
}

// OwnerRefundID is the refund id the owner applies a request of key with
// (a local refund's id: 1 to 40 letters, digits or dashes), the same at
// every delivery.
func OwnerRefundID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "rr-" + hex.EncodeToString(sum[:16])
}

// RefundOrder is a request headquarters queues for the owner.
type RefundOrder struct {
	Key       string `json:"key"`
	Reference string `json:"reference"`
	Amount    int64  `json:"amount,omitempty"`
	// RefundID is [OwnerRefundID] of Key.
	RefundID string    `json:"refundId"`
	Asker    Till      `json:"asker"`
	At       time.Time `json:"at"`
}

// RefundRefusal says why a refund was refused, with the POS API's error
// code (not_found, invalid_request, wrong_state) and, for a wrong field,
// the field and the reason.
type RefundRefusal struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// RefundResult is what the owner publishes on its result subject.
type RefundResult struct {
	Key     string         `json:"key"`
	State   string         `json:"state"` // accepted, completed or refused
	Refusal *RefundRefusal `json:"refusal,omitempty"`
	// Sale is the sale as the owner's POS API shows it, when it has it.
	Sale json.RawMessage `json:"sale,omitempty"`
	At   time.Time       `json:"at"`
}

// RefundStatus is what headquarters tells the asker.
type RefundStatus struct {
	Key       string `json:"key"`
	Reference string `json:"reference"`
	RefundID  string `json:"refundId"`
	Amount    int64  `json:"amount,omitempty"`
	// Step numbers the request's statuses from 1, one per change of
	// State; 0 answers a request that changed nothing (a repeated key
	// with another amount), for the waiting cashier only.
	Step  int    `json:"step"`
	State string `json:"state"`
	Owner *Till  `json:"owner,omitempty"`
	// OwnerOnline: the owner's last heartbeat is recent, so its word on a
	// queued refund should follow soon.
	OwnerOnline bool           `json:"ownerOnline,omitempty"`
	Refusal     *RefundRefusal `json:"refusal,omitempty"`
	// Sale is the sale as its till last showed it (headquarters' copy, or
	// the till's own word); absent when nobody knows the reference.
	Sale json.RawMessage `json:"sale,omitempty"`
	At   time.Time       `json:"at"`
}

// Message ids of the refund messages: a repeat within the stream's
// de-duplication window is stored once.

// RefundOrderMsgID is the message id of the order of key.
func RefundOrderMsgID(key string) string { return "order|" + key }

// RefundResultMsgID is the message id of the owner's result of key in state.
func RefundResultMsgID(key, state string) string { return "result|" + key + "|" + state }
