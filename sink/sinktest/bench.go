package sinktest

import (
	"testing"
	"time"
)

// Measure starts measuring a benchmark that writes b.N events; the
// function it returns, called after the sink's Close, reports wall time
// per event (ns/event), the process's CPU time per event (cpu-ns/event:
// the sink's goroutines and an embedded server included) and events/s.
func Measure(b *testing.B) func() {
	start, cpu0 := time.Now(), cpuTime()
	return func() {
		wall, cpu := time.Since(start), cpuTime()-cpu0
		n := float64(b.N)
		b.ReportMetric(float64(wall.Nanoseconds())/n, "ns/event")
		if cpu > 0 {
			b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/event")
		}
		b.ReportMetric(n/wall.Seconds(), "events/s")
	}
}
