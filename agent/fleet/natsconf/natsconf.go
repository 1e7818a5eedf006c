// Package natsconf renders what a nats-server configuration needs for the
// chain tier: one account with JetStream, headquarters' user with every
// permission in it, and one user per box allowed exactly
// [wire.BoxPermissions]. The test kit (natstest) and `tillbox-hq demo`
// (an embedded server) write their configuration with it. The output is
// JSON, which the NATS configuration format reads.
package natsconf

import (
	"bytes"
	"encoding/json"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// Account is the one NATS account of headquarters and every box.
const Account = "TILLBOX"

// User is a NATS user's name and password.
type User struct {
	Name, Password string
}

// Box is one box's user.
type Box struct {
	Till wire.Till
	User User
}

// Accounts is the configuration's "accounts" block: Account with
// JetStream enabled, hq with every permission, and each box (the first
// of a till that appears twice) with wire.BoxPermissions (answers to the
// requests it receives, headquarters' actions, with "allow_responses").
func Accounts(hq User, boxes []Box) map[string]any {
	users := []map[string]any{{"user": hq.Name, "password": hq.Password}}
	seen := map[wire.Till]bool{}
	for _, b := range boxes {
		if seen[b.Till] {
			continue
		}
		seen[b.Till] = true
		p := wire.BoxPermissions(b.Till)
		perms := map[string]any{
			"publish":   map[string]any{"allow": p.Publish},
			"subscribe": map[string]any{"allow": p.Subscribe},
		}
		if p.AllowResponses {
			perms["allow_responses"] = true
		}
		users = append(users, map[string]any{
			"user":        b.User.Name,
			"password":    b.User.Password,
			"permissions": perms,
		})
	}
	return map[string]any{Account: map[string]any{"jetstream": "enabled", "users": users}}
}

// Encode writes conf as the server's configuration file reads it: JSON
// with the '>' of wildcards kept as it is.
func Encode(conf map[string]any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(conf); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
