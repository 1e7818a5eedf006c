package wire

import (
	"encoding/json"
	"testing"
)

func TestHeartbeatHealth(t *testing.T) {
	h := Heartbeat{Queue: 8, QueueCap: 10, Auth: AuthRefused}
	if !h.QueueNear(0.8) || h.QueueNear(0.9) {
		t.Errorf("8 of 10: near 0.8 but not 0.9")
	}
	if (Heartbeat{Queue: 5}).QueueNear(0.1) {
		t.Error("a heartbeat without a cap is never near it")
	}
	var back Heartbeat
	if err := json.Unmarshal(h.Marshal(), &back); err != nil || back.QueueCap != 10 || back.Auth != AuthRefused {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	// An older box's heartbeat (without the fields) still reads.
	back = Heartbeat{}
	if err := json.Unmarshal([]byte(`{"queue":3}`), &back); err != nil || back.QueueCap != 0 || back.Auth != "" {
		t.Errorf("an old heartbeat: %+v, %v", back, err)
	}
}
