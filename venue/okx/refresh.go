package okx

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
)

// DefaultRefreshEvery is how often the instruments are read again
// (Config.RefreshEvery, --okx-instruments-refresh).
const DefaultRefreshEvery = time.Hour

// MinRefreshEvery bounds --okx-instruments-refresh from below: each read
// is one GET /api/v5/public/instruments per instrument type (20 requests
// per 2 s per IP).
const MinRefreshEvery = time.Minute

// StateDelisted is the State the table gives an instrument that a read of
// the instruments no longer lists: it stays in the table, so that what is
// still in flight for it decodes.
const StateDelisted = "delisted"

// Change is how a read of the instruments changed one: Old is the zero
// Symbol for a new listing.
type Change struct {
	Old, New Symbol
}

// Refresh merges fresh, a new read of the instruments, into the table in
// force and returns what changed: a new listing is added (its streams can
// be decoded), an instrument fresh lacks gets StateDelisted, one that
// fresh lists with another state, tick or lot size or contract value
// takes them, its scales never below the ones in force (a value at a
// coarser tick still parses at a finer scale; the decoders and the REST
// recovery use the new table for what follows). Only the instrument types
// fresh holds are compared.
func (in *Instruments) Refresh(fresh *Symbols) []Change {
	var before *Symbols
	in.tab.Replace(func(old *Symbols) *Symbols {
		before = old
		types := map[string]bool{}
		for _, f := range fresh.byName {
			types[f.InstType] = true
		}
		changed := false
		list := old.List()
		for i, s := range list {
			n := s
			if f, ok := fresh.Lookup(s.InstID); ok {
				n = f
				n.PriceScale, n.LotScale = max(s.PriceScale, f.PriceScale), max(s.LotScale, f.LotScale)
			} else if types[s.InstType] {
				n.State = StateDelisted
			}
			if !sameSymbol(n, s) {
				list[i] = n
				changed = true
			}
		}
		for _, f := range fresh.List() {
			if _, ok := old.Lookup(f.InstID); !ok {
				list = append(list, f)
				changed = true
			}
		}
		if !changed {
			return nil
		}
		next, err := NewSymbols(list...)
		if err != nil {
			return nil // a quantity scale would pass fixed.MaxScale
		}
		return next
	})
	return Diff(before, in.tab.Load())
}

// sameSymbol compares what a read of the instruments can change.
func sameSymbol(a, b Symbol) bool {
	return a.State == b.State && a.PriceScale == b.PriceScale && a.LotScale == b.LotScale && a.QtyScale == b.QtyScale && a.CtVal == b.CtVal
}

// Diff returns how next differs from prev: instruments changed, and new
// ones (Change.Old zero).
func Diff(prev, next *Symbols) []Change {
	var out []Change
	if prev == nil || next == nil || prev == next {
		return nil
	}
	for _, n := range next.List() {
		o, ok := prev.Lookup(n.InstID)
		switch {
		case !ok:
			out = append(out, Change{New: n})
		case !sameSymbol(o, n):
			out = append(out, Change{Old: o, New: n})
		}
	}
	return out
}

// Event returns the TypeStatus event announcing c: StatusTrading for a
// new listing or an instrument live again, StatusHalted for one that no
// longer trades (another state, or delisted: its streams fall silent,
// which is not a stall), StatusInstrument for new scales or contract
// value only. The reason names the state and the scales before and after.
func (c Change) Event() feed.Event {
	n, o := c.New, c.Old
	ev := feed.Event{Type: feed.TypeStatus, Venue: Venue, Symbol: n.InstID, Instrument: n.Instrument, ReceiveTime: time.Now().UnixNano()}
	switch {
	case o.InstID == "":
		ev.Status = feed.StatusTrading
		ev.Reason = fmt.Sprintf("listed (state %s, price scale %d, quantity scale %d)", n.State, n.PriceScale, n.QtyScale)
		return ev
	case n.State == StateDelisted:
		ev.Status, ev.Reason = feed.StatusHalted, "no longer listed by OKX: its streams are silent"
		return ev
	case o.State != n.State && n.State != "live":
		ev.Status, ev.Reason = feed.StatusHalted, "state "+n.State+": the instrument does not trade; its streams are silent"
	case o.State != n.State:
		ev.Status, ev.Reason = feed.StatusTrading, "state live: the instrument trades again"
	default:
		ev.Status = feed.StatusInstrument
	}
	if o.PriceScale != n.PriceScale || o.QtyScale != n.QtyScale || o.CtVal != n.CtVal {
		r := fmt.Sprintf("price scale %d→%d, quantity scale %d→%d", o.PriceScale, n.PriceScale, o.QtyScale, n.QtyScale)
		if o.CtVal != n.CtVal {
			r += fmt.Sprintf(", ctVal %s→%s", o.CtVal, n.CtVal)
		}
		if ev.Reason != "" {
			r = ev.Reason + "; " + r
		}
		ev.Reason = r
	}
	return ev
}

var _ feed.Watcher = (*OKX)(nil)

// Watch reads the instruments again every Config.RefreshEvery until ctx
// ends (GET /api/v5/public/instruments of each type in the table), merges
// them (Instruments.Refresh) and announces each change as a TypeStatus
// event (Change.Event). A failed read is logged and tried at the next
// tick. Without Config.REST, or with a negative RefreshEvery, it only
// waits for ctx. It implements feed.Watcher: the gateway runs it and
// stops it when it closes.
func (v *OKX) Watch(ctx context.Context, announce func(*feed.Event)) {
	if v.cfg.REST == nil || v.cfg.RefreshEvery < 0 {
		<-ctx.Done()
		return
	}
	tick := time.NewTicker(v.cfg.RefreshEvery)
	defer tick.Stop()
	announced := v.inst.Table() // what the events have said so far
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var types []string
		for _, s := range v.inst.Table().List() {
			if !slices.Contains(types, s.InstType) {
				types = append(types, s.InstType)
			}
		}
		fresh, err := LoadSymbols(ctx, v.cfg.REST, types)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			v.refreshErrors.Add(1)
			v.cfg.Logger.Warn("instruments refresh failed", "venue", Venue, "err", err)
			continue
		}
		v.refreshes.Add(1)
		v.inst.Refresh(fresh)
		now := v.inst.Table()
		changes := Diff(announced, now) // with the scales values widened since
		announced = now
		for _, c := range changes {
			ev := c.Event()
			v.cfg.Logger.Info("instrument changed", "venue", Venue, "symbol", c.New.InstID, "state", c.New.State,
				"price_scale", c.New.PriceScale, "qty_scale", c.New.QtyScale, "reason", ev.Reason)
			announce(&ev)
		}
	}
}

// Refreshes counts the reads of the instruments Watch made, and the ones
// that failed.
func (v *OKX) Refreshes() (done, failed int64) { return v.refreshes.Load(), v.refreshErrors.Load() }
