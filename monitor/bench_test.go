package monitor_test

import (
	"io"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/monitor"
)

// BenchmarkObserve is the cost Observe adds to every event: a trade with
// an exchange time, so both histograms and the symbol's last trade move.
func BenchmarkObserve(b *testing.B) {
	mon, err := monitor.New(monitor.Config{Addr: "127.0.0.1:0", Logger: quiet(), SampleInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer mon.Close()
	now := time.Now()
	ev := &feed.Event{Type: feed.TypeTrade, Venue: "binance", Symbol: "BTCUSDT", Aggregated: true, Price: 5942827, Qty: 1865,
		PriceScale: 2, QtyScale: 5, Side: feed.SideBuy, ExchangeTime: now.Add(-time.Millisecond).UnixNano(), ReceiveTime: now.UnixNano()}
	handed := now.Add(20 * time.Microsecond)
	mon.ObserveAt(ev, handed)
	b.ReportAllocs()
	for b.Loop() {
		ev.ID++
		mon.ObserveAt(ev, handed)
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	mon, err := monitor.New(monitor.Config{Addr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	now := time.Now()
	evs := []*feed.Event{
		{Type: feed.TypeTrade, Venue: "binance", Symbol: "BTCUSDT", ExchangeTime: now.UnixNano(), ReceiveTime: now.UnixNano()},
		{Type: feed.TypeTopOfBook, Venue: "binance", Symbol: "BTCUSDT", ReceiveTime: now.UnixNano()},
		{Type: feed.TypeBookDelta, Venue: "binance", Symbol: "ETHUSDT", ExchangeTime: now.UnixNano(), ReceiveTime: now.UnixNano()},
	}
	for _, ev := range evs {
		mon.Observe(ev)
	}
	// the count is the process's: wait for the dashboard's first sample,
	// whose one-time setup allocates, to be taken
	c := newClient(t)
	waitFor(t, 10*time.Second, "the first sample", func() bool {
		resp, err := c.Get(mon.URL() + "api/snapshot")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return len(b) > 2
	})
	c.CloseIdleConnections()
	if n := testing.AllocsPerRun(1000, func() {
		for _, ev := range evs {
			mon.Observe(ev)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}
