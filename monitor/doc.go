// Package monitor shows whether a feed is healthy: Prometheus metrics,
// /healthz and /readyz, and a live dashboard, on one HTTP listener; and a
// live status line for a terminal.
//
// The gateway's counters are read as snapshots (feed.Gateway.Stats) when
// they are needed: at scrape time, and once a second for the dashboard.
// Only latency needs a look at every event: the gateway's handler calls
// Monitor.Observe, which costs a few tens of nanoseconds and does not
// allocate once a symbol has been seen.
//
// A Monitor owns its listener and goroutines; Close stops them all.
package monitor
