package binanceusdm

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/feedkeeper/feedkeeper/venue/binance"
)

// Contract types of exchangeInfo's contractType.
const (
	Perpetual         = "PERPETUAL"
	CurrentQuarter    = "CURRENT_QUARTER"
	NextQuarter       = "NEXT_QUARTER"
	perpetualSuffixed = "-PERP"
)

// Symbol is one contract: what the decoder needs to know of it.
type Symbol struct {
	Name       string // upper case, as in payloads: "BTCUSDT", "BTCUSDT_260327"
	PriceScale uint8  // decimal places of prices, from PRICE_FILTER tickSize
	QtyScale   uint8  // decimal places of quantities, from LOT_SIZE stepSize
	// Status is exchangeInfo's status (TRADING, SETTLING, PENDING_TRADING,
	// …); empty when unknown.
	Status string
	// Base, Quote and Margin are the contract's assets, upper case
	// (baseAsset, quoteAsset, marginAsset): "BTC", "USDT", "USDT".
	Base, Quote, Margin string
	// ContractType is exchangeInfo's contractType: PERPETUAL,
	// CURRENT_QUARTER, NEXT_QUARTER, …
	ContractType string
	// Instrument is the venue-independent name of the market: for a
	// perpetual "BASE-QUOTE-PERP" ("BTC-USDT-PERP"). NewSymbols sets it,
	// whatever it held; it is empty for other contracts and when an asset
	// is unknown.
	Instrument string

	wire binance.Symbol // Name and scales, for the wire format's parsers
}

// Symbols is an immutable table of contracts, looked up by the decoder
// without allocating. Safe for concurrent use.
type Symbols struct {
	idx binance.SymbolIndex[Symbol] // by value: a lookup follows one pointer less
}

// index returns t's index; nil for a nil table, which holds no contract.
func (t *Symbols) index() *binance.SymbolIndex[Symbol] {
	if t == nil {
		return nil
	}
	return &t.idx
}

// NewSymbols builds a table. Names must be non-empty, upper case and
// unique, scales at most fixed.MaxScale, assets upper case letters and
// digits (or empty). It sets each symbol's Instrument.
func NewSymbols(list ...Symbol) (*Symbols, error) {
	t := &Symbols{idx: *binance.NewSymbolIndex[Symbol](len(list))}
	for _, s := range list {
		if err := binance.CheckSymbol(s.Name, s.PriceScale, s.QtyScale); err != nil {
			return nil, fmt.Errorf("binanceusdm: %w", err)
		}
		for _, a := range [...]struct{ which, v string }{{"base", s.Base}, {"quote", s.Quote}, {"margin", s.Margin}} {
			if !binance.ValidAsset(a.v) {
				return nil, fmt.Errorf("binanceusdm: symbol %s: %s asset %q: must be upper case letters and digits", s.Name, a.which, a.v)
			}
		}
		s.Instrument = ""
		if s.ContractType == Perpetual && s.Base != "" && s.Quote != "" {
			s.Instrument = s.Base + "-" + s.Quote + perpetualSuffixed
		}
		s.wire = binance.Symbol{Name: s.Name, PriceScale: s.PriceScale, QtyScale: s.QtyScale}
		if err := t.idx.Add(s.Name, s); err != nil {
			return nil, fmt.Errorf("binanceusdm: %w", err)
		}
	}
	return t, nil
}

// ParseExchangeInfo builds a table from the body of GET
// /fapi/v1/exchangeInfo, taking every listed contract whatever its status.
// Scales come from the PRICE_FILTER tickSize and LOT_SIZE stepSize, never
// from pricePrecision or quantityPrecision, which Binance's "Exchange
// Information" warns are not the tick and step sizes.
// A contract whose assets are not letters and digits is kept without them.
func ParseExchangeInfo(body []byte) (*Symbols, error) {
	var info struct {
		Symbols []struct {
			Symbol       string                       `json:"symbol"`
			Status       string                       `json:"status"`
			ContractType string                       `json:"contractType"`
			BaseAsset    string                       `json:"baseAsset"`
			QuoteAsset   string                       `json:"quoteAsset"`
			MarginAsset  string                       `json:"marginAsset"`
			Filters      []binance.ExchangeInfoFilter `json:"filters"`
		} `json:"symbols"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("binanceusdm: exchangeInfo: %w", err)
	}
	list := make([]Symbol, 0, len(info.Symbols))
	for _, s := range info.Symbols {
		ws, err := binance.SymbolFromExchangeInfo(s.Symbol, s.Filters)
		if err != nil {
			return nil, fmt.Errorf("binanceusdm: exchangeInfo: %w", err)
		}
		sym := Symbol{Name: ws.Name, PriceScale: ws.PriceScale, QtyScale: ws.QtyScale, Status: s.Status, ContractType: s.ContractType}
		base, quote, margin := strings.ToUpper(s.BaseAsset), strings.ToUpper(s.QuoteAsset), strings.ToUpper(s.MarginAsset)
		if binance.ValidAsset(base) && binance.ValidAsset(quote) && binance.ValidAsset(margin) {
			sym.Base, sym.Quote, sym.Margin = base, quote, margin
		}
		list = append(list, sym)
	}
	t, err := NewSymbols(list...)
	if err != nil {
		return nil, fmt.Errorf("binanceusdm: exchangeInfo: %w", err)
	}
	return t, nil
}

// Lookup returns the contract named name ("BTCUSDT"). A nil table holds
// none.
func (t *Symbols) Lookup(name string) (Symbol, bool) { return t.index().Lookup(name) }

// Len returns the number of contracts.
func (t *Symbols) Len() int { return t.index().Len() }

// List returns the contracts sorted by name, in a new slice.
func (t *Symbols) List() []Symbol { return t.index().List() }

// lookupBytes finds a contract by its payload name without allocating.
func (t *Symbols) lookupBytes(name []byte) (Symbol, bool) { return t.index().LookupBytes(name) }
