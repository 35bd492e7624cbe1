package monitor

import (
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// BenchmarkSample is the dashboard's sample (the snapshot and its JSON)
// of a process that runs one venue and of one that runs six, each with
// two connections and a book: what the venues' rows add to it.
func BenchmarkSample(b *testing.B) {
	st := feed.GatewayStats{Events: 1000, BooksInSync: 1, Sessions: []wsconn.Stats{
		{Status: wsconn.StatusConnected, Connects: 1, Frames: 500}, {Status: wsconn.StatusConnected, Connects: 1, Frames: 500}}}
	for _, n := range []int{1, 6} {
		b.Run(strconv.Itoa(n)+"-venues", func(b *testing.B) {
			cfg := Config{Addr: "127.0.0.1:0", SampleInterval: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			var parts []feed.GatewayStats
			for i := range n {
				name := "venue" + strconv.Itoa(i)
				parts = append(parts, st)
				if n > 1 {
					cfg.Venues = append(cfg.Venues, VenueMetrics{Name: name, Gateway: func() feed.GatewayStats { return st },
						REST: func() httpx.Stats { return httpx.Stats{} }, Dials: func() wsconn.BudgetStats { return wsconn.BudgetStats{} },
						BookSymbols: []string{"BTCUSDT"}})
				}
			}
			cfg.Gateway = func() feed.GatewayStats {
				var s feed.GatewayStats
				for _, p := range parts {
					s.Events += p.Events
					s.BooksInSync += p.BooksInSync
					s.Sessions = append(s.Sessions, p.Sessions...)
				}
				return s
			}
			m, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			for m.sampler.lastSnapshot() == nil { // the sampler's own first sample, then it sleeps for an hour
				time.Sleep(time.Millisecond)
			}
			now := time.Now()
			for i := range n {
				m.ObserveAt(&feed.Event{Type: feed.TypeBookSnapshot, Derived: true, Venue: "venue" + strconv.Itoa(i), Symbol: "BTCUSDT",
					ReceiveTime: now.UnixNano()}, now)
			}
			var size int
			b.ReportAllocs()
			for b.Loop() {
				js, err := json.Marshal(m.sampler.take(time.Now()))
				if err != nil {
					b.Fatal(err)
				}
				size = len(js)
			}
			b.ReportMetric(float64(size), "json-bytes")
		})
	}
}
