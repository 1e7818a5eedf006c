package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestActionSubjectAndPermissions(t *testing.T) {
	a := Till{Chain: "acme", Store: "s1", Till: "t1"}
	if got := a.ActionSubject(); got != "tillbox.acme.action.s1.t1" {
		t.Errorf("ActionSubject = %q", got)
	}
	if kind, got, err := ParseSubject(a.ActionSubject()); err != nil || kind != "action" || got != a {
		t.Errorf("ParseSubject: %q %+v %v", kind, got, err)
	}
	p := BoxPermissions(a)
	if !p.AllowResponses {
		t.Error("a box cannot answer headquarters' actions")
	}
	for _, s := range p.Publish {
		if strings.Contains(s, ".action.") {
			t.Errorf("a box may publish on an action subject: %q", s)
		}
	}
	found := false
	for _, s := range p.Subscribe {
		found = found || s == a.ActionSubject()
	}
	if !found {
		t.Errorf("a box may not read its own actions: %v", p.Subscribe)
	}
}

func TestActionRequestCheck(t *testing.T) {
	ok := ActionRequest{ID: "1", Action: ActionLogs, Operator: "alice", Args: ActionArgs{Level: "warn", Limit: 10}}
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]ActionRequest{
		"no id":        {Action: ActionStatus, Operator: "a"},
		"unknown":      {ID: "1", Action: "rm", Operator: "a"},
		"no operator":  {ID: "1", Action: ActionStatus},
		"bad level":    {ID: "1", Action: ActionLogs, Operator: "a", Args: ActionArgs{Level: "loud"}},
		"too many":     {ID: "1", Action: ActionLogs, Operator: "a", Args: ActionArgs{Limit: MaxLogRecords + 1}},
		"long wait":    {ID: "1", Action: ActionRestart, Operator: "a", Args: ActionArgs{WaitSeconds: int(MaxWait/time.Second) + 1}},
		"not a number": {ID: "1", Action: ActionTestPayment, Operator: "a", Args: ActionArgs{Phone: "47 abc"}},
	} {
		if r.Check() == nil {
			t.Errorf("%s: accepted %+v", name, r)
		}
	}
}

// TestReplyBounded: a reply with a huge log stays within MaxReply, its
// newest records kept and the dropped ones counted.
func TestReplyBounded(t *testing.T) {
	var recs []LogRecord
	for i := range MaxLogRecords {
		recs = append(recs, LogRecord{Level: "INFO", Message: strings.Repeat("x", 2000), Attrs: "n=" + string(rune('a'+i%26))})
	}
	recs[len(recs)-1].Message = "the newest"
	b := ActionReply{ID: "1", Action: ActionLogs, Outcome: OutcomeOK, Logs: &LogTail{Level: "info", Records: recs}}.Marshal()
	if len(b) > MaxReply {
		t.Fatalf("reply of %d bytes", len(b))
	}
	var r ActionReply
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	n := len(r.Logs.Records)
	if n == 0 || r.Logs.Dropped != MaxLogRecords-n || r.Logs.Records[n-1].Message != "the newest" {
		t.Errorf("kept %d, dropped %d, newest %q", n, r.Logs.Dropped, r.Logs.Records[n-1].Message)
	}
	if recs[0].Message != strings.Repeat("x", 2000) {
		t.Error("Marshal changed the caller's records")
	}
}
