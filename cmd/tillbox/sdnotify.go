package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent"
	"golang.org/x/sys/unix"
)

// systemd's notify protocol (sd_notify(3)), with the standard library: one
// datagram per message to the unix socket named by $NOTIFY_SOCKET. Under
// Type=notify, READY=1 tells systemd the POS API serves; with WatchdogSec,
// WATCHDOG=1 must come within each period or systemd kills and restarts
// the service. It is sent only after the agent's loops proved they turn
// (agent.Alive), so a stuck loop gets the process restarted.
type systemd struct {
	conn   *net.UnixConn // nil: not run by systemd (or no notify socket)
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startSystemd sends READY=1 and, when systemd asks for a watchdog,
// starts feeding it while a's loops are alive. Without $NOTIFY_SOCKET it
// does nothing.
func startSystemd(a *agent.Agent, log *slog.Logger) *systemd {
	sd := &systemd{log: log, cancel: func() {}}
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return sd
	}
	if name[0] == '@' { // an abstract socket
		name = "\x00" + name[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		log.Error("systemd: cannot reach the notify socket", "err", err)
		return sd
	}
	sd.conn = conn
	sd.send("READY=1\nSTATUS=serving")
	every := watchdogPeriod()
	if every <= 0 {
		return sd
	}
	ctx, cancel := context.WithCancel(context.Background())
	sd.cancel = cancel
	sd.wg.Go(func() { sd.feed(ctx, a, every/3) })
	log.Info("systemd watchdog", "period", every)
	return sd
}

// watchdogPeriod is $WATCHDOG_USEC when $WATCHDOG_PID is unset or this
// process; 0 when there is no watchdog.
func watchdogPeriod() time.Duration {
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	us, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || us <= 0 {
		return 0
	}
	return time.Duration(us) * time.Microsecond
}

// feed asks the loops every tick and sends WATCHDOG=1 when they answered
// within the tick.
func (sd *systemd) feed(ctx context.Context, a *agent.Agent, tick time.Duration) {
	for {
		actx, cancel := context.WithTimeout(ctx, tick)
		err := a.Alive(actx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			sd.log.Error("systemd watchdog: not fed", "err", err)
		default:
			sd.send("WATCHDOG=1")
		}
		t := time.NewTimer(tick)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (sd *systemd) send(state string) {
	if sd.conn == nil {
		return
	}
	if _, err := sd.conn.Write([]byte(state)); err != nil && !errors.Is(err, net.ErrClosed) {
		sd.log.Warn("systemd: notify", "err", err)
	}
}

// reloading stops feeding the watchdog and tells systemd the service
// restarts in place (the same PID: an exec): it waits for the next
// READY=1 instead of taking the end of this program for a stop.
func (sd *systemd) reloading() {
	sd.cancel()
	sd.wg.Wait()
	if sd.conn != nil {
		sd.send("RELOADING=1\nSTATUS=restarting" + monotonicUsec())
		_ = sd.conn.Close()
		sd.conn = nil
	}
}

// monotonicUsec is the MONOTONIC_USEC= field systemd (253 and later) wants
// with RELOADING=1, or "".
func monotonicUsec() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return ""
	}
	return "\nMONOTONIC_USEC=" + strconv.FormatInt(ts.Nano()/1000, 10)
}

// stopping stops feeding the watchdog and tells systemd the shutdown has
// begun. Safe more than once.
func (sd *systemd) stopping() {
	sd.cancel()
	sd.wg.Wait()
	if sd.conn != nil {
		sd.send("STOPPING=1")
		_ = sd.conn.Close()
		sd.conn = nil
	}
}
