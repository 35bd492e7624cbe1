package binance

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue"
)

// Instruments keeps the symbol table in force while the venue runs:
// exchangeInfo changes (tick and step sizes, symbols halted and resumed),
// and a value with more decimals than its symbol's scale widens that
// scale at once, so that no frame is dropped for it. Scales only grow at
// run time: a value at a coarser tick still parses at a finer scale. Safe
// for concurrent use; lookups do not allocate.
type Instruments struct {
	tab     venue.Table[Symbols]
	refresh chan struct{} // asks the watch loop for an exchangeInfo now

	refreshes, refreshErrors atomic.Int64
}

// NewInstruments starts from table.
func NewInstruments(table *Symbols) *Instruments {
	in := &Instruments{refresh: make(chan struct{}, 1)}
	in.tab.Store(table)
	return in
}

// Table returns the table in force.
func (in *Instruments) Table() *Symbols { return in.tab.Load() }

// Lookup finds a symbol in the table in force.
func (in *Instruments) Lookup(name string) (Symbol, bool) { return in.tab.Load().Lookup(name) }

// InstrumentStats counts the table's changes.
type InstrumentStats struct {
	Widened       int64 // scales widened by a value that did not fit
	Refreshes     int64 // exchangeInfo read again
	RefreshErrors int64 // … and failed
}

// Stats returns the counters.
func (in *Instruments) Stats() InstrumentStats {
	return InstrumentStats{Widened: in.tab.Widened(), Refreshes: in.refreshes.Load(), RefreshErrors: in.refreshErrors.Load()}
}

// Widen raises the price (or quantity) scale of symbol name to scale, when
// it is lower, and asks for exchangeInfo to be read again. It reports
// whether the table changed.
func (in *Instruments) Widen(name string, price bool, scale uint8) bool {
	if scale > fixed.MaxScale {
		return false
	}
	widened := in.tab.Widen(func(old *Symbols) *Symbols {
		sym, ok := old.Lookup(name)
		if !ok || (price && sym.PriceScale >= scale) || (!price && sym.QtyScale >= scale) {
			return nil
		}
		if price {
			sym.PriceScale = scale
		} else {
			sym.QtyScale = scale
		}
		next, err := old.with(sym)
		if err != nil {
			return nil
		}
		return next
	})
	if widened {
		in.askRefresh()
	}
	return widened
}

func (in *Instruments) askRefresh() {
	select {
	case in.refresh <- struct{}{}:
	default:
	}
}

// Change is how a refresh changed one symbol.
type Change struct {
	Old, New Symbol
}

// merge takes the statuses of fresh and the larger scales of the two for
// the symbols of the table in force.
func (in *Instruments) merge(fresh *Symbols) {
	in.tab.Replace(func(old *Symbols) *Symbols {
		changed := false
		list := old.List()
		for i, s := range list {
			f, ok := fresh.Lookup(s.Name)
			if !ok {
				continue
			}
			n := s
			n.Status = f.Status
			n.PriceScale, n.QtyScale = max(s.PriceScale, f.PriceScale), max(s.QtyScale, f.QtyScale)
			if n != s {
				changed = true
				list[i] = n
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
}

// diff reports how the symbols of prev differ in next.
func diff(prev, next *Symbols) []Change {
	var changes []Change
	for _, s := range prev.List() {
		if n, ok := next.Lookup(s.Name); ok && n != s {
			changes = append(changes, Change{Old: s, New: n})
		}
	}
	return changes
}

// with returns a copy of t with sym replaced.
func (t *Symbols) with(sym Symbol) (*Symbols, error) {
	list := t.List()
	for i := range list {
		if list[i].Name == sym.Name {
			list[i] = sym
		}
	}
	return NewSymbols(list...)
}

// fetchSymbols reads exchangeInfo for names.
func fetchSymbols(ctx context.Context, c *httpx.Client, names []string) (*Symbols, error) {
	q := url.Values{}
	if len(names) > 0 {
		b, _ := json.Marshal(names)
		q.Set("symbols", string(b))
	}
	var body json.RawMessage
	if _, err := c.Get(ctx, exchangeInfoPath, q, &body); err != nil {
		return nil, fmt.Errorf("binance: exchangeInfo: %w", err)
	}
	return ParseExchangeInfo(body)
}

// Watch reads exchangeInfo again every RefreshEvery, and soon after a
// value widened a scale (at most every 10 seconds), until ctx ends; each
// change of a symbol's status or scales is announced as a TypeStatus event:
// StatusHalted when it stops trading (its streams fall silent: no stall),
// StatusTrading when it trades again, StatusInstrument when its tick or
// step size changed. It implements feed.Watcher; without SpotConfig.REST
// it only waits for ctx.
func (s *Spot) Watch(ctx context.Context, announce func(*feed.Event)) {
	if s.cfg.REST == nil || s.cfg.RefreshEvery < 0 {
		<-ctx.Done()
		return
	}
	log := s.cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	tick := time.NewTicker(s.cfg.RefreshEvery)
	defer tick.Stop()
	var last time.Time
	announced := s.inst.Table() // what the events have said so far
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.inst.refresh:
			if wait := time.Until(last.Add(minRefreshGap)); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		}
		last = time.Now()
		s.inst.refreshes.Add(1)
		names := make([]string, 0, s.inst.Table().Len())
		for _, sym := range s.inst.Table().List() {
			names = append(names, sym.Name)
		}
		fresh, err := fetchSymbols(ctx, s.cfg.REST, names)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.inst.refreshErrors.Add(1)
			log.Warn("exchangeInfo refresh failed", "venue", Venue, "err", err)
			continue
		}
		s.inst.merge(fresh)
		now := s.inst.Table()
		changes := diff(announced, now)
		announced = now
		for _, ch := range changes {
			ev := ChangeEvent(Venue, "symbol", ch.Old, ch.New)
			log.Info("instrument changed", "venue", Venue, "symbol", ch.New.Name, "status", ch.New.Status,
				"price_scale", ch.New.PriceScale, "qty_scale", ch.New.QtyScale)
			announce(&ev)
		}
	}
}

// ChangeEvent returns the TypeStatus event announcing that a read of
// exchangeInfo changed a symbol of a Binance market (of venueName, called
// noun in the reason: "symbol", "contract") from old to cur, as Binance's
// markets announce it: StatusHalted when it stops trading (its streams fall
// silent, which is not a stall) or changes to another status that does not
// trade, StatusTrading when it trades again, StatusInstrument when only its
// tick or step size changed. The reason names the new status and the scales
// before and after. ReceiveTime is now.
func ChangeEvent(venueName, noun string, old, cur Symbol) feed.Event {
	ev := feed.Event{Type: feed.TypeStatus, Venue: venueName, Symbol: cur.Name, Instrument: cur.Instrument, ReceiveTime: time.Now().UnixNano()}
	switch {
	case old.Trading() && !cur.Trading():
		ev.Status, ev.Reason = feed.StatusHalted, "status "+cur.Status+": the "+noun+" does not trade; its streams are silent"
	case !old.Trading() && cur.Trading():
		ev.Status, ev.Reason = feed.StatusTrading, "status "+cur.Status+": the "+noun+" trades again"
	case old.Status != cur.Status:
		ev.Status, ev.Reason = feed.StatusHalted, "status "+cur.Status
	default:
		ev.Status = feed.StatusInstrument
	}
	if old.PriceScale != cur.PriceScale || old.QtyScale != cur.QtyScale {
		r := "price scale " + strconv.Itoa(int(old.PriceScale)) + "→" + strconv.Itoa(int(cur.PriceScale)) +
			", quantity scale " + strconv.Itoa(int(old.QtyScale)) + "→" + strconv.Itoa(int(cur.QtyScale))
		if ev.Reason != "" {
			r = ev.Reason + "; " + r
		}
		ev.Reason = r
	}
	return ev
}

// minRefreshGap is the least time between two reads of exchangeInfo asked
// for by values that did not fit (weight 20 each).
const minRefreshGap = 10 * time.Second
