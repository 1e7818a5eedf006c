package main

import (
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
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
	pg, ns := startPG(t), startNATS(t)
	config := writeConfig(t, pg.DSN(), ns.URL())
	p := startHQProcess(t, config)
	_, js := connect(t, ns.URL())
	waitStreams(t, js)
	db := pg.Conn(t)

	boxes := []*box{newBox(js, "oslo", "t1"), newBox(js, "oslo", "t2"), newBox(js, "bergen", "t1")}
	const perRound = 400
	for round := range 3 {
		// The boxes publish while headquarters writes; it is killed once
		// part of this round is stored.
		var wg sync.WaitGroup
		for _, b := range boxes {
			from := uint64(len(b.events) + 1)
			b.makeEvents(t, perRound)
			wg.Go(func() { b.ship(t, from) })
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
