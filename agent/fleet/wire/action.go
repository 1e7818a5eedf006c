package wire

// Remote technician actions (issue 14, part 2): headquarters asks a box
// with a NATS request on the box's action subject,
//
//	tillbox.<chain>.action.<store>.<till>
//
// and the box answers on the request's reply subject. Only headquarters'
// user may publish there; a box may only subscribe to its own action
// subject and answer what it received there ([Permissions.AllowResponses]).
// Every action is recorded at headquarters (who, what, when, the answer).

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// ActionSubject is where headquarters asks the box for a technician action.
func (t Till) ActionSubject() string { return t.subject("action") }

// The actions a box answers.
const (
	// ActionStatus: the box's health (ActionReply.Status).
	ActionStatus = "status"
	// ActionLogs: the tail of the box's log at a level or above
	// (ActionReply.Logs).
	ActionLogs = "logs"
	// ActionTestPayment: a payment of the currency's smallest amount,
	// followed until its outcome or Args.WaitSeconds (ActionReply.TestPayment),
	// as the technician page's test payment; refused unless the box talks
	// to the test environment or a simulator.
	ActionTestPayment = "test-payment"
	// ActionScanners: the scanners and the latest scans, masked
	// (ActionReply.Scanners).
	ActionScanners = "scanners"
	// ActionRestart: restart the box once no payment is in flight, waiting
	// up to Args.WaitSeconds for those in flight (`tillbox busy`'s rule);
	// refused when some are still in flight then (ActionReply.Restart).
	ActionRestart = "restart"
)

// Actions are the actions a box answers, in the order a page lists them.
var Actions = []string{ActionStatus, ActionLogs, ActionTestPayment, ActionScanners, ActionRestart}

// Bounds of a request and its reply.
const (
	// MaxReply bounds an encoded reply: log records are dropped, oldest
	// first, to fit.
	MaxReply = 64 << 10
	// MaxLogRecords bounds the records of a log tail; DefaultLogRecords
	// is what a request without a limit gets.
	MaxLogRecords     = 200
	DefaultLogRecords = 100
	// MaxWait bounds Args.WaitSeconds (a test payment followed, a restart
	// waiting for payments in flight).
	MaxWait = 10 * time.Minute
	// maxText bounds one string of a reply (a log record's message, an
	// error).
	maxText = 1000
)

// The outcome of an action, in a reply.
const (
	// OutcomeOK: done (a restart: the box is restarting).
	OutcomeOK = "ok"
	// OutcomeRefused: the box would not (a payment in flight, test payments
	// not allowed, an unknown action); Error says why.
	OutcomeRefused = "refused"
	// OutcomeFailed: the box tried and failed; Error says why.
	OutcomeFailed = "failed"
)

// LogLevels are the levels of ActionArgs.Level, as the technician page's
// log filter offers them.
var LogLevels = []string{"debug", "info", "warn", "error"}

// ActionRequest is what headquarters asks of a box.
type ActionRequest struct {
	// ID is headquarters' id of the action (its audit row); the reply
	// carries it back.
	ID     string `json:"id"`
	Action string `json:"action"`
	// Operator is who asked, signed in at headquarters.
	Operator string     `json:"operator"`
	Args     ActionArgs `json:"args"`
}

// ActionArgs are an action's arguments; each action reads its own.
type ActionArgs struct {
	// Level (logs): debug, info (default), warn or error.
	Level string `json:"level,omitempty"`
	// Limit (logs): the newest records, 1 to MaxLogRecords (0:
	// DefaultLogRecords).
	Limit int `json:"limit,omitempty"`
	// Phone (test-payment): the customer's phone number (country code and
	// number); empty: the next scan of a personal QR code. It is never
	// sent back, and headquarters records it masked.
	Phone string `json:"phone,omitempty"`
	// WaitSeconds (test-payment, restart): how long the box follows the
	// payment (0: a minute), or waits for the payments in flight (0: it
	// refuses at once while one is); 0 to MaxWait.
	WaitSeconds int `json:"waitSeconds,omitempty"`
}

// Wait is WaitSeconds as a duration.
func (a ActionArgs) Wait() time.Duration { return time.Duration(a.WaitSeconds) * time.Second }

// Check reports what of r a box cannot act on.
func (r ActionRequest) Check() error {
	if r.ID == "" || len(r.ID) > 64 {
		return errors.New("action: an id of 1 to 64 characters is required")
	}
	if !slices.Contains(Actions, r.Action) {
		return fmt.Errorf("action %q: unknown (known: %s)", clip(r.Action, 40), strings.Join(Actions, ", "))
	}
	if r.Operator == "" || len(r.Operator) > 100 {
		return errors.New("action: an operator of 1 to 100 characters is required")
	}
	a := r.Args
	switch {
	case a.Level != "" && !slices.Contains(LogLevels, a.Level):
		return fmt.Errorf("action: level %q: use %s", clip(a.Level, 20), strings.Join(LogLevels, ", "))
	case a.Limit < 0 || a.Limit > MaxLogRecords:
		return fmt.Errorf("action: limit %d: 0 to %d", a.Limit, MaxLogRecords)
	case a.WaitSeconds < 0 || a.Wait() > MaxWait:
		return fmt.Errorf("action: waitSeconds %d: 0 to %d", a.WaitSeconds, int(MaxWait/time.Second))
	case len(a.Phone) > 20 || strings.Trim(a.Phone, "+0123456789 -") != "":
		return errors.New("action: the phone number is not one: the country code and the number, e.g. 4798765432")
	}
	return nil
}

// ActionReply is the box's answer. It holds no secret (log records are
// the box's log, which redacts them) and no customer's phone number or
// scanned code (masked as the technician page masks them).
type ActionReply struct {
	ID      string `json:"id"`
	Action  string `json:"action"`
	Outcome string `json:"outcome"`         // OutcomeOK, OutcomeRefused or OutcomeFailed
	Error   string `json:"error,omitempty"` // why refused or failed
	// The answer of the action asked, one of these.
	Status      *BoxStatus    `json:"status,omitempty"`
	Logs        *LogTail      `json:"logs,omitempty"`
	TestPayment *TestPayment  `json:"testPayment,omitempty"`
	Scanners    *ScannerCheck `json:"scanners,omitempty"`
	Restart     *RestartReply `json:"restart,omitempty"`
}

// BoxStatus is the box's health now.
type BoxStatus struct {
	Version string    `json:"version"`
	Started time.Time `json:"started"` // when this process started (a restart changes it)
	// Online: Vipps MobilePay answers; Auth: what it said of the box's
	// credentials (unknown, accepted, refused).
	Online     bool   `json:"online"`
	Auth       string `json:"auth,omitempty"`
	Queue      int    `json:"queue"`      // commands in the outbox
	Unfinished int    `json:"unfinished"` // sales without an outcome
	// InFlight are the references of the payments in flight (`tillbox busy`).
	InFlight []string `json:"inFlight"`
	// LastSeq is the box's newest event, Shipped the newest one
	// headquarters acknowledged.
	LastSeq   uint64    `json:"lastSeq"`
	Shipped   uint64    `json:"shipped"`
	Scanners  []Scanner `json:"scanners"`
	LastError string    `json:"lastError,omitempty"`
}

// LogTail is the newest records of the box's log at Level or above,
// oldest first.
type LogTail struct {
	Level   string      `json:"level"`
	Records []LogRecord `json:"records"`
	// Dropped counts records left out to keep the reply within MaxReply.
	Dropped int `json:"dropped,omitempty"`
}

// LogRecord is one record of the box's log, as its technician page shows it.
type LogRecord struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"` // DEBUG, INFO, WARN or ERROR
	Message string    `json:"msg"`
	Attrs   string    `json:"attrs"` // key=value ..., as the text log writes them
}

// TestPayment is a test payment as the technician page shows it.
type TestPayment struct {
	Reference string `json:"reference"`
	Amount    int64  `json:"amount"` // minor units
	Currency  string `json:"currency"`
	Customer  string `json:"customer"` // masked, or "the next scan"
	State     string `json:"state"`
	Says      string `json:"says"` // the state in words
	Done      bool   `json:"done"` // the state is its outcome
	Good      bool   `json:"good"` // paid
	Message   string `json:"message,omitempty"`
}

// ScannerCheck is the box's scanners and its latest scans, newest first.
type ScannerCheck struct {
	Scanners []ScannerState `json:"scanners"`
	Scans    []Scan         `json:"scans"`
}

// ScannerState is one scanner as the technician page shows it.
type ScannerState struct {
	Name       string    `json:"name"`
	Driver     string    `json:"driver"`
	Connected  bool      `json:"connected"`
	Path       string    `json:"path,omitempty"`
	Product    string    `json:"product,omitempty"`
	Scans      uint64    `json:"scans"`
	LastScanAt time.Time `json:"lastScanAt,omitzero"`
	LastScan   string    `json:"lastScan,omitempty"` // masked
	LastError  string    `json:"lastError,omitempty"`
}

// Scan is one recent scan, masked: never the whole code.
type Scan struct {
	At        time.Time `json:"at"`
	Sent      string    `json:"sent"`     // masked
	TakenFor  string    `json:"takenFor"` // the pattern it matched, or why it is no personal QR code
	Outcome   string    `json:"outcome"`  // bound, held or refused
	Reference string    `json:"reference,omitempty"`
	Message   string    `json:"message,omitempty"`
}

// RestartReply says what became of a restart.
type RestartReply struct {
	// Restarting: the box is restarting now (it answers again once up).
	Restarting bool `json:"restarting"`
	// InFlight are the payments in flight that kept it from restarting.
	InFlight []string `json:"inFlight,omitempty"`
	// WaitedSeconds is how long it waited for payments in flight.
	WaitedSeconds float64 `json:"waitedSeconds"`
	// Started is when the process that answers started: once the box is
	// back, its status says a later one.
	Started time.Time `json:"started"`
}

// Marshal encodes r within MaxReply: texts are clipped, and log records
// dropped, oldest first, until it fits.
func (r ActionReply) Marshal() []byte {
	r.Error = clip(r.Error, maxText)
	if r.Logs != nil {
		logs := *r.Logs
		logs.Records = slices.Clone(logs.Records)
		for i := range logs.Records {
			logs.Records[i].Message = clip(logs.Records[i].Message, maxText)
			logs.Records[i].Attrs = clip(logs.Records[i].Attrs, maxText)
		}
		r.Logs = &logs
	}
	for {
		b, err := json.Marshal(r)
		if err != nil {
			panic(err) // strings, numbers and times always encode
		}
		if len(b) <= MaxReply || r.Logs == nil || len(r.Logs.Records) == 0 {
			return b
		}
		drop := max(1, len(r.Logs.Records)/8)
		r.Logs.Records = r.Logs.Records[drop:]
		r.Logs.Dropped += drop
	}
}

// clip cuts s to n bytes at most, on a character's boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
