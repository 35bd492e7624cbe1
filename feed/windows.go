package feed

import (
	"errors"

	"github.com/feedkeeper/feedkeeper/wsconn"
)

// tradeWindows follows, for a venue whose trade IDs cannot show a gap
// (TradeIDsOpaque), the symbols that traded on one connection plan: when
// its connection is lost (or frames are dropped for a slow consumer), the
// trades of each may be missing from the last one received until the
// first one received after, and a TypeGap event says so with that time
// window, delivered just before that first trade. Guarded by Gateway.mu.
type tradeWindows struct {
	last map[string]tradeMark // by symbol: the last trade received
	open map[string]tradeMark // symbols whose window is open: the last trade before the loss

	// A connection replaced make-before-break hands over to one whose first
	// frames may repeat the old one's last trades, which IDs cannot tell:
	// they are told by what they say (tradeSays), counted once each.
	conn    uint64            // the connection the plan's trades came from
	lost    bool              // … was lost, not replaced: nothing repeats
	ring    []tradeSays       // its last trades, oldest first (recentTrades at most)
	ringAt  int               // the oldest in ring once it is full
	repeats map[tradeSays]int // the replaced connection's last trades not yet repeated
	until   int64             // … the newest of their times
}

// recentTrades is how many of a connection's last trades are kept to tell
// its replacement's repeats.
const recentTrades = 2048

// tradeSays is what a trade says, for a venue whose trade IDs cannot tell it.
type tradeSays struct {
	symbol     string
	time       int64
	price, qty int64
	side       Side
}

// repeated says whether ev, a trade received on plan's connection conn,
// repeats one its predecessor delivered: the first trades of a connection
// that replaced another (rotation, shutdown notice) may be the last ones
// of the old, and are matched against those, each once, until a trade
// newer than all of them arrives. A trade of a connection that came after
// a loss repeats nothing (the gap window covers the loss).
func (g *Gateway) repeated(plan int, ev *Event, conn uint64) bool {
	w := &g.windows[plan]
	if conn != w.conn {
		clear(w.repeats)
		if w.conn != 0 && !w.lost && len(w.ring) > 0 {
			if w.repeats == nil {
				w.repeats = make(map[tradeSays]int, len(w.ring))
			}
			w.until = 0
			for _, k := range w.ring {
				w.repeats[k]++
				w.until = max(w.until, k.time)
			}
		}
		w.conn, w.lost, w.ring, w.ringAt = conn, false, w.ring[:0], 0
	}
	k := tradeSays{symbol: ev.Symbol, time: ev.ExchangeTime, price: ev.Price, qty: ev.Qty, side: ev.Side}
	if len(w.repeats) > 0 {
		if n := w.repeats[k]; n > 0 {
			if n == 1 {
				delete(w.repeats, k)
			} else {
				w.repeats[k] = n - 1
			}
			return true
		}
		if k.time > w.until {
			clear(w.repeats) // past the old connection's last trade: nothing more repeats
		}
	}
	if len(w.ring) < recentTrades {
		w.ring = append(w.ring, k)
	} else {
		w.ring[w.ringAt] = k
		w.ringAt = (w.ringAt + 1) % recentTrades
	}
	return false
}

type tradeMark struct {
	time       int64 // exchange time, or receive time when the venue gives none
	instrument string
	agg        bool
}

func markOf(ev *Event) tradeMark {
	t := ev.ExchangeTime
	if t == 0 {
		t = ev.ReceiveTime
	}
	return tradeMark{time: t, instrument: ev.Instrument, agg: ev.Aggregated}
}

// traded notes a trade received on plan, after closing its symbol's open
// window, if any, at it.
func (g *Gateway) traded(plan int, ev *Event) {
	w := &g.windows[plan]
	m := markOf(ev)
	if from, open := w.open[ev.Symbol]; open {
		delete(w.open, ev.Symbol)
		g.gapWindow(ev.Symbol, from, m.time, ev.ReceiveTime)
	}
	if w.last == nil {
		w.last = make(map[string]tradeMark)
	}
	if prev, ok := w.last[ev.Symbol]; !ok || m.time >= prev.time {
		w.last[ev.Symbol] = m
	}
}

// windowsDown opens a window for every symbol that traded on plan's
// connection, lost for err (nil: frames dropped, the connection kept). A
// connection replaced after its successor took over (rotation, shutdown
// notice, Session.Replace) or closed on purpose loses nothing.
func (g *Gateway) windowsDown(plan int, err error) {
	if g.windows == nil || errors.Is(err, wsconn.ErrRotated) || errors.Is(err, wsconn.ErrServerShutdown) ||
		errors.Is(err, wsconn.ErrReplaced) || errors.Is(err, wsconn.ErrClosed) {
		return
	}
	w := &g.windows[plan]
	if err != nil {
		w.lost = true // its successor repeats nothing
	}
	for sym, m := range w.last {
		if w.open == nil {
			w.open = make(map[string]tradeMark)
		}
		if _, open := w.open[sym]; !open {
			w.open[sym] = m // the earliest loss of a run of them
		}
	}
}

// flushWindows closes every window still open at now, the gateway
// closing: its symbols did not trade again.
func (g *Gateway) flushWindows(now int64) {
	for plan := range g.windows {
		w := &g.windows[plan]
		for sym, from := range w.open {
			g.gapWindow(sym, from, now, now)
		}
		clear(w.open)
	}
}

// gapWindow delivers the TypeGap of symbol's trades from..to.
func (g *Gateway) gapWindow(symbol string, from tradeMark, to, recv int64) {
	gap := &g.aux
	*gap = Event{Type: TypeGap, Missing: TypeTrade, Venue: g.cfg.Venue.Name(), Symbol: symbol, Instrument: from.instrument,
		Aggregated: from.agg, GapFrom: from.time, GapTo: to, ReceiveTime: recv,
		Reason: "connection lost: trades in this window may be missing (the venue's trade IDs cannot show a gap)",
		Bids:   gap.Bids[:0], Asks: gap.Asks[:0]}
	g.stats.gaps.Add(1)
	g.stats.tradeGaps.Add(1)
	g.deliver(gap)
}
