package coinbase

import (
	"errors"
	"fmt"
	"strings"

	"github.com/feedkeeper/feedkeeper/fixed"
)

// Symbol is one product of the venue.
type Symbol struct {
	Name string `json:"name"` // product_id: "BTC-USD"
	// PriceScale and QtyScale are the decimal places of prices
	// (price_increment) and sizes (base_increment).
	PriceScale uint8 `json:"price_scale"`
	QtyScale   uint8 `json:"qty_scale"`
	// Status is the product's status ("online"); empty when unknown.
	Status string `json:"status,omitempty"`
}

// Instrument is the venue-independent name: the product id, BASE-QUOTE.
func (s Symbol) Instrument() string { return s.Name }

// Symbols is an immutable table of products. It is safe for concurrent use.
type Symbols struct{ by map[string]Symbol }

// NewSymbols builds a table. Names must be BASE-QUOTE, upper case, each
// listed once; scales at most fixed.MaxScale.
func NewSymbols(list ...Symbol) (*Symbols, error) {
	t := &Symbols{by: map[string]Symbol{}}
	for _, s := range list {
		if !validProduct(s.Name) {
			return nil, fmt.Errorf("coinbase: product %q: want BASE-QUOTE in upper case", s.Name)
		}
		if s.PriceScale > fixed.MaxScale || s.QtyScale > fixed.MaxScale {
			return nil, fmt.Errorf("coinbase: product %s: scales %d/%d: %w", s.Name, s.PriceScale, s.QtyScale, fixed.ErrScale)
		}
		if _, dup := t.by[s.Name]; dup {
			return nil, fmt.Errorf("coinbase: product %s listed twice", s.Name)
		}
		t.by[s.Name] = s
	}
	return t, nil
}

// Lookup returns the product name.
func (t *Symbols) Lookup(name string) (Symbol, bool) {
	s, ok := t.by[name]
	return s, ok
}

// List returns every product, in no order.
func (t *Symbols) List() []Symbol {
	out := make([]Symbol, 0, len(t.by))
	for _, s := range t.by {
		out = append(out, s)
	}
	return out
}

// scaleOfStep returns the decimal places of an increment ("0.01" gives 2,
// "1" gives 0).
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
	return fixed.ScaleOf(size)
}
