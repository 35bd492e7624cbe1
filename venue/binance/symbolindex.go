package binance

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// SymbolIndex is an immutable index of one Binance market's symbols S by
// their payload name ("BTCUSDT") and by the lower-case name stream names
// carry ("btcusdt"). It is shared by Binance's markets: each one's Symbols
// table is a SymbolIndex of its own Symbol type. Fill it with Add before
// sharing it; from then on it is safe for concurrent use, and lookups do
// not allocate. A nil index holds no symbol.
type SymbolIndex[S any] struct {
	byName   map[string]S // "BTCUSDT"
	byStream map[string]S // "btcusdt", as in stream names
}

// NewSymbolIndex returns an empty index with room for n symbols.
func NewSymbolIndex[S any](n int) *SymbolIndex[S] {
	return &SymbolIndex[S]{byName: make(map[string]S, n), byStream: make(map[string]S, n)}
}

// Add indexes s under name, which CheckSymbol has accepted. A name added
// before is an error that names it.
func (x *SymbolIndex[S]) Add(name string, s S) error {
	if _, dup := x.byName[name]; dup {
		return fmt.Errorf("symbol %s listed twice", name)
	}
	x.byName[name] = s
	x.byStream[strings.ToLower(name)] = s
	return nil
}

// Lookup returns the symbol named name ("BTCUSDT").
func (x *SymbolIndex[S]) Lookup(name string) (S, bool) {
	if x == nil {
		var zero S
		return zero, false
	}
	s, ok := x.byName[name]
	return s, ok
}

// LookupBytes returns the symbol whose payload name is name, without
// allocating.
func (x *SymbolIndex[S]) LookupBytes(name []byte) (S, bool) {
	if x == nil {
		var zero S
		return zero, false
	}
	s, ok := x.byName[string(name)]
	return s, ok
}

// LookupLower returns the symbol whose name in stream names is name
// ("btcusdt").
func (x *SymbolIndex[S]) LookupLower(name string) (S, bool) {
	if x == nil {
		var zero S
		return zero, false
	}
	s, ok := x.byStream[name]
	return s, ok
}

// LookupStream returns the symbol of a stream name ("btcusdt@depth5@100ms"),
// without allocating. A name without '@' names none.
func (x *SymbolIndex[S]) LookupStream(stream []byte) (S, bool) {
	if x != nil {
		for i, c := range stream {
			if c == '@' {
				s, ok := x.byStream[string(stream[:i])]
				return s, ok
			}
		}
	}
	var zero S
	return zero, false
}

// Len returns the number of symbols.
func (x *SymbolIndex[S]) Len() int {
	if x == nil {
		return 0
	}
	return len(x.byName)
}

// List returns the symbols sorted by name, in a new slice.
func (x *SymbolIndex[S]) List() []S {
	if x == nil {
		return nil
	}
	list := make([]S, 0, len(x.byName))
	for _, name := range slices.Sorted(maps.Keys(x.byName)) {
		list = append(list, x.byName[name])
	}
	return list
}
