package bybit

import (
	"context"
	"fmt"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
)

// DefaultRefreshEvery is how often the instruments are read again
// (Config.RefreshEvery, --bybit-instruments-refresh).
const DefaultRefreshEvery = time.Hour

// MinRefreshEvery bounds --bybit-instruments-refresh from below.
const MinRefreshEvery = time.Minute

// StatusDelisted is the Status the table gives a market that a read of
// the instruments no longer lists: it stays in the table, so that what is
// still in flight for it decodes.
const StatusDelisted = "Delisted"

// Change is how a read of the instruments changed one market: Old is the
// zero Symbol for a new listing.
type Change struct {
	Old, New Symbol
}

// Table returns the instrument table in force: the one Config.Symbols
// gave, as reads of the instruments (Watch) changed it.
func (v *Bybit) Table() *Symbols { return v.tab.Load() }

// Refresh merges fresh, a new read of the instruments, into the table in
// force and returns what changed: a new listing is added (its topics
// decode), a market of a category fresh holds but that fresh lacks gets
// StatusDelisted, one fresh lists with another status, tick or quantity
// step takes them, its scales never below the ones in force (a value at a
// coarser tick still parses at a finer scale). The decoders take the new
// table at their next frame: its scales apply to the events that follow.
func (v *Bybit) Refresh(fresh *Symbols) []Change {
	var before *Symbols
	v.tab.Replace(func(old *Symbols) *Symbols {
		before = old
		changed := false
		list := old.List()
		for i, s := range list {
			n := s
			if f, ok := fresh.Lookup(s.Category, s.Name); ok {
				n = f
				n.PriceScale, n.QtyScale = max(s.PriceScale, f.PriceScale), max(s.QtyScale, f.QtyScale)
			} else if len(fresh.by[s.Category]) > 0 {
				n.Status = StatusDelisted
			}
			if n != s {
				list[i] = n
				changed = true
			}
		}
		for _, f := range fresh.List() {
			if _, ok := old.Lookup(f.Category, f.Name); !ok {
				list = append(list, f)
				changed = true
			}
		}
		if !changed {
			return nil
		}
		next, err := NewSymbols(list...)
		if err != nil {
			return nil
		}
		return next
	})
	return Diff(before, v.tab.Load())
}

// Diff returns how next differs from prev: markets changed, and new ones
// (Change.Old zero).
func Diff(prev, next *Symbols) []Change {
	if prev == nil || next == nil || prev == next {
		return nil
	}
	var out []Change
	for _, n := range next.List() {
		o, ok := prev.Lookup(n.Category, n.Name)
		switch {
		case !ok:
			out = append(out, Change{New: n})
		case o != n:
			out = append(out, Change{Old: o, New: n})
		}
	}
	return out
}

// Event returns the TypeStatus event announcing c: StatusTrading for a
// new listing or a market trading again, StatusHalted for one that no
// longer trades (another status, or delisted: its topics fall silent,
// which is not a stall), StatusInstrument for new scales only. The reason
// names the status and the scales before and after.
func (c Change) Event() feed.Event {
	n, o := c.New, c.Old
	ev := feed.Event{Type: feed.TypeStatus, Venue: Venue, Symbol: n.EventSymbol(), Instrument: n.Instrument(), ReceiveTime: time.Now().UnixNano()}
	switch {
	case o.Name == "":
		ev.Status = feed.StatusTrading
		ev.Reason = fmt.Sprintf("listed (status %s, price scale %d, quantity scale %d)", n.Status, n.PriceScale, n.QtyScale)
		return ev
	case n.Status == StatusDelisted:
		ev.Status, ev.Reason = feed.StatusHalted, "no longer listed by Bybit: its topics are silent"
		return ev
	case o.Status != n.Status && n.Status != "Trading":
		ev.Status, ev.Reason = feed.StatusHalted, "status "+n.Status+": the market does not trade; its topics are silent"
	case o.Status != n.Status:
		ev.Status, ev.Reason = feed.StatusTrading, "status Trading: the market trades again"
	default:
		ev.Status = feed.StatusInstrument
	}
	if o.PriceScale != n.PriceScale || o.QtyScale != n.QtyScale {
		r := fmt.Sprintf("price scale %d→%d, quantity scale %d→%d", o.PriceScale, n.PriceScale, o.QtyScale, n.QtyScale)
		if ev.Reason != "" {
			r = ev.Reason + "; " + r
		}
		ev.Reason = r
	}
	return ev
}

// refresh reads the instruments of the table's categories again, merges
// them and returns the changes since announced, the table the events
// have described so far.
func (v *Bybit) refresh(ctx context.Context, announced *Symbols) ([]Change, *Symbols, error) {
	var list []Symbol
	for _, c := range Categories {
		if len(v.tab.Load().by[c]) == 0 {
			continue
		}
		got, err := LoadInstruments(ctx, v.cfg.REST, c)
		if err != nil {
			return nil, announced, err
		}
		list = append(list, got...)
	}
	fresh, err := NewSymbols(list...)
	if err != nil {
		return nil, announced, err
	}
	v.Refresh(fresh)
	now := v.tab.Load()
	return Diff(announced, now), now, nil
}

// Refreshes counts the reads of the instruments Watch made, and the ones
// that failed.
func (v *Bybit) Refreshes() (done, failed int64) { return v.refreshes.Load(), v.refreshErrors.Load() }
