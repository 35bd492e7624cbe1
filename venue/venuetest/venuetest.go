// Package venuetest is the contract every venue passes through its
// simulator front-end, in the manner of sink/sinktest: a venue is done when
// Run passes for it. The suite opens the venue through the registry, as
// feedkeeper run does, streams trades and books through a feed.Gateway
// with recovery, and holds what it delivers against the simulator's ground
// truth while the front-end drops connections and drops, repeats and
// reorders book updates, then carries out the venue's own faults one
// after the other, each of which must show its effect in the gateway's
// counters (Fault, Effect).
//
// A venue's test supplies a Sim for its front-end (an adapter over package
// sim), the streams that carry its trades and its book, and its faults:
//
//	func TestConformance(t *testing.T) {
//		venuetest.Run(t, venuetest.Config{Venue: "binance", Start: startSpot, Symbols: []string{"BTCUSDT", "ETHUSDT"},
//			Streams: func(sym string) []string { … },
//			Faults: []venuetest.Fault{{Spec: "trade-gap:times=3", Shows: venuetest.Backfill}, …}})
//	}
package venuetest

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/book"
	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/venue"
)

// Sim is a venue's simulator front-end as the suite drives it.
type Sim interface {
	// WSURL and RESTURL are the front-end's endpoints.
	WSURL() string
	RESTURL() string
	// TLS trusts the simulator's certificate.
	TLS() *tls.Config
	// Trades returns the trades of symbol with IDs from..to, as the venue
	// numbers the trades its stream sends, oldest first. For a venue whose
	// trade IDs cannot show a gap (Config.OpaqueTrades), from and to are
	// times in milliseconds, both included, and each Trade has its Time.
	Trades(symbol string, from, to int64) ([]Trade, error)
	// Book returns symbol's book right after the update with ID id, as the
	// venue numbers its book updates: bids and asks best first. sent is
	// that update's Event.ExchangeTime (ns): where the venue's IDs do not
	// name one update of the whole run (Coinbase's sequence_num counts
	// per connection), the update sent nearest that time among those
	// with the ID is meant; others may ignore it.
	Book(symbol string, id, sent int64) (bids, asks []Level, err error)
	// Fire drops every connection of the front-end now (the common
	// "drop" fault: a reset without a close frame).
	Fire() error
	// BookFaults turns the front-end's book update faults on with
	// probability p each (an update dropped, sent twice, sent late), or,
	// with p = 0, every fault rule off (those Fault left on too).
	BookFaults(p float64) error
	// Fault carries out one fault written as the simulator's --fault flag
	// reads it ("okx-seq-break:p=0.05", "shutdown:duration=300ms"): one
	// without p=, every= or times= once, now or at its next opportunity;
	// one with them as a rule that stays on until BookFaults(0).
	Fault(spec string) error
	// Fired says how many times the simulator has carried out faults of
	// a kind ("okx-seq-break").
	Fired(kind string) int64
}

// Trade is a trade as the simulator made it.
type Trade struct {
	ID         int64
	Price, Qty string // decimals as the venue writes them
	Side       feed.Side
	Time       int64 // ms, the venue's trade time (Config.OpaqueTrades)
}

// Level is a book level as the simulator holds it.
type Level struct{ Price, Qty string }

// Config describes the venue under test.
type Config struct {
	// Venue is the name the venue registered under.
	Venue string
	// Options are the venue's settings; nil: its defaults.
	Options venue.Options
	// Start starts the venue's simulator front-end for one test (closed
	// when the test ends).
	Start func(t testing.TB) Sim
	// Symbols are the symbols under test, as events name them.
	Symbols []string
	// Streams returns, for one symbol, the streams of its trades (whose IDs
	// are contiguous) and of its order book kept in sync.
	Streams func(symbol string) []string
	// Depth is the number of levels a side compared with the truth at
	// each checkpoint. Default 20.
	Depth int
	// Duration is how long the faults run. Default 8s; testing.Short: 3s.
	Duration time.Duration
	// OpaqueTrades says the venue's trade IDs cannot show a gap
	// (feed.TradeIDsOpaque): trades are held against the truth by time,
	// and every trade of the truth that was not delivered must lie in a
	// gap window the gateway announced.
	OpaqueTrades bool
	// Faults are the venue's own faults, fired one after the other once
	// the common ones are over (see Fault).
	Faults []Fault
}

// Run runs the suite.
func Run(t *testing.T, cfg Config) {
	if cfg.Depth == 0 {
		cfg.Depth = 20
	}
	if cfg.Duration == 0 {
		cfg.Duration = 8 * time.Second
		if testing.Short() {
			cfg.Duration = 3 * time.Second
		}
	}
	f, err := venue.Lookup(cfg.Venue)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("streams-agree-with-truth-under-faults", func(t *testing.T) { runFaults(t, f, cfg) })
	t.Run("churn", func(t *testing.T) { runChurn(t, f, cfg) })
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// open sets the venue up against s and opens a gateway with recovery.
func open(t testing.TB, f venue.Factory, cfg Config, s Sim, handler func(*feed.Event)) (*feed.Gateway, *venue.Setup) {
	t.Helper()
	var streams []string
	for _, sym := range cfg.Symbols {
		streams = append(streams, cfg.Streams(sym)...)
	}
	for _, st := range streams {
		if err := f.CheckStream(st); err != nil {
			t.Fatalf("the venue refuses its own stream: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	setup, err := f.Open(ctx, env(cfg, s))
	if err != nil {
		t.Fatal(err)
	}
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: setup.Venue, Streams: streams, TLS: s.TLS(), Logger: quiet(),
		Handler: handler, Dials: setup.Dials, Recovery: setup.Recovery, Lag: feed.LagConfig{MaxLag: -1},
		RecoveryConfig: feed.RecoveryConfig{RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond}})
	if err != nil {
		setup.Close()
		t.Fatal(err)
	}
	return g, setup
}

// env is what the venue is opened with against s.
func env(cfg Config, s Sim) venue.Env {
	var streams []string
	for _, sym := range cfg.Symbols {
		streams = append(streams, cfg.Streams(sym)...)
	}
	return venue.Env{WSURL: s.WSURL(), RESTURL: s.RESTURL(), Streams: streams, TLS: s.TLS(),
		Logger: quiet(), Recovery: true, Options: cfg.Options}
}

// checker keeps what the gateway delivered, per symbol.
type checker struct {
	depth    int
	mu       sync.Mutex
	problems []string
	symbols  map[string]*symbolState
}

type symbolState struct {
	trades      []feed.Event // in delivery order
	tradeGaps   int
	windows     [][2]int64 // gap windows announced, ns
	book        *book.Book
	loaded      bool
	fresh       bool // no delta since the snapshot loaded
	scales      [2]uint8
	checkpoints []checkpoint
	deltas      int
}

type checkpoint struct {
	id, sent   int64 // the update's ID and ExchangeTime
	scales     [2]uint8
	bids, asks []book.Level
}

func (c *checker) problem(format string, args ...any) {
	if len(c.problems) < 20 {
		c.problems = append(c.problems, fmt.Sprintf(format, args...))
	}
}

func (c *checker) handle(ev *feed.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.symbols[ev.Symbol]
	if s == nil {
		if ev.Symbol == "" {
			return
		}
		s = &symbolState{book: book.New(0)}
		c.symbols[ev.Symbol] = s
	}
	switch {
	case ev.Type == feed.TypeTrade:
		var cp feed.Event
		ev.CopyTo(&cp)
		s.trades = append(s.trades, cp)
	case ev.Type == feed.TypeGap && ev.Missing == feed.TypeTrade && ev.GapTo != 0:
		s.windows = append(s.windows, [2]int64{ev.GapFrom, ev.GapTo})
	case ev.Type == feed.TypeGap && ev.Missing == feed.TypeTrade:
		s.tradeGaps++
		c.problem("%s: trade gap %d..%d announced (%s): the venue's history had them", ev.Symbol, ev.FirstID, ev.ID, ev.Reason)
	case ev.Type == feed.TypeBookSnapshot && (ev.Derived || ev.Base):
		if err := s.book.Load(ev.ID, BookLevels(ev.Bids), BookLevels(ev.Asks)); err != nil {
			c.problem("%s: snapshot %d: %v", ev.Symbol, ev.ID, err)
		}
		s.loaded, s.fresh, s.scales = true, true, [2]uint8{ev.PriceScale, ev.QtyScale}
		c.checkpoint(s, ev)
	case ev.Type == feed.TypeBookDelta:
		if !s.loaded {
			c.problem("%s: delta %d delivered before any snapshot", ev.Symbol, ev.ID)
			return
		}
		// the first delta on a snapshot may end at the snapshot's own ID
		// (Binance USD-M, "How to manage a local order book correctly": the
		// first event processed has U <= lastUpdateId AND u >= lastUpdateId)
		bridge := s.fresh && ev.FirstID != 0 && ev.FirstID <= ev.ID && ev.ID == s.book.LastUpdateID()
		if last := s.book.LastUpdateID(); ev.ID <= last && ev.PrevID != last && !bridge {
			c.problem("%s: delta %d delivered after the book reached %d", ev.Symbol, ev.ID, last)
		}
		s.fresh = false
		for _, l := range ev.Bids {
			s.book.Set(book.Bid, l.Price, l.Qty)
		}
		for _, l := range ev.Asks {
			s.book.Set(book.Ask, l.Price, l.Qty)
		}
		s.book.SetLastUpdateID(ev.ID)
		s.deltas++
		if s.deltas%5 == 0 {
			c.checkpoint(s, ev)
		}
	}
}

func (c *checker) checkpoint(s *symbolState, ev *feed.Event) {
	s.checkpoints = append(s.checkpoints, checkpoint{id: ev.ID, sent: ev.ExchangeTime, scales: s.scales,
		bids: s.book.Top(book.Bid, c.depth, nil), asks: s.book.Top(book.Ask, c.depth, nil)})
}

// BookLevels returns an event's levels as a book takes them (book.Book's
// Load and Apply).
func BookLevels(ls []feed.Level) []book.Level {
	out := make([]book.Level, len(ls))
	for i, l := range ls {
		out[i] = book.Level{Price: l.Price, Qty: l.Qty}
	}
	return out
}

// runFaults streams every symbol's trades and book while connections are
// dropped and book updates dropped, repeated and reordered, then holds the
// delivered trades and every book checkpoint against the truth.
func runFaults(t *testing.T, f venue.Factory, cfg Config) {
	s := cfg.Start(t)
	c := &checker{depth: cfg.Depth, symbols: map[string]*symbolState{}}
	g, setup := open(t, f, cfg, s, c.handle)
	defer setup.Close()
	defer g.Close()
	waitFor(t, 30*time.Second, "every book in sync", func() bool { return g.Stats().BooksInSync == int64(len(cfg.Symbols)) })
	if err := s.BookFaults(0.02); err != nil {
		t.Fatal(err)
	}
	drops := 3
	for i := range drops {
		time.Sleep(cfg.Duration / time.Duration(drops+1))
		if err := s.Fire(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, fmt.Sprintf("reconnect after drop %d", i+1), func() bool {
			st := g.Stats()
			up := 0
			for _, ss := range st.Sessions {
				if ss.Reconnects > int64(i) && ss.Status.String() == "connected" {
					up++
				}
			}
			return up == len(st.Sessions)
		})
	}
	time.Sleep(cfg.Duration / time.Duration(drops+1))
	if err := s.BookFaults(0); err != nil {
		t.Fatal(err)
	}
	// the last gaps are filled and the books in sync again
	settle(t, g, cfg, "recovery done and books in sync")
	reopen := func(ctx context.Context) error {
		st, err := f.Open(ctx, env(cfg, s))
		if err == nil {
			st.Close()
		}
		return err
	}
	for _, vf := range cfg.Faults {
		t.Run(vf.Kind(), func(t *testing.T) { runVenueFault(t, g, s, cfg, vf, reopen) })
	}
	if len(cfg.Faults) > 0 {
		settle(t, g, cfg, "recovery done and books in sync after the venue's faults")
	}
	time.Sleep(500 * time.Millisecond)
	g.Close()
	st := g.Stats()
	t.Logf("%s: %d events, %d gaps (%d IDs), %d backfilled, %d books synced, %d resynced, %d reconnects",
		cfg.Venue, st.Events, st.Gaps, st.Missing, st.Backfilled, st.BookSyncs, st.BookResyncs, reconnects(st))

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.problems {
		t.Error(p)
	}
	if st.BookResyncs == 0 {
		t.Error("no book was rebuilt: the book faults did not reach the client")
	}
	for _, sym := range cfg.Symbols {
		ss := c.symbols[sym]
		if ss == nil || len(ss.trades) < 10 {
			t.Fatalf("%s: too few trades delivered (%v)", sym, ss != nil)
		}
		if cfg.OpaqueTrades {
			checkTradesByTime(t, s, sym, ss.trades, ss.windows)
		} else {
			checkTrades(t, s, sym, ss.trades)
		}
		checked := 0
		for _, cp := range ss.checkpoints {
			bids, asks, err := s.Book(sym, cp.id, cp.sent)
			if err != nil {
				t.Fatalf("%s: book at %d: %v", sym, cp.id, err)
			}
			wb, wa := TruthLevels(t, cp.scales[0], cp.scales[1], bids, cfg.Depth), TruthLevels(t, cp.scales[0], cp.scales[1], asks, cfg.Depth)
			if !slices.Equal(cp.bids, wb) || !slices.Equal(cp.asks, wa) {
				t.Fatalf("%s: book at %d differs from the simulator's:\n got bids %v\nwant bids %v\n got asks %v\nwant asks %v",
					sym, cp.id, cp.bids, wb, cp.asks, wa)
			}
			checked++
		}
		if checked < 10 {
			t.Errorf("%s: %d book checkpoints, want at least 10", sym, checked)
		}
		t.Logf("%s: %d trades, %d book checkpoints equal to the truth", sym, len(ss.trades), checked)
	}
}

// checkTrades holds the delivered trades against the truth over their
// range: every ID once, in order, with the simulator's price, quantity
// and side.
func checkTrades(t *testing.T, s Sim, sym string, got []feed.Event) {
	first, last := got[0].ID, got[len(got)-1].ID
	truth, err := s.Trades(sym, first, last)
	if err != nil {
		t.Fatal(err)
	}
	if len(truth) != len(got) {
		t.Fatalf("%s: %d trades delivered for IDs %d..%d, the simulator made %d", sym, len(got), first, last, len(truth))
	}
	for i, tr := range truth {
		ev := &got[i]
		p, perr := fixed.Parse(tr.Price, ev.PriceScale)
		q, qerr := fixed.Parse(tr.Qty, ev.QtyScale)
		if perr != nil || qerr != nil {
			t.Fatalf("%s: trade %d: %v %v", sym, tr.ID, perr, qerr)
		}
		if ev.ID != tr.ID || ev.Price != p || ev.Qty != q || ev.Side != tr.Side {
			t.Fatalf("%s: trade %d delivered as id %d price %d qty %d side %v; the simulator has %+v",
				sym, tr.ID, ev.ID, ev.Price, ev.Qty, ev.Side, tr)
		}
	}
}

// checkTradesByTime holds trades whose IDs cannot show a gap against the
// truth over the time they span: each delivered trade is one of the
// venue's (time, price, quantity, side), none twice, and each of the
// venue's trades not delivered lies in an announced gap window.
func checkTradesByTime(t *testing.T, s Sim, sym string, got []feed.Event, windows [][2]int64) {
	const slack = int64(50 * time.Millisecond) // the venue's clock is the local one, give or take
	first, last := got[0].ExchangeTime/1e6, got[len(got)-1].ExchangeTime/1e6
	truth, err := s.Trades(sym, first, last)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		ms, price, qty int64
		side           feed.Side
	}
	delivered := map[key]int{}
	for i := range got {
		ev := &got[i]
		delivered[key{ev.ExchangeTime / 1e6, ev.Price, ev.Qty, ev.Side}]++
	}
	missing := 0
	for _, tr := range truth {
		p, perr := fixed.Parse(tr.Price, got[0].PriceScale)
		q, qerr := fixed.Parse(tr.Qty, got[0].QtyScale)
		if perr != nil || qerr != nil {
			t.Fatalf("%s: trade at %d: %v %v", sym, tr.Time, perr, qerr)
		}
		k := key{tr.Time, p, q, tr.Side}
		if delivered[k] > 0 {
			delivered[k]--
			continue
		}
		ns := tr.Time * 1e6
		covered := false
		for _, w := range windows {
			covered = covered || (ns >= w[0]-slack && ns <= w[1]+slack)
		}
		if !covered {
			t.Fatalf("%s: the venue's trade %+v was not delivered and no gap window covers it (windows %v)", sym, tr, windows)
		}
		missing++
	}
	for k, n := range delivered {
		if n > 0 {
			t.Fatalf("%s: %d trade(s) at %d ms, price %d, qty %d, %v delivered that the venue did not make (or twice)", sym, n, k.ms, k.price, k.qty, k.side)
		}
	}
	if len(windows) == 0 {
		t.Errorf("%s: connections were dropped and no gap window was announced", sym)
	}
	t.Logf("%s: %d of the venue's %d trades delivered, %d in %d announced gap windows", sym, len(truth)-missing, len(truth), missing, len(windows))
}

// TruthLevels returns the first n of a simulator's levels (Level,
// sim.Level: prices and quantities as text) parsed at a symbol's scales,
// to compare with the top of a book rebuilt from what was delivered. A
// value that does not parse at its scale fails t.
func TruthLevels[L ~struct{ Price, Qty string }](t testing.TB, priceScale, qtyScale uint8, ls []L, n int) []book.Level {
	t.Helper()
	out := make([]book.Level, 0, min(n, len(ls)))
	for _, lv := range ls[:min(n, len(ls))] {
		l := struct{ Price, Qty string }(lv)
		p, err := fixed.Parse(l.Price, priceScale)
		if err != nil {
			t.Fatal(err)
		}
		q, err := fixed.Parse(l.Qty, qtyScale)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, book.Level{Price: p, Qty: q})
	}
	return out
}

func reconnects(st feed.GatewayStats) int64 {
	var n int64
	for _, s := range st.Sessions {
		n += s.Reconnects
	}
	return n
}

// runChurn opens and closes the venue's gateway again and again: each
// must stream, and nothing may be left running after the last.
func runChurn(t *testing.T, f venue.Factory, cfg Config) {
	s := cfg.Start(t)
	base := runtime.NumGoroutine()
	rounds := 10
	if testing.Short() {
		rounds = 4
	}
	for i := range rounds {
		var mu sync.Mutex
		events := 0
		g, setup := open(t, f, cfg, s, func(*feed.Event) {
			mu.Lock()
			events++
			mu.Unlock()
		})
		waitFor(t, 30*time.Second, fmt.Sprintf("events in round %d", i+1), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return events > 0
		})
		g.Close()
		setup.Close()
	}
	waitFor(t, 10*time.Second, "goroutines back to where they were", func() bool {
		return runtime.NumGoroutine() <= base+2
	})
}

// waitFor polls cond until it holds, failing t after d with what and,
// when given, detail's account of what is missing.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			if len(detail) > 0 {
				t.Fatalf("timed out after %v waiting for %s: %s", d, what, detail[0]())
			}
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
