package feed_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/feedkeeper/feedkeeper/book"
	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue/binance"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// recovering is a gateway with a Recovery against the simulator, wired as
// `feedkeeper run` wires it.
type recovering struct {
	s       *sim.Server
	g       *feed.Gateway
	rest    *httpx.Client
	symbols *binance.Symbols
}

// setup is how openRecovering builds a gateway.
type setup struct {
	refresh time.Duration // how often the venue reads exchangeInfo again; 0: its default
	log     *slog.Logger  // nil: discard
	resume  []feed.Position
	maxAge  time.Duration
	streams []string
	session wsconn.Config
	rc      feed.RecoveryConfig
	rest    httpx.Config
	wrap    func(feed.Recovery) feed.Recovery // nil: the venue's Recovery as is
	handler func(*feed.Event)
	leave   bool // GatewayConfig.LeaveGaps
}

func openRecovering(t testing.TB, s *sim.Server, su setup) *recovering {
	t.Helper()
	tlsCfg, err := httpx.TLSConfig(simtest.CAFile(t, s))
	if err != nil {
		t.Fatal(err)
	}
	restCfg := su.rest
	restCfg.BaseURL, restCfg.TLS, restCfg.Logger = s.RESTURL(), tlsCfg, discard()
	rest, err := httpx.New(binance.RESTConfig(restCfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rest.Close)
	syms, err := binance.LoadSymbols(context.Background(), rest, binance.SymbolsOfStreams(su.streams))
	if err != nil {
		t.Fatal(err)
	}
	venue, err := binance.NewSpot(binance.SpotConfig{WSURL: s.WSURL(), Symbols: syms, StreamsPerConn: 1024,
		REST: rest, RefreshEvery: su.refresh, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	var rec feed.Recovery
	if rec, err = binance.NewRecovery(rest, venue.Instruments(), false); err != nil {
		t.Fatal(err)
	}
	if su.wrap != nil {
		rec = su.wrap(rec)
	}
	session := su.session
	if session.BackoffMin == 0 {
		session.BackoffMin = 5 * time.Millisecond
		session.BackoffMax = 100 * time.Millisecond
	}
	log := su.log
	if log == nil {
		log = discard()
	}
	g, err := feed.OpenGateway(feed.GatewayConfig{
		Venue: venue, Streams: su.streams, TLS: tlsCfg, Session: session, Logger: log,
		Dials: rate.NewLimiter(1000, 100), Handler: su.handler,
		Recovery: rec, RecoveryConfig: su.rc, Resume: su.resume, ResumeMaxAge: su.maxAge, LeaveGaps: su.leave,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return &recovering{s: s, g: g, rest: rest, symbols: syms}
}

// consumer checks, as the events arrive, what a downstream user relies
// on: per symbol, aggregate trades in ID order with none missing or
// repeated and no gap event; book deltas that apply to the book rebuilt
// from the Derived snapshots; Derived tops of book equal to that book's.
// It takes checkpoints of the rebuilt book to compare with the truth later.
type consumer struct {
	mu        sync.Mutex
	every     int // a checkpoint every this many deltas of a symbol
	depth     int // levels a side kept per checkpoint
	symbols   map[string]*consumed
	problems  []string
	recovered int
}

type consumed struct {
	trades      []feed.Event // aggregate trades, as delivered
	book        *book.Book
	synced      bool
	deltas      int
	snapshots   int
	venueTops   int
	derivedTops int
	checkpoints []checkpoint
}

type checkpoint struct {
	id         int64
	ps, qs     uint8 // the scales of the levels
	bids, asks []book.Level
}

func newConsumer(every, depth int) *consumer {
	return &consumer{every: every, depth: depth, symbols: map[string]*consumed{}}
}

func (c *consumer) problem(format string, args ...any) {
	if len(c.problems) < 20 {
		c.problems = append(c.problems, fmt.Sprintf(format, args...))
	}
}

func levelsOf(ls []feed.Level) []book.Level {
	out := make([]book.Level, len(ls))
	for i, l := range ls {
		out[i] = book.Level{Price: l.Price, Qty: l.Qty}
	}
	return out
}

func (c *consumer) handle(ev *feed.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.Symbol == "" {
		return
	}
	s := c.symbols[ev.Symbol]
	if s == nil {
		s = &consumed{book: book.New(0)}
		c.symbols[ev.Symbol] = s
	}
	switch {
	case ev.Type == feed.TypeTrade && ev.Aggregated:
		if n := len(s.trades); n > 0 && ev.ID != s.trades[n-1].ID+1 {
			c.problem("%s: trade %d delivered after %d", ev.Symbol, ev.ID, s.trades[n-1].ID)
		}
		if ev.Recovered {
			c.recovered++
		}
		s.trades = append(s.trades, feed.Event{ID: ev.ID, Price: ev.Price, Qty: ev.Qty, Side: ev.Side,
			FirstTradeID: ev.FirstTradeID, LastTradeID: ev.LastTradeID, Recovered: ev.Recovered})
	case ev.Type == feed.TypeGap && ev.Missing == feed.TypeTrade:
		c.problem("%s: trades %d..%d announced lost: %s", ev.Symbol, ev.FirstID, ev.ID, ev.Reason)
	case ev.Type == feed.TypeBookSnapshot && ev.Derived:
		if err := s.book.Load(ev.ID, levelsOf(ev.Bids), levelsOf(ev.Asks)); err != nil {
			c.problem("%s: snapshot %d: %v", ev.Symbol, ev.ID, err)
		}
		if ev.Recovered {
			c.problem("%s: snapshot %d marked recovered", ev.Symbol, ev.ID)
		}
		s.synced = true
		s.snapshots++
	case ev.Type == feed.TypeBookDelta:
		if !s.synced {
			c.problem("%s: delta %d..%d before any snapshot", ev.Symbol, ev.FirstID, ev.ID)
			return
		}
		applied, err := s.book.Apply(book.Update{FirstID: ev.FirstID, LastID: ev.ID, Bids: levelsOf(ev.Bids), Asks: levelsOf(ev.Asks)})
		if err != nil || !applied {
			c.problem("%s: delta %d..%d on book %d: applied %v, %v", ev.Symbol, ev.FirstID, ev.ID, s.book.LastUpdateID(), applied, err)
			return
		}
		if s.deltas++; s.deltas%c.every == 0 {
			s.checkpoints = append(s.checkpoints, checkpoint{id: ev.ID, ps: ev.PriceScale, qs: ev.QtyScale,
				bids: s.book.Top(book.Bid, c.depth, nil), asks: s.book.Top(book.Ask, c.depth, nil)})
		}
	case ev.Type == feed.TypeTopOfBook && ev.Derived:
		s.derivedTops++
		bid, _ := s.book.BestBid()
		ask, _ := s.book.BestAsk()
		if ev.ID != s.book.LastUpdateID() || ev.Bid.Price != bid.Price || ev.Bid.Qty != bid.Qty || ev.Ask.Price != ask.Price || ev.Ask.Qty != ask.Qty {
			c.problem("%s: derived top of book %d %+v/%+v, book %d has %+v/%+v", ev.Symbol, ev.ID, ev.Bid, ev.Ask, s.book.LastUpdateID(), bid, ask)
		}
	case ev.Type == feed.TypeTopOfBook:
		s.venueTops++
	}
}

// truthLevels converts the simulator's levels to mantissas at the symbol's scales.
func truthLevels(t testing.TB, sym binance.Symbol, ls []sim.Level, n int) []book.Level {
	t.Helper()
	return truthAt(t, sym.PriceScale, sym.QtyScale, ls, n)
}

// capped is the quantity Binance writes for one too large for the base
// asset's precision (CHANGELOG 2022-05-23).
const capped = "92233720368.54775807"

// truthAt converts the simulator's levels to mantissas at the given
// scales; a capped quantity is truncated to the scale, as the schema says.
func truthAt(t testing.TB, ps, qs uint8, ls []sim.Level, n int) []book.Level {
	t.Helper()
	out := make([]book.Level, 0, min(n, len(ls)))
	for _, l := range ls[:min(n, len(ls))] {
		p, err := fixed.Parse(l.Price, ps)
		if err != nil {
			t.Fatal(err)
		}
		qty := l.Qty
		if qty == capped {
			whole, frac, _ := strings.Cut(qty, ".")
			qty = whole + "." + frac[:min(int(qs), len(frac))]
			if qs == 0 {
				qty = whole
			}
		}
		q, err := fixed.Parse(qty, qs)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, book.Level{Price: p, Qty: q})
	}
	return out
}

func sameLevels(a, b []book.Level) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestNoDataLossUnderFaults streams three symbols' aggregate trades and
// diff depth through disconnects every few seconds, lost, repeated and
// reordered depth updates, trades missing from the stream, REST 429s and
// 5xx and stale snapshots. Over the whole run the delivered trades of each
// symbol are exactly the simulator's, in order, none missing or repeated;
// the book rebuilt from the delivered events equals the simulator's at
// every checkpoint (the top 50 levels a side; the snapshots have 100 of a
// book of about 150, so the top 50 are levels they know); the periodic
// verification against fresh snapshots never finds a difference.
func TestNoDataLossUnderFaults(t *testing.T) {
	t.Parallel()
	run := 18 * time.Second
	if testing.Short() {
		run = 6 * time.Second
	}
	symbols := []string{"BTCUSDT", "ETHUSDT", "BNBUSDT"}
	s := simtest.Start(t, sim.Config{Symbols: symbols, Rate: 450, Levels: 150, Seed: 7})
	var streams []string
	for _, sym := range symbols {
		l := strings.ToLower(sym)
		streams = append(streams, l+"@aggTrade", l+"@depth@100ms")
	}
	streams = append(streams, "btcusdt@bookTicker")
	c := newConsumer(2, 50)
	rg := openRecovering(t, s, setup{streams: streams,
		rc:      feed.RecoveryConfig{DepthLimit: 100, VerifyEvery: 400 * time.Millisecond, RetryMin: 20 * time.Millisecond, RetryMax: 500 * time.Millisecond},
		rest:    httpx.Config{BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, MaxAttempts: 8},
		handler: c.handle})
	g := rg.g
	simtest.WaitFor(t, 10*time.Second, "books in sync", func() bool { return g.Stats().BooksInSync == int64(len(symbols)) })

	faults := []sim.Fault{
		{Kind: sim.FaultDepthDrop, Prob: 0.02},
		{Kind: sim.FaultDepthDup, Prob: 0.02},
		{Kind: sim.FaultDepthReorder, Prob: 0.02},
		{Kind: sim.FaultTradeGap, Prob: 0.01},
		{Kind: sim.FaultREST429, Prob: 0.05},
		{Kind: sim.FaultREST5xx, Prob: 0.05},
		{Kind: sim.FaultStaleSnapshot, Prob: 0.2},
	}
	if err := s.SetFaults(faults...); err != nil {
		t.Fatal(err)
	}
	// the connection is dropped or closed every 2 to 3 seconds, in turn
	disconnects := []sim.Fault{{Kind: sim.FaultDrop}, {Kind: sim.FaultClose, Code: 1001, Reason: "going away"}}
	for i, end := 0, time.Now().Add(run); time.Now().Before(end); i++ {
		time.Sleep(2*time.Second + time.Duration(i%3)*500*time.Millisecond)
		if err := s.Fire(disconnects[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetFaults(); err != nil {
		t.Fatal(err)
	}
	// let the last recoveries finish: nothing pending, every book in sync
	settled := 0
	simtest.WaitFor(t, 20*time.Second, "recovery to settle", func() bool {
		st := g.Stats()
		if st.BackfillPending == 0 && st.BooksInSync == int64(len(symbols)) {
			settled++
		} else {
			settled = 0
		}
		return settled >= 100 // 0.5 s
	})
	g.Close()

	st, rs := g.Stats(), rg.rest.Stats()
	fired := s.FaultCounts()
	t.Logf("gateway: %d events, %d gaps (%d IDs), %d backfilled, %d unfilled, %d book syncs, %d resyncs, %d stale snapshots, verify %d/%d/%d, %d REST failures, %d reconnects",
		st.Events, st.Gaps, st.Missing, st.Backfilled, st.Unfilled, st.BookSyncs, st.BookResyncs, st.StaleSnapshots,
		st.VerifyMatches, st.VerifyMismatches, st.VerifySkipped, st.RecoveryErrors, st.Sessions[0].Reconnects)
	t.Logf("rest: %d requests, %d retries, %d 429, %d 5xx, %d 418, max weight %d, HTTP/2 answers %d", rs.Requests, rs.Retries, rs.RateLimited,
		rs.ServerErrors, rs.Bans, rs.MaxWeightUsed, rs.HTTP2)
	t.Logf("faults fired: %v", fired)

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.problems {
		t.Error(p)
	}
	for _, k := range []sim.FaultKind{sim.FaultDrop, sim.FaultClose, sim.FaultDepthDrop, sim.FaultDepthDup, sim.FaultDepthReorder,
		sim.FaultTradeGap, sim.FaultREST429, sim.FaultREST5xx, sim.FaultStaleSnapshot} {
		if fired[k] == 0 && !testing.Short() {
			t.Errorf("fault %s never fired", k)
		}
	}
	if st.Unfilled != 0 || st.VerifyMismatches != 0 || rs.Bans != 0 {
		t.Errorf("unfilled gaps %d, verification mismatches %d, bans %d: want none", st.Unfilled, st.VerifyMismatches, rs.Bans)
	}
	if st.Backfilled == 0 || c.recovered == 0 || st.BookResyncs == 0 || st.VerifyMatches == 0 {
		t.Errorf("backfilled %d (delivered %d), resyncs %d, verification matches %d: the faults were not recovered from", st.Backfilled, c.recovered, st.BookResyncs, st.VerifyMatches)
	}
	if !testing.Short() && (st.StaleSnapshots == 0 || rs.RateLimited == 0 || rs.ServerErrors == 0) {
		t.Errorf("stale snapshots %d, 429s %d, 5xx %d: the REST faults were not met", st.StaleSnapshots, rs.RateLimited, rs.ServerErrors)
	}

	checked := 0
	for _, name := range symbols {
		cs := c.symbols[name]
		sym, _ := rg.symbols.Lookup(name)
		if cs == nil || len(cs.trades) == 0 {
			t.Fatalf("%s: no trades delivered", name)
		}
		// trades: exactly the simulator's over the delivered range
		first, last := cs.trades[0].ID, cs.trades[len(cs.trades)-1].ID
		truth, err := s.AggTrades(name, first, last)
		if err != nil {
			t.Fatal(err)
		}
		if len(truth) != len(cs.trades) {
			t.Fatalf("%s: %d trades delivered for IDs %d..%d, the simulator made %d", name, len(cs.trades), first, last, len(truth))
		}
		for i, tr := range truth {
			got := cs.trades[i]
			p, _ := fixed.Parse(tr.Price, sym.PriceScale)
			q, _ := fixed.Parse(tr.Qty, sym.QtyScale)
			side := feed.SideBuy
			if tr.BuyerMaker {
				side = feed.SideSell
			}
			if got.ID != tr.ID || got.Price != p || got.Qty != q || got.Side != side || got.FirstTradeID != tr.FirstTradeID || got.LastTradeID != tr.LastTradeID {
				t.Fatalf("%s: trade %d delivered as %+v, the simulator has %+v", name, tr.ID, got, tr)
			}
		}
		// books: every checkpoint equals the simulator's book at its update ID
		for _, cp := range cs.checkpoints {
			bs, err := s.BookAt(name, cp.id)
			if err != nil {
				t.Fatalf("%s: book at %d: %v", name, cp.id, err)
			}
			bids, asks := truthLevels(t, sym, bs.Bids, c.depth), truthLevels(t, sym, bs.Asks, c.depth)
			if !sameLevels(cp.bids, bids) || !sameLevels(cp.asks, asks) {
				t.Fatalf("%s: book at %d differs from the simulator's:\n got bids %v\nwant bids %v\n got asks %v\nwant asks %v",
					name, cp.id, cp.bids, bids, cp.asks, asks)
			}
			checked++
		}
		t.Logf("%s: %d trades (IDs %d..%d), %d snapshots, %d deltas, %d checkpoints, %d derived / %d venue tops of book",
			name, len(cs.trades), first, last, cs.snapshots, cs.deltas, len(cs.checkpoints), cs.derivedTops, cs.venueTops)
		if cs.derivedTops == 0 {
			t.Errorf("%s: no derived top of book", name)
		}
	}
	if checked < 100 {
		t.Errorf("%d book checkpoints, want at least 100", checked)
	}
	if c.symbols["BTCUSDT"].venueTops == 0 {
		t.Error("the venue's bookTicker was not delivered beside the derived top of book")
	}
}

// TestBackfillStaysUnderWeightLimit backfills a gap of 12 000 trades from a
// simulator that allows a weight of 40 per 5-second window, a limit and a
// window the client learns from exchangeInfo: the twelve requests of the
// gap (weight 4 each, after exchangeInfo's 20) cannot fit in one window.
// The limiter holds the requests that do not fit until a later window, so
// the simulator never answers 429 or 418 and never counts more than the
// limit, and the gap is recovered completely, in order.
func TestBackfillStaysUnderWeightLimit(t *testing.T) {
	t.Parallel()
	const limit, gap = 40, 12000
	rg, events := backfillAfterGap(t, sim.Config{WeightLimit: limit, WeightWindow: 5 * time.Second}, gap)
	g := rg.g
	if rs := rg.rest.Stats(); rs.WeightLimit != limit {
		t.Fatalf("client weight limit %d, the simulator publishes %d", rs.WeightLimit, limit)
	}
	simtest.WaitFor(t, 30*time.Second, "the backfill to finish", func() bool { return g.Stats().BackfillPending == 0 })
	g.Close()

	st, rs := g.Stats(), rg.rest.Stats()
	t.Logf("backfilled %d, unfilled IDs %d; rest: %d requests, %d waits (%v), max weight %d of %d, %d 429, %d 418",
		st.Backfilled, st.UnfilledIDs, rs.Requests, rs.Waits, rs.WaitTime.Round(time.Millisecond), rs.MaxWeightUsed, limit, rs.RateLimited, rs.Bans)
	if rs.RateLimited != 0 || rs.Bans != 0 || rs.MaxWeightUsed > limit || rs.MaxWeightUsed == 0 {
		t.Fatalf("429s %d, 418s %d, weight used %d of %d: the limiter let the client go over the limit", rs.RateLimited, rs.Bans, rs.MaxWeightUsed, limit)
	}
	gaps := checkContiguous(t, rg.s, events())
	if st.Backfilled < gap || gaps != 0 {
		t.Fatalf("backfilled %d of a gap of %d, %d gap events", st.Backfilled, gap, gaps)
	}
}

// TestBackfillWaitingForWeightIsAnnouncedOnClose closes a gateway while
// its backfill waits for the next one-minute weight window: what it had not
// fetched is announced by one gap event, followed by the live trades held,
// and nothing is delivered out of order.
func TestBackfillWaitingForWeightIsAnnouncedOnClose(t *testing.T) {
	t.Parallel()
	const limit, gap = 40, 12000
	rg, events := backfillAfterGap(t, sim.Config{WeightLimit: limit}, gap)
	g := rg.g
	g.Close()
	st, rs := g.Stats(), rg.rest.Stats()
	if rs.RateLimited != 0 || rs.Bans != 0 || rs.MaxWeightUsed > limit {
		t.Fatalf("429s %d, 418s %d, weight used %d of %d", rs.RateLimited, rs.Bans, rs.MaxWeightUsed, limit)
	}
	evs := events()
	gaps := checkContiguous(t, rg.s, evs)
	// the window may, rarely, have turned between the wait and Close
	if st.Backfilled < gap && gaps != 1 || st.Backfilled >= gap && gaps != 0 {
		t.Fatalf("backfilled %d of a gap of %d, %d gap events", st.Backfilled, gap, gaps)
	}
	for _, ev := range evs {
		if ev.Type == feed.TypeGap && !strings.Contains(ev.Reason, "closed") {
			t.Errorf("gap %d..%d: %s", ev.FirstID, ev.ID, ev.Reason)
		}
	}
}

// backfillAfterGap opens a recovering gateway on BTCUSDT aggTrades of a
// simulator made with cfg, makes a gap of n trades in the stream, and
// returns once the weight limiter has held part of the backfill. events
// returns the trades and gaps delivered so far.
func backfillAfterGap(t *testing.T, cfg sim.Config, n int64) (rg *recovering, events func() []feed.Event) {
	cfg.Symbols, cfg.Rate, cfg.TradeShare = []string{"BTCUSDT"}, -1, 1
	s := simtest.Start(t, cfg)
	var mu sync.Mutex
	var evs []feed.Event
	rg = openRecovering(t, s, setup{streams: []string{"btcusdt@aggTrade"}, handler: func(ev *feed.Event) {
		if (ev.Type == feed.TypeTrade && ev.Aggregated) || ev.Type == feed.TypeGap {
			mu.Lock()
			evs = append(evs, feed.Event{Type: ev.Type, ID: ev.ID, FirstID: ev.FirstID, Recovered: ev.Recovered, Reason: ev.Reason})
			mu.Unlock()
		}
	}})
	events = func() []feed.Event {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(evs)
	}
	simtest.WaitFor(t, 10*time.Second, "connect", func() bool { return rg.g.Stats().Sessions[0].Connects == 1 })
	simtest.WaitFor(t, 10*time.Second, "a first trade", func() bool {
		if len(events()) > 0 {
			return true
		}
		s.Advance(1)
		return false
	})
	_, base, _, err := s.LastIDs("BTCUSDT")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Fire(sim.Fault{Kind: sim.FaultTradeGap, Times: int(n)}); err != nil {
		t.Fatal(err)
	}
	for {
		_, last, _, _ := s.LastIDs("BTCUSDT")
		if last > base+n+20 {
			break
		}
		s.Advance(500)
	}
	simtest.WaitFor(t, 10*time.Second, "the limiter to hold the backfill", func() bool {
		return rg.rest.Stats().Waits > 0 && rg.g.Stats().Backfilled > 0
	})
	return rg, events
}

// checkContiguous checks that the trades and gaps delivered follow each
// other by ID up to the simulator's last trade, and returns the number of
// gap events.
func checkContiguous(t *testing.T, s *sim.Server, events []feed.Event) (gaps int) {
	t.Helper()
	var last int64
	for _, ev := range events {
		from := ev.ID
		if ev.Type == feed.TypeGap {
			from = ev.FirstID
			gaps++
		}
		if last != 0 && from != last+1 {
			t.Fatalf("%s %d..%d after %d", ev.Type, from, ev.ID, last)
		}
		last = ev.ID
	}
	if _, lastAgg, _, _ := s.LastIDs("BTCUSDT"); last != lastAgg {
		t.Fatalf("delivered up to %d, the simulator made %d", last, lastAgg)
	}
	return gaps
}

// tradeLog keeps the aggregate trades and trade gap events delivered.
type tradeLog struct {
	mu     sync.Mutex
	events []feed.Event
}

func (l *tradeLog) handle(ev *feed.Event) {
	if (ev.Type == feed.TypeTrade && ev.Aggregated) || (ev.Type == feed.TypeGap && ev.Missing == feed.TypeTrade) {
		l.mu.Lock()
		l.events = append(l.events, feed.Event{Type: ev.Type, ID: ev.ID, FirstID: ev.FirstID, Recovered: ev.Recovered, Reason: ev.Reason})
		l.mu.Unlock()
	}
}

func (l *tradeLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

// check fails unless trades and gap events cover contiguous IDs; it
// returns the gap events and the number of recovered trades.
func (l *tradeLog) check(t *testing.T) (gaps []feed.Event, recovered int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var last int64
	for _, ev := range l.events {
		from := ev.ID
		if ev.Type == feed.TypeGap {
			from = ev.FirstID
			gaps = append(gaps, ev)
		} else if ev.Recovered {
			recovered++
		}
		if last != 0 && from != last+1 {
			t.Fatalf("%s %d..%d delivered after %d", ev.Type, from, ev.ID, last)
		}
		last = ev.ID
	}
	return gaps, recovered
}

// makeGap skips the next n aggregate trades of the stream and makes the
// market trade until some trades after them have been sent.
func makeGap(t *testing.T, s *sim.Server, symbol string, n int) (from, to int64) {
	t.Helper()
	_, base, _, err := s.LastIDs(symbol)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Fire(sim.Fault{Kind: sim.FaultTradeGap, Times: n}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, last, _, _ := s.LastIDs(symbol); last > base+int64(n)+5 {
			return base + 1, base + int64(n)
		}
		s.Advance(50)
	}
}

// firstTrade makes the market trade until the gateway has delivered a
// trade, then waits for every trade made so far to be delivered.
func firstTrade(t *testing.T, s *sim.Server, l *tradeLog) {
	t.Helper()
	simtest.WaitFor(t, 10*time.Second, "a first trade", func() bool {
		if l.len() > 0 {
			return true
		}
		s.Advance(1)
		time.Sleep(5 * time.Millisecond)
		return false
	})
	settle(t, s, l)
}

// settle waits until the last BTCUSDT trade made has been delivered.
func settle(t *testing.T, s *sim.Server, l *tradeLog) {
	t.Helper()
	simtest.WaitFor(t, 5*time.Second, "the trades made so far", func() bool {
		_, last, _, _ := s.LastIDs("BTCUSDT")
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.events) > 0 && l.events[len(l.events)-1].ID == last
	})
}

// TestGapBeyondHistoryIsAnnounced: the venue keeps 300 trades and the gap
// is 2000 long. What it no longer has is announced by one gap event, the
// rest is recovered, and the stream goes on.
func TestGapBeyondHistoryIsAnnounced(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: -1, TradeShare: 1, History: 300})
	var l tradeLog
	rg := openRecovering(t, s, setup{streams: []string{"btcusdt@aggTrade"}, handler: l.handle})
	firstTrade(t, s, &l)
	from, to := makeGap(t, s, "BTCUSDT", 2000)
	simtest.WaitFor(t, 10*time.Second, "the backfill", func() bool {
		st := rg.g.Stats()
		return st.Gaps > 0 && st.BackfillPending == 0
	})
	rg.g.Close()
	gaps, recovered := l.check(t)
	if len(gaps) != 1 || gaps[0].FirstID != from || gaps[0].ID >= to || !strings.Contains(gaps[0].Reason, "history") {
		t.Fatalf("gap %d..%d: gap events %+v", from, to, gaps)
	}
	if st := rg.g.Stats(); recovered == 0 || int64(recovered) != to-gaps[0].ID || st.Unfilled != 1 || st.UnfilledIDs != gaps[0].ID-from+1 {
		t.Fatalf("recovered %d, stats %+v", recovered, st)
	}
}

// TestBanDuringBackfillIsAnnounced: the venue bans the client (418) as a
// gap is being recovered, for longer than recovery waits for a block to
// end (BlockWait). The gap is announced, no further request is sent until
// the ban ends, and the next gap after it is recovered.
func TestBanDuringBackfillIsAnnounced(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: -1, TradeShare: 1})
	var l tradeLog
	rg := openRecovering(t, s, setup{streams: []string{"btcusdt@aggTrade"}, handler: l.handle,
		rc: feed.RecoveryConfig{BlockWait: 300 * time.Millisecond}})
	firstTrade(t, s, &l)
	if err := s.Fire(sim.Fault{Kind: sim.FaultREST418, Duration: time.Second}); err != nil {
		t.Fatal(err)
	}
	from, to := makeGap(t, s, "BTCUSDT", 50)
	simtest.WaitFor(t, 10*time.Second, "the gap event", func() bool { return rg.g.Stats().Unfilled == 1 })
	sent := rg.rest.Stats().Requests
	banned := rg.rest.Stats().BannedUntil
	makeGap(t, s, "BTCUSDT", 20) // during the ban: announced without a request
	simtest.WaitFor(t, 10*time.Second, "the second gap event", func() bool { return rg.g.Stats().Unfilled == 2 })
	if rg.rest.Stats().Requests != sent || banned.IsZero() {
		t.Fatalf("%d requests sent during the ban (until %v)", rg.rest.Stats().Requests-sent, banned)
	}
	time.Sleep(time.Until(banned) + 10*time.Millisecond)
	makeGap(t, s, "BTCUSDT", 30)
	simtest.WaitFor(t, 10*time.Second, "the backfill after the ban", func() bool { return rg.g.Stats().Backfilled == 30 })
	rg.g.Close()
	gaps, recovered := l.check(t)
	if len(gaps) != 2 || gaps[0].FirstID != from || gaps[0].ID != to || !strings.Contains(gaps[0].Reason, "banned") || recovered != 30 {
		t.Fatalf("gap events %+v, %d recovered", gaps, recovered)
	}
	if st := rg.rest.Stats(); st.Bans != 1 {
		t.Fatalf("%d bans", st.Bans)
	}
}

// TestCloseDuringBackfill: while a backfill waits on a slow answer, the
// other symbol's book deltas keep flowing; Close cancels the backfill,
// announces what it had not recovered and delivers the live trades held
// behind it.
func TestCloseDuringBackfill(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT", "ETHUSDT"}, Rate: -1, TradeShare: 0.5})
	var l tradeLog
	var deltas atomic.Int64
	rg := openRecovering(t, s, setup{streams: []string{"btcusdt@aggTrade", "ethusdt@depth@100ms"}, handler: func(ev *feed.Event) {
		if ev.Type == feed.TypeBookDelta {
			deltas.Add(1)
		}
		l.handle(ev)
	}})
	firstTrade(t, s, &l)
	simtest.WaitFor(t, 10*time.Second, "the book in sync", func() bool {
		s.Advance(5)
		return rg.g.Stats().BooksInSync == 1
	})
	settle(t, s, &l)
	if err := s.Fire(sim.Fault{Kind: sim.FaultRESTSlow, Duration: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	from, to := makeGap(t, s, "BTCUSDT", 40)
	simtest.WaitFor(t, 5*time.Second, "held trades", func() bool { return rg.g.Stats().BackfillPending == 1 })
	before := deltas.Load()
	simtest.WaitFor(t, 5*time.Second, "the other symbol's deltas", func() bool {
		s.Advance(5)
		time.Sleep(10 * time.Millisecond)
		return deltas.Load() > before+5
	})
	if st := rg.g.Stats(); st.BackfillPending != 1 || st.Backfilled != 0 {
		t.Fatalf("the backfill went on before the slow answer: %+v", st)
	}
	start := time.Now()
	rg.g.Close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
	gaps, _ := l.check(t)
	l.mu.Lock()
	defer l.mu.Unlock()
	last := l.events[len(l.events)-1]
	if len(gaps) != 1 || gaps[0].FirstID != from || gaps[0].ID != to || !strings.Contains(gaps[0].Reason, "closed") ||
		last.Type != feed.TypeTrade || last.ID <= to {
		t.Fatalf("gap %d..%d: gap events %+v, last event %s %d", from, to, gaps, last.Type, last.ID)
	}
	if st := rg.g.Stats(); st.BackfillPending != 0 || st.Unfilled != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestFullBuffersLoseNothing: a 429 holds every REST call for two seconds
// while trades and diffs keep coming, past the buffers of 5 trades and 8
// diffs (0.8 s of diffs). The trades that do not fit are fetched over REST
// with the gap, the oldest diffs are dropped and the snapshot is newer than
// what is left: nothing is lost.
func TestFullBuffersLoseNothing(t *testing.T) {
	// no REST lag: a buffer of 5 trades cannot hold the 200 ms of trades a
	// lagging history keeps back (see RecoveryConfig.TradeBuffer)
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: 400, Levels: 60, RESTLag: -1})
	c := newConsumer(1, 50)
	rg := openRecovering(t, s, setup{streams: []string{"btcusdt@aggTrade", "btcusdt@depth@100ms"},
		rc: feed.RecoveryConfig{TradeBuffer: 5, BookBuffer: 8}, handler: c.handle})
	simtest.WaitFor(t, 10*time.Second, "the book in sync", func() bool { return rg.g.Stats().BooksInSync == 1 })
	for _, f := range []sim.Fault{{Kind: sim.FaultREST429, Duration: 2 * time.Second}, {Kind: sim.FaultTradeGap}, {Kind: sim.FaultDepthDrop}} {
		if err := s.Fire(f); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		st := rg.g.Stats()
		if st.Backfilled > 0 && st.BookSyncs >= 2 && st.BackfillPending == 0 && st.BooksInSync == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery: stats %+v, rest %+v", st, rg.rest.Stats())
		}
	}
	time.Sleep(300 * time.Millisecond)
	rg.g.Close()
	st := rg.g.Stats()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.problems {
		t.Error(p)
	}
	if st.HeldOverflow == 0 || st.DiffOverflow == 0 || st.Unfilled != 0 || rg.rest.Stats().RateLimited != 1 {
		t.Fatalf("stats %+v, rest %+v", st, rg.rest.Stats())
	}
	cs := c.symbols["BTCUSDT"]
	sym, _ := rg.symbols.Lookup("BTCUSDT")
	for _, cp := range cs.checkpoints {
		bs, err := s.BookAt("BTCUSDT", cp.id)
		if err != nil {
			t.Fatal(err)
		}
		if !sameLevels(cp.bids, truthLevels(t, sym, bs.Bids, c.depth)) || !sameLevels(cp.asks, truthLevels(t, sym, bs.Asks, c.depth)) {
			t.Fatalf("book at %d differs from the simulator's", cp.id)
		}
	}
	t.Logf("%d trades held past the buffer, %d diffs dropped, %d checkpoints", st.HeldOverflow, st.DiffOverflow, len(cs.checkpoints))
}

// tamper corrupts chosen answers of a Recovery.
type tamper struct {
	feed.Recovery
	mu    sync.Mutex
	n     int
	depth func(n int, ev *feed.Event) // the n-th snapshot answer, from 1
}

func (tp *tamper) Depth(ctx context.Context, symbol string, limit int, ev *feed.Event) error {
	err := tp.Recovery.Depth(ctx, symbol, limit, ev)
	if err == nil {
		tp.mu.Lock()
		tp.n++
		n := tp.n
		tp.mu.Unlock()
		tp.depth(n, ev)
	}
	return err
}

// TestBadSnapshotsAreCaught: a snapshot whose best bid is above its best
// ask is refused; a snapshot with one wrong quantity is loaded, and the
// periodic verification finds it and resyncs the book.
func TestBadSnapshotsAreCaught(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: 300, Levels: 60})
	c := newConsumer(1, 50)
	var wrongAt int64
	rg := openRecovering(t, s, setup{streams: []string{"btcusdt@depth@100ms"},
		rc: feed.RecoveryConfig{VerifyEvery: 200 * time.Millisecond},
		wrap: func(r feed.Recovery) feed.Recovery {
			return &tamper{Recovery: r, depth: func(n int, ev *feed.Event) {
				switch n {
				case 1: // crossed: a bid above the best ask
					ev.Bids = append([]feed.Level{{Price: ev.Asks[0].Price + 1, Qty: 1}}, ev.Bids...)
				case 2: // a wrong quantity deep in the book, where the market rarely changes it
					ev.Bids[len(ev.Bids)-5].Qty++
					wrongAt = ev.ID
				}
			}}
		},
		handler: c.handle})
	simtest.WaitFor(t, 20*time.Second, "a verification mismatch and a resync", func() bool {
		st := rg.g.Stats()
		return st.VerifyMismatches >= 1 && st.BookSyncs >= 2 && st.BooksInSync == 1 && st.VerifyMatches >= 1
	})
	rg.g.Close()
	st := rg.g.Stats()
	t.Logf("syncs %d, bad snapshots %d, verify %d/%d/%d", st.BookSyncs, st.BadSnapshots, st.VerifyMatches, st.VerifyMismatches, st.VerifySkipped)
	if st.BadSnapshots != 1 || st.BookResyncs < 1 || wrongAt == 0 {
		t.Fatalf("stats %+v", st)
	}
	// after the resync the book is right again
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := c.symbols["BTCUSDT"]
	sym, _ := rg.symbols.Lookup("BTCUSDT")
	last := cs.checkpoints[len(cs.checkpoints)-1]
	bs, err := s.BookAt("BTCUSDT", last.id)
	if err != nil {
		t.Fatal(err)
	}
	if !sameLevels(last.bids, truthLevels(t, sym, bs.Bids, c.depth)) || !sameLevels(last.asks, truthLevels(t, sym, bs.Asks, c.depth)) {
		t.Fatalf("book at %d still differs from the simulator's", last.id)
	}
}

// BenchmarkBackfill measures trade recovery end to end: a gap of 20 000
// aggregate trades is noticed on the stream, fetched from the simulator
// in pages of 1000 over TLS and HTTP/2, and delivered in order. Reported
// as trades recovered per second.
func BenchmarkBackfill(b *testing.B) {
	const gap = 20000
	s := simtest.Start(b, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: -1, TradeShare: 1, WeightLimit: 1 << 30})
	var delivered sync.WaitGroup
	var n atomic.Int64
	rg := openRecovering(b, s, setup{streams: []string{"btcusdt@aggTrade"}, handler: func(ev *feed.Event) {
		if ev.Recovered && n.Add(1) == gap {
			delivered.Done()
		}
	}})
	simtest.WaitFor(b, 10*time.Second, "a first trade", func() bool {
		s.Advance(1)
		time.Sleep(5 * time.Millisecond)
		return rg.g.Stats().Events > 1
	})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		_, base, _, _ := s.LastIDs("BTCUSDT")
		if err := s.Fire(sim.Fault{Kind: sim.FaultTradeGap, Times: gap}); err != nil {
			b.Fatal(err)
		}
		// each update makes one to three trades: stop short of the gap's end
		for _, last, _, _ := s.LastIDs("BTCUSDT"); last < base+gap-10; _, last, _, _ = s.LastIDs("BTCUSDT") {
			s.Advance(int(min(500, (base+gap-last)/3)))
		}
		n.Store(0)
		delivered.Add(1)
		b.StartTimer()
		for _, last, _, _ := s.LastIDs("BTCUSDT"); last <= base+gap; _, last, _, _ = s.LastIDs("BTCUSDT") {
			s.Advance(1) // the first trade after the gap reveals it
		}
		delivered.Wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*gap)/b.Elapsed().Seconds(), "trades/s")
}

// failingDepth is a Recovery whose snapshots always fail, counted.
type failingDepth struct {
	feed.Recovery
	calls atomic.Int64
}

func (f *failingDepth) Depth(ctx context.Context, symbol string, limit int, ev *feed.Event) error {
	f.calls.Add(1)
	return errors.New("binance: depth: qty \"1.5\": malformed")
}

// TestFailingSnapshotsSlowDown: a snapshot that can never be used is not
// fetched again every few seconds for ever: after five failures in a row
// the attempts wait SnapshotPause.
func TestFailingSnapshotsSlowDown(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: 300, Levels: 20})
	var fd *failingDepth
	rg := openRecovering(t, s, setup{streams: []string{"btcusdt@depth@100ms"},
		rc: feed.RecoveryConfig{RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond, SnapshotPause: 2 * time.Second},
		wrap: func(r feed.Recovery) feed.Recovery {
			fd = &failingDepth{Recovery: r}
			return fd
		},
		handler: func(*feed.Event) {}})
	simtest.WaitFor(t, 5*time.Second, "five failed snapshots", func() bool { return fd.calls.Load() >= 5 })
	time.Sleep(1500 * time.Millisecond)
	n := fd.calls.Load()
	rg.g.Close()
	if n > 6 {
		t.Fatalf("%d snapshot attempts in 1.5 s after five failures; want at most one more", n)
	}
	if st := rg.g.Stats(); st.BookSyncs != 0 || st.RecoveryErrors != n {
		t.Fatalf("stats %+v after %d attempts", st, n)
	}
}

// lagging is a Recovery whose trade history has not caught up with the
// stream for its first `behind` answers: they hold only the first half of
// what was asked (the first of them) and nothing (the others).
type lagging struct {
	feed.Recovery
	mu     sync.Mutex
	behind int
	calls  int
}

func (lg *lagging) AggTrades(ctx context.Context, symbol string, fromID int64, limit int, dst []feed.Event) ([]feed.Event, error) {
	lg.mu.Lock()
	lg.calls++
	n := lg.calls
	lg.mu.Unlock()
	switch {
	case n == 1:
		limit = max(1, limit/2)
		out, err := lg.Recovery.AggTrades(ctx, symbol, fromID, limit, dst)
		return out, err
	case n <= lg.behind:
		return dst, nil
	}
	return lg.Recovery.AggTrades(ctx, symbol, fromID, limit, dst)
}

// TestLaggingHistoryIsWaitedFor: Binance serves aggTrades from its
// database, the slowest source, so trades seen on the stream may not be
// there yet. A short or empty page near the live edge is asked again, and
// the gap is recovered whole, not announced as lost.
func TestLaggingHistoryIsWaitedFor(t *testing.T) {
	// the wrapper below is the lag: none from the simulator
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: -1, TradeShare: 1, RESTLag: -1})
	var l tradeLog
	rg := openRecovering(t, s, setup{streams: []string{"btcusdt@aggTrade"}, handler: l.handle,
		rc:   feed.RecoveryConfig{RetryMin: 10 * time.Millisecond, LagWait: 5 * time.Second},
		wrap: func(r feed.Recovery) feed.Recovery { return &lagging{Recovery: r, behind: 4} }})
	firstTrade(t, s, &l)
	from, to := makeGap(t, s, "BTCUSDT", 40)
	simtest.WaitFor(t, 10*time.Second, "the backfill", func() bool {
		st := rg.g.Stats()
		return st.Gaps > 0 && st.BackfillPending == 0
	})
	rg.g.Close()
	gaps, recovered := l.check(t)
	st := rg.g.Stats()
	if len(gaps) != 0 || int64(recovered) != to-from+1 || st.LagRetries < 3 {
		t.Fatalf("gap %d..%d: %d recovered, gap events %+v, stats %+v", from, to, recovered, gaps, st)
	}
}

// TestLaggingHistoryIsWaitedForABoundedTime: trades the venue's history
// never gets are announced as a gap after LagWait.
func TestLaggingHistoryIsWaitedForABoundedTime(t *testing.T) {
	// the wrapper below is the lag: none from the simulator
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: -1, TradeShare: 1, RESTLag: -1})
	var l tradeLog
	rg := openRecovering(t, s, setup{streams: []string{"btcusdt@aggTrade"}, handler: l.handle,
		rc:   feed.RecoveryConfig{RetryMin: 10 * time.Millisecond, LagWait: 300 * time.Millisecond},
		wrap: func(r feed.Recovery) feed.Recovery { return &lagging{Recovery: r, behind: 1 << 30} }})
	firstTrade(t, s, &l)
	start := time.Now()
	from, to := makeGap(t, s, "BTCUSDT", 40)
	simtest.WaitFor(t, 10*time.Second, "the gap event", func() bool { return rg.g.Stats().Unfilled == 1 })
	took := time.Since(start)
	rg.g.Close()
	gaps, recovered := l.check(t)
	if len(gaps) != 1 || gaps[0].ID != to || gaps[0].FirstID != from+int64(recovered) || recovered != 20 ||
		!strings.Contains(gaps[0].Reason, "not in the venue's history") || took < 300*time.Millisecond {
		t.Fatalf("gap %d..%d: %d recovered, gap events %+v after %v", from, to, recovered, gaps, took)
	}
}

// TestPlainTradeGapsAreBackfilled: gaps in the individual trade stream
// (@trade) are recovered over /api/v3/historicalTrades (no API key since
// 2023), merged in ID order and marked recovered, like aggregate trades.
func TestPlainTradeGapsAreBackfilled(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: -1, TradeShare: 1})
	var mu sync.Mutex
	var trades, gaps []feed.Event
	rg := openRecovering(t, s, setup{streams: []string{"btcusdt@trade"}, handler: func(ev *feed.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ev.Type == feed.TypeTrade:
			trades = append(trades, feed.Event{ID: ev.ID, Recovered: ev.Recovered, Aggregated: ev.Aggregated, Price: ev.Price, Qty: ev.Qty})
		case ev.Type == feed.TypeGap:
			gaps = append(gaps, *ev)
		}
	}})
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(trades)
	}
	simtest.WaitFor(t, 10*time.Second, "a first trade", func() bool {
		s.Advance(1)
		time.Sleep(5 * time.Millisecond)
		return count() > 0
	})
	_, _, base, err := s.LastIDs("BTCUSDT")
	if err != nil {
		t.Fatal(err)
	}
	const n = 1500 // more than one page of 1000
	if err := s.Fire(sim.Fault{Kind: sim.FaultTradeGap, Times: n}); err != nil {
		t.Fatal(err)
	}
	for _, _, last, _ := s.LastIDs("BTCUSDT"); last < base+n+20; _, _, last, _ = s.LastIDs("BTCUSDT") {
		s.Advance(50)
	}
	simtest.WaitFor(t, 20*time.Second, "the backfill", func() bool {
		st := rg.g.Stats()
		return st.Gaps > 0 && st.BackfillPending == 0
	})
	rg.g.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(gaps) != 0 {
		t.Fatalf("gap events %+v", gaps)
	}
	recovered := 0
	for i, tr := range trades {
		if tr.Aggregated || (i > 0 && tr.ID != trades[i-1].ID+1) {
			t.Fatalf("trade %d (agg %v) after %d", tr.ID, tr.Aggregated, trades[i-1].ID)
		}
		if tr.Recovered {
			recovered++
		}
	}
	if recovered != n {
		t.Fatalf("%d trades recovered, want %d", recovered, n)
	}
}

// TestBooksThroughCapsHaltsAndTickChanges: Binance caps depth quantities
// too large for the base asset's precision (92233720368.54775807, more
// decimals than a step of 1 allows), halts symbols (their streams fall
// silent) and changes tick sizes while running. The books stay equal to
// the simulator's through all of it, no frame is dropped, every trade is
// delivered, and the halt, the return to trading and the new tick are
// announced.
func TestBooksThroughCapsHaltsAndTickChanges(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT", "DOGEUSDT:0.00001:1"}, Rate: 400, Levels: 60})
	c := newConsumer(3, 20)
	var mu sync.Mutex
	var statuses []feed.Event
	var cappedEvents int
	rg := openRecovering(t, s, setup{
		streams: []string{"btcusdt@depth@100ms", "dogeusdt@depth@100ms", "btcusdt@aggTrade"},
		refresh: 200 * time.Millisecond,
		rc:      feed.RecoveryConfig{DepthLimit: 100},
		handler: func(ev *feed.Event) {
			c.handle(ev)
			mu.Lock()
			defer mu.Unlock()
			if ev.Type == feed.TypeStatus && ev.Symbol != "" {
				statuses = append(statuses, *ev)
			}
			if ev.Capped {
				cappedEvents++
			}
		}})
	simtest.WaitFor(t, 10*time.Second, "both books in sync", func() bool { return rg.g.Stats().BooksInSync == 2 })
	fire := func(f sim.Fault) {
		t.Helper()
		if err := s.Fire(f); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		fire(sim.Fault{Kind: sim.FaultQtyCap, Symbol: "DOGEUSDT"})
		time.Sleep(100 * time.Millisecond)
	}
	fire(sim.Fault{Kind: sim.FaultHalt, Symbol: "BTCUSDT", Duration: time.Second})
	time.Sleep(1500 * time.Millisecond)
	fire(sim.Fault{Kind: sim.FaultFilters, Symbol: "BTCUSDT", Variant: "tick"})
	simtest.WaitFor(t, 10*time.Second, "the new tick announced and the book in sync again", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := len(statuses)
		return n > 0 && statuses[n-1].Status == feed.StatusInstrument && rg.g.Stats().BooksInSync == 2
	})
	time.Sleep(500 * time.Millisecond)
	rg.g.Close()

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.problems {
		t.Error(p)
	}
	mu.Lock()
	defer mu.Unlock()
	var kinds []string
	for _, st := range statuses {
		kinds = append(kinds, st.Status.String())
	}
	if !slices.Equal(kinds, []string{"halted", "trading", "instrument"}) || !strings.Contains(statuses[2].Reason, "price scale 2→3") {
		t.Fatalf("status events %v: %+v", kinds, statuses)
	}
	if cappedEvents == 0 {
		t.Fatal("no capped quantity delivered")
	}
	st := rg.g.Stats()
	if st.Malformed != 0 || st.Unfilled != 0 {
		t.Fatalf("stats %+v", st)
	}
	var tickChanged bool
	for sym, cs := range c.symbols {
		if len(cs.checkpoints) < 10 {
			t.Fatalf("%s: %d checkpoints", sym, len(cs.checkpoints))
		}
		for _, cp := range cs.checkpoints {
			bs, err := s.BookAt(sym, cp.id)
			if err != nil {
				t.Fatal(err)
			}
			if !sameLevels(cp.bids, truthAt(t, cp.ps, cp.qs, bs.Bids, c.depth)) || !sameLevels(cp.asks, truthAt(t, cp.ps, cp.qs, bs.Asks, c.depth)) {
				t.Fatalf("%s: book at %d (scales %d/%d) differs from the simulator's", sym, cp.id, cp.ps, cp.qs)
			}
			tickChanged = tickChanged || (sym == "BTCUSDT" && cp.ps == 3)
		}
	}
	if !tickChanged {
		t.Fatal("no checkpoint at the new tick")
	}
	t.Logf("%d status events, %d capped events, stats %+v", len(statuses), cappedEvents, st)
}

// TestSimulatorsLaggingHistoryIsWaitedFor: the simulator serves aggTrades
// as Binance does, from a history that lags the stream (here by up to 2 s
// on a few answers, the rest-lag fault), while trades keep coming. Every
// trade is delivered in order, none announced lost.
func TestSimulatorsLaggingHistoryIsWaitedFor(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: 200, TradeShare: 0.5})
	c := newConsumer(1000, 1)
	rg := openRecovering(t, s, setup{streams: []string{"btcusdt@aggTrade"}, handler: c.handle,
		rc: feed.RecoveryConfig{RetryMin: 20 * time.Millisecond}})
	simtest.WaitFor(t, 10*time.Second, "trades", func() bool { return rg.g.Stats().Events > 20 })
	if err := s.Fire(sim.Fault{Kind: sim.FaultRESTLag, Times: 4, Duration: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.Fire(sim.Fault{Kind: sim.FaultTradeGap, Times: 30}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond)
	}
	simtest.WaitFor(t, 20*time.Second, "the backfills", func() bool {
		st := rg.g.Stats()
		return st.Gaps >= 3 && st.BackfillPending == 0
	})
	rg.g.Close()
	st := rg.g.Stats()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.problems {
		t.Error(p)
	}
	if st.Unfilled != 0 || st.Backfilled < 60 || st.LagRetries == 0 {
		t.Fatalf("stats %+v", st)
	}
	// every trade the simulator made from the first delivered to the last
	trades := c.symbols["BTCUSDT"].trades
	truth, err := s.AggTrades("BTCUSDT", trades[0].ID, trades[len(trades)-1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(truth) != len(trades) {
		t.Fatalf("%d trades delivered, the simulator made %d", len(trades), len(truth))
	}
	t.Logf("%d trades, %d recovered, %d pages asked again", len(trades), st.Backfilled, st.LagRetries)
}

// TestFirewallBlockIsWaitedOut: Binance's firewall answers 403, and the
// client holds every call for a while (its own backoff, not the weight
// limiter's). A trade gap met meanwhile is recovered once the block ends,
// not announced as lost; the book syncs after it too.
func TestFirewallBlockIsWaitedOut(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: -1, TradeShare: 1})
	var l tradeLog
	rg := openRecovering(t, s, setup{streams: []string{"btcusdt@aggTrade"}, handler: l.handle,
		rest: httpx.Config{ForbiddenBackoff: 400 * time.Millisecond}})
	firstTrade(t, s, &l)
	if err := s.Fire(sim.Fault{Kind: sim.FaultREST403, Times: 1}); err != nil {
		t.Fatal(err)
	}
	from, to := makeGap(t, s, "BTCUSDT", 50)
	simtest.WaitFor(t, 10*time.Second, "the backfill", func() bool {
		st := rg.g.Stats()
		return st.Gaps > 0 && st.BackfillPending == 0
	})
	rg.g.Close()
	gaps, recovered := l.check(t)
	if len(gaps) != 0 || int64(recovered) != to-from+1 {
		t.Fatalf("gap %d..%d: %d recovered, gap events %+v", from, to, recovered, gaps)
	}
	if st := rg.rest.Stats(); st.Forbidden != 1 || st.RateLimited != 0 || st.Bans != 0 {
		t.Fatalf("rest stats %+v", st)
	}
}

// TestTradeGapsAreLoggedAndAddUp: an operator reading stderr sees each
// trade gap found and closed, and the counters add up: the IDs missing in
// trade gaps are the IDs backfilled plus those announced lost.
func TestTradeGapsAreLoggedAndAddUp(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: -1, TradeShare: 1, History: 300})
	var logs syncBuffer
	var l tradeLog
	rg := openRecovering(t, s, setup{streams: []string{"btcusdt@aggTrade"}, handler: l.handle,
		log: slog.New(slog.NewTextHandler(&logs, nil))})
	firstTrade(t, s, &l)
	from, to := makeGap(t, s, "BTCUSDT", 30)
	simtest.WaitFor(t, 10*time.Second, "the backfill", func() bool {
		st := rg.g.Stats()
		return st.Gaps > 0 && st.BackfillPending == 0
	})
	makeGap(t, s, "BTCUSDT", 2000) // beyond the history kept: partly lost
	simtest.WaitFor(t, 10*time.Second, "the second backfill", func() bool {
		st := rg.g.Stats()
		return st.Gaps > 1 && st.BackfillPending == 0
	})
	rg.g.Close()
	st := rg.g.Stats()
	if st.TradeGaps != 2 || st.TradeMissing != st.Backfilled+st.UnfilledIDs || st.UnfilledIDs == 0 {
		t.Fatalf("trade gaps %d, missing %d = backfilled %d + unfilled %d?", st.TradeGaps, st.TradeMissing, st.Backfilled, st.UnfilledIDs)
	}
	out := logs.String()
	for _, want := range []string{
		fmt.Sprintf("trade gap found: recovering it over REST\" venue=binance symbol=BTCUSDT agg=true from=%d to=%d ids=30", from, to),
		fmt.Sprintf("trade gap closed\" venue=binance symbol=BTCUSDT agg=true from=%d to=%d ids=30", from, to),
		"msg=\"trade gap not recovered\"",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr does not say %q:\n%s", want, out)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the gateway's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestResumeRecoversTheDowntime: a gateway stops; trades go on for a while
// with none running; the next one, opened with the first one's positions,
// recovers every trade in between (both kinds), in order, and the two
// runs' outputs together have each trade once. Positions older than
// ResumeMaxAge get the downtime announced instead.
func TestResumeRecoversTheDowntime(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: -1, TradeShare: 1})
	type got struct {
		agg  bool
		id   int64
		rec  bool
		gap  bool
		from int64
	}
	var mu sync.Mutex
	var out []got
	handler := func(ev *feed.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch ev.Type {
		case feed.TypeTrade:
			out = append(out, got{agg: ev.Aggregated, id: ev.ID, rec: ev.Recovered})
		case feed.TypeGap:
			out = append(out, got{agg: ev.Aggregated, id: ev.ID, gap: true, from: ev.FirstID})
		}
	}
	streams := []string{"btcusdt@aggTrade", "btcusdt@trade"}
	first := openRecovering(t, s, setup{streams: streams, handler: handler})
	simtest.WaitFor(t, 10*time.Second, "trades", func() bool {
		s.Advance(5)
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		return len(out) > 20
	})
	first.g.Close()
	pos := first.g.Positions()
	if len(pos) != 2 {
		t.Fatalf("positions %+v", pos)
	}
	s.Advance(400) // the market goes on while no gateway runs: hundreds of trades of each kind

	second := openRecovering(t, s, setup{streams: streams, handler: handler, resume: pos})
	simtest.WaitFor(t, 10*time.Second, "the downtime recovered", func() bool {
		s.Advance(1)
		time.Sleep(10 * time.Millisecond)
		st := second.g.Stats()
		return st.TradeGaps == 2 && st.BackfillPending == 0
	})
	second.g.Close()
	mu.Lock()
	checkOnce := func(agg bool) int {
		t.Helper()
		var last int64
		recovered := 0
		for _, g := range out {
			if g.agg != agg {
				continue
			}
			if g.gap {
				t.Fatalf("gap announced: %+v", g)
			}
			if last != 0 && g.id != last+1 {
				t.Fatalf("agg %v: trade %d after %d", agg, g.id, last)
			}
			last = g.id
			if g.rec {
				recovered++
			}
		}
		return recovered
	}
	ra, rt := checkOnce(true), checkOnce(false)
	out = nil
	mu.Unlock()
	if ra < 100 || rt < 100 {
		t.Fatalf("recovered %d aggregate and %d individual trades", ra, rt)
	}

	// positions older than the limit: the downtime is announced, once per sequence
	old := second.g.Positions()
	for i := range old {
		old[i].Time -= int64(2 * time.Hour)
	}
	s.Advance(50)
	third := openRecovering(t, s, setup{streams: streams, handler: handler, resume: old})
	simtest.WaitFor(t, 10*time.Second, "the downtime announced", func() bool {
		s.Advance(1)
		time.Sleep(10 * time.Millisecond)
		return third.g.Stats().Unfilled == 2
	})
	third.g.Close()
	mu.Lock()
	defer mu.Unlock()
	gaps := 0
	for _, g := range out {
		if g.gap {
			gaps++
			if g.from != old[0].ID+1 && g.from != old[1].ID+1 {
				t.Fatalf("gap %+v does not start after a position %+v", g, old)
			}
		}
		if g.rec {
			t.Fatalf("recovered %+v beyond the resume limit", g)
		}
	}
	if gaps != 2 {
		t.Fatalf("%d gap events", gaps)
	}
}

// TestGatewayEventsCarryTheInstrument: the events the gateway makes itself
// (derived snapshots and tops of book, gaps, recovered trades) carry the
// instrument of the events they stand for.
func TestGatewayEventsCarryTheInstrument(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: 300, TradeShare: 0.5, History: 300, Levels: 30})
	var mu sync.Mutex
	seen := map[string]string{} // kind → instrument
	rg := openRecovering(t, s, setup{streams: []string{"btcusdt@aggTrade", "btcusdt@depth@100ms"}, handler: func(ev *feed.Event) {
		kind := ev.Type.String()
		switch {
		case ev.Derived:
			kind = "derived " + kind
		case ev.Recovered:
			kind = "recovered " + kind
		}
		mu.Lock()
		seen[kind] = ev.Instrument
		mu.Unlock()
	}})
	simtest.WaitFor(t, 10*time.Second, "the book in sync", func() bool { return rg.g.Stats().BooksInSync == 1 })
	if err := s.Fire(sim.Fault{Kind: sim.FaultTradeGap, Times: 5}); err != nil {
		t.Fatal(err)
	}
	simtest.WaitFor(t, 10*time.Second, "a trade recovered", func() bool { return rg.g.Stats().Backfilled > 0 })
	if err := s.Fire(sim.Fault{Kind: sim.FaultTradeGap, Times: 2000}); err != nil { // beyond the history kept
		t.Fatal(err)
	}
	simtest.WaitFor(t, 20*time.Second, "a gap announced", func() bool { return rg.g.Stats().Unfilled > 0 })
	rg.g.Close()
	mu.Lock()
	defer mu.Unlock()
	for _, kind := range []string{"trade", "book_delta", "derived book_snapshot", "derived top_of_book", "recovered trade", "gap"} {
		if got, ok := seen[kind]; !ok || got != "BTC-USDT" {
			t.Errorf("%s: instrument %q (seen %v)", kind, got, ok)
		}
	}
}

// banned is a REST ban's error: it passes by itself (Wait).
type banned struct{}

func (banned) Error() string       { return "banned" }
func (banned) Wait() time.Duration { return 50 * time.Millisecond }

// blocked is a Recovery whose trade calls fail while on is set, as under
// a REST ban.
type blocked struct {
	feed.Recovery
	on *atomic.Bool
}

func (b *blocked) AggTrades(ctx context.Context, symbol string, from int64, limit int, buf []feed.Event) ([]feed.Event, error) {
	if b.on.Load() {
		return buf, banned{}
	}
	return b.Recovery.AggTrades(ctx, symbol, from, limit, buf)
}

// TestLeftGapsAreRecoveredByTheNextRun: a gateway that a next one will
// resume (LeaveGaps, a state file) closes while a trade gap is still being
// recovered: it announces nothing and holds back the trades after the gap;
// its positions stay below the gap; the next gateway, resumed from them,
// recovers the gap and everything after: the two runs' outputs together
// have each trade once, in order, and no gap event.
func TestLeftGapsAreRecoveredByTheNextRun(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Rate: -1, TradeShare: 1})
	var mu sync.Mutex
	var ids []int64
	gaps := 0
	handler := func(ev *feed.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch ev.Type {
		case feed.TypeTrade:
			ids = append(ids, ev.ID)
		case feed.TypeGap:
			gaps++
		}
	}
	var block atomic.Bool
	streams := []string{"btcusdt@aggTrade"}
	first := openRecovering(t, s, setup{streams: streams, handler: handler, leave: true,
		rc:   feed.RecoveryConfig{RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond},
		wrap: func(r feed.Recovery) feed.Recovery { return &blocked{Recovery: r, on: &block} }})
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(ids) }
	simtest.WaitFor(t, 10*time.Second, "trades", func() bool { s.Advance(5); time.Sleep(5 * time.Millisecond); return count() > 20 })
	block.Store(true)
	if err := s.SetFaults(sim.Fault{Kind: sim.FaultTradeGap, Times: 3}); err != nil {
		t.Fatal(err)
	}
	simtest.WaitFor(t, 10*time.Second, "a gap being recovered, trades held behind it", func() bool {
		s.Advance(5)
		time.Sleep(5 * time.Millisecond)
		st := first.g.Stats()
		return st.BackfillPending > 0 && s.FaultCounts()[sim.FaultTradeGap] >= 3
	})
	s.Advance(50)
	time.Sleep(100 * time.Millisecond)
	first.g.Close()
	pos := first.g.Positions()
	mu.Lock()
	delivered, lastBefore := len(ids), ids[len(ids)-1]
	mu.Unlock()
	if gaps != 0 || len(pos) != 1 || pos[0].ID != lastBefore {
		t.Fatalf("closed with a gap left: %d gap events, positions %+v, last delivered %d", gaps, pos, lastBefore)
	}

	block.Store(false)
	if err := s.SetFaults(); err != nil {
		t.Fatal(err)
	}
	s.Advance(20)
	second := openRecovering(t, s, setup{streams: streams, handler: handler, resume: pos})
	simtest.WaitFor(t, 10*time.Second, "the gap and the downtime recovered", func() bool {
		s.Advance(1)
		time.Sleep(10 * time.Millisecond)
		return count() > delivered+60 && second.g.Stats().BackfillPending == 0
	})
	second.g.Close()
	mu.Lock()
	defer mu.Unlock()
	if gaps != 0 {
		t.Fatalf("%d gap events", gaps)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] != ids[i-1]+1 {
			t.Fatalf("trade %d after %d (the first run delivered %d, up to %d)", ids[i], ids[i-1], delivered, lastBefore)
		}
	}
}
