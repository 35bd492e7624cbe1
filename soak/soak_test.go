package soak

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/feedkeeper/feedkeeper/feed"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// samples makes one sample a second for n seconds, the heap growing by
// heapPerSec, then a final sample taken after Close.
func samples(n int, heapPerSec int64, goroutinesAfter int) []Sample {
	var ss []Sample
	for i := 0; i <= n; i++ {
		ss = append(ss, Sample{T: float64(i), Heap: 10<<20 + int64(i)*heapPerSec, RSS: 30 << 20, Goroutines: 20, FDs: 12})
	}
	return append(ss, Sample{T: float64(n) + 0.2, Heap: 10 << 20, Goroutines: goroutinesAfter, FDs: 8})
}

func TestJudge(t *testing.T) {
	cfg := Config{WSURL: "wss://x", RESTURL: "https://x", Streams: []string{"btcusdt@aggTrade"}, Duration: time.Minute}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	base := Sample{Goroutines: 8, FDs: 8}
	cases := []struct {
		name    string
		r       Report
		pass    bool
		failure string
	}{
		{"flat", Report{Baseline: base, Samples: samples(60, 0, 8), Trades: 100}, true, ""},
		{"heap leak", Report{Baseline: base, Samples: samples(60, 100<<10, 8), Trades: 100}, false, "live heap grew"},
		{"goroutine leak", Report{Baseline: base, Samples: samples(60, 0, 30), Trades: 100}, false, "goroutines more"},
		{"lost trades", Report{Baseline: base, Samples: samples(60, 0, 8), Trades: 100, Lost: 3}, false, "never delivered"},
		{"duplicates", Report{Baseline: base, Samples: samples(60, 0, 8), Trades: 100, Duplicates: 1}, false, "twice"},
		{"no data", Report{Baseline: base, Samples: samples(60, 0, 8)}, false, "no trade"},
	}
	for _, tc := range cases {
		r := tc.r
		r.judge(cfg)
		if r.Pass != tc.pass || (tc.failure != "" && !strings.Contains(strings.Join(r.Failures, ";"), tc.failure)) {
			t.Errorf("%s: pass %v failures %v", tc.name, r.Pass, r.Failures)
		}
	}
	r := Report{Baseline: base, Samples: samples(60, 100<<10, 8), Trades: 1}
	r.judge(cfg)
	if got := r.Slopes.Heap; got < 6.1e6 || got > 6.2e6 {
		t.Fatalf("heap slope %v B/min, want 100 KiB/s × 60", got)
	}
	var html bytes.Buffer
	if err := r.WriteHTML(&html); err != nil || !strings.Contains(html.String(), "FAIL") {
		t.Fatalf("html: %v", err)
	}
}

func TestTradeCheck(t *testing.T) {
	tc := &tradeCheck{last: map[tradeSeq]int64{}}
	for _, id := range []int64{10, 11, 11, 12, 15, 16, 14} {
		tc.handle(tradeEvent("BTCUSDT", id))
	}
	tc.handle(tradeEvent("ETHUSDT", 500))
	// another venue's trades of the same symbol are a sequence of their own
	fut := tradeEvent("BTCUSDT", 3)
	fut.Venue = "binance-usdm"
	tc.handle(fut)
	if tc.trades != 9 || tc.lost != 2 || tc.duplicates != 2 {
		t.Fatalf("trades %d lost %d duplicates %d; want 9, 2, 2", tc.trades, tc.lost, tc.duplicates)
	}
	// IDs a gap event announces are said, not lost: during the run a
	// failure of its own, at Close the end of a wait cut short
	gap := &feed.Event{Type: feed.TypeGap, Missing: feed.TypeTrade, Aggregated: true, Venue: "binance", Symbol: "BTCUSDT", FirstID: 17, ID: 18}
	tc.handle(gap)
	tc.handle(tradeEvent("BTCUSDT", 19))
	tc.closing = true
	gap.FirstID, gap.ID = 20, 22
	tc.handle(gap)
	tc.handle(tradeEvent("BTCUSDT", 23))
	if tc.lost != 2 || tc.announced != 2 || tc.atClose != 3 {
		t.Fatalf("lost %d, announced %d, at close %d; want 2, 2, 3", tc.lost, tc.announced, tc.atClose)
	}
}

func tradeEvent(sym string, id int64) *feed.Event {
	return &feed.Event{Type: feed.TypeTrade, Aggregated: true, Venue: "binance", Symbol: sym, ID: id}
}
