package hqdb

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/store"
)

func BenchmarkReadEvent(b *testing.B) {
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	s := agent.Sale{Reference: "s001-t1-000001", Till: "t1", Amount: 12345, Currency: "NOK", Description: "test sale",
		State: agent.Completed, CreatedAt: at, UpdatedAt: at, FinishedAt: at}
	data, _ := json.Marshal(s)
	body, _ := json.Marshal(store.Event{Seq: 7, Reference: s.Reference, Kind: "sale", State: string(s.State), Data: data, At: at})
	b.Logf("%d bytes", len(body))
	b.Run("header", func(b *testing.B) {
		for b.Loop() {
			if _, err := ReadEvent(oslo, body, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			if _, err := ParseEvent(oslo, body, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}
