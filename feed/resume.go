package feed

import (
	"time"
)

// Position is how far one sequence of trade IDs was delivered: the last
// ID, as of Time. A gateway opened with the positions of an earlier one
// (GatewayConfig.Resume) recovers what happened while none ran, as it
// recovers any gap.
type Position struct {
	Venue  string `json:"venue"`
	Symbol string `json:"symbol"`
	Agg    bool   `json:"agg"`  // aggregate trade IDs
	ID     int64  `json:"id"`   // the last ID delivered
	Time   int64  `json:"time"` // ns, wall clock, when the position was taken
}

// Positions returns the position of every trade sequence the gateway has
// delivered: the last ID below which nothing is missing or held back (a
// trade held behind a gap being recovered is not delivered yet). Save them
// once the outputs have what was delivered, and give them to the next
// gateway's Resume.
func (g *Gateway) Positions() []Position {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now().UnixNano()
	var out []Position
	for k, last := range g.seq.last {
		if k.class != classAggTrade && k.class != classTrade {
			continue
		}
		agg := k.class == classAggTrade
		id := last
		if g.rec != nil {
			if t := g.rec.trades[tradeKey{k.symbol, agg}]; t != nil && len(t.missing) > 0 {
				id = min(id, t.missing[0].from-1)
			}
		}
		out = append(out, Position{Venue: g.cfg.Venue.Name(), Symbol: k.symbol, Agg: agg, ID: id, Time: now})
	}
	return out
}

// resume seeds the sequencer with positions of an earlier gateway: the
// first trade of each sequence then shows what is missing since.
func (g *Gateway) resume(ps []Position) {
	name := g.cfg.Venue.Name()
	n := 0
	for _, p := range ps {
		if p.Venue != name || p.Symbol == "" {
			continue
		}
		k := seqKey{symbol: p.Symbol, class: classTrade}
		if p.Agg {
			k.class = classAggTrade
		}
		if g.resumed == nil {
			g.resumed = make(map[seqKey]Position)
		}
		g.seq.last[k] = p.ID
		g.resumed[k] = p
		n++
	}
	if n > 0 {
		g.log.Info("resuming from the positions of an earlier run", "sequences", n)
	}
}

// resumedGap handles the first gap of a resumed sequence: when the
// position is older than ResumeMaxAge, the trades since are announced
// instead of recovered; it reports whether it did. Under g.mu.
func (g *Gateway) resumedGap(ev *Event, from, to int64) bool {
	k := seqKey{symbol: ev.Symbol, class: classTrade}
	if ev.Aggregated {
		k.class = classAggTrade
	}
	p, ok := g.resumed[k]
	if !ok {
		return false
	}
	g.resumedSeen(ev)
	age := time.Duration(ev.ReceiveTime - p.Time)
	if age <= g.cfg.ResumeMaxAge {
		g.log.Info("recovering the trades since the earlier run", "symbol", ev.Symbol, "agg", ev.Aggregated,
			"from", from, "to", to, "down_for", age.Round(time.Millisecond))
		return false
	}
	gap := &g.aux
	*gap = Event{Type: TypeGap, Missing: TypeTrade, Aggregated: ev.Aggregated, Venue: ev.Venue, Symbol: ev.Symbol, Instrument: ev.Instrument,
		FirstID: from, ID: to, ReceiveTime: ev.ReceiveTime, Bids: gap.Bids[:0], Asks: gap.Asks[:0],
		Reason: "while no gateway ran (" + age.Round(time.Second).String() + ", over the resume limit of " + g.cfg.ResumeMaxAge.String() + ")"}
	if g.rec != nil {
		g.rec.stats.unfilled.Add(1)
		g.rec.stats.unfilledIDs.Add(to - from + 1)
	}
	g.log.Warn("trades since the earlier run not recovered", "symbol", ev.Symbol, "from", from, "to", to, "ids", to-from+1, "reason", gap.Reason)
	g.deliver(gap)
	return true
}

// resumedSeen ends the resumption of ev's sequence: its first event came.
func (g *Gateway) resumedSeen(ev *Event) {
	k := seqKey{symbol: ev.Symbol, class: classTrade}
	if ev.Aggregated {
		k.class = classAggTrade
	}
	delete(g.resumed, k)
	if len(g.resumed) == 0 {
		g.resumed = nil
	}
}
