package hqnats

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// ConfigBucket is the configuration of the key-value bucket of the
// chain's layered settings (wire.ConfigBucket): every revision of each
// key kept up to wire.ConfigHistory, file storage, direct gets (a box
// reads its keys with them), no value bigger than a box takes.
func (s Streams) ConfigBucket() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:       wire.ConfigBucket,
		Description:  "the chain's layered settings: <chain>.all, <chain>.store.<store>, <chain>.till.<store>.<till>",
		History:      wire.ConfigHistory,
		MaxValueSize: wire.MaxConfigLayer,
		Storage:      jetstream.FileStorage,
		Replicas:     s.Replicas,
	}
}

// EnsureConfigBucket creates the settings bucket, or updates it to s.
func EnsureConfigBucket(ctx context.Context, js jetstream.JetStream, s Streams) error {
	if _, err := js.CreateOrUpdateKeyValue(ctx, s.ConfigBucket()); err != nil {
		return fmt.Errorf("bucket %s: %w", wire.ConfigBucket, err)
	}
	return nil
}
