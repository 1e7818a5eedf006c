package sim

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/clock"
	"github.com/tillbox/tillbox/agent/epayment"
)

func TestRegisterFlags(t *testing.T) {
	var o Options
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	o.RegisterFlags(fs)
	if o.App != (AppPolicy{Action: Approve, Delay: 2 * time.Second}) || o.Currency != epayment.NOK || o.TokenLifetime != time.Hour || o.Retention != 24*time.Hour {
		t.Fatalf("defaults %+v", o)
	}
	err := fs.Parse([]string{
		"--client-id", "id-1", "--client-secret", "s3cret", "--subscription-key", "sk", "--msn", "123456",
		"--currency", "dkk", "--app", "Reject", "--app-delay", "5s", "--token-lifetime", "10m", "--speed", "60", "--push-disabled", "--retention", "2h",
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.ClientID != "id-1" || o.ClientSecret != "s3cret" || o.SubscriptionKey != "sk" || o.MSN != "123456" ||
		o.Currency != epayment.DKK || o.App != (AppPolicy{Action: Reject, Delay: 5 * time.Second}) ||
		o.TokenLifetime != 10*time.Minute || !o.PushDisabled || o.Retention != 2*time.Hour {
		t.Fatalf("parsed %+v", o)
	}
	if _, ok := o.Clock.(*scaledClock); !ok || o.Clock.(*scaledClock).speed != 60 {
		t.Fatalf("clock %#v", o.Clock)
	}
	fs = flag.NewFlagSet("sim", flag.ContinueOnError)
	o = Options{}
	o.RegisterFlags(fs)
	if err := fs.Parse([]string{"--fake-clock"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := o.Clock.(*clock.Fake); !ok {
		t.Fatalf("--fake-clock: clock %#v", o.Clock)
	}
	for _, bad := range [][]string{{"--currency", "SEK"}, {"--app", "maybe"}, {"--speed", "0"}, {"--speed", "fast"},
		{"--speed", "60", "--fake-clock"}, {"--fake-clock", "--speed", "60"}, {"--fake-clock=maybe"}} {
		fs := flag.NewFlagSet("sim", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var o Options
		o.RegisterFlags(fs)
		if err := fs.Parse(bad); err == nil {
			t.Fatalf("%v accepted", bad)
		}
	}
}

func TestActionText(t *testing.T) {
	for _, a := range []Action{Approve, Reject, Ignore} {
		b, err := a.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Action
		if err := back.UnmarshalText(b); err != nil || back != a {
			t.Fatalf("%v -> %s -> %v, %v", a, b, back, err)
		}
	}
	if _, err := Action(0).MarshalText(); err == nil {
		t.Fatal("the zero Action marshals")
	}
}
