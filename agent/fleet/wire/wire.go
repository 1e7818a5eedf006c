// Package wire is the contract between a box (agent/fleet) and headquarters
// (cmd/tillbox-hq) over NATS JetStream: the names of the streams and
// subjects, the headers, the messages, and what each box may publish and
// read. It imports only the standard library so that both sides, the test
// kits and the tools that write a NATS server's configuration share one
// definition. docs/chain.md describes the protocol around it.
//
// Subjects (chain, store and till are [Till]'s ids):
//
//	tillbox.<chain>.journal.<store>.<till>    the box's event log, one message per event, in order
//	tillbox.<chain>.heartbeat.<store>.<till>  the box's health, every few seconds
//	tillbox.<chain>.relay.<store>.<till>      Vipps MobilePay webhooks for the box's payments
//	tillbox.<chain>.relay.unrouted.<msn>      webhooks headquarters could not route (kept for a look)
package wire

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The streams headquarters creates (a box never creates or changes one).
const (
	// JournalStream holds every box's event log (subjects tillbox.*.journal.>).
	// Boxes publish with [HeaderMsgID] and the expected last sequence of
	// their subject; headquarters' durable consumer copies it into
	// PostgreSQL.
	JournalStream = "TILLBOX_JOURNAL"
	// HeartbeatStream keeps the last heartbeat of each box (one message per
	// subject), so headquarters knows every box's last word after its own
	// restart.
	HeartbeatStream = "TILLBOX_HEARTBEAT"
	// RelayStream holds relayed webhooks until each box has taken its own
	// (a durable consumer per box, filtered to its relay subject).
	RelayStream = "TILLBOX_RELAY"
)

// Headers of a journal message, besides the JetStream ones.
const (
	// HeaderMsgID is JetStream's de-duplication id: [Till.MsgID].
	HeaderMsgID = "Nats-Msg-Id"
	// HeaderExpectedLastSubjSeq makes JetStream refuse an append unless the
	// subject's last stored message has this stream sequence (error code
	// 10071): a replay after the de-duplication window is refused too.
	HeaderExpectedLastSubjSeq = "Nats-Expected-Last-Subject-Sequence"
	// HeaderSeq is the event's sequence number in the box's own log.
	HeaderSeq = "Tillbox-Seq"
	// HeaderMSN names the sales unit of a relayed webhook.
	HeaderMSN = "Tillbox-Msn"
	// HeaderExpectedStream makes JetStream refuse an append unless the
	// subject belongs to this stream.
	HeaderExpectedStream = "Nats-Expected-Stream"
	// HeaderStreamSeq is the stream sequence of a message read by a direct
	// get.
	HeaderStreamSeq = "Nats-Sequence"
)

// ErrWrongLastSequence is JetStream's error code for an append whose
// expected last subject sequence does not hold.
const ErrWrongLastSequence = 10071

// IDRule says what an id of a chain, a store or a till may hold.
const IDRule = "1 to 40 letters, digits or dashes (no underscore: names of consumers and inboxes join the ids with one, so till b_c of store a and till c of store a_b would share them)"

// CheckID reports whether id can name a chain, a store or a till:
// [IDRule] (a NATS subject token, no wildcard).
func CheckID(what, id string) error {
	if !validID(id) {
		return fmt.Errorf("%s %q: use %s", what, id, IDRule)
	}
	return nil
}

// validID tells whether id keeps to [IDRule]: ^[a-zA-Z0-9-]{1,40}$, checked
// byte by byte (headquarters checks three ids of every message it reads).
func validID(id string) bool {
	if len(id) == 0 || len(id) > 40 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Till names one box in the chain.
type Till struct {
	Chain string `json:"chain"`
	Store string `json:"store"`
	Till  string `json:"till"`
}

// Check reports the first id of t that cannot be used.
func (t Till) Check() error {
	if err := CheckID("chain", t.Chain); err != nil {
		return err
	}
	if err := CheckID("store", t.Store); err != nil {
		return err
	}
	if t.Store == "unrouted" {
		return fmt.Errorf("store %q is reserved", t.Store)
	}
	return CheckID("till", t.Till)
}

// String is chain/store/till, for logs and pages.
func (t Till) String() string { return t.Chain + "/" + t.Store + "/" + t.Till }

func (t Till) subject(kind string) string {
	return "tillbox." + t.Chain + "." + kind + "." + t.Store + "." + t.Till
}

// JournalSubject is where the box publishes its event log.
func (t Till) JournalSubject() string { return t.subject("journal") }

// HeartbeatSubject is where the box publishes its heartbeats.
func (t Till) HeartbeatSubject() string { return t.subject("heartbeat") }

// RelaySubject is where headquarters publishes the box's webhooks.
func (t Till) RelaySubject() string { return t.subject("relay") }

// MsgID is the de-duplication id of the box's event seq.
func (t Till) MsgID(seq uint64) string { return t.String() + ":" + strconv.FormatUint(seq, 10) }

// RelayConsumer is the name of the box's durable consumer on [RelayStream].
func (t Till) RelayConsumer() string { return "relay_" + t.Store + "_" + t.Till }

// InboxPrefix is the prefix of the box's reply subjects (nats.CustomInboxPrefix),
// so that no box can read another's replies.
func (t Till) InboxPrefix() string { return "_INBOX_" + t.Chain + "_" + t.Store + "_" + t.Till }

// The JetStream API subjects a box uses, and only these (see
// [BoxPermissions]): the box speaks to them with plain requests.

// JournalLastSubject is the direct get that answers the last message of the
// box's journal subject (a status 404 when it holds none). A direct get
// names the subject it reads, so the permission can be the box's own.
func (t Till) JournalLastSubject() string {
	return "$JS.API.DIRECT.GET." + JournalStream + "." + t.JournalSubject()
}

// RelayCreateSubject creates (or updates) the box's durable relay consumer,
// filtered to its relay subject.
func (t Till) RelayCreateSubject() string {
	return "$JS.API.CONSUMER.CREATE." + RelayStream + "." + t.RelayConsumer() + "." + t.RelaySubject()
}

// RelayInfoSubject answers the box's relay consumer's information.
func (t Till) RelayInfoSubject() string {
	return "$JS.API.CONSUMER.INFO." + RelayStream + "." + t.RelayConsumer()
}

// RelayNextSubject asks the box's relay consumer for its next messages.
func (t Till) RelayNextSubject() string {
	return "$JS.API.CONSUMER.MSG.NEXT." + RelayStream + "." + t.RelayConsumer()
}

// RelayAckPrefix starts the reply subject of every message the relay
// consumer delivers, where the box acknowledges it.
func (t Till) RelayAckPrefix() string {
	return "$JS.ACK." + RelayStream + "." + t.RelayConsumer() + "."
}

// UnroutedSubject is where headquarters keeps a webhook of msn whose
// reference names no known till.
func UnroutedSubject(chain, msn string) string { return "tillbox." + chain + ".relay.unrouted." + msn }

// ParseSubject reads the till out of a journal, heartbeat or relay subject.
func ParseSubject(subject string) (kind string, t Till, err error) {
	var parts [5]string
	n, start := 0, 0
	for i := 0; i <= len(subject); i++ {
		if i == len(subject) || subject[i] == '.' {
			if n == len(parts) {
				return "", Till{}, fmt.Errorf("subject %q: too many tokens", subject)
			}
			parts[n], n, start = subject[start:i], n+1, i+1
		}
	}
	if n != 5 || parts[0] != "tillbox" {
		return "", Till{}, fmt.Errorf("subject %q is not tillbox.<chain>.<kind>.<store>.<till>", subject)
	}
	t = Till{Chain: parts[1], Store: parts[3], Till: parts[4]}
	if err := t.Check(); err != nil {
		return "", Till{}, fmt.Errorf("subject %q: %w", subject, err)
	}
	return parts[2], t, nil
}

// Permissions are the subjects one NATS user may publish to and subscribe to.
type Permissions struct {
	Publish   []string `json:"publish"`
	Subscribe []string `json:"subscribe"`
	// AllowResponses lets the user publish an answer to the reply subject
	// of a request it received (a box answering headquarters' actions).
	AllowResponses bool `json:"allowResponses"`
}

// BoxPermissions is what the credentials of box t allow, and nothing more:
// publish its own journal and heartbeats, read the last message of its own
// journal subject (to resume), use its own durable relay consumer and ack
// its messages, read replies on its own inbox, read its three layers of
// configuration (config.go), take headquarters' actions on its own action
// subject and answer them (action.go), and ask for and answer refunds as
// itself (refund.go), and ask for its access token (token.go). It can neither publish
// as another box nor read another box's journal or webhooks. No stream
// information either: with a subjects filter it would name every till
// and count its messages.
func BoxPermissions(t Till) Permissions {
	p := Permissions{
		Publish: []string{
			t.JournalSubject(),
			t.HeartbeatSubject(),
			t.JournalLastSubject(),
			t.RelayCreateSubject(),
			t.RelayInfoSubject(),
			t.RelayNextSubject(),
			t.RelayAckPrefix() + ">",
		},
		Subscribe: []string{t.InboxPrefix() + ".>",
			t.ActionSubject()}, // remote technician actions (action.go): read, never publish
		AllowResponses: true,
	}
	p.Publish = append(p.Publish, refundPermissions(t)...) // refund anywhere in the chain (refund.go)
	p.Publish = append(p.Publish, t.TokenSubject())        // the token broker (token.go): a request, answered on the inbox
	p.add(configPermissions(t))
	return p
}

// add appends q's subjects to p's.
func (p *Permissions) add(q Permissions) {
	p.Publish = append(p.Publish, q.Publish...)
	p.Subscribe = append(p.Subscribe, q.Subscribe...)
}

// Heartbeat is what a box says of itself every few seconds. It carries no
// secret and no customer data.
type Heartbeat struct {
	Till    Till      `json:"till"`
	At      time.Time `json:"at"`
	Version string    `json:"version"`
	// MSN and ReferencePrefix let headquarters route webhooks: the box's
	// references start with ReferencePrefix + "-".
	MSN             string `json:"msn"`
	ReferencePrefix string `json:"referencePrefix"`
	// Online is whether Vipps MobilePay answers the box.
	Online bool `json:"online"`
	// Queue is the number of commands waiting in the box's outbox.
	Queue int `json:"queue"`
	// Scanners are the box's scanners, connected or not.
	Scanners []Scanner `json:"scanners,omitempty"`
	// LastSeq is the newest event of the box's log; Shipped the newest one
	// headquarters acknowledged. LastSeq - Shipped is the journal's lag.
	LastSeq uint64 `json:"lastSeq"`
	Shipped uint64 `json:"shipped"`
	// LastError is the box's last error worth a look, without secrets.
	LastError string `json:"lastError,omitempty"`
	// Config is the box's layered configuration: its key for sealed
	// secrets, the layers applied and refused (config.go). nil: the box
	// does not take configuration from headquarters.
	Config *ConfigState `json:"config,omitempty"`

	// Health (alerts): what headquarters needs to say why a box is
	// unhealthy (health.go).
	QueueCap int    `json:"queueCap,omitempty"` // the outbox's cap (sales.max_queued)
	Auth     string `json:"auth,omitempty"`     // Vipps MobilePay's last word on the credentials: AuthRefused, …

	// Token (the token broker, token.go): where the box's access token
	// comes from (TokenFromBox, TokenFromHQ; empty: none yet) and when the
	// one it holds expires (zero: none). Never the token.
	TokenSource  string    `json:"tokenSource,omitempty"`
	TokenExpires time.Time `json:"tokenExpires,omitzero"`
}

// Scanner is one scanner in a heartbeat.
type Scanner struct {
	Name      string `json:"name"`
	Connected bool   `json:"connected"`
}

// Marshal encodes h.
func (h Heartbeat) Marshal() []byte {
	b, err := json.Marshal(h)
	if err != nil {
		panic(err) // a struct of strings, numbers and times always encodes
	}
	return b
}
