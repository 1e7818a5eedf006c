package serial

import (
	"slices"
	"testing"
	"time"

	"github.com/tillbox/tillbox/device"
)

// BenchmarkLatency measures the time from writing the last byte of a scan
// (the code and its CR in one write) to the pty, to the Scan arriving on
// the channel; it reports the median and the 99th percentile.
//
//	go test -run '^$' -bench Latency -benchtime 2000x ./device/serial
func BenchmarkLatency(b *testing.B) {
	r := newRig(b)
	s := open(b, Config{Match: device.Match{Path: r.link}, Baud: 115200, Terminator: device.Terminator{Bytes: "\r"}})
	connected(b, s)
	msg := []byte(vippsClear + "\r")
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if _, err := r.master.Write(msg); err != nil {
			b.Fatal(err)
		}
		sc := <-s.Scans()
		lat = append(lat, time.Since(start))
		if len(sc.Data) != len(vippsClear) {
			b.Fatalf("got %q", sc.Data)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds())
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}
