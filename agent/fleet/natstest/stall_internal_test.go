package natstest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// A meta leader that stalls (SIGSTOP: a node not scheduled for seconds on
// a loaded machine) right after the cluster formed loses its leadership
// while the stream create it took waits in its socket; once it runs again
// it proposes with its old term and steps down, and no node ever answers.
// CreateStream asks again and the new leader creates the stream.
func TestCreateStreamMetaLeaderStalled(t *testing.T) {
	c := StartCluster(t, 3, Options{TLS: true, Tills: []wire.Till{{Chain: "acme", Store: "oslo-1", Till: "t1"}}})
	client := &http.Client{Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	name, err := c.nodes[0].metaLeader(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	leader := c.nodes[c.Index(name)]
	other := c.nodes[(c.Index(name)+1)%3]
	js, err := jetstream.New(c.Connect(t, other.URL(), c.HQ()))
	if err != nil {
		t.Fatal(err)
	}
	pid := leader.proc.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resume := func() { _ = syscall.Kill(pid, syscall.SIGCONT) } // it may have exited
	t.Cleanup(resume)

	// The two others elect a new meta leader; then the stalled one runs
	// again.
	go func() {
		defer resume()
		for ctx.Err() == nil {
			if l, err := other.metaLeader(ctx, client); err == nil && l != leader.name {
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	rec := &logRecorder{TB: t}
	st := c.CreateStream(ctx, rec, js, jetstream.StreamConfig{Name: wire.JournalStream,
		Subjects: []string{"tillbox.*.journal.>"}, Replicas: 3})
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || info.Cluster.Leader == "" {
		t.Fatalf("stream %s: replicas %d, cluster %+v", info.Config.Name, info.Config.Replicas, info.Cluster)
	}
	if !strings.Contains(rec.String(), "asking again") {
		t.Errorf("the stream was created at the first attempt: the stall did not happen as meant")
	}
}

// logRecorder keeps what is logged through it.
type logRecorder struct {
	testing.TB
	mu sync.Mutex
	b  strings.Builder
}

func (r *logRecorder) Logf(format string, args ...any) {
	r.TB.Helper()
	r.TB.Logf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(&r.b, format+"\n", args...)
}

func (r *logRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.b.String()
}
