//go:build !linux

package bench

import (
	"os"
	"time"
)

// The benchmarks read Linux's accounts (fdatasync, getrusage, /proc); on
// other systems they skip.

const supported = false

func fdatasync(f *os.File) error                          { return errUnsupported }
func cpuTime() (user, system time.Duration)               { return 0, 0 }
func processCPU(pid int) (time.Duration, error)           { return 0, errUnsupported }
func procStatus(fields ...string) (map[string]int, error) { return nil, errUnsupported }
