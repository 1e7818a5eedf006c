package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// hqProcess is tillbox-hq running as a process of its own (the test
// binary, which runs main when TILLBOX_HQ_TEST_ARGS is set).
type hqProcess struct {
	cmd *exec.Cmd
	out *syncBuffer
}

func startHQProcess(t testing.TB, config string) *hqProcess {
	t.Helper()
	p := &hqProcess{cmd: exec.Command(os.Args[0]), out: &syncBuffer{}}
	p.cmd.Env = append(os.Environ(), "TILLBOX_HQ_TEST_ARGS=run --config "+config)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("tillbox-hq process (pid %d):\n%s", p.cmd.Process.Pid, p.out.String())
		}
	})
	return p
}

// kill ends the process with SIGKILL: no shutdown, a batch in flight is
// cut wherever it is.
func (p *hqProcess) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

// TestHQKilledMidBatch: headquarters is killed with SIGKILL again and
// again while boxes publish; after each restart it goes on where its
// durable consumer stands, and at the end every event is in PostgreSQL
// exactly once, equal to the box's.
func TestHQKilledMidBatch(t *testing.T) {
	tills := []wire.Till{tillOf("oslo", "t1"), tillOf("oslo", "t2"), tillOf("bergen", "t1")}
	pg, ns := startPG(t), startNATS(t, tills...)
	config := writeConfig(t, pg.DSN(), ns, 1)
	p := startHQProcess(t, config)
	_, js := ns.hqClient(t)
	waitStreams(t, js)
	db := pgConn(t, pg.DSN())

	var boxes []*box
	for _, till := range tills {
		boxes = append(boxes, newBox(t, ns, till))
	}
	const perRound = 400
	for round := range 3 {
		// The boxes publish while headquarters writes; it is killed once
		// part of this round is stored.
		var wg sync.WaitGroup
		for _, b := range boxes {
			from := uint64(len(b.events) + 1)
			b.makeEvents(t, perRound)
			wg.Go(func() {
				if err := b.ship(from); err != nil {
					t.Error(err)
				}
			})
		}
		target := (round*perRound + perRound/4)
		waitFor(t, 60*time.Second, "part of the round stored", func() bool { return countEvents(db, boxes[0].till) > target })
		p.kill(t)
		wg.Wait()
		p = startHQProcess(t, config)
	}
	for _, b := range boxes {
		waitFor(t, 120*time.Second, "every event of "+b.till.String(), func() bool { return countEvents(db, b.till) == len(b.events) })
		checkJournal(t, db, b)
	}
}

// TestNATSNodeKilledDuringIngest: on a 3-node cluster with 3 replicas,
// the node leading the journal stream is killed with SIGKILL while boxes
// publish and headquarters ingests, then restarted: every event is in
// PostgreSQL exactly once.
func TestNATSNodeKilledDuringIngest(t *testing.T) {
	tills := []wire.Till{tillOf("oslo", "t1"), tillOf("bergen", "t1")}
	pg, ns := startPG(t), startNATSCluster(t, tills...)
	startHQ(t, writeConfig(t, pg.DSN(), ns, 3))
	_, js := ns.hqClient(t)
	waitStreams(t, js)
	db := pgConn(t, pg.DSN())
	var boxes []*box
	for _, till := range tills {
		b := newBox(t, ns, till)
		b.makeEvents(t, 600)
		boxes = append(boxes, b)
	}
	var wg sync.WaitGroup
	for _, b := range boxes {
		wg.Go(func() {
			if err := b.ship(1); err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, 60*time.Second, "part of the events stored", func() bool { return countEvents(db, boxes[0].till) > 100 })
	s, err := js.Stream(context.Background(), wire.JournalStream)
	if err != nil {
		t.Fatal(err)
	}
	leader := -1
	for i, n := range ns.servers {
		if s.CachedInfo().Cluster != nil && n.Name() == s.CachedInfo().Cluster.Leader {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatalf("no leader of the journal stream: %+v", s.CachedInfo().Cluster)
	}
	ns.servers[leader].Kill()
	wg.Wait()
	ns.servers[leader].Restart()
	for _, b := range boxes {
		waitFor(t, 120*time.Second, "every event of "+b.till.String(), func() bool { return countEvents(db, b.till) == len(b.events) })
		checkJournal(t, db, b)
	}
}

// TestStartsWithoutItsServersAndStopsOnSIGTERM: tillbox-hq starts while
// PostgreSQL and NATS are unreachable (/healthz 200, /readyz 503 naming
// both), and SIGTERM stops it cleanly with status 0.
func TestStartsWithoutItsServersAndStopsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	conf := fmt.Sprintf(`[hq]
chain = "acme"
[nats]
servers = ["nats://127.0.0.1:%d"]
[postgres]
dsn = "host=127.0.0.1 port=%d user=nobody dbname=x sslmode=disable password=pg-secret-never-shown"
[http]
listen = "127.0.0.1:0"
`, freePort(t), freePort(t))
	path := filepath.Join(dir, "hq.toml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startHQProcess(t, path)
	var base string
	waitFor(t, 30*time.Second, "the listening line", func() bool {
		m := regexp.MustCompile(`listening on (http://[0-9.:]+)`).FindStringSubmatch(p.out.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	})
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	code, body := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"postgres":"waiting`) || !strings.Contains(body, `"nats":"not connected`) {
		t.Errorf("/readyz: %d %s", code, body)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v\n%s", err, p.out.String())
	}
	out := p.out.String()
	if !strings.Contains(out, "tillbox-hq stopped") || strings.Contains(out, "pg-secret-never-shown") {
		t.Fatalf("the log lacks the stop or shows the DSN's password:\n%s", out)
	}
}

// TestTwoHeadquarters: two tillbox-hq processes share the durable
// consumers, the schema and the streams; every event lands once.
func TestTwoHeadquarters(t *testing.T) {
	tills := []wire.Till{tillOf("oslo", "t1"), tillOf("oslo", "t2"), tillOf("bergen", "t1")}
	pg, ns := startPG(t), startNATS(t, tills...)
	config := writeConfig(t, pg.DSN(), ns, 1)
	startHQProcess(t, config)
	startHQProcess(t, config)
	_, js := ns.hqClient(t)
	waitStreams(t, js)
	db := pgConn(t, pg.DSN())
	var wg sync.WaitGroup
	var boxes []*box
	for _, till := range tills {
		b := newBox(t, ns, till)
		b.makeEvents(t, 300)
		boxes = append(boxes, b)
		wg.Go(func() {
			if err := b.ship(1); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, b := range boxes {
		waitFor(t, 60*time.Second, "every event of "+b.till.String(), func() bool { return countEvents(db, b.till) == len(b.events) })
		checkJournal(t, db, b)
	}
}
