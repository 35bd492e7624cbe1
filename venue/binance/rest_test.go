package binance_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue/binance"
)

// restFixture is a Recovery against a simulator, built as `feedkeeper run`
// builds it.
type restFixture struct {
	s    *sim.Server
	rest *httpx.Client
	syms *binance.Symbols
	rec  *binance.Recovery
}

func newRESTFixture(tb testing.TB, scfg sim.Config, hcfg httpx.Config) *restFixture {
	tb.Helper()
	s := simtest.Start(tb, scfg)
	tlsCfg, err := httpx.TLSConfig(simtest.CAFile(tb, s))
	if err != nil {
		tb.Fatal(err)
	}
	hcfg.BaseURL, hcfg.TLS = s.RESTURL(), tlsCfg
	hcfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	rest, err := httpx.New(binance.RESTConfig(hcfg))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(rest.Close)
	syms, err := binance.LoadSymbols(context.Background(), rest, s.Symbols())
	if err != nil {
		tb.Fatal(err)
	}
	rec, err := binance.NewRecovery(rest, syms, false)
	if err != nil {
		tb.Fatal(err)
	}
	return &restFixture{s: s, rest: rest, syms: syms, rec: rec}
}

func TestRequestWeight(t *testing.T) {
	for _, c := range []struct {
		path, limit string
		want        int
	}{
		{"/api/v3/depth", "", 5}, {"/api/v3/depth", "100", 5}, {"/api/v3/depth", "101", 25}, {"/api/v3/depth", "500", 25},
		{"/api/v3/depth", "1000", 50}, {"/api/v3/depth", "5000", 250}, {"/api/v3/aggTrades", "1000", 4},
		{"/api/v3/exchangeInfo", "", 20}, {"/api/v3/ping", "", 1},
	} {
		q := url.Values{}
		if c.limit != "" {
			q.Set("limit", c.limit)
		}
		if got := binance.RequestWeight(c.path, q); got != c.want {
			t.Errorf("%s?limit=%s: weight %d, want %d", c.path, c.limit, got, c.want)
		}
	}
}

// TestLoadSymbolsSetsTheVenuesWeightLimit checks that the client takes
// the limit exchangeInfo publishes and reads the used weight from the
// header named after its window (MaxWeightUsed comes from that header).
func TestLoadSymbolsSetsTheVenuesWeightLimit(t *testing.T) {
	for _, window := range []time.Duration{time.Minute, 5 * time.Second} {
		t.Run(window.String(), func(t *testing.T) {
			f := newRESTFixture(t, sim.Config{WeightLimit: 1234, WeightWindow: window, Rate: -1}, httpx.Config{})
			if _, err := binance.ServerTime(context.Background(), f.rest, false); err != nil {
				t.Fatal(err)
			}
			// exchangeInfo (20) and time (1), unless a window ended between them
			if st := f.rest.Stats(); st.WeightLimit != 1234 || (st.MaxWeightUsed != 21 && st.MaxWeightUsed != 1) || st.HTTP2 == 0 {
				t.Fatalf("limit %d (want the simulator's 1234), weight used %d (want 21), HTTP/2 answers %d", st.WeightLimit, st.MaxWeightUsed, st.HTTP2)
			}
		})
	}
}

func TestRecoveryMatchesTheSimulator(t *testing.T) {
	// RESTLag -1: these check the answers; the lag has its own tests (feed)
	f := newRESTFixture(t, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: -1, Levels: 300, RESTLag: -1}, httpx.Config{})
	f.s.Advance(3000)
	_, last, _, _ := f.s.LastIDs("BTCUSDT")
	from := last - 1500
	// the simulator's exchangeInfo names the assets, as Binance's does
	sym, _ := f.syms.Lookup("BTCUSDT")
	if sym.Base != "BTC" || sym.Quote != "USDT" || sym.Instrument != "BTC-USDT" {
		t.Fatalf("symbol from exchangeInfo %+v; want BTC, USDT, BTC-USDT", sym)
	}
	got, err := f.rec.AggTrades(context.Background(), "BTCUSDT", from, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := f.s.AggTrades("BTCUSDT", from, from+999)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1000 || len(want) != 1000 {
		t.Fatalf("%d trades, the simulator has %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		p, _ := fixed.Parse(w.Price, sym.PriceScale)
		q, _ := fixed.Parse(w.Qty, sym.QtyScale)
		side := feed.SideBuy
		if w.BuyerMaker {
			side = feed.SideSell
		}
		if g.Type != feed.TypeTrade || !g.Aggregated || !g.Recovered || g.Symbol != "BTCUSDT" || g.Instrument != "BTC-USDT" || g.Venue != binance.Venue ||
			g.ID != w.ID || g.Price != p || g.Qty != q || g.Side != side || g.FirstTradeID != w.FirstTradeID ||
			g.LastTradeID != w.LastTradeID || g.ExchangeTime != w.Time*int64(time.Millisecond) || g.ReceiveTime == 0 {
			t.Fatalf("trade %d: got %+v, want %+v", w.ID, g, w)
		}
	}

	// individual trades, from historicalTrades
	_, _, lastTrade, _ := f.s.LastIDs("BTCUSDT")
	tfrom := lastTrade - 1200
	gotT, err := f.rec.Trades(context.Background(), "BTCUSDT", tfrom, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantT, err := f.s.Trades("BTCUSDT", tfrom, tfrom+999)
	if err != nil {
		t.Fatal(err)
	}
	if len(gotT) != 1000 || len(wantT) != 1000 {
		t.Fatalf("%d individual trades, the simulator has %d", len(gotT), len(wantT))
	}
	for i, w := range wantT {
		g := gotT[i]
		p, _ := fixed.Parse(w.Price, sym.PriceScale)
		q, _ := fixed.Parse(w.Qty, sym.QtyScale)
		side := feed.SideBuy
		if w.BuyerMaker {
			side = feed.SideSell
		}
		if g.Type != feed.TypeTrade || g.Aggregated || !g.Recovered || g.Instrument != "BTC-USDT" || g.ID != w.ID || g.FirstTradeID != w.ID ||
			g.Price != p || g.Qty != q || g.Side != side || g.ExchangeTime != w.Time*int64(time.Millisecond) {
			t.Fatalf("trade %d: got %+v, want %+v", w.ID, g, w)
		}
	}

	micros, err := binance.NewRecovery(f.rest, f.syms, true)
	if err != nil {
		t.Fatal(err)
	}
	got, err = micros.AggTrades(context.Background(), "BTCUSDT", from, 10, got[:0])
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range got {
		if ms := want[i].Time * int64(time.Millisecond); g.ExchangeTime < ms || g.ExchangeTime >= ms+int64(time.Millisecond) || g.ExchangeTime%int64(time.Microsecond) != 0 {
			t.Fatalf("trade %d at %d ns in µs, %d ms", g.ID, g.ExchangeTime, want[i].Time)
		}
	}

	var snap feed.Event
	if err := f.rec.Depth(context.Background(), "BTCUSDT", 100, &snap); err != nil {
		t.Fatal(err)
	}
	truth, err := f.s.BookAt("BTCUSDT", snap.ID)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Type != feed.TypeBookSnapshot || snap.Instrument != "BTC-USDT" || len(snap.Bids) != 100 || len(snap.Asks) != 100 {
		t.Fatalf("snapshot %v with %d/%d levels", snap.Type, len(snap.Bids), len(snap.Asks))
	}
	for i := range 100 {
		for _, c := range []struct {
			got  feed.Level
			want sim.Level
		}{{snap.Bids[i], truth.Bids[i]}, {snap.Asks[i], truth.Asks[i]}} {
			p, _ := fixed.Parse(c.want.Price, sym.PriceScale)
			q, _ := fixed.Parse(c.want.Qty, sym.QtyScale)
			if c.got.Price != p || c.got.Qty != q {
				t.Fatalf("level %d: got %+v, the simulator has %+v", i, c.got, c.want)
			}
		}
	}
	if _, err := f.rec.AggTrades(context.Background(), "NOPE", 1, 10, nil); !errors.Is(err, binance.ErrUnknownSymbol) {
		t.Fatalf("unknown symbol: %v", err)
	}
	if err := f.rec.Depth(context.Background(), "BTCUSDT", 5001, &snap); err == nil {
		t.Fatal("a depth limit above 5000 was accepted")
	}
}

// TestRecoveryRidesOutRESTFaults fires each REST fault of docs/faults.md
// row 12 but the ban once: every call still gets its answer.
func TestRecoveryRidesOutRESTFaults(t *testing.T) {
	f := newRESTFixture(t, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: -1, RESTLag: -1},
		httpx.Config{Timeout: 300 * time.Millisecond, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	f.s.Advance(500)
	faults := []sim.Fault{
		{Kind: sim.FaultREST5xx}, {Kind: sim.FaultREST5xx, Code: 502}, {Kind: sim.FaultREST429, Duration: time.Second},
		{Kind: sim.FaultRESTTruncate}, {Kind: sim.FaultRESTBadJSON}, {Kind: sim.FaultRESTSlow, Duration: time.Second},
	}
	for _, fault := range faults {
		before := f.rest.Stats()
		if err := f.s.Fire(fault); err != nil {
			t.Fatal(err)
		}
		got, err := f.rec.AggTrades(context.Background(), "BTCUSDT", 1, 100, nil)
		if err != nil || len(got) == 0 {
			t.Fatalf("%s: %d trades, %v", fault.Kind, len(got), err)
		}
		var snap feed.Event
		if err := f.rec.Depth(context.Background(), "BTCUSDT", 20, &snap); err != nil {
			t.Fatalf("%s: depth: %v", fault.Kind, err)
		}
		if after := f.rest.Stats(); after.Retries != before.Retries+1 {
			t.Fatalf("%s: %d retries, want 1", fault.Kind, after.Retries-before.Retries)
		}
	}
	if st := f.rest.Stats(); st.RateLimited != 1 || st.ServerErrors != 2 || st.BadBodies != 2 || st.NetErrors != 1 || st.Failures != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRecoveryStopsWhileBanned(t *testing.T) {
	f := newRESTFixture(t, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: -1, RESTLag: -1}, httpx.Config{})
	f.s.Advance(100)
	if err := f.s.Fire(sim.Fault{Kind: sim.FaultREST418, Duration: time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.rec.AggTrades(context.Background(), "BTCUSDT", 1, 10, nil); !errors.Is(err, httpx.ErrBanned) {
		t.Fatalf("418: %v", err)
	}
	sent := f.rest.Stats().Requests
	var snap feed.Event
	err := f.rec.Depth(context.Background(), "BTCUSDT", 10, &snap)
	var be *httpx.BanError
	if !errors.As(err, &be) || f.rest.Stats().Requests != sent {
		t.Fatalf("during the ban: %v, %d requests sent", err, f.rest.Stats().Requests-sent)
	}
	time.Sleep(time.Until(be.Until) + 10*time.Millisecond)
	if err := f.rec.Depth(context.Background(), "BTCUSDT", 10, &snap); err != nil {
		t.Fatalf("after the ban: %v", err)
	}
}

// BenchmarkRecoveryAggTrades measures backfill throughput over REST: pages
// of 1000 aggregate trades fetched from the simulator over TLS and HTTP/2,
// decoded to events.
func BenchmarkRecoveryAggTrades(b *testing.B) {
	f := newRESTFixture(b, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: -1, TradeShare: 1, WeightLimit: 1 << 30, RESTLag: -1}, httpx.Config{})
	f.s.Advance(70000)
	_, last, _, _ := f.s.LastIDs("BTCUSDT")
	first := last - 99999 + 1000
	var page []feed.Event
	var err error
	from := first
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if page, err = f.rec.AggTrades(context.Background(), "BTCUSDT", from, 1000, page[:0]); err != nil || len(page) != 1000 {
			b.Fatalf("%d trades, %v", len(page), err)
		}
		if from += 1000; from > last-1000 {
			from = first
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "trades/s")
}

// TestServerTimeInMicroseconds: with micros the venue's clock is asked
// for, and read, in microseconds, as the streams' times are.
func TestServerTimeInMicroseconds(t *testing.T) {
	f := newRESTFixture(t, sim.Config{Rate: -1}, httpx.Config{})
	before := time.Now()
	ms, err := binance.ServerTime(context.Background(), f.rest, false)
	if err != nil {
		t.Fatal(err)
	}
	us, err := binance.ServerTime(context.Background(), f.rest, true)
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if ms.Nanosecond()%int(time.Millisecond) != int(500*time.Microsecond) || us.Nanosecond()%int(time.Microsecond) != 500 {
		t.Fatalf("resolutions: %v, %v", ms, us)
	}
	if us.Before(before.Add(-time.Millisecond)) || us.After(after.Add(time.Millisecond)) {
		t.Fatalf("server time %v outside %v..%v", us, before, after)
	}
}
