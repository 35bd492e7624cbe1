package feed

import (
	"fmt"
	"time"

	"github.com/feedkeeper/feedkeeper/book"
	"github.com/feedkeeper/feedkeeper/internal/backoff"
)

// bookSync keeps one symbol's order book in step with its diff depth
// stream, by the procedure venues like Binance document: hold the diffs,
// fetch a snapshot, refuse it if it is older than the first diff held,
// drop the diffs it covers, check the first one left bridges it, apply the
// rest, then check that every later diff chains on. Any break (missed,
// repeated or reordered updates, a crossed book, a failed verification)
// throws the book away and starts again. All of it is guarded by Gateway.mu.
type bookSync struct {
	symbol, venue, instrument string
	priceScale, qtyScale      uint8

	b        *book.Book
	synced   bool
	fetching bool // a snapshot job is queued or running
	// bridged says a diff was applied on the snapshot loaded: the next one
	// chains to it rather than bridges the snapshot (ChainPrevID).
	bridged bool

	// held are the diffs received while no book is in sync: a chain, oldest
	// first; held[:nheld] are in use, the rest keep their level arrays.
	held  []Event
	nheld int

	// bound is, per side, the worst price the last snapshot knew when it
	// was cut at its depth limit (bounded): the book is exact for prices at
	// or better than it; deeper levels are only known once they change.
	bound   [2]int64
	bounded [2]bool
	// full is set for a side that reached the book's level bound: levels
	// may have been dropped, so it is not verified.
	full [2]bool

	topBid, topAsk book.Level
	topSent        bool

	verifying  bool   // a verification job is queued or running
	lastVerify int64  // ns
	pending    *Event // a verification snapshot newer than the book, compared when the book reaches it

	bids, asks []book.Level // scratch for updates

	// BookFromStream:
	stream      string // the stream the book comes from (Event.Stream)
	resubAt     int64  // ns: when the stream was last asked for again; 0: not since the last snapshot
	droppedSync int64  // deltas dropped while waiting for the stream's snapshot
}

// bookOf returns the book kept for ev's symbol, made on first use.
func (g *Gateway) bookOf(ev *Event) *bookSync {
	r := g.rec
	bs := r.books[ev.Symbol]
	if bs == nil {
		bs = &bookSync{symbol: ev.Symbol, venue: ev.Venue, b: book.New(r.cfg.BookLevels)}
		r.books[ev.Symbol] = bs
	}
	bs.instrument = ev.Instrument
	if ev.Stream != "" {
		bs.stream = ev.Stream
	}
	return bs
}

// onDelta handles a diff of a symbol's book when the gateway keeps books.
// gap says the sequencer found updates missing before it.
func (g *Gateway) onDelta(ev *Event, gap bool, now int64) {
	r := g.rec
	bs := g.bookOf(ev)
	if g.rules.Book == BookFromStream {
		g.onStreamDelta(bs, ev, gap, now)
		return
	}
	if bs.priceScale != ev.PriceScale || bs.qtyScale != ev.QtyScale {
		// the venue's tick or step size changed (the venue's symbol table
		// widened a scale): levels at the old scale cannot take the diff
		bs.priceScale, bs.qtyScale = ev.PriceScale, ev.QtyScale
		if bs.synced {
			g.resync(bs, "price or quantity scale changed", ev)
			return
		}
		bs.nheld = 0
	}
	if !bs.synced {
		if gap {
			bs.nheld = 0 // the chain held is broken: only what follows can meet a snapshot
		}
		g.holdDiff(bs, ev)
		return
	}
	if gap {
		g.resync(bs, "update IDs missing", ev)
		return
	}
	applied, err := bs.apply(ev, g.seq.chain)
	if err != nil {
		g.resync(bs, err.Error(), ev)
		return
	}
	if !applied {
		return // older than the snapshot the book was loaded from
	}
	if !g.checksumOK(bs, ev) {
		g.resync(bs, "checksum mismatch", nil)
		return
	}
	for s := range bs.full {
		if bs.b.Depth(book.Side(s)) >= bs.b.MaxLevels() {
			bs.full[s] = true
		}
	}
	g.deliver(ev)
	if bs.pending != nil && ev.ID >= bs.pending.ID {
		// the book has reached the verification snapshot: levels the diff
		// changed after it cannot be told apart, the others must match
		var changed *Event
		if ev.ID > bs.pending.ID {
			changed = ev
		}
		snap := bs.pending
		bs.pending = nil
		if !g.verified(bs, snap, changed) {
			return
		}
	}
	if bs.b.Crossed() {
		g.resync(bs, "book crossed", nil)
		return
	}
	g.topOfBook(bs, ev)
	if r.cfg.VerifyEvery > 0 && !bs.verifying && bs.pending == nil && ev.ReceiveTime-bs.lastVerify >= int64(r.cfg.VerifyEvery) {
		bs.verifying = true
		r.jobs.push(job{kind: jobVerify, symbol: bs.symbol})
	}
}

// apply applies a diff to the book by the venue's chain rule. The first
// diff applied on a snapshot bridges it rather than chains to it: by
// ChainPrevID its PrevID names an update before the snapshot, whose ID
// need not be any diff's.
func (bs *bookSync) apply(ev *Event, chain Chain) (bool, error) {
	bs.bids = toBook(bs.bids[:0], ev.Bids)
	bs.asks = toBook(bs.asks[:0], ev.Asks)
	u := book.Update{FirstID: ev.FirstID, LastID: ev.ID, PrevID: ev.PrevID, Bids: bs.bids, Asks: bs.asks}
	if chain != ChainPrevID {
		return bs.b.Apply(u)
	}
	if !bs.bridged {
		if ev.ID < bs.b.LastUpdateID() {
			return false, nil // in the snapshot
		}
		snap := bs.b.LastUpdateID()
		if !chain.bridges(snap, ev) {
			return false, fmt.Errorf("first update %d..%d does not bridge the snapshot at %d", ev.FirstID, ev.ID, snap)
		}
		u.PrevID = snap
		bs.bridged = true
	}
	return bs.b.ApplyChained(u)
}

func toBook(dst []book.Level, src []Level) []book.Level {
	for _, l := range src {
		dst = append(dst, book.Level{Price: l.Price, Qty: l.Qty})
	}
	return dst
}

// holdDiff keeps a diff while the book is out of sync, and asks for a
// snapshot if none is on its way.
func (g *Gateway) holdDiff(bs *bookSync, ev *Event) {
	r := g.rec
	if bs.nheld == r.cfg.BookBuffer {
		// drop the oldest: the snapshot will have to be newer
		r.stats.overflowDiffs.Add(1)
		first := bs.held[0]
		copy(bs.held, bs.held[1:bs.nheld])
		bs.held[bs.nheld-1] = first
		bs.nheld--
	}
	if bs.nheld == len(bs.held) {
		bs.held = append(bs.held, Event{})
	}
	ev.CopyTo(&bs.held[bs.nheld])
	bs.nheld++
	if !bs.fetching {
		bs.fetching = true
		r.jobs.push(job{kind: jobSnapshot, symbol: bs.symbol})
	}
}

// resync throws the book away; ev, if any, is the first diff of the new
// attempt. A book from the stream is asked for again.
func (g *Gateway) resync(bs *bookSync, reason string, ev *Event) {
	if g.rules.Book == BookFromStream {
		g.resyncStream(bs, reason, time.Now().UnixNano())
		return
	}
	r := g.rec
	r.stats.resyncs.Add(1)
	if bs.synced {
		r.stats.inSync.Add(-1)
	}
	g.log.Info("book resync", "symbol", bs.symbol, "reason", reason, "last_update_id", bs.b.LastUpdateID())
	bs.synced = false
	bs.b.Reset()
	bs.pending = nil
	bs.nheld = 0
	if ev != nil {
		g.holdDiff(bs, ev)
	}
}

// snapshot outcomes
type loadResult uint8

const (
	loaded  loadResult = iota
	tooOld             // older than the first diff held: fetch another
	invalid            // broken: fetch another
)

// syncBook fetches snapshots of symbol's book until one can be loaded or
// the gateway closes.
func (w *worker) syncBook(symbol string) {
	g, r := w.g, w.g.rec
	delay := r.cfg.RetryMin
	failures := 0 // in a row; a snapshot older than the diffs is no failure
	for {
		err := r.src.Depth(r.ctx, symbol, r.cfg.DepthLimit, &w.snap)
		if r.ctx.Err() != nil {
			return
		}
		res := invalid
		g.mu.Lock()
		bs := r.books[symbol]
		if err != nil {
			g.restFailed("depth", symbol, err)
		} else if res = g.loadBook(bs, &w.snap); res == loaded {
			bs.fetching = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		wait := delay
		switch d, passes := passing(err); {
		case res == tooOld:
			r.stats.stale.Add(1)
		case err == nil:
			r.stats.bad.Add(1)
			failures++
		case passes:
			wait = max(d, delay) // a block that ends by itself: no failure of the snapshot
		default:
			failures++
		}
		if failures == snapshotFailuresBeforePause && res != tooOld {
			// a snapshot that keeps failing (one the client cannot parse,
			// a venue refusing it) is not fetched again every few seconds:
			// each costs up to 250 weight
			g.log.Warn("book cannot sync: snapshots keep failing; retrying less often",
				"symbol", symbol, "failures", failures, "err", err, "every", r.cfg.SnapshotPause)
		}
		if failures >= snapshotFailuresBeforePause {
			delay = max(delay, r.cfg.SnapshotPause)
			wait = max(wait, delay)
		}
		if !backoff.Sleep(r.ctx, wait) {
			return
		}
		delay = min(2*delay, max(r.cfg.RetryMax, delay))
	}
}

// snapshotFailuresBeforePause is the number of snapshot attempts in a row
// that may fail before the next ones wait RecoveryConfig.SnapshotPause.
const snapshotFailuresBeforePause = 5

// loadBook loads a snapshot and the diffs held after it.
func (g *Gateway) loadBook(bs *bookSync, snap *Event) loadResult {
	r := g.rec
	held := bs.held[:bs.nheld]
	chain := g.seq.chain
	if len(held) > 0 && chain.older(snap.ID, &held[0]) {
		return tooOld
	}
	if len(held) > 0 && (snap.PriceScale != bs.priceScale || snap.QtyScale != bs.qtyScale) {
		g.log.Info("snapshot at other scales than the diffs: fetching another", "symbol", bs.symbol)
		return tooOld // the scales changed while it was fetched
	}
	bs.priceScale, bs.qtyScale = snap.PriceScale, snap.QtyScale
	i := 0
	for i < len(held) && chain.inSnapshot(snap.ID, &held[i]) {
		i++
	}
	bs.bids = toBook(bs.bids[:0], snap.Bids)
	bs.asks = toBook(bs.asks[:0], snap.Asks)
	bs.bridged = false
	if err := bs.b.Load(snap.ID, bs.bids, bs.asks); err != nil {
		g.log.Warn("snapshot refused", "symbol", bs.symbol, "err", err)
		return invalid
	}
	limit := r.cfg.DepthLimit
	bs.bounded = [2]bool{len(snap.Bids) >= limit, len(snap.Asks) >= limit}
	if bs.bounded[book.Bid] {
		bs.bound[book.Bid] = snap.Bids[len(snap.Bids)-1].Price
	}
	if bs.bounded[book.Ask] {
		bs.bound[book.Ask] = snap.Asks[len(snap.Asks)-1].Price
	}
	bs.full = [2]bool{}
	for j := i; j < len(held); j++ {
		if _, err := bs.apply(&held[j], chain); err != nil {
			// the first diff left does not bridge the snapshot
			bs.b.Reset()
			g.log.Warn("snapshot does not meet the diffs", "symbol", bs.symbol, "snapshot", snap.ID, "err", err)
			return invalid
		}
	}
	if bs.b.Crossed() {
		bs.b.Reset()
		g.log.Warn("snapshot gives a crossed book", "symbol", bs.symbol, "snapshot", snap.ID)
		return invalid
	}
	bs.synced = true
	bs.nheld = 0
	bs.topSent = false
	bs.lastVerify = time.Now().UnixNano()
	r.stats.syncs.Add(1)
	r.stats.inSync.Add(1)

	out := &r.snap
	bl, al := out.Bids[:0], out.Asks[:0]
	*out = Event{Type: TypeBookSnapshot, Derived: true, Venue: bs.venue, Symbol: bs.symbol, Instrument: bs.instrument,
		PriceScale: bs.priceScale, QtyScale: bs.qtyScale,
		ID: bs.b.LastUpdateID(), FirstID: bs.b.LastUpdateID(), ReceiveTime: snap.ReceiveTime}
	r.levels = bs.b.Levels(book.Bid, r.levels[:0])
	out.Bids = fromBook(bl, r.levels)
	r.levels = bs.b.Levels(book.Ask, r.levels[:0])
	out.Asks = fromBook(al, r.levels)
	g.deliver(out)
	g.topOfBook(bs, out)
	return loaded
}

func fromBook(dst []Level, src []book.Level) []Level {
	for _, l := range src {
		dst = append(dst, Level{Price: l.Price, Qty: l.Qty})
	}
	return dst
}

// topOfBook delivers a Derived TypeTopOfBook when the book's best bid or
// best ask (price or quantity) changed; cause is the event that changed it.
func (g *Gateway) topOfBook(bs *bookSync, cause *Event) {
	bid, _ := bs.b.BestBid()
	ask, _ := bs.b.BestAsk()
	if bs.topSent && bid == bs.topBid && ask == bs.topAsk {
		return
	}
	bs.topBid, bs.topAsk, bs.topSent = bid, ask, true
	ev := &g.aux
	*ev = Event{Type: TypeTopOfBook, Derived: true, Venue: bs.venue, Symbol: bs.symbol, Instrument: bs.instrument,
		PriceScale: bs.priceScale, QtyScale: bs.qtyScale,
		ID: bs.b.LastUpdateID(), FirstID: bs.b.LastUpdateID(),
		ExchangeTime: cause.ExchangeTime, EventTime: cause.EventTime, ReceiveTime: cause.ReceiveTime,
		Bid: Level{Price: bid.Price, Qty: bid.Qty}, Ask: Level{Price: ask.Price, Qty: ask.Qty},
		Bids: ev.Bids[:0], Asks: ev.Asks[:0]}
	g.deliver(ev)
}

// verifyBook fetches a fresh snapshot of symbol's book and compares it
// with the book: at once if they are at the same update ID, when the book
// reaches it if the snapshot is newer; an older snapshot proves nothing.
func (w *worker) verifyBook(symbol string) {
	g, r := w.g, w.g.rec
	snap := new(Event)
	err := r.src.Depth(r.ctx, symbol, r.cfg.DepthLimit, snap)
	if r.ctx.Err() != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	bs := r.books[symbol]
	bs.verifying = false
	bs.lastVerify = time.Now().UnixNano()
	switch {
	case err != nil:
		g.restFailed("depth", symbol, err)
	case !bs.synced || snap.ID < bs.b.LastUpdateID():
		r.stats.verifySkip.Add(1)
	case snap.ID == bs.b.LastUpdateID():
		g.verified(bs, snap, nil)
	default:
		bs.pending = snap
	}
}

// verified compares the book with snap, a snapshot at the book's update
// ID except for the levels changed lists, and counts the outcome; on a
// mismatch it resyncs the book and returns false.
func (g *Gateway) verified(bs *bookSync, snap *Event, changed *Event) bool {
	r := g.rec
	if bs.full[book.Bid] || bs.full[book.Ask] || snap.PriceScale != bs.priceScale || snap.QtyScale != bs.qtyScale {
		r.stats.verifySkip.Add(1)
		return true
	}
	if g.sameBook(bs, book.Bid, snap.Bids, changed) && g.sameBook(bs, book.Ask, snap.Asks, changed) {
		r.stats.verifyMatch.Add(1)
		return true
	}
	r.stats.verifyMismatch.Add(1)
	g.resync(bs, "book differs from a fresh snapshot", nil)
	return false
}

// sameBook compares one side of the book with the snapshot's levels, over
// the prices both know exactly, leaving out those changed lists.
func (g *Gateway) sameBook(bs *bookSync, side book.Side, snap []Level, changed *Event) bool {
	r := g.rec
	better := func(p, than int64) bool { // p at or better than than
		if side == book.Bid {
			return p >= than
		}
		return p <= than
	}
	bound, bounded := bs.bound[side], bs.bounded[side]
	if len(snap) >= r.cfg.DepthLimit {
		if sb := snap[len(snap)-1].Price; !bounded || better(sb, bound) {
			bound = sb
		}
		bounded = true
	}
	var skip []Level
	if changed != nil {
		skip = changed.Bids
		if side == book.Ask {
			skip = changed.Asks
		}
	}
	keep := func(p int64) bool {
		if bounded && !better(p, bound) {
			return false
		}
		for _, l := range skip {
			if l.Price == p {
				return false
			}
		}
		return true
	}
	r.levels = bs.b.Levels(side, r.levels[:0])
	local := r.levels
	i, j := 0, 0
	for {
		for i < len(local) && !keep(local[i].Price) {
			i++
		}
		for j < len(snap) && !keep(snap[j].Price) {
			j++
		}
		if i == len(local) || j == len(snap) {
			return i == len(local) && j == len(snap)
		}
		if local[i].Price != snap[j].Price || local[i].Qty != snap[j].Qty {
			return false
		}
		i++
		j++
	}
}
