package sim

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// dialMany opens n idle connections subscribed to one quiet stream each.
func dialMany(tb testing.TB, s *Server, n int) []*websocket.Conn {
	tb.Helper()
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	d := dialer(s)
	d.HandshakeTimeout = time.Minute // 1000 handshakes on 2 cores, under the race detector too
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, _, err := d.Dial(s.WSURL()+"/ws/btcusdt@aggTrade", nil)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return conns
}

// TestThousandConnections holds 1000 connections at once and checks that
// every one of them is served.
func TestThousandConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1000 connections")
	}
	s := startSim(t, Config{Rate: -1, Symbols: []string{"BTCUSDT"}, PingInterval: time.Hour, ConnAttemptLimit: 1 << 20})
	conns := dialMany(t, s, 1000)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	waitFor(t, 10*time.Second, func() bool { return len(s.Conns()) == 1000 })
	var wg sync.WaitGroup
	failed := make(chan error, len(conns))
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"method":"LIST_SUBSCRIPTIONS","id":%d}`, i)))
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, msg, err := c.ReadMessage()
			if err == nil && !strings.Contains(string(msg), `"result":["btcusdt@aggTrade"]`) {
				err = fmt.Errorf("connection %d answered %s", i, msg)
			}
			if err != nil {
				failed <- err
			}
		}()
	}
	wg.Wait()
	close(failed)
	for err := range failed {
		t.Fatal(err)
	}
}

// BenchmarkIdleConnection reports the simulator's heap per idle
// connection (TLS, WebSocket, queue, goroutines' stacks are not in the heap
// but are reported by the goroutine count: two per connection).
func BenchmarkIdleConnection(b *testing.B) {
	const n = 1000
	s := startSim(b, Config{Rate: -1, Symbols: []string{"BTCUSDT"}, PingInterval: time.Hour, ConnAttemptLimit: 1 << 20})
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		conns := dialMany(b, s, n)
		waitFor(b, 10*time.Second, func() bool { return len(s.Conns()) == n })
		// the client side's own memory is in the same heap: measure it apart
		runtime.GC()
		runtime.ReadMemStats(&after)
		total := float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)
		b.ReportMetric(total/n, "B/conn(client+server)")
		b.ReportMetric(float64(runtime.NumGoroutine()-g0)/n, "goroutines/conn")
		for _, c := range conns {
			c.Close()
		}
		waitFor(b, 10*time.Second, func() bool { return len(s.Conns()) == 0 })
	}
}

// BenchmarkFirehose measures the messages a second the simulator sends to
// one client reading every aggTrade and trade stream, with the market
// running at a fixed rate (every update a trade: two messages each). The
// achieved rate equals the target when neither side is the bottleneck.
// Run with -benchtime=1x: each sub-benchmark streams for 3 seconds.
func BenchmarkFirehose(b *testing.B) {
	for _, rate := range []int{50000, 100000, 150000} {
		b.Run(fmt.Sprintf("target=%dk_msgs", 2*rate/1000), func(b *testing.B) {
			syms := []string{"BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"}
			s := startSim(b, Config{Rate: rate, Symbols: syms, TradeShare: 1, Levels: 200, ConnAttemptLimit: 1 << 20})
			var streams []string
			for _, sym := range syms {
				streams = append(streams, strings.ToLower(sym)+"@aggTrade", strings.ToLower(sym)+"@trade")
			}
			c := dial(b, s, "/stream?streams="+strings.Join(streams, "/"))
			var buf [4096]byte
			read := func(until time.Time) int {
				n := 0
				c.SetReadDeadline(until.Add(5 * time.Second))
				for time.Now().Before(until) {
					_, r, err := c.NextReader()
					if err != nil {
						b.Fatalf("after %d messages: %v", n, err)
					}
					for {
						if _, err := r.Read(buf[:]); err != nil {
							break
						}
					}
					n++
				}
				return n
			}
			read(time.Now().Add(500 * time.Millisecond)) // warm up
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				n := read(start.Add(3 * time.Second))
				b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
			}
		})
	}
}
