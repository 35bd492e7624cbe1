package feed_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue/binance"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// firehoseSim is the simulator the benchmarks run in a child process:
// every market update a trade, on 4 symbols.
func firehoseSim(rate int) sim.Config {
	return sim.Config{Rate: rate, TradeShare: 1, Levels: 200, History: 1000,
		Symbols: []string{"BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"}, PingInterval: time.Hour}
}

func manySymbols(n int) []string {
	syms := make([]string, n)
	for i := range syms {
		syms[i] = fmt.Sprintf("S%03dUSDT", i)
	}
	return syms
}

// BenchmarkIdleConnections holds 1000 idle sessions (one connection and
// one quiet stream each) to a simulator in another process, and reports
// the client's heap and stacks per connection, and the server's resident
// memory per connection.
func BenchmarkIdleConnections(b *testing.B) {
	const n = 1000
	child := simtest.StartChild(b, firehoseSim(-1))
	ws := child.WS
	tlsCfg, err := httpx.TLSConfig(child.CAFile)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		server0 := simtest.ProcStatus(child.Pid, "VmRSS")
		sessions := make([]*wsconn.Session, n)
		var up atomic.Int64
		for j := range sessions {
			sess, err := wsconn.Open(wsconn.Config{URL: ws + "/ws/btcusdt@aggTrade", TLS: tlsCfg, Logger: quiet(),
				Dials: rate.NewLimiter(2000, 100), PingInterval: time.Minute},
				func(f *wsconn.Frame) {
					if f.Kind == wsconn.Connected {
						up.Add(1)
					}
				})
			if err != nil {
				b.Fatal(err)
			}
			sessions[j] = sess
		}
		waitFor(b, time.Minute, "1000 connections", func() bool { return up.Load() == n })
		time.Sleep(time.Second)
		runtime.GC()
		runtime.ReadMemStats(&after)
		client := float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)
		b.ReportMetric(client/n, "client-B/conn")
		b.ReportMetric(float64(simtest.ProcStatus(child.Pid, "VmRSS")-server0)/n, "server-RSS-B/conn")
		for _, s := range sessions {
			s.Close()
		}
	}
}

// BenchmarkGatewayFirehose measures the client's CPU per message end to
// end: TLS, WebSocket frames, decoding, sequencing and a discarding
// handler, with the simulator in another process sending every aggTrade
// and trade stream of 4 symbols. Reported: cpu-ns/msg (user + system CPU
// of this process per message) and msgs/s.
//
// conns=4 spreads the same streams over four connections (two each), whose
// frames are decoded in parallel, each in its connection's goroutine.
func BenchmarkGatewayFirehose(b *testing.B) {
	for _, run := range []struct{ updates, perConn int }{{25000, 1024}, {50000, 1024}, {50000, 2}} {
		name := fmt.Sprintf("updates=%dk/s", run.updates/1000)
		if run.perConn == 2 {
			name += "/conns=4"
		}
		b.Run(name, func(b *testing.B) {
			child := simtest.StartChild(b, firehoseSim(run.updates))
			ws, rest, caFile := child.WS, child.REST, child.CAFile

			var msgs atomic.Int64
			var streams []string
			for _, s := range []string{"btcusdt", "ethusdt", "bnbusdt", "solusdt"} {
				streams = append(streams, s+"@aggTrade", s+"@trade")
			}
			g := openGatewayWith(b, ws, rest, caFile, streams, run.perConn, func(c *feed.GatewayConfig) {
				c.Handler = func(ev *feed.Event) {
					if ev.Type == feed.TypeTrade {
						msgs.Add(1)
					}
				}
			})
			defer g.Close()
			waitFor(b, 10*time.Second, "the firehose", func() bool { return msgs.Load() > 10000 })
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m0, c0, t0 := msgs.Load(), simtest.CPUTime(), time.Now()
				time.Sleep(2 * time.Second)
				m1, c1, t1 := msgs.Load(), simtest.CPUTime(), time.Now()
				n := float64(m1 - m0)
				b.ReportMetric(float64(c1-c0)/n, "cpu-ns/msg")
				b.ReportMetric(n/t1.Sub(t0).Seconds(), "msgs/s")
			}
			b.StopTimer()
			st := g.Stats()
			for _, ss := range st.Sessions {
				if st.Gaps != 0 || ss.Dropped != 0 {
					b.Fatalf("the client fell behind: %d gaps, %d frames dropped", st.Gaps, ss.Dropped)
				}
			}
		})
	}
}

// BenchmarkThousandStreams holds 1000 streams (100 symbols × aggTrade,
// trade, bookTicker, depth@100ms and six partial depths) over 5
// connections, books kept in sync, and reports this process's resident
// memory, live heap and goroutines once everything runs.
func BenchmarkThousandStreams(b *testing.B) {
	cfg := firehoseSim(2000)
	cfg.Symbols, cfg.TradeShare, cfg.Levels = manySymbols(100), 0.3, 100
	child := simtest.StartChild(b, cfg)
	ws, rest, caFile := child.WS, child.REST, child.CAFile
	var streams []string
	for _, sym := range manySymbols(100) {
		l := strings.ToLower(sym)
		for _, k := range []string{"aggTrade", "trade", "bookTicker", "depth@100ms", "depth5", "depth10", "depth20",
			"depth5@100ms", "depth10@100ms", "depth20@100ms"} {
			streams = append(streams, l+"@"+k)
		}
	}
	for i := 0; i < b.N; i++ {
		tlsCfg, err := httpx.TLSConfig(caFile)
		if err != nil {
			b.Fatal(err)
		}
		rc, err := httpx.New(binance.RESTConfig(httpx.Config{BaseURL: rest, TLS: tlsCfg}))
		if err != nil {
			b.Fatal(err)
		}
		syms, err := binance.LoadSymbols(context.Background(), rc, binance.SymbolsOfStreams(streams))
		if err != nil {
			b.Fatal(err)
		}
		recovery, err := binance.NewRecovery(rc, syms, false)
		if err != nil {
			b.Fatal(err)
		}
		venue, err := binance.NewSpot(binance.SpotConfig{WSURL: ws, Symbols: syms})
		if err != nil {
			b.Fatal(err)
		}
		var events atomic.Int64
		g, err := feed.OpenGateway(feed.GatewayConfig{Venue: venue, Streams: streams, TLS: tlsCfg, Logger: quiet(),
			Recovery: recovery, RecoveryConfig: feed.RecoveryConfig{DepthLimit: 100},
			Handler: func(*feed.Event) { events.Add(1) }})
		if err != nil {
			b.Fatal(err)
		}
		waitFor(b, time.Minute, "100 books in sync", func() bool { return g.Stats().BooksInSync == 100 })
		time.Sleep(3 * time.Second)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(simtest.ProcStatus(os.Getpid(), "VmRSS"))/(1<<20), "RSS-MiB")
		b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
		b.ReportMetric(float64(len(g.Stats().Sessions)), "connections")
		g.Close()
		rc.Close()
		if events.Load() == 0 {
			b.Fatal("no events")
		}
	}
}
