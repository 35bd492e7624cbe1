package binanceusdm

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/venue/binance"
)

// SymbolSource gives the contract table in force: a *Symbols, or the
// *Instruments that keep it current.
type SymbolSource interface {
	Table() *Symbols
}

// Table returns t itself: a fixed table is its own source.
func (t *Symbols) Table() *Symbols { return t }

// Instruments keeps the contract table in force while the venue runs: a
// price or quantity with more decimals than its contract's scale (Binance
// made the tick or step finer) widens that scale at once, so that no frame
// is dropped for it. Scales only grow: a value at a coarser tick still
// parses at a finer scale. Safe for concurrent use; lookups do not
// allocate.
type Instruments struct {
	tab venue.Table[Symbols]
}

// NewInstruments starts from table.
func NewInstruments(table *Symbols) *Instruments {
	in := &Instruments{}
	in.tab.Store(table)
	return in
}

// Table returns the table in force.
func (in *Instruments) Table() *Symbols { return in.tab.Load() }

// Widened counts the scales widened so far.
func (in *Instruments) Widened() int64 { return in.tab.Widened() }

// Widen raises the price (or quantity) scale of the contract name to
// scale when it is lower, and reports whether the table changed.
func (in *Instruments) Widen(name string, price bool, scale uint8) bool {
	if scale > fixed.MaxScale {
		return false
	}
	return in.tab.Widen(func(old *Symbols) *Symbols {
		sym, ok := old.Lookup(name)
		if !ok || (price && sym.PriceScale >= scale) || (!price && sym.QtyScale >= scale) {
			return nil
		}
		if price {
			sym.PriceScale = scale
		} else {
			sym.QtyScale = scale
		}
		list := old.List()
		for i := range list {
			if list[i].Name == name {
				list[i] = sym
			}
		}
		next, err := NewSymbols(list...)
		if err != nil {
			return nil
		}
		return next
	})
}

// widen widens the scale a *binance.ScaleError in err asks for, when src
// is *Instruments; it reports whether the table changed.
func widen(src SymbolSource, err error) bool {
	in, ok := src.(*Instruments)
	var se *binance.ScaleError
	return ok && errors.As(err, &se) && in.Widen(se.Symbol, se.Price, se.Scale)
}

// widening is the decoder of the venue's connections: it decodes with the
// table in force, and a value that does not fit its contract's scale
// widens the scale and the frame is decoded again.
type widening struct {
	src SymbolSource
	d   Decoder
}

var (
	_ feed.Decoder     = (*widening)(nil)
	_ feed.ReplyParser = (*widening)(nil)
)

func (w *widening) Decode(frame []byte, ev *feed.Event) (feed.Decoded, error) {
	w.d.Symbols = w.src.Table()
	kind, err := w.d.Decode(frame, ev)
	for tries := 0; err != nil && tries < 4 && widen(w.src, err); tries++ {
		w.d.Symbols = w.src.Table()
		kind, err = w.d.Decode(frame, ev)
	}
	return kind, err
}

func (w *widening) ParseReply(frame []byte) (feed.Reply, error) { return w.d.ParseReply(frame) }

// Trading reports whether the contract trades (or its status is unknown).
func (s Symbol) Trading() bool { return s.Status == "" || s.Status == "TRADING" }

// status is what binance.ChangeEvent announces of s.
func (s Symbol) status() binance.Symbol {
	return binance.Symbol{Name: s.Name, PriceScale: s.PriceScale, QtyScale: s.QtyScale, Status: s.Status, Instrument: s.Instrument}
}

// merge takes the statuses of fresh and the larger scales of the two for
// the contracts of the table in force.
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

var _ feed.Watcher = (*Futures)(nil)

// Watch reads exchangeInfo again every RefreshEvery until ctx ends, and
// announces each change of a contract's status or scales as a TypeStatus
// event: StatusHalted when it stops trading (SETTLING, PENDING_TRADING,
// CLOSE, …: its streams fall silent, which is not a stall), StatusTrading
// when it trades again, StatusInstrument when its tick or step size
// changed (scales only grow). Changes made by values that widened a scale
// are announced at the next read. Without Config.REST it only waits for
// ctx. It implements feed.Watcher.
func (v *Futures) Watch(ctx context.Context, announce func(*feed.Event)) {
	if v.cfg.REST == nil || v.cfg.RefreshEvery < 0 {
		<-ctx.Done()
		return
	}
	tick := time.NewTicker(v.cfg.RefreshEvery)
	defer tick.Stop()
	announced := v.inst.Table()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var body json.RawMessage
		if _, err := v.cfg.REST.Get(ctx, exchangeInfoPath, nil, &body); err != nil {
			if ctx.Err() != nil {
				return
			}
			v.cfg.Logger.Warn("exchangeInfo refresh failed", "venue", Venue, "err", err)
			continue
		}
		fresh, err := ParseExchangeInfo(body)
		if err != nil {
			v.cfg.Logger.Warn("exchangeInfo refresh failed", "venue", Venue, "err", err)
			continue
		}
		v.inst.merge(fresh)
		now := v.inst.Table()
		for _, old := range announced.List() {
			cur, ok := now.Lookup(old.Name)
			if !ok || cur == old {
				continue
			}
			ev := binance.ChangeEvent(Venue, "contract", old.status(), cur.status())
			v.cfg.Logger.Info("instrument changed", "venue", Venue, "symbol", cur.Name, "status", cur.Status,
				"price_scale", cur.PriceScale, "qty_scale", cur.QtyScale)
			announce(&ev)
		}
		announced = now
	}
}
