package feed

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/feedkeeper/feedkeeper/book"
	"github.com/feedkeeper/feedkeeper/internal/backoff"
	"github.com/feedkeeper/feedkeeper/internal/logthrottle"
)

// RecoveryConfig tunes how a Gateway with a Recovery fills trade gaps and
// keeps order books in sync. The zero value of each field is its default.
type RecoveryConfig struct {
	// Workers is the number of goroutines doing the REST work, each on
	// one symbol at a time. Default 4.
	Workers int
	// PageSize is the number of trades asked for per request. Default 1000.
	PageSize int
	// MaxPages bounds the requests spent on one gap; what is still missing
	// after them is reported by a TypeGap event. Default 100.
	MaxPages int
	// TradeBuffer bounds the live trades held per symbol while its gaps
	// are recovered. Past it, further live trades are not kept but fetched
	// over REST with the gap. Default 10000. It must hold the trades of
	// the venue's REST lag (trade rate × lag, see LagWait): a smaller one
	// makes the gap follow the live edge for as long as trades keep coming.
	TradeBuffer int

	// DepthLimit is the number of levels a side asked of each snapshot, at
	// most what the venue serves (Binance: 5000). A snapshot with fewer
	// levels on a side is taken for the whole side. Default 1000 (Binance:
	// weight 50; 5000 weighs 250).
	DepthLimit int
	// BookBuffer bounds the diffs held per symbol while its snapshot is
	// fetched; past it the oldest are dropped, so the snapshot must be
	// newer than what is left. Default 1000.
	BookBuffer int
	// BookLevels bounds each side of a local book (see book.New); at least
	// DepthLimit. Default book.DefaultMaxLevels.
	BookLevels int
	// VerifyEvery, when positive, compares each book in sync with a fresh
	// snapshot about this often; a mismatch resyncs the book. Default 0:
	// never.
	VerifyEvery time.Duration
	// RetryMin and RetryMax bound the backoff between snapshot attempts
	// that failed or came back older than the diffs held. Defaults 100ms
	// and 5s.
	RetryMin, RetryMax time.Duration
	// LagWait bounds how long a trade gap near the live edge is asked for
	// again: a venue's REST history can lag its stream (Binance serves
	// aggTrades from its database, "the slowest source"), so an empty or
	// short page for IDs the stream already passed means "not yet". Only
	// after LagWait without them are they announced by a TypeGap event.
	// Default 30s.
	LagWait time.Duration
	// BlockWait bounds how long recovery waits out a block of the venue
	// that ends by itself (an error with a Wait method returning a
	// non-negative duration: Binance's firewall answering 403, a 418 ban)
	// before the trades it holds back are announced by a TypeGap event; no
	// request is sent meanwhile. A snapshot waits for the block's end
	// whatever its length. Default 2 minutes.
	BlockWait time.Duration
	// SnapshotPause is the wait between snapshot attempts once five in a
	// row have failed (a snapshot the client cannot use, a venue refusing
	// it): a book that cannot sync costs little weight. Default 1 minute.
	SnapshotPause time.Duration
}

func (c *RecoveryConfig) fill() error {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Workers, 4)
	def(&c.PageSize, 1000)
	def(&c.MaxPages, 100)
	def(&c.TradeBuffer, 10000)
	def(&c.DepthLimit, 1000)
	def(&c.BookBuffer, 1000)
	def(&c.BookLevels, max(book.DefaultMaxLevels, c.DepthLimit))
	if c.RetryMin == 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 5 * time.Second
	}
	if c.BlockWait == 0 {
		c.BlockWait = 2 * time.Minute
	}
	if c.LagWait == 0 {
		c.LagWait = 30 * time.Second
	}
	if c.SnapshotPause == 0 {
		c.SnapshotPause = time.Minute
	}
	for name, v := range map[string]int{"Workers": c.Workers, "PageSize": c.PageSize, "MaxPages": c.MaxPages,
		"TradeBuffer": c.TradeBuffer, "DepthLimit": c.DepthLimit, "BookBuffer": c.BookBuffer} {
		if v < 1 {
			return fmt.Errorf("feed: RecoveryConfig.%s: %d must be at least 1", name, v)
		}
	}
	switch {
	case c.BookLevels < c.DepthLimit:
		return fmt.Errorf("feed: RecoveryConfig.BookLevels: %d is below DepthLimit %d", c.BookLevels, c.DepthLimit)
	case c.VerifyEvery < 0:
		return fmt.Errorf("feed: RecoveryConfig.VerifyEvery: %v is negative", c.VerifyEvery)
	case c.RetryMin <= 0 || c.RetryMax < c.RetryMin:
		return fmt.Errorf("feed: RecoveryConfig.RetryMin %v, RetryMax %v: want 0 < min <= max", c.RetryMin, c.RetryMax)
	case c.LagWait < 0:
		return fmt.Errorf("feed: RecoveryConfig.LagWait: %v is negative", c.LagWait)
	case c.SnapshotPause < c.RetryMax:
		return fmt.Errorf("feed: RecoveryConfig.SnapshotPause %v is below RetryMax %v", c.SnapshotPause, c.RetryMax)
	}
	return nil
}

// recovery is the Gateway's REST side: the per-symbol recovery states
// (guarded by Gateway.mu) and the workers that run its jobs.
type recovery struct {
	src Recovery
	cfg RecoveryConfig

	trades map[tradeKey]*tradeGaps // guarded by Gateway.mu
	books  map[string]*bookSync    // by symbol; guarded by Gateway.mu
	snap   Event                   // the Derived snapshot being delivered; guarded by Gateway.mu
	levels []book.Level            // scratch of the book's levels; guarded by Gateway.mu

	jobs   jobQueue
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	stats   recoveryCounters
	failLog logthrottle.Limiter // REST failures: one line per logEvery
}

type recoveryCounters struct {
	backfilled, unfilled, unfilledIDs, pending atomic.Int64
	syncs, resyncs, stale, bad, inSync         atomic.Int64
	verifyMatch, verifyMismatch, verifySkip    atomic.Int64
	restErrors, overflowTrades, overflowDiffs  atomic.Int64
	lagRetries                                 atomic.Int64
	checksumMismatch, streamResubscribes       atomic.Int64
}

// jobKind says what a job recovers.
type jobKind uint8

const (
	jobTrades   jobKind = iota // fill a symbol's trade gaps
	jobSnapshot                // (re)sync a symbol's book
	jobVerify                  // compare a symbol's book with a fresh snapshot
)

type job struct {
	kind   jobKind
	symbol string
	agg    bool // jobTrades: aggregate trades, not individual ones
}

// tradeKey names a sequence of trade IDs: a symbol's aggregate trades or
// its individual trades.
type tradeKey struct {
	symbol string
	agg    bool
}

// jobQueue hands jobs to the workers. Each symbol has at most one job of
// each kind queued or running (flags in its state), so it stays small.
type jobQueue struct {
	mu    sync.Mutex
	items []job
	ready chan struct{}
}

func (q *jobQueue) push(j job) {
	q.mu.Lock()
	q.items = append(q.items, j)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *jobQueue) pop(ctx context.Context) (job, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			j := q.items[0]
			n := copy(q.items, q.items[1:])
			q.items = q.items[:n]
			q.mu.Unlock()
			if n > 0 {
				select {
				case q.ready <- struct{}{}:
				default:
				}
			}
			return j, true
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-ctx.Done():
			return job{}, false
		}
	}
}

func newRecovery(src Recovery, cfg RecoveryConfig) (*recovery, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	r := &recovery{
		src:     src,
		cfg:     cfg,
		trades:  make(map[tradeKey]*tradeGaps),
		books:   make(map[string]*bookSync),
		jobs:    jobQueue{ready: make(chan struct{}, 1)},
		failLog: logthrottle.Limiter{Every: logEvery},
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// start runs the workers of g.
func (r *recovery) start(g *Gateway) {
	for range r.cfg.Workers {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			w := &worker{g: g}
			for {
				j, ok := r.jobs.pop(r.ctx)
				if !ok {
					return
				}
				switch j.kind {
				case jobTrades:
					w.backfill(tradeKey{j.symbol, j.agg})
				case jobSnapshot:
					w.syncBook(j.symbol)
				case jobVerify:
					w.verifyBook(j.symbol)
				}
			}
		}()
	}
}

// stop cancels the REST calls in flight and waits for the workers.
func (r *recovery) stop() {
	r.cancel()
	r.wg.Wait()
}

// worker is one recovery goroutine with its scratch space.
type worker struct {
	g    *Gateway
	page []Event
	snap Event
}

// restFailed counts a failed recovery call and logs it, at most once
// every 10 seconds.
func (g *Gateway) restFailed(what, symbol string, err error) {
	r := g.rec
	n := r.stats.restErrors.Add(1)
	if ok, _ := r.failLog.Allow(); !ok {
		return
	}
	g.log.Warn("recovery call failed", "what", what, "symbol", symbol, "err", err, "failures_total", n)
}

// idRange is the IDs from..to, both included, still missing of a gap that
// began at first.
type idRange struct{ first, from, to int64 }

// tradeGaps is the recovery state of one symbol's aggregate or individual
// trades. All of it is guarded by Gateway.mu.
//
// Invariant: every ID in missing and held is above every ID delivered;
// missing is ascending and disjoint; held is ascending and holds no ID of
// missing. Delivery order is the merge of the two.
type tradeGaps struct {
	symbol, venue string
	instrument    string
	agg           bool // aggregate trades
	missing       []idRange
	held          []Event // live trades waiting for the gaps below them; held[head:] not yet delivered
	head          int
	queued        bool // a backfill job is queued or running
}

// addMissing records from..to, above everything recorded so far.
func (t *tradeGaps) addMissing(from, to int64) {
	if n := len(t.missing); n > 0 && t.missing[n-1].to+1 == from {
		t.missing[n-1].to = to
		return
	}
	t.missing = append(t.missing, idRange{first: from, from: from, to: to})
}

// tradeGap starts recovering the trades from..to missing before ev.
func (g *Gateway) tradeGap(ev *Event, from, to int64) {
	r := g.rec
	k := tradeKey{ev.Symbol, ev.Aggregated}
	t := r.trades[k]
	if t == nil {
		t = &tradeGaps{symbol: ev.Symbol, venue: ev.Venue, instrument: ev.Instrument, agg: ev.Aggregated}
		r.trades[k] = t
	}
	t.addMissing(from, to)
	if ok, held := g.gapLog.Allow(); ok {
		g.log.Info("trade gap found: recovering it over REST", "symbol", t.symbol, "agg", t.agg, "from", from, "to", to,
			"ids", to-from+1, "lines_suppressed", held)
	}
	if !t.queued {
		t.queued = true
		r.stats.pending.Add(1)
		r.jobs.push(job{jobTrades, t.symbol, t.agg})
	}
}

// holdTrade keeps a live trade back while gaps below it are recovered; it
// reports whether it did (the trade is then delivered later, in order).
func (g *Gateway) holdTrade(ev *Event) bool {
	t := g.rec.trades[tradeKey{ev.Symbol, ev.Aggregated}]
	if t == nil || !t.queued {
		return false
	}
	if len(t.held)-t.head >= g.rec.cfg.TradeBuffer {
		g.rec.stats.overflowTrades.Add(1)
		t.addMissing(ev.ID, ev.ID)
		return true
	}
	t.held = append(t.held, *ev)
	h := &t.held[len(t.held)-1]
	h.Bids, h.Asks = nil, nil
	return true
}

// heldKept is the most held trades whose room is kept for the next gap
// once every one has been delivered.
const heldKept = 256

// releaseHeld delivers the held trades below the first missing range (all
// of them when none is left).
func (g *Gateway) releaseHeld(t *tradeGaps) {
	limit := int64(1<<63 - 1)
	if len(t.missing) > 0 {
		limit = t.missing[0].from
	}
	for t.head < len(t.held) && t.held[t.head].ID < limit {
		g.deliver(&t.held[t.head])
		t.held[t.head] = Event{}
		t.head++
	}
	if t.head == len(t.held) {
		t.held, t.head = t.held[:0], 0
		if cap(t.held) > heldKept { // the backlog of a long gap: let it go
			t.held = nil
		}
	} else if t.head > 0 {
		n := copy(t.held, t.held[t.head:])
		clear(t.held[n:])
		t.held, t.head = t.held[:n], 0
	}
}

// unfilled reports the trades from..to of t as lost for good.
func (g *Gateway) unfilled(t *tradeGaps, from, to int64, reason string) {
	r := g.rec
	r.stats.unfilled.Add(1)
	r.stats.unfilledIDs.Add(to - from + 1)
	if ok, held := g.gapLog.Allow(); ok {
		g.log.Warn("trade gap not recovered", "symbol", t.symbol, "agg", t.agg, "from", from, "to", to, "ids", to-from+1,
			"reason", reason, "lines_suppressed", held)
	}
	gap := &g.aux
	*gap = Event{Type: TypeGap, Missing: TypeTrade, Aggregated: t.agg, Venue: t.venue, Symbol: t.symbol, Instrument: t.instrument,
		FirstID: from, ID: to, ReceiveTime: time.Now().UnixNano(), Reason: reason, Bids: gap.Bids[:0], Asks: gap.Asks[:0]}
	g.deliver(gap)
}

// popMissing drops the first missing range, done with.
func (t *tradeGaps) popMissing() {
	n := copy(t.missing, t.missing[1:])
	t.missing = t.missing[:n]
}

// backfill recovers the gaps of symbol's trades, first to last, delivering
// the recovered trades and the held live ones in ID order, until none is
// left. If the gateway closes first, what is left stays for Close.
func (w *worker) backfill(k tradeKey) {
	g := w.g
	for {
		g.mu.Lock()
		t := g.rec.trades[k]
		g.releaseHeld(t)
		if len(t.missing) == 0 {
			t.queued = false
			g.rec.stats.pending.Add(-1)
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		if !w.fillFirst(t) {
			return
		}
	}
}

// fillFirst fetches the first missing range of t page by page and
// delivers it; it returns false if the gateway is closing. A page that
// comes back short before the range is done means the venue's history has
// not caught up with its stream yet: it is asked again, with backoff, for
// up to LagWait before the rest is announced as lost.
func (w *worker) fillFirst(t *tradeGaps) bool {
	g, r := w.g, w.g.rec
	var waited, blocked time.Duration
	delay := r.cfg.RetryMin
	for pages := 0; ; {
		g.mu.Lock()
		rg := t.missing[0]
		g.mu.Unlock()
		if pages == r.cfg.MaxPages {
			g.mu.Lock()
			g.unfilled(t, t.missing[0].from, t.missing[0].to, "gap larger than "+strconv.Itoa(r.cfg.MaxPages)+" pages")
			t.popMissing()
			g.mu.Unlock()
			return true
		}
		n := int(min(int64(r.cfg.PageSize), rg.to-rg.from+1))
		var err error
		what := "trades"
		if t.agg {
			what = "aggTrades"
			w.page, err = r.src.AggTrades(r.ctx, t.symbol, rg.from, n, w.page[:0])
		} else {
			w.page, err = r.src.Trades(r.ctx, t.symbol, rg.from, n, w.page[:0])
		}
		if r.ctx.Err() != nil {
			return false
		}
		if d, ok := passing(err); ok && blocked < r.cfg.BlockWait {
			// a block that ends by itself (a venue's firewall): wait it out
			g.restFailed(what, t.symbol, err)
			d = min(max(d, r.cfg.RetryMin), r.cfg.BlockWait-blocked)
			if !backoff.Sleep(r.ctx, d) {
				return false
			}
			blocked += d
			continue
		}
		g.mu.Lock()
		if err != nil {
			g.restFailed(what, t.symbol, err)
			g.unfilled(t, t.missing[0].from, t.missing[0].to, "backfill failed: "+err.Error())
			t.popMissing()
			g.mu.Unlock()
			return true
		}
		progressed, done := g.mergePage(t, w.page)
		if done {
			g.mu.Unlock()
			return true
		}
		if progressed {
			pages++
		}
		if len(w.page) >= n {
			g.mu.Unlock()
			continue // a full page: more to fetch
		}
		if waited >= r.cfg.LagWait {
			g.unfilled(t, t.missing[0].from, t.missing[0].to,
				"not in the venue's history "+waited.Round(time.Millisecond).String()+" after the stream passed them")
			t.popMissing()
			g.mu.Unlock()
			return true
		}
		r.stats.lagRetries.Add(1)
		g.mu.Unlock()
		if !backoff.Sleep(r.ctx, delay) {
			return false
		}
		waited += delay
		delay = min(2*delay, time.Second, max(r.cfg.LagWait-waited, time.Millisecond))
	}
}

// mergePage delivers the trades of page that fall in t's first missing
// range, reports IDs the venue no longer keeps as lost, and advances the
// range; it reports whether the range advanced and whether it is done.
func (g *Gateway) mergePage(t *tradeGaps, page []Event) (progressed, done bool) {
	r := g.rec
	rg := &t.missing[0]
	next, to := rg.from, rg.to
	for i := range page {
		p := &page[i]
		if p.ID < next {
			continue
		}
		if p.ID > next {
			// the venue no longer has them (Binance answers a fromId older
			// than its history from the oldest trade it keeps)
			end := min(p.ID-1, to)
			g.unfilled(t, next, end, "no longer in the venue's history")
			next = end + 1
		}
		if p.ID > to {
			break
		}
		p.Symbol, p.Venue = t.symbol, t.venue
		if p.Instrument == "" {
			p.Instrument = t.instrument
		}
		p.Recovered, p.Aggregated = true, t.agg
		g.deliver(p)
		r.stats.backfilled.Add(1)
		next = p.ID + 1
	}
	progressed = next != rg.from
	rg.from = next
	if next > rg.to {
		if ok, held := g.gapLog.Allow(); ok {
			g.log.Info("trade gap closed", "symbol", t.symbol, "agg", t.agg, "from", rg.first, "to", rg.to,
				"ids", rg.to-rg.first+1, "lines_suppressed", held)
		}
		t.popMissing()
		return progressed, true
	}
	return progressed, false
}

// flushTrades runs when the gateway closes: the gaps still missing are
// reported, and the live trades held behind them delivered, in order; or,
// with GatewayConfig.LeaveGaps, both left to the next gateway.
func (g *Gateway) flushTrades() {
	for _, t := range g.rec.trades {
		switch {
		case g.cfg.LeaveGaps && len(t.missing) > 0:
			// left to the next gateway, which resumes below the gap
			// (Positions) and delivers the held trades after it
			g.log.Warn("trade gap left to the next run", "venue", t.venue, "symbol", t.symbol, "agg", t.agg,
				"from", t.missing[0].from, "to", t.missing[len(t.missing)-1].to, "held", len(t.held)-t.head)
		default:
			for len(t.missing) > 0 {
				g.releaseHeld(t)
				g.unfilled(t, t.missing[0].from, t.missing[0].to, "gateway closed before the gap was recovered")
				t.popMissing()
			}
			g.releaseHeld(t)
		}
		if t.queued {
			t.queued = false
			g.rec.stats.pending.Add(-1)
		}
	}
}

// passing reports whether err is a block that ends by itself, and how long
// it has yet to last: an error in its chain with a Wait method returning a
// non-negative duration.
func passing(err error) (time.Duration, bool) {
	var w interface{ Wait() time.Duration }
	if err == nil || !errors.As(err, &w) {
		return 0, false
	}
	d := w.Wait()
	return d, d >= 0
}

// The gateway's repeated log lines (trade gaps, REST failures, skipped
// frames): at most logBurst trade-gap lines, and one line of each other
// kind, every logEvery.
const (
	logBurst = 10
	logEvery = 10 * time.Second
)
