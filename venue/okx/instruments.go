package okx

import (
	"errors"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/venue/binance"
)

// SymbolSource gives the instrument table in force: a *Symbols, or the
// *Instruments that keeps it current.
type SymbolSource interface {
	Table() *Symbols
}

// Table returns t itself: a fixed table is its own source.
func (t *Symbols) Table() *Symbols { return t }

// Instruments keeps the instrument table in force while the venue runs: a
// price or size with more decimals than its instrument's scale (OKX made
// tickSz or lotSz finer) widens that scale at once, for the live decoders
// and the REST recovery alike, so that no push and no page of trades is
// lost for it. Scales only grow: a value at a coarser tick still parses
// at a finer scale. Safe for concurrent use; lookups do not allocate.
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

// Widen raises the price scale (or the lot scale: sizes as sent) of
// instID to scale when it is lower, and reports whether the table changed.
func (in *Instruments) Widen(instID string, price bool, scale uint8) bool {
	if scale > fixed.MaxScale {
		return false
	}
	return in.tab.Widen(func(old *Symbols) *Symbols {
		sym, ok := old.Lookup(instID)
		if !ok || (price && sym.PriceScale >= scale) || (!price && sym.LotScale >= scale) {
			return nil
		}
		if price {
			sym.PriceScale = scale
		} else {
			sym.LotScale = scale
		}
		list := old.List()
		for i := range list {
			if list[i].InstID == instID {
				list[i] = sym
			}
		}
		next, err := NewSymbols(list...)
		if err != nil {
			return nil // a swap's quantity scale would pass fixed.MaxScale
		}
		return next
	})
}

// widen widens the scale a *binance.ScaleError asks for, when src keeps a
// table current.
func widen(src SymbolSource, err error) bool {
	in, ok := src.(*Instruments)
	var se *binance.ScaleError
	return ok && errors.As(err, &se) && in.Widen(se.Symbol, se.Price, se.Scale)
}

// widening decodes with the table in force, and again after widening a
// scale a value did not fit.
type widening struct {
	d   Decoder
	src SymbolSource
}

func (w *widening) Decode(frame []byte, ev *feed.Event) (feed.Decoded, error) {
	w.d.Symbols = w.src.Table()
	kind, err := w.d.Decode(frame, ev)
	for tries := 0; err != nil && tries < 4 && widen(w.src, err); tries++ {
		w.d.Symbols = w.src.Table()
		kind, err = w.d.Decode(frame, ev)
	}
	return kind, err
}

func (w *widening) Next(ev *feed.Event) bool { return w.d.Next(ev) }

func (w *widening) ParseReply(frame []byte) (feed.Reply, error) { return w.d.ParseReply(frame) }
