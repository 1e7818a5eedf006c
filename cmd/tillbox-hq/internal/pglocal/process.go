package pglocal

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// process is one run of the postmaster, in a process group of its own with
// the server processes it starts.
type process struct {
	pgid int
	done chan struct{} // closed when the postmaster has exited
	err  error         // its exit, valid once done is closed
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks for a fast shutdown (SIGINT: open transactions are rolled back,
// connections closed) and waits; the postmaster exits after its children.
func (p *process) stop() {
	if p.exited() {
		return
	}
	_ = syscall.Kill(p.pgid, syscall.SIGINT) // it may have just exited
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.kill()
	}
}

// kill kills every process of the server with SIGKILL and waits until none
// is left alive: a new postmaster refuses to start while an old process
// still holds the shared memory.
func (p *process) kill() {
	_ = syscall.Kill(-p.pgid, syscall.SIGKILL) // some may have exited
	<-p.done
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(stopTimeout); groupAlive(p.pgid) && time.Now().Before(deadline); {
		<-tick.C
	}
}

// groupAlive reports whether a process of group pgid runs (a zombie does not
// count: it holds no memory).
func groupAlive(pgid int) bool {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces and
		// parentheses, so read after the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fields := bytes.Fields(b[i+1:])
		if len(fields) < 3 || string(fields[0]) == "Z" || string(fields[0]) == "X" {
			continue
		}
		if g, err := strconv.Atoi(string(fields[2])); err == nil && g == pgid {
			return true
		}
	}
	return false
}

// tailBuffer keeps the last 256 KiB written to it, safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 256 << 10

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - tailMax; over > 0 {
		b.buf = append(b.buf[:0:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func (b *tailBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = nil
}
