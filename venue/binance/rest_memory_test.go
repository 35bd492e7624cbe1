package binance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue/binance"
)

// Memory a hostile REST server may cost the process: above the baseline,
// at the peak while it answers every other request with a body of 200 MiB
// or without end, and once it is sound again.
const (
	hostilePeakHeap = 32 << 20
	hostilePeakRSS  = 64 << 20
	hostileAfter    = 8 << 20
)

// procStatus reads a size field of /proc/self/status ("VmRSS", "VmHWM")
// in bytes; 0 when unknown.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func heapInuse() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// TestHostileRESTMemory runs a gateway's REST calls (depth snapshots of
// 1000 levels, pages of 1000 aggregate trades, back to back) against the
// simulator while rest-huge (200 MiB announced, written as fast as it is
// read, cut at half) and rest-endless (a chunked body without end) answer
// a share of the requests, and checks that the heap in use and the RSS
// stay within a bound over the baseline, and fall back once the faults
// stop. FEEDKEEPER_HOSTILE_SECONDS sets how long the faults last (default 4).
func TestHostileRESTMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures memory for seconds")
	}
	secs := 4
	if s := os.Getenv("FEEDKEEPER_HOSTILE_SECONDS"); s != "" {
		var err error
		if secs, err = strconv.Atoi(s); err != nil || secs < 1 {
			t.Fatalf("FEEDKEEPER_HOSTILE_SECONDS=%q: want a whole number of seconds", s)
		}
	}
	f := newRESTFixture(t, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: -1, TradeShare: 1, Levels: 1000, WeightLimit: 1 << 30, RESTLag: -1},
		httpx.Config{BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	f.s.Advance(20000)
	_, last, _, _ := f.s.LastIDs("BTCUSDT")

	var ok, failed atomic.Int64
	run := func(ctx context.Context) {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { // snapshots, as a book resyncing
			defer wg.Done()
			var ev feed.Event
			for ctx.Err() == nil {
				if err := f.rec.Depth(ctx, "BTCUSDT", 1000, &ev); err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		}()
		go func() { // trade pages, as a backfill
			defer wg.Done()
			var page []feed.Event
			from := last - 10000
			for ctx.Err() == nil {
				var err error
				if page, err = f.rec.AggTrades(ctx, "BTCUSDT", from, 1000, page[:0]); err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		}()
		wg.Wait()
	}
	phase := func(d time.Duration) (peakHeap, peakRSS int64) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				peakHeap, peakRSS = max(peakHeap, heapInuse()), max(peakRSS, procStatus("VmRSS"))
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
		run(ctx)
		<-done
		return peakHeap, peakRSS
	}

	// baseline: the same calls, answered soundly
	phase(time.Second)
	runtime.GC()
	debug.FreeOSMemory()
	baseHeap, baseRSS := heapInuse(), procStatus("VmRSS")
	// the peak RSS from here on (Linux: 5 resets VmHWM)
	hwmReset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	sound := ok.Load()

	if err := f.s.SetFaults(
		sim.Fault{Kind: sim.FaultRESTHuge, Prob: 0.3},
		sim.Fault{Kind: sim.FaultRESTEndless, Prob: 0.4},
	); err != nil {
		t.Fatal(err)
	}
	ok.Store(0)
	failed.Store(0)
	peakHeap, peakRSS := phase(time.Duration(secs) * time.Second)
	hwm := procStatus("VmHWM")
	counts := f.s.FaultCounts()
	okFaulty, failedFaulty := ok.Load(), failed.Load()

	if err := f.s.SetFaults(); err != nil {
		t.Fatal(err)
	}
	ok.Store(0)
	phase(2 * time.Second)
	runtime.GC()
	afterHeap, afterRSS := heapInuse(), procStatus("VmRSS")

	mib := func(n int64) string { return fmt.Sprintf("%+.1f MiB", float64(n)/(1<<20)) }
	t.Logf("baseline: heap in use %.1f MiB, RSS %.1f MiB (%d sound calls in 1s)", float64(baseHeap)/(1<<20), float64(baseRSS)/(1<<20), sound)
	t.Logf("%ds of faults: rest-huge %d, rest-endless %d answers; calls %d passed, %d failed", secs, counts[sim.FaultRESTHuge], counts[sim.FaultRESTEndless], okFaulty, failedFaulty)
	t.Logf("peak over the baseline: heap in use %s, RSS %s (sampled every 10ms), VmHWM %s (reset: %v)", mib(peakHeap-baseHeap), mib(peakRSS-baseRSS), mib(hwm-baseRSS), hwmReset)
	t.Logf("2s after the faults: heap in use %s, RSS %s; %d calls passed", mib(afterHeap-baseHeap), mib(afterRSS-baseRSS), ok.Load())

	if counts[sim.FaultRESTHuge] < 5 || counts[sim.FaultRESTEndless] < 5 {
		t.Fatalf("the faults fired %v: too few to measure", counts)
	}
	if okFaulty == 0 || ok.Load() == 0 {
		t.Fatalf("no call passed (%d during the faults, %d after)", okFaulty, ok.Load())
	}
	if peakHeap-baseHeap > hostilePeakHeap {
		t.Errorf("heap in use peaked %s over the baseline: want at most %s", mib(peakHeap-baseHeap), mib(hostilePeakHeap))
	}
	if peak := max(peakRSS, hwm*map[bool]int64{true: 1}[hwmReset]); peak-baseRSS > hostilePeakRSS {
		t.Errorf("RSS peaked %s over the baseline: want at most %s", mib(peak-baseRSS), mib(hostilePeakRSS))
	}
	if afterHeap-baseHeap > hostileAfter {
		t.Errorf("heap in use %s over the baseline after the faults: want at most %s", mib(afterHeap-baseHeap), mib(hostileAfter))
	}
	if afterRSS-baseRSS > hostilePeakRSS {
		t.Errorf("RSS %s over the baseline after the faults: want at most %s", mib(afterRSS-baseRSS), mib(hostilePeakRSS))
	}
}

// TestMaxBodyMargin checks that the largest answers of the simulator (a
// depth snapshot of 5000 levels a side, pages of 1000 trades, exchangeInfo)
// take at most half of their caps, and that the Recovery passes with them.
func TestMaxBodyMargin(t *testing.T) {
	f := newRESTFixture(t, sim.Config{Symbols: []string{"BTCUSDT", "ETHUSDT"}, Rate: -1, TradeShare: 1, Levels: 5000, WeightLimit: 1 << 30, RESTLag: -1}, httpx.Config{})
	f.s.Advance(5000)
	_, last, lastTrade, err := f.s.LastIDs("BTCUSDT")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path  string
		query url.Values
		min   int // the answer is at least this long: it is the largest
	}{
		{"/api/v3/depth", url.Values{"symbol": {"BTCUSDT"}, "limit": {"5000"}}, 300 << 10},
		{"/api/v3/aggTrades", url.Values{"symbol": {"BTCUSDT"}, "fromId": {strconv.FormatInt(last-2000, 10)}, "limit": {"1000"}}, 70 << 10},
		{"/api/v3/historicalTrades", url.Values{"symbol": {"BTCUSDT"}, "fromId": {strconv.FormatInt(lastTrade-2000, 10)}, "limit": {"1000"}}, 100 << 10},
		{"/api/v3/exchangeInfo", url.Values{"symbol": {"BTCUSDT"}}, 1 << 10},
		{"/api/v3/exchangeInfo", url.Values{"symbols": {`["BTCUSDT","ETHUSDT"]`}}, 2 << 10},
	} {
		var raw json.RawMessage
		if _, err := f.rest.Get(context.Background(), c.path, c.query, &raw); err != nil {
			t.Fatalf("%s?%s: %v", c.path, c.query.Encode(), err)
		}
		capBytes := binance.MaxBody(c.path, c.query)
		t.Logf("%s?%s: %d bytes, cap %d", c.path, c.query.Encode(), len(raw), capBytes)
		if len(raw) < c.min || int64(len(raw)) > capBytes/2 {
			t.Errorf("%s?%s: %d bytes of a cap of %d: want at least %d, at most half the cap", c.path, c.query.Encode(), len(raw), capBytes, c.min)
		}
	}
	var ev feed.Event
	if err := f.rec.Depth(context.Background(), "BTCUSDT", 5000, &ev); err != nil || len(ev.Bids) != 5000 {
		t.Fatalf("depth of 5000: %d bids, %v", len(ev.Bids), err)
	}
	if page, err := f.rec.AggTrades(context.Background(), "BTCUSDT", last-2000, 1000, nil); err != nil || len(page) != 1000 {
		t.Fatalf("aggTrades page: %d, %v", len(page), err)
	}
}
