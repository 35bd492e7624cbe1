package feed

import (
	"errors"

	"github.com/feedkeeper/feedkeeper/wsconn"
)

// tradeWindows follows, for a venue whose trade IDs cannot show a gap
// (TradeIDsOpaque), the symbols that traded on one connection plan: when
// its connection is lost, the trades of each until the new one is up may
// be missing, and a TypeGap event says so with the time window. Guarded
// by Gateway.mu.
type tradeWindows struct {
	last map[string]tradeMark // by symbol: the last trade received
	down map[string]tradeMark // symbols whose window is open: the last trade before the loss
}

type tradeMark struct {
	time       int64 // exchange time, or receive time when the venue gives none
	instrument string
	agg        bool
}

func (w *tradeWindows) traded(ev *Event) {
	if w.last == nil {
		w.last = make(map[string]tradeMark)
	}
	t := ev.ExchangeTime
	if t == 0 {
		t = ev.ReceiveTime
	}
	m := w.last[ev.Symbol]
	if t > m.time || m.instrument != ev.Instrument {
		w.last[ev.Symbol] = tradeMark{time: max(t, m.time), instrument: ev.Instrument, agg: ev.Aggregated}
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
	for sym, m := range w.last {
		if w.down == nil {
			w.down = make(map[string]tradeMark)
		}
		if _, open := w.down[sym]; !open {
			w.down[sym] = m // the earliest loss of a run of them
		}
	}
}

// windowsUp closes plan's open windows at now, the new connection being
// up: a TypeGap event for each.
func (g *Gateway) windowsUp(plan int, now int64) {
	if g.windows == nil {
		return
	}
	w := &g.windows[plan]
	for sym, m := range w.down {
		gap := &g.aux
		*gap = Event{Type: TypeGap, Missing: TypeTrade, Venue: g.cfg.Venue.Name(), Symbol: sym, Instrument: m.instrument,
			Aggregated: m.agg, GapFrom: m.time, GapTo: now, ReceiveTime: now,
			Reason: "connection lost: trades in this window may be missing (the venue's trade IDs cannot show a gap)",
			Bids:   gap.Bids[:0], Asks: gap.Asks[:0]}
		g.stats.gaps.Add(1)
		g.stats.tradeGaps.Add(1)
		g.deliver(gap)
	}
	clear(w.down)
}
