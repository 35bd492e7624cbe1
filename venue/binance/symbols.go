package binance

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/feedkeeper/feedkeeper/fixed"
)

// Venue is the venue name carried by every event this package produces.
const Venue = "binance"

// wireDecimals is the number of decimal places Binance writes in every price
// and quantity string: a scale of 8 always parses exactly.
const wireDecimals = 8

// Symbol is what the decoder needs to know about one trading symbol.
type Symbol struct {
	Name       string // upper case, as in payloads: "BTCUSDT"
	PriceScale uint8  // decimal places of prices (from PRICE_FILTER tickSize)
	QtyScale   uint8  // decimal places of quantities (from LOT_SIZE stepSize)
	// Status is exchangeInfo's trading status: TRADING, HALT, BREAK, …
	// Empty when unknown. A symbol that is not TRADING sends nothing.
	Status string
	// Base and Quote are the assets the symbol trades, upper case, from
	// exchangeInfo's baseAsset and quoteAsset: "BTC" and "USDT" for
	// BTCUSDT. Empty when unknown.
	Base, Quote string
	// Instrument is the venue-independent name of the market, "BASE-QUOTE"
	// ("BTC-USDT"), that every event of the symbol carries. NewSymbols sets
	// it from Base and Quote, whatever it held; it is empty when either is.
	Instrument string
}

// Trading reports whether the symbol trades (or its status is unknown).
func (s Symbol) Trading() bool { return s.Status == "" || s.Status == "TRADING" }

// SymbolSource gives the symbol table in force: a *Symbols, or the
// *Instruments that keep it current.
type SymbolSource interface {
	Table() *Symbols
}

// Table returns t itself: a fixed table is its own source.
func (t *Symbols) Table() *Symbols { return t }

// Symbols is an immutable table of symbols, looked up by the decoder
// without allocating. It is safe for concurrent use. To change the set of
// symbols (a listing, a new tick size), build a new table and swap the
// pointer the decoders use (for example with atomic.Pointer).
type Symbols struct {
	idx SymbolIndex[Symbol] // by value: a lookup follows one pointer less
}

// index returns t's index; nil for a nil table, which holds no symbol.
func (t *Symbols) index() *SymbolIndex[Symbol] {
	if t == nil {
		return nil
	}
	return &t.idx
}

// NewSymbols builds a table. Names must be non-empty, upper case and
// unique, scales at most fixed.MaxScale, and assets (when given) upper case
// letters and digits. It sets each symbol's Instrument from its assets, once,
// so that events share the string.
func NewSymbols(list ...Symbol) (*Symbols, error) {
	t := &Symbols{idx: *NewSymbolIndex[Symbol](len(list))}
	for _, s := range list {
		if err := CheckSymbol(s.Name, s.PriceScale, s.QtyScale); err != nil {
			return nil, fmt.Errorf("binance: %w", err)
		}
		if err := checkAsset(s.Name, "base", s.Base); err != nil {
			return nil, err
		}
		if err := checkAsset(s.Name, "quote", s.Quote); err != nil {
			return nil, err
		}
		s.Instrument = ""
		if s.Base != "" && s.Quote != "" {
			s.Instrument = s.Base + "-" + s.Quote
		}
		if err := t.idx.Add(s.Name, s); err != nil {
			return nil, fmt.Errorf("binance: %w", err)
		}
	}
	return t, nil
}

// CheckSymbol checks a symbol's name and scales by the rules of every
// Binance market: the name non-empty upper case, without the characters a
// stream name cannot carry ('@', '/', ' ', '"'), the scales at most
// fixed.MaxScale (fixed.ErrScale). The error names the symbol.
func CheckSymbol(name string, priceScale, qtyScale uint8) error {
	switch {
	case name == "" || name != strings.ToUpper(name) || strings.ContainsAny(name, "@/ \""):
		return fmt.Errorf("symbol name %q: must be non-empty upper case", name)
	case priceScale > fixed.MaxScale || qtyScale > fixed.MaxScale:
		return fmt.Errorf("symbol %s: scales %d/%d: %w", name, priceScale, qtyScale, fixed.ErrScale)
	}
	return nil
}

// ValidAsset reports whether asset is empty or upper case letters and
// digits, the form of Binance's asset names ("BTC", "1000SATS"): others
// would make an instrument name that cannot be parsed back.
func ValidAsset(asset string) bool {
	for _, c := range asset {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// checkAsset reports an asset name that is not ValidAsset.
func checkAsset(symbol, which, asset string) error {
	if !ValidAsset(asset) {
		return fmt.Errorf("binance: symbol %s: %s asset %q: must be upper case letters and digits", symbol, which, asset)
	}
	return nil
}

// SymbolFromFilters returns the Symbol whose scales are those of the tick
// size and step size strings of exchangeInfo ("0.01000000" gives 2). A zero
// or empty size (filter disabled or absent) gives the wire's 8 decimals.
func SymbolFromFilters(name, tickSize, stepSize string) (Symbol, error) {
	ps, err := filterScale(tickSize)
	if err != nil {
		return Symbol{}, fmt.Errorf("binance: symbol %s: tickSize %q: %w", name, tickSize, err)
	}
	qs, err := filterScale(stepSize)
	if err != nil {
		return Symbol{}, fmt.Errorf("binance: symbol %s: stepSize %q: %w", name, stepSize, err)
	}
	return Symbol{Name: name, PriceScale: ps, QtyScale: qs}, nil
}

// ExchangeInfoFilter is one item of a symbol's "filters" in exchangeInfo,
// as Binance's markets write it: the fields the scales come from.
type ExchangeInfoFilter struct {
	FilterType string `json:"filterType"`
	TickSize   string `json:"tickSize"`
	StepSize   string `json:"stepSize"`
}

// SymbolFromExchangeInfo returns the Symbol named name whose scales are
// those of its exchangeInfo filters: PRICE_FILTER's tickSize and
// LOT_SIZE's stepSize (see SymbolFromFilters).
func SymbolFromExchangeInfo(name string, filters []ExchangeInfoFilter) (Symbol, error) {
	var tick, step string
	for _, f := range filters {
		switch f.FilterType {
		case "PRICE_FILTER":
			tick = f.TickSize
		case "LOT_SIZE":
			step = f.StepSize
		}
	}
	return SymbolFromFilters(name, tick, step)
}

func filterScale(size string) (uint8, error) {
	if size == "" {
		return wireDecimals, nil
	}
	s, err := fixed.ScaleOf(size)
	if err != nil {
		return 0, err
	}
	if strings.Trim(size, "0.") == "" {
		return wireDecimals, nil
	}
	return s, nil
}

// ParseExchangeInfo builds a table from the body of GET /api/v3/exchangeInfo,
// taking every listed symbol whatever its trading status, with its assets
// (baseAsset, quoteAsset) upper cased. A symbol listed without them, or
// with an asset that is not letters and digits, is kept without assets and
// with an empty Instrument.
func ParseExchangeInfo(body []byte) (*Symbols, error) {
	var info struct {
		Symbols []struct {
			Symbol     string               `json:"symbol"`
			Status     string               `json:"status"`
			BaseAsset  string               `json:"baseAsset"`
			QuoteAsset string               `json:"quoteAsset"`
			Filters    []ExchangeInfoFilter `json:"filters"`
		} `json:"symbols"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("binance: exchangeInfo: %w", err)
	}
	list := make([]Symbol, 0, len(info.Symbols))
	for _, s := range info.Symbols {
		sym, err := SymbolFromExchangeInfo(s.Symbol, s.Filters)
		if err != nil {
			return nil, fmt.Errorf("binance: exchangeInfo: %w", err)
		}
		sym.Status = s.Status
		base, quote := strings.ToUpper(s.BaseAsset), strings.ToUpper(s.QuoteAsset)
		if checkAsset(sym.Name, "base", base) == nil && checkAsset(sym.Name, "quote", quote) == nil {
			sym.Base, sym.Quote = base, quote
		}
		list = append(list, sym)
	}
	t, err := NewSymbols(list...)
	if err != nil {
		return nil, fmt.Errorf("binance: exchangeInfo: %w", err)
	}
	return t, nil
}

// Lookup returns the symbol named name ("BTCUSDT"). A nil table holds no
// symbol.
func (t *Symbols) Lookup(name string) (Symbol, bool) { return t.index().Lookup(name) }

// Len returns the number of symbols.
func (t *Symbols) Len() int { return t.index().Len() }

// List returns the symbols sorted by name, in a new slice.
func (t *Symbols) List() []Symbol { return t.index().List() }

// lookupName finds a symbol by its payload name without allocating.
func (t *Symbols) lookupName(name []byte) (Symbol, bool) { return t.index().LookupBytes(name) }

// lookupStream finds the symbol of a stream name ("btcusdt@depth5@100ms")
// without allocating.
func (t *Symbols) lookupStream(stream []byte) (Symbol, bool) { return t.index().LookupStream(stream) }
