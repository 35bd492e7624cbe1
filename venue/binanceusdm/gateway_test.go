package binanceusdm_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/book"
	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue/binanceusdm"
	"github.com/feedkeeper/feedkeeper/venue/venuetest"
)

// usdmConsumer keeps, per symbol, what the gateway delivers: the trades
// and the book rebuilt from its snapshots and deltas, with the book's top
// levels at every checkpoint.
type usdmConsumer struct {
	mu       sync.Mutex
	symbols  map[string]*usdmSymbol
	problems []string
}

type usdmSymbol struct {
	trades       []feed.Event
	book         *book.Book
	synced       bool
	deltas       int
	checkpoints  []usdmCheckpoint
	funding      int
	liquidations int
	venueTops    int
	gaps         int
}

type usdmCheckpoint struct {
	id         int64
	bids, asks []book.Level
}

const (
	checkEvery = 3  // deltas between checkpoints
	checkDepth = 20 // levels a side compared
)

func (c *usdmConsumer) problem(format string, args ...any) {
	if len(c.problems) < 20 {
		c.problems = append(c.problems, fmt.Sprintf(format, args...))
	}
}

func (c *usdmConsumer) handle(ev *feed.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.Symbol == "" {
		return
	}
	if ev.Venue != binanceusdm.Venue || ev.Instrument == "" {
		c.problem("%s %v: venue %q instrument %q", ev.Symbol, ev.Type, ev.Venue, ev.Instrument)
	}
	s := c.symbols[ev.Symbol]
	if s == nil {
		s = &usdmSymbol{book: book.New(0)}
		c.symbols[ev.Symbol] = s
	}
	switch {
	case ev.Type == feed.TypeTrade:
		if n := len(s.trades); n > 0 && ev.ID != s.trades[n-1].ID+1 {
			c.problem("%s: trade %d delivered after %d", ev.Symbol, ev.ID, s.trades[n-1].ID)
		}
		s.trades = append(s.trades, feed.Event{ID: ev.ID, Price: ev.Price, Qty: ev.Qty, Side: ev.Side,
			FirstTradeID: ev.FirstTradeID, LastTradeID: ev.LastTradeID, Aggregated: ev.Aggregated})
	case ev.Type == feed.TypeGap:
		s.gaps++
		if ev.Missing == feed.TypeTrade {
			c.problem("%s: trades %d..%d announced lost: %s", ev.Symbol, ev.FirstID, ev.ID, ev.Reason)
		}
	case ev.Type == feed.TypeBookSnapshot && ev.Derived:
		if err := s.book.Load(ev.ID, venuetest.BookLevels(ev.Bids), venuetest.BookLevels(ev.Asks)); err != nil {
			c.problem("%s: snapshot %d: %v", ev.Symbol, ev.ID, err)
		}
		s.synced = true
	case ev.Type == feed.TypeBookDelta:
		if !s.synced {
			c.problem("%s: delta %d before any snapshot", ev.Symbol, ev.ID)
			return
		}
		for _, l := range ev.Bids {
			s.book.Set(book.Bid, l.Price, l.Qty)
		}
		for _, l := range ev.Asks {
			s.book.Set(book.Ask, l.Price, l.Qty)
		}
		s.book.SetLastUpdateID(ev.ID)
		if s.deltas++; s.deltas%checkEvery == 0 {
			s.checkpoints = append(s.checkpoints, usdmCheckpoint{id: ev.ID,
				bids: s.book.Top(book.Bid, checkDepth, nil), asks: s.book.Top(book.Ask, checkDepth, nil)})
		}
	case ev.Type == feed.TypeTopOfBook && !ev.Derived:
		s.venueTops++
	case ev.Type == feed.TypeFunding:
		s.funding++
		if ev.Deriv == nil || ev.Deriv.MarkPrice.M <= 0 || ev.Deriv.IndexPrice.M <= 0 || ev.Deriv.NextFunding <= ev.EventTime {
			c.problem("%s: funding %+v", ev.Symbol, ev.Deriv)
		}
	case ev.Type == feed.TypeLiquidation:
		s.liquidations++
		if ev.Price <= 0 || ev.Qty <= 0 || ev.Side == feed.SideUnknown || ev.ExchangeTime == 0 {
			c.problem("%s: liquidation %+v", ev.Symbol, ev)
		}
	}
}

func truth(t *testing.T, sym binanceusdm.Symbol, ls []sim.Level, n int) []book.Level {
	t.Helper()
	return venuetest.TruthLevels(t, sym.PriceScale, sym.QtyScale, ls, n)
}

// TestGatewayMatchesTheSimulatorsTruth runs the venue through
// feed.OpenGateway against the simulator's USD-M front-end, depth streams
// on /public and the others on /market, with a diff depth event lost at the
// source every 1.5 s (pu-break): the aggregate trades delivered are
// contiguous and exactly the simulator's, every break resyncs its book, and
// the book rebuilt from what is delivered equals the simulator's at every
// checkpoint; funding, the market's liquidations and the venue's tops of
// book arrive.
func TestGatewayMatchesTheSimulatorsTruth(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT", "ETHUSDT"}, Venues: []string{sim.VenueBinanceUSDM},
		Faults: []sim.Fault{{Kind: sim.FaultPUBreak, Every: 1500 * time.Millisecond}}})
	u := s.USDM()
	tlsCfg, err := httpx.TLSConfig(simtest.CAFile(t, s))
	if err != nil {
		t.Fatal(err)
	}
	rest, err := httpx.New(binanceusdm.RESTConfig(httpx.Config{BaseURL: u.RESTURL(), TLS: tlsCfg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	if err != nil {
		t.Fatal(err)
	}
	defer rest.Close()
	streams := []string{"btcusdt@aggTrade", "btcusdt@depth@100ms", "btcusdt@bookTicker", "btcusdt@markPrice@1s",
		"!forceOrder@arr", "ethusdt@aggTrade", "ethusdt@depth@100ms"}
	ctx := context.Background()
	syms, err := binanceusdm.LoadSymbols(ctx, rest, binanceusdm.SymbolsOfStreams(streams))
	if err != nil {
		t.Fatal(err)
	}
	v, err := binanceusdm.New(binanceusdm.Config{WSURL: u.WSURL(), Symbols: syms})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := binanceusdm.NewRecovery(rest, v.Instruments())
	if err != nil {
		t.Fatal(err)
	}
	c := &usdmConsumer{symbols: map[string]*usdmSymbol{}}
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: v, Streams: streams, TLS: tlsCfg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Handler: c.handle, Recovery: rec,
		RecoveryConfig: feed.RecoveryConfig{RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c.mu.Lock()
		btc, eth := c.symbols["BTCUSDT"], c.symbols["ETHUSDT"]
		done := btc != nil && eth != nil && len(btc.checkpoints) >= 15 && len(eth.checkpoints) >= 15 &&
			btc.funding >= 2 && btc.venueTops > 0
		c.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			g.Close()
			c.mu.Lock()
			for name, cs := range c.symbols {
				t.Logf("%s: %d trades, %d deltas, %d checkpoints, %d funding, %d venue tops, %d gaps", name, len(cs.trades), cs.deltas,
					len(cs.checkpoints), cs.funding, cs.venueTops, cs.gaps)
			}
			t.Fatalf("timed out: gateway %+v; problems %q", g.Stats(), c.problems)
		}
	}
	st := g.Stats()
	g.Close()

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.problems {
		t.Error(p)
	}
	for _, name := range []string{"BTCUSDT", "ETHUSDT"} {
		cs := c.symbols[name]
		sym, _ := syms.Lookup(name)
		if len(cs.trades) == 0 {
			t.Fatalf("%s: no trades", name)
		}
		first, last := cs.trades[0].ID, cs.trades[len(cs.trades)-1].ID
		want, err := u.AggTrades(name, first, last)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != len(cs.trades) {
			t.Fatalf("%s: %d trades delivered for IDs %d..%d, the simulator made %d", name, len(cs.trades), first, last, len(want))
		}
		for i, tr := range want {
			got := cs.trades[i]
			p, _ := fixed.Parse(tr.Price, sym.PriceScale)
			q, _ := fixed.Parse(tr.Qty, sym.QtyScale)
			side := feed.SideBuy
			if tr.BuyerMaker {
				side = feed.SideSell
			}
			if got.ID != tr.ID || got.Price != p || got.Qty != q || got.Side != side || !got.Aggregated ||
				got.FirstTradeID != tr.FirstTradeID || got.LastTradeID != tr.LastTradeID {
				t.Fatalf("%s: trade %d delivered as %+v, the simulator has %+v", name, tr.ID, got, tr)
			}
		}
		for _, cp := range cs.checkpoints {
			bs, err := u.BookAt(name, cp.id)
			if err != nil {
				t.Fatalf("%s: book at %d: %v", name, cp.id, err)
			}
			if bs.LastUpdateID != cp.id {
				t.Fatalf("%s: checkpoint at %d, the simulator's book is at %d", name, cp.id, bs.LastUpdateID)
			}
			bids, asks := truth(t, sym, bs.Bids, checkDepth), truth(t, sym, bs.Asks, checkDepth)
			if fmt.Sprint(bids) != fmt.Sprint(cp.bids) || fmt.Sprint(asks) != fmt.Sprint(cp.asks) {
				t.Fatalf("%s: book at %d differs from the simulator's:\n got bids %v\nwant bids %v\n got asks %v\nwant asks %v",
					name, cp.id, cp.bids, bids, cp.asks, asks)
			}
		}
		t.Logf("%s: %d trades (%d..%d), %d deltas, %d checkpoints, %d funding, %d liquidations, %d venue tops, %d gap events",
			name, len(cs.trades), first, last, cs.deltas, len(cs.checkpoints), cs.funding, cs.liquidations, cs.venueTops, cs.gaps)
	}
	t.Logf("gateway: %d book syncs, %d resyncs, %d gaps; simulator faults %v", st.BookSyncs, st.BookResyncs, st.Gaps, s.FaultCounts())
	if btc := c.symbols["BTCUSDT"]; btc.funding == 0 || btc.venueTops == 0 {
		t.Errorf("BTCUSDT: %d funding events, %d tops of book", btc.funding, btc.venueTops)
	}
	if n := c.symbols["BTCUSDT"].liquidations + c.symbols["ETHUSDT"].liquidations; n == 0 {
		t.Error("no liquidation from !forceOrder@arr")
	}
	if st.BookSyncs < 2 || st.BookResyncs < 1 || s.FaultCounts()[sim.FaultPUBreak] < 1 {
		t.Errorf("%d book syncs, %d resyncs after %d pu breaks; want a sync a symbol and a resync a break", st.BookSyncs, st.BookResyncs,
			s.FaultCounts()[sim.FaultPUBreak])
	}
}
