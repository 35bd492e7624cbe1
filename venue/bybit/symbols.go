package bybit

import (
	"errors"
	"fmt"
	"strings"

	"github.com/feedkeeper/feedkeeper/fixed"
)

// Category is a Bybit v5 market ("category" in REST queries): each is served
// on its own public stream path, and the same symbol names different markets
// in each (BTCUSDT is the spot pair in spot, the USDT perpetual in linear).
type Category string

// The categories this package speaks.
const (
	Spot   Category = "spot"   // spot pairs, /v5/public/spot
	Linear Category = "linear" // USDT and USDC contracts, /v5/public/linear
)

// Categories lists them, for messages.
var Categories = []Category{Spot, Linear}

func parseCategory(s string) (Category, bool) {
	switch Category(s) {
	case Spot, Linear:
		return Category(s), true
	}
	return "", false
}

// Symbol is one market of the venue.
type Symbol struct {
	Category Category `json:"category"`
	Name     string   `json:"name"` // as Bybit writes it, upper case: "BTCUSDT"
	// PriceScale and QtyScale are the decimal places of prices (tickSize)
	// and quantities (qtyStep for linear, basePrecision for spot).
	PriceScale uint8 `json:"price_scale"`
	QtyScale   uint8 `json:"qty_scale"`
	// Base and Quote are the assets, upper case ("BTC", "USDT").
	Base  string `json:"base,omitempty"`
	Quote string `json:"quote,omitempty"`
	// Perpetual is true for a linear perpetual (contractType
	// LinearPerpetual); dated futures have no venue-independent name.
	Perpetual bool `json:"perpetual,omitempty"`
	// Status is instruments-info's status ("Trading"); empty when unknown.
	Status string `json:"status,omitempty"`
}

// EventSymbol is the symbol as events name it: category/NAME, e.g.
// "spot/BTCUSDT" and "linear/BTCUSDT", since Bybit's names repeat across
// categories and the gateway keeps one book per event symbol.
func (s Symbol) EventSymbol() string { return string(s.Category) + "/" + s.Name }

// Instrument is the venue-independent name: BASE-QUOTE for spot,
// BASE-QUOTE-PERP for a linear perpetual, empty otherwise.
func (s Symbol) Instrument() string {
	if s.Base == "" || s.Quote == "" {
		return ""
	}
	switch {
	case s.Category == Spot:
		return s.Base + "-" + s.Quote
	case s.Category == Linear && s.Perpetual:
		return s.Base + "-" + s.Quote + "-PERP"
	}
	return ""
}

// symbol is the decoder's entry of a Symbol: the strings every event shares.
type symbol struct {
	Symbol
	event, instrument string
}

// Symbols is an immutable table of markets by category and name. It is
// safe for concurrent use.
type Symbols struct {
	by map[Category]map[string]*symbol
}

// NewSymbols builds a table. Names must be upper case without '/', scales
// at most fixed.MaxScale, each (category, name) listed once.
func NewSymbols(list ...Symbol) (*Symbols, error) {
	t := &Symbols{by: map[Category]map[string]*symbol{}}
	for _, s := range list {
		if _, ok := parseCategory(string(s.Category)); !ok {
			return nil, fmt.Errorf("bybit: symbol %s: category %q: want spot or linear", s.Name, s.Category)
		}
		if s.Name == "" || s.Name != strings.ToUpper(s.Name) || strings.ContainsAny(s.Name, "/ \".") {
			return nil, fmt.Errorf("bybit: symbol name %q: must be non-empty upper case", s.Name)
		}
		if s.PriceScale > fixed.MaxScale || s.QtyScale > fixed.MaxScale {
			return nil, fmt.Errorf("bybit: symbol %s: scales %d/%d: %w", s.Name, s.PriceScale, s.QtyScale, fixed.ErrScale)
		}
		m := t.by[s.Category]
		if m == nil {
			m = map[string]*symbol{}
			t.by[s.Category] = m
		}
		if _, dup := m[s.Name]; dup {
			return nil, fmt.Errorf("bybit: symbol %s listed twice in %s", s.Name, s.Category)
		}
		m[s.Name] = &symbol{Symbol: s, event: s.EventSymbol(), instrument: s.Instrument()}
	}
	return t, nil
}

// Lookup returns the market name of category c.
func (t *Symbols) Lookup(c Category, name string) (Symbol, bool) {
	s, ok := t.by[c][name]
	if !ok {
		return Symbol{}, false
	}
	return s.Symbol, true
}

// List returns every market, spot first, in no other order.
func (t *Symbols) List() []Symbol {
	var out []Symbol
	for _, c := range Categories {
		for _, s := range t.by[c] {
			out = append(out, s.Symbol)
		}
	}
	return out
}

// scaleOfStep returns the decimal places of a tick or step size ("0.01"
// gives 2, "1" gives 0).
func scaleOfStep(size string) (uint8, error) {
	if size == "" {
		return 0, errors.New("empty")
	}
	if strings.Trim(size, "0.") == "" {
		return 0, fmt.Errorf("%q is zero", size)
	}
	if strings.Contains(size, ".") {
		size = strings.TrimRight(strings.TrimRight(size, "0"), ".")
	}
	s, err := fixed.ScaleOf(size)
	if err != nil {
		return 0, err
	}
	return s, nil
}
