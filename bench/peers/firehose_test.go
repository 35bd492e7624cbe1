package peers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	binance "github.com/adshao/go-binance/v2"
	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	fk "github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	fkbinance "github.com/feedkeeper/feedkeeper/venue/binance"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

var firehoseSymbols = []string{"BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"}

// firehose is what the simulator sends and the clients subscribe to.
type firehose struct {
	name       string
	symbols    []string
	depth      bool    // the @depth@100ms streams too
	tradeShare float64 // of the market updates, the share that are trades
}

// aggOnly is the aggTrade streams of 4 symbols, every update a trade.
var aggOnly = firehose{name: "aggTrade", symbols: firehoseSymbols, tradeShare: 1}

// aggDepth is aggTrade and diff depth (@depth@100ms) of 50 symbols, half
// the updates trades: 500 depth frames a second, each carrying the levels
// changed in its 100 ms (about 100 at 100 k updates a second).
var aggDepth = firehose{name: "aggTrade+depth", symbols: manySymbols(50), depth: true, tradeShare: 0.5}

func manySymbols(n int) []string {
	syms := slices.Clone(firehoseSymbols)
	for i := len(syms); i < n; i++ {
		syms = append(syms, fmt.Sprintf("SYM%03dUSDT", i))
	}
	return syms
}

func (f firehose) streams() []string {
	var streams []string
	for _, s := range f.symbols {
		streams = append(streams, strings.ToLower(s)+"@aggTrade")
		if f.depth {
			streams = append(streams, strings.ToLower(s)+"@depth@100ms")
		}
	}
	return streams
}

// startSimChild runs a simulator in a child process (so each client's CPU
// is measured apart from the server's) with the CA of certDir, which this
// process trusts through SSL_CERT_FILE.
func startSimChild(b *testing.B, f firehose, rate int, faults ...string) (ws, rest string) {
	b.Helper()
	cfg := sim.Config{Rate: rate, TradeShare: f.tradeShare, Levels: 200, History: 100000,
		Symbols: f.symbols, PingInterval: time.Hour, CertDir: certDir}
	for _, spec := range faults {
		f, err := sim.ParseFault(spec)
		if err != nil {
			b.Fatal(err)
		}
		cfg.Faults = append(cfg.Faults, f)
	}
	c := simtest.StartChild(b, cfg)
	return c.WS, c.REST
}

// resetPeakRSS resets the kernel's high-water mark of this process's
// resident memory (VmHWM), so each client's peak is its own.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// client is one way of consuming a firehose: start connects and counts
// each message (a trade, or a depth diff frame) in n; the returned func
// stops it.
type client struct {
	name  string
	start func(b *testing.B, f firehose, ws, rest string, n *atomic.Int64) (stop func())
}

var clients = []client{
	{"feedkeeper", startFeedkeeper},
	{"go-binance", startGoBinance},
	{"gorilla+encoding-json", startGorillaJSON},
}

func startFeedkeeper(b *testing.B, f firehose, ws, rest string, n *atomic.Int64) func() {
	return startFeedkeeperWith(b, f, ws, rest, n, nil)
}

// startFeedkeeperWith also hands every event to observe, when not nil.
// Depth diffs go through book sync (snapshot, chain checks, the local
// book): feedkeeper does more with each frame than its peers, which only
// decode.
func startFeedkeeperWith(b *testing.B, f firehose, ws, rest string, n *atomic.Int64, observe func(*fk.Event)) func() {
	tlsCfg, err := httpx.TLSConfig(os.Getenv("SSL_CERT_FILE"))
	if err != nil {
		b.Fatal(err)
	}
	rc, err := httpx.New(fkbinance.RESTConfig(httpx.Config{BaseURL: rest, TLS: tlsCfg}))
	if err != nil {
		b.Fatal(err)
	}
	syms, err := fkbinance.LoadSymbols(context.Background(), rc, f.symbols)
	if err != nil {
		b.Fatal(err)
	}
	recovery, err := fkbinance.NewRecovery(rc, syms, false)
	if err != nil {
		b.Fatal(err)
	}
	venue, err := fkbinance.NewSpot(fkbinance.SpotConfig{WSURL: ws, Symbols: syms})
	if err != nil {
		b.Fatal(err)
	}
	g, err := fk.OpenGateway(fk.GatewayConfig{
		Venue: venue, Streams: f.streams(), TLS: tlsCfg, Session: wsconn.Config{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Dials: rate.NewLimiter(100, 10), Recovery: recovery,
		Handler: func(ev *fk.Event) {
			if ev.Type == fk.TypeTrade || (ev.Type == fk.TypeBookDelta && !ev.Derived) {
				n.Add(1)
			}
			if observe != nil {
				observe(ev)
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	return func() {
		g.Close()
		rc.Close()
	}
}

// startGoBinance uses go-binance's combined streams, one connection for
// the aggTrades and one for the depth diffs (its API has no mixed one).
func startGoBinance(b *testing.B, f firehose, ws, rest string, n *atomic.Int64) func() {
	binance.BaseCombinedMainURL = ws + "/stream?streams="
	done, stop, err := binance.WsCombinedAggTradeServe(f.symbols, func(ev *binance.WsAggTradeEvent) {
		n.Add(1)
	}, func(err error) {})
	if err != nil {
		b.Fatal(err)
	}
	stops := []func(){func() { close(stop); <-done }}
	if f.depth {
		done, stop, err := binance.WsCombinedDepthServe100Ms(f.symbols, func(ev *binance.WsDepthEvent) {
			n.Add(1)
		}, func(err error) {})
		if err != nil {
			b.Fatal(err)
		}
		stops = append(stops, func() { close(stop); <-done })
	}
	return func() {
		for _, stop := range stops {
			stop()
		}
	}
}

// startGorillaJSON is what a user writes by hand: gorilla/websocket's
// ReadMessage and encoding/json into structs, prices as strings, the
// combined wrapper first and its data by event type.
func startGorillaJSON(b *testing.B, f firehose, ws, rest string, n *atomic.Int64) func() {
	c, _, err := websocket.DefaultDialer.Dial(ws+"/stream?streams="+strings.Join(f.streams(), "/"), nil)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var msg struct {
			Stream string          `json:"stream"`
			Data   json.RawMessage `json:"data"`
		}
		var trade struct {
			Event   string `json:"e"`
			Time    int64  `json:"E"`
			Symbol  string `json:"s"`
			ID      int64  `json:"a"`
			Price   string `json:"p"`
			Qty     string `json:"q"`
			First   int64  `json:"f"`
			Last    int64  `json:"l"`
			Trade   int64  `json:"T"`
			IsMaker bool   `json:"m"`
			Ignore  bool   `json:"M"`
		}
		var depth struct {
			Event  string      `json:"e"`
			Time   int64       `json:"E"`
			Symbol string      `json:"s"`
			First  int64       `json:"U"`
			Last   int64       `json:"u"`
			Bids   [][2]string `json:"b"`
			Asks   [][2]string `json:"a"`
		}
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			if json.Unmarshal(b, &msg) != nil {
				continue
			}
			switch {
			case strings.HasSuffix(msg.Stream, "@aggTrade"):
				if json.Unmarshal(msg.Data, &trade) == nil && trade.Event == "aggTrade" {
					n.Add(1)
				}
			case strings.Contains(msg.Stream, "@depth"):
				if json.Unmarshal(msg.Data, &depth) == nil && depth.Event == "depthUpdate" {
					n.Add(1)
				}
			}
		}
	}()
	return func() {
		c.Close()
		<-done
	}
}

// BenchmarkFirehose runs feedkeeper and its peers, one after the other, on
// the same firehoses from a simulator in a child process: the aggTrade
// streams of 4 symbols (every market update a trade), and the aggTrade and
// diff depth streams of 50 symbols. It reports each client's CPU (user +
// system of this process) per message (a trade or a depth frame), messages
// a second, heap allocations per message and peak RSS. Run with
// -benchtime=1x: each client streams for 3 seconds after a warm-up.
func BenchmarkFirehose(b *testing.B) {
	for _, f := range []firehose{aggOnly, aggDepth} {
		for _, updates := range []int{50000, 100000} {
			for _, cl := range clients {
				b.Run(fmt.Sprintf("%s/updates=%dk/%s", f.name, updates/1000, cl.name), func(b *testing.B) {
					ws, rest := startSimChild(b, f, updates)
					runtime.GC()
					resetPeakRSS()
					var n atomic.Int64
					stop := cl.start(b, f, ws, rest, &n)
					defer stop()
					deadline := time.Now().Add(10 * time.Second)
					for n.Load() < 20000 {
						if time.Now().After(deadline) {
							b.Fatalf("%s: only %d messages in 10 s", cl.name, n.Load())
						}
						time.Sleep(10 * time.Millisecond)
					}
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						var m0, m1 runtime.MemStats
						runtime.ReadMemStats(&m0)
						n0, c0, t0 := n.Load(), simtest.CPUTime(), time.Now()
						time.Sleep(3 * time.Second)
						n1, c1, t1 := n.Load(), simtest.CPUTime(), time.Now()
						runtime.ReadMemStats(&m1)
						msgs := float64(n1 - n0)
						b.ReportMetric(float64(c1-c0)/msgs, "cpu-ns/msg")
						b.ReportMetric(msgs/t1.Sub(t0).Seconds(), "msgs/s")
						b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/msgs, "allocs/msg")
						b.ReportMetric(float64(simtest.ProcStatus(os.Getpid(), "VmHWM"))/(1<<20), "peak-RSS-MiB")
					}
				})
			}
		}
	}
}
