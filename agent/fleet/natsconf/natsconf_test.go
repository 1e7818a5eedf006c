package natsconf_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/agent/fleet/natsconf"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// TestAccounts: headquarters without limits, each box once with exactly
// its permissions; the file keeps '>' as it is.
func TestAccounts(t *testing.T) {
	a := wire.Till{Chain: "kaffe", Store: "oslo-1", Till: "t1"}
	b := wire.Till{Chain: "kaffe", Store: "oslo-1", Till: "t2"}
	conf := map[string]any{"accounts": natsconf.Accounts(natsconf.User{Name: "hq", Password: "p0"},
		[]natsconf.Box{{Till: a, User: natsconf.User{Name: "a", Password: "p1"}},
			{Till: b, User: natsconf.User{Name: "b", Password: "p2"}},
			{Till: a, User: natsconf.User{Name: "a-again", Password: "p3"}}})}
	data, err := natsconf.Encode(conf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), ".>\"") || strings.Contains(string(data), `\u003e`) {
		t.Errorf("wildcards escaped:\n%s", data)
	}
	var got struct {
		Accounts map[string]struct {
			JetStream string `json:"jetstream"`
			Users     []struct {
				User        string `json:"user"`
				Password    string `json:"password"`
				Permissions *struct {
					Publish        struct{ Allow []string } `json:"publish"`
					Subscribe      struct{ Allow []string } `json:"subscribe"`
					AllowResponses bool                     `json:"allow_responses"`
				} `json:"permissions"`
			} `json:"users"`
		} `json:"accounts"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	acc := got.Accounts[natsconf.Account]
	if acc.JetStream != "enabled" || len(acc.Users) != 3 {
		t.Fatalf("account %+v", acc)
	}
	if u := acc.Users[0]; u.User != "hq" || u.Password != "p0" || u.Permissions != nil {
		t.Errorf("headquarters %+v", u)
	}
	for i, till := range []wire.Till{a, b} {
		u := acc.Users[i+1]
		p := wire.BoxPermissions(till)
		if u.Permissions == nil || !slices.Equal(u.Permissions.Publish.Allow, p.Publish) ||
			!slices.Equal(u.Permissions.Subscribe.Allow, p.Subscribe) || !u.Permissions.AllowResponses {
			t.Errorf("box %s: %+v", till, u)
		}
	}
}
