package peers

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	binance "github.com/adshao/go-binance/v2"
	"github.com/gorilla/websocket"

	fk "github.com/feedkeeper/feedkeeper/feed"
)

// idTracker follows aggTrade IDs per symbol as a client delivers them:
// IDs never delivered between the first and the last, and how long the
// stream was silent after each hole began.
type idTracker struct {
	mu      sync.Mutex
	seen    map[string]map[int64]bool
	lastAt  time.Time
	longest time.Duration
}

func newIDTracker() *idTracker { return &idTracker{seen: map[string]map[int64]bool{}} }

func (t *idTracker) add(sym string, id int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if !t.lastAt.IsZero() && now.Sub(t.lastAt) > t.longest {
		t.longest = now.Sub(t.lastAt)
	}
	t.lastAt = now
	m := t.seen[sym]
	if m == nil {
		m = map[int64]bool{}
		t.seen[sym] = m
	}
	m[id] = true
}

// lost counts the IDs missing between the first and last of each symbol.
func (t *idTracker) lost() (lost, delivered int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range t.seen {
		lo, hi := int64(1<<62), int64(0)
		for id := range m {
			lo, hi = min(lo, id), max(hi, id)
		}
		delivered += int64(len(m))
		lost += hi - lo + 1 - int64(len(m))
	}
	return lost, delivered
}

// faultClients consume the same streams and reconnect by themselves the
// way their users do: feedkeeper on its own, the peers in a loop.
var faultClients = []struct {
	name  string
	start func(b *testing.B, ws, rest string, t *idTracker) func()
}{
	{"feedkeeper", func(b *testing.B, ws, rest string, t *idTracker) func() {
		var n atomic.Int64
		return startFeedkeeperWith(b, aggOnly, ws, rest, &n, func(ev *fk.Event) {
			if ev.Type == fk.TypeTrade && ev.Aggregated {
				t.add(ev.Symbol, ev.ID)
			}
		})
	}},
	{"go-binance", func(b *testing.B, ws, rest string, t *idTracker) func() {
		binance.BaseCombinedMainURL = ws + "/stream?streams="
		stopAll := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				done, stop, err := binance.WsCombinedAggTradeServe(firehoseSymbols, func(ev *binance.WsAggTradeEvent) {
					t.add(ev.Symbol, ev.AggTradeID)
				}, func(error) {})
				if err != nil {
					select {
					case <-stopAll:
						return
					case <-time.After(100 * time.Millisecond):
						continue
					}
				}
				select {
				case <-done: // the connection ended: reconnect, as users do
				case <-stopAll:
					close(stop)
					<-done
					return
				}
			}
		}()
		return func() { close(stopAll); wg.Wait() }
	}},
	{"gorilla+encoding-json", func(b *testing.B, ws, rest string, t *idTracker) func() {
		stopAll := make(chan struct{})
		var mu sync.Mutex
		var cur *websocket.Conn
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stopAll:
					return
				default:
				}
				c, _, err := websocket.DefaultDialer.Dial(ws+"/stream?streams="+strings.Join(aggOnly.streams(), "/"), nil)
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				mu.Lock()
				cur = c
				mu.Unlock()
				var msg struct {
					Data struct {
						Symbol string `json:"s"`
						ID     int64  `json:"a"`
					} `json:"data"`
				}
				for {
					_, b, err := c.ReadMessage()
					if err != nil {
						break
					}
					if json.Unmarshal(b, &msg) == nil && msg.Data.ID != 0 {
						t.add(msg.Data.Symbol, msg.Data.ID)
					}
				}
				c.Close()
			}
		}()
		return func() {
			close(stopAll)
			mu.Lock()
			if cur != nil {
				cur.Close()
			}
			mu.Unlock()
			wg.Wait()
		}
	}},
}

// BenchmarkFaults runs each client for 12 seconds on the same stream while
// the simulator drops every connection every 3 seconds, and reports the
// trade IDs lost and the longest silence (the time to recover). Run with
// -benchtime=1x.
func BenchmarkFaults(b *testing.B) {
	for _, cl := range faultClients {
		b.Run(cl.name, func(b *testing.B) {
			ws, rest := startSimChild(b, aggOnly, 2000, "drop:every=3s")
			for i := 0; i < b.N; i++ {
				t := newIDTracker()
				stop := cl.start(b, ws, rest, t)
				time.Sleep(12 * time.Second)
				stop()
				lost, delivered := t.lost()
				b.ReportMetric(float64(lost), "lost")
				b.ReportMetric(float64(delivered), "delivered")
				b.ReportMetric(float64(t.longest.Milliseconds()), "longest-silence-ms")
				if delivered == 0 {
					b.Fatal(fmt.Sprintf("%s delivered nothing", cl.name))
				}
			}
		})
	}
}
