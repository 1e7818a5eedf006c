package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The measurements read Linux's own accounts: fdatasync for the raw write,
// getrusage for this process's CPU time, /proc for another process's CPU
// time and for peak RSS (VmHWM), and posix_fadvise to evict a file from the
// page cache for a cold start.

const supported = true

func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// cpuTime is this process's CPU time so far, user and system.
func cpuTime() (user, system time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// processCPU is the CPU time (user + system) of process pid so far, from
// /proc/PID/stat, in clock ticks (10 ms).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// procStatus returns the fields of /proc/self/status given, in kB (VmHWM,
// VmRSS, ...).
func procStatus(fields ...string) (map[string]int, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		for _, want := range fields {
			if f[0] == want+":" {
				n, err := strconv.Atoi(f[1])
				if err != nil {
					return nil, fmt.Errorf("/proc/self/status: %q", line)
				}
				out[want] = n
			}
		}
	}
	for _, want := range fields {
		if _, ok := out[want]; !ok {
			return nil, fmt.Errorf("/proc/self/status has no %s", want)
		}
	}
	return out, nil
}
