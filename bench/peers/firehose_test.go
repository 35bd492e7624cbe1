package peers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
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

// startSimChild runs a simulator in a child process (so each client's CPU
// is measured apart from the server's) with the CA of certDir, which this
// process trusts through SSL_CERT_FILE: every market update a trade.
func startSimChild(b *testing.B, rate int, faults ...string) (ws, rest string) {
	b.Helper()
	cfg := sim.Config{Rate: rate, TradeShare: 1, Levels: 200, History: 100000,
		Symbols: firehoseSymbols, PingInterval: time.Hour, CertDir: certDir}
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

// client is one way of consuming the aggTrade streams of firehoseSymbols:
// start connects and counts each trade in n; the returned func stops it.
type client struct {
	name  string
	start func(b *testing.B, ws, rest string, n *atomic.Int64) (stop func())
}

var clients = []client{
	{"feedkeeper", startFeedkeeper},
	{"go-binance", startGoBinance},
	{"gorilla+encoding-json", startGorillaJSON},
}

func aggTradeStreams() []string {
	var streams []string
	for _, s := range firehoseSymbols {
		streams = append(streams, strings.ToLower(s)+"@aggTrade")
	}
	return streams
}

func startFeedkeeper(b *testing.B, ws, rest string, n *atomic.Int64) func() {
	return startFeedkeeperWith(b, ws, rest, n, nil)
}

// startFeedkeeperWith also hands every event to observe, when not nil.
func startFeedkeeperWith(b *testing.B, ws, rest string, n *atomic.Int64, observe func(*fk.Event)) func() {
	tlsCfg, err := httpx.TLSConfig(os.Getenv("SSL_CERT_FILE"))
	if err != nil {
		b.Fatal(err)
	}
	rc, err := httpx.New(fkbinance.RESTConfig(httpx.Config{BaseURL: rest, TLS: tlsCfg}))
	if err != nil {
		b.Fatal(err)
	}
	syms, err := fkbinance.LoadSymbols(context.Background(), rc, firehoseSymbols)
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
		Venue: venue, Streams: aggTradeStreams(), TLS: tlsCfg, Session: wsconn.Config{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Dials: rate.NewLimiter(100, 10), Recovery: recovery,
		Handler: func(ev *fk.Event) {
			if ev.Type == fk.TypeTrade {
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

func startGoBinance(b *testing.B, ws, rest string, n *atomic.Int64) func() {
	binance.BaseCombinedMainURL = ws + "/stream?streams="
	done, stop, err := binance.WsCombinedAggTradeServe(firehoseSymbols, func(ev *binance.WsAggTradeEvent) {
		n.Add(1)
	}, func(err error) {})
	if err != nil {
		b.Fatal(err)
	}
	return func() {
		close(stop)
		<-done
	}
}

// startGorillaJSON is what a user writes by hand: gorilla/websocket's
// ReadMessage and encoding/json into a struct, prices as strings.
func startGorillaJSON(b *testing.B, ws, rest string, n *atomic.Int64) func() {
	c, _, err := websocket.DefaultDialer.Dial(ws+"/stream?streams="+strings.Join(aggTradeStreams(), "/"), nil)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var msg struct {
			Stream string `json:"stream"`
			Data   struct {
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
			} `json:"data"`
		}
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			if json.Unmarshal(b, &msg) == nil && msg.Data.Event == "aggTrade" {
				n.Add(1)
			}
		}
	}()
	return func() {
		c.Close()
		<-done
	}
}

// BenchmarkFirehose runs feedkeeper and its peers, one after the other, on
// the same firehose: the aggTrade streams of 4 symbols from a simulator in
// a child process (every market update a trade). It reports each client's
// CPU (user + system of this process) per message, messages a second and
// heap allocations per message. Run with -benchtime=1x: each client
// streams for 3 seconds after a warm-up.
func BenchmarkFirehose(b *testing.B) {
	for _, updates := range []int{50000, 100000} {
		for _, cl := range clients {
			b.Run(fmt.Sprintf("updates=%dk/%s", updates/1000, cl.name), func(b *testing.B) {
				ws, rest := startSimChild(b, updates)
				runtime.GC()
				resetPeakRSS()
				var n atomic.Int64
				stop := cl.start(b, ws, rest, &n)
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
