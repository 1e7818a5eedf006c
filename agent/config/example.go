package config

import _ "embed"

//go:embed example.toml
var example string

// The placeholders of the example: good enough for the simulator, refused
// with environment = "test" or "production".
const (
	exampleClientID        = "11111111-2222-4333-8444-555555555555"
	exampleClientSecret    = "simulator-client-secret"
	exampleSubscriptionKey = "simulator-subscription-key"
	exampleToken           = "change-me-simulator-pos-token"
)

// Example returns a configuration file with every key commented: what it
// does and its default. As it is, it loads and runs against the simulator
// (`tillbox sim`); its comments say what to change for real payments.
func Example() string { return example }
