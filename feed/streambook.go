package feed

import (
	"time"
)

// The book procedure of venues whose stream sends the whole book when
// subscribed and deltas after it (Rules.Book BookFromStream): the snapshot
// loads the book, each delta must chain on by the venue's rule and match
// its checksum, and any break asks for the stream again on its connection,
// deltas dropped until the new snapshot comes. All of it is guarded by
// Gateway.mu.

// resubscribeAgain is how long a book waits for the snapshot of a stream
// asked for again before asking once more.
const resubscribeAgain = 5 * time.Second

// onBase loads a book from the snapshot its stream sent, and delivers the
// snapshot.
func (g *Gateway) onBase(ev *Event, now int64) {
	r := g.rec
	bs := g.bookOf(ev)
	wasSynced := bs.synced
	bs.priceScale, bs.qtyScale = ev.PriceScale, ev.QtyScale
	bs.bids = toBook(bs.bids[:0], ev.Bids)
	bs.asks = toBook(bs.asks[:0], ev.Asks)
	if err := bs.b.Load(ev.ID, bs.bids, bs.asks); err != nil {
		g.log.Warn("book snapshot refused", "symbol", bs.symbol, "stream", bs.stream, "err", err)
		r.stats.bad.Add(1)
		g.resyncStream(bs, err.Error(), now)
		return
	}
	if !g.checksumOK(bs, ev) {
		r.stats.bad.Add(1)
		g.resyncStream(bs, "snapshot checksum mismatch", now)
		return
	}
	bs.bridged = true // the stream's next delta chains to the snapshot itself
	bs.synced, bs.resubAt, bs.droppedSync, bs.topSent = true, 0, 0, false
	r.stats.syncs.Add(1)
	if !wasSynced {
		r.stats.inSync.Add(1)
	}
	g.deliver(ev)
	g.topOfBook(bs, ev)
}

// onStreamDelta applies a delta of a book from the stream.
func (g *Gateway) onStreamDelta(bs *bookSync, ev *Event, gap bool, now int64) {
	if !bs.synced {
		bs.droppedSync++
		if bs.resubAt == 0 || now-bs.resubAt >= int64(resubscribeAgain) {
			g.resubscribe(bs, now) // no snapshot came: ask again
		}
		return
	}
	if gap {
		g.resyncStream(bs, "update IDs missing", now)
		return
	}
	if bs.priceScale != ev.PriceScale || bs.qtyScale != ev.QtyScale {
		g.resyncStream(bs, "price or quantity scale changed", now)
		return
	}
	applied, err := bs.apply(ev, g.seq.chain)
	if err != nil {
		g.resyncStream(bs, err.Error(), now)
		return
	}
	if !applied {
		return
	}
	if !g.checksumOK(bs, ev) {
		g.resyncStream(bs, "checksum mismatch", now)
		return
	}
	g.deliver(ev)
	if bs.b.Crossed() {
		g.resyncStream(bs, "book crossed", now)
		return
	}
	g.topOfBook(bs, ev)
}

// checksumOK checks the book against the venue's checksum sent with ev,
// when the venue has a checksum rule and ev carries one.
func (g *Gateway) checksumOK(bs *bookSync, ev *Event) bool {
	if !ev.Checksummed || g.rules.Checksum == nil {
		return true
	}
	if g.rules.Checksum(bs.b, ev) {
		return true
	}
	g.rec.stats.checksumMismatch.Add(1)
	g.log.Warn("book checksum mismatch", "symbol", bs.symbol, "stream", bs.stream, "id", ev.ID, "venue_checksum", ev.Checksum)
	return false
}

// resyncStream throws a book from the stream away and asks for the stream
// again.
func (g *Gateway) resyncStream(bs *bookSync, reason string, now int64) {
	r := g.rec
	r.stats.resyncs.Add(1)
	if bs.synced {
		r.stats.inSync.Add(-1)
	}
	g.log.Info("book resync", "symbol", bs.symbol, "stream", bs.stream, "reason", reason, "last_update_id", bs.b.LastUpdateID())
	bs.synced = false
	bs.b.Reset()
	bs.droppedSync = 0
	g.resubscribe(bs, now)
}

// resubscribe sends the venue's messages that ask for bs's stream again,
// on its plan's live connection, from a goroutine the gateway waits for
// on Close (a Send waits for the connection's message rate). A replay
// sends nothing: the recording holds what the venue sent.
func (g *Gateway) resubscribe(bs *bookSync, now int64) {
	bs.resubAt = now
	plan, ok := g.streamPlan[bs.stream]
	rs, can := g.cfg.Venue.(Resubscriber)
	if !ok || !can || len(g.decoders) > 0 {
		if !ok && len(g.decoders) == 0 {
			g.log.Warn("book stream not in any connection: cannot ask for it again", "symbol", bs.symbol, "stream", bs.stream)
		}
		return
	}
	msgs, err := rs.ResubscribeMessages(bs.stream)
	if err != nil {
		g.log.Warn("cannot ask for a book stream again", "stream", bs.stream, "err", err)
		return
	}
	r := g.refuse
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.wg.Add(1)
	r.mu.Unlock()
	g.rec.stats.streamResubscribes.Add(1)
	sess := g.sessions[plan]
	go func() {
		defer r.wg.Done()
		for _, m := range msgs {
			if err := sess.Send(r.ctx, m); err != nil {
				return // the connection is down: its reconnect subscribes again anyway
			}
		}
	}()
}
