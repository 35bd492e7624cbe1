package kraken

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
)

// ErrUnknownSymbol: a pair not in the table. It matches feed.ErrUnknown:
// the gateway counts and skips such frames.
var ErrUnknownSymbol = fmt.Errorf("kraken: unknown pair: %w", feed.ErrUnknown)

// Symbol is one pair: what the decoder and the recovery need of it.
type Symbol struct {
	// Name is the pair as WebSocket v2 names it: "BTC/USD".
	Name string
	// RESTPair is the pair as REST takes it (AssetPairs' altname:
	// "XBTUSD").
	RESTPair string
	// PriceScale and QtyScale are pair_decimals and lot_decimals: the
	// instrument channel's price_precision and qty_precision, at which
	// the checksum writes prices and quantities.
	PriceScale, QtyScale uint8
	// Instrument is the venue-independent name: "BTC-USD".
	Instrument string

	streams [3]string   // "BTC/USD@book", "@trade", "@ticker"
	trades  *tradeMarks // where the stream's trade IDs jumped, for the recovery
}

// tradeMarks remembers, per pair, the trade before each jump of the
// stream's trade_id: /0/public/Trades pages by time, and the recovery of
// IDs from N on starts at the time of trade N-1.
type tradeMarks struct {
	mu             sync.Mutex
	lastID, lastNs int64
	marks          [32]struct{ id, ns int64 }
	n              int
}

// Symbols is an immutable table of pairs, looked up by the decoder
// without allocating. Safe for concurrent use.
type Symbols struct {
	byName map[string]*Symbol
}

// NewSymbols builds a table. Names must be unique and of v2's form
// ("BTC/USD"), scales at most fixed.MaxScale. Pairs taken from another
// table's List keep what that table noted of their trades.
func NewSymbols(list ...Symbol) (*Symbols, error) {
	t := &Symbols{byName: make(map[string]*Symbol, len(list))}
	for _, s := range list {
		if !symbolForm.MatchString(s.Name) {
			return nil, fmt.Errorf("kraken: pair %q: not a WebSocket v2 name (BTC/USD)", s.Name)
		}
		if s.PriceScale > fixed.MaxScale || s.QtyScale > fixed.MaxScale {
			return nil, fmt.Errorf("kraken: pair %s: scales %d/%d: %w", s.Name, s.PriceScale, s.QtyScale, fixed.ErrScale)
		}
		if _, dup := t.byName[s.Name]; dup {
			return nil, fmt.Errorf("kraken: pair %s listed twice", s.Name)
		}
		s.Instrument = strings.Replace(s.Name, "/", "-", 1)
		for i, ch := range []string{ChannelBook, ChannelTrade, ChannelTicker} {
			s.streams[i] = s.Name + "@" + ch
		}
		if s.trades == nil { // a table built from another's List keeps its marks
			s.trades = new(tradeMarks)
		}
		t.byName[s.Name] = &s
	}
	return t, nil
}

// Lookup returns the pair name ("BTC/USD"). A nil table holds none.
func (t *Symbols) Lookup(name string) (Symbol, bool) {
	if t == nil {
		return Symbol{}, false
	}
	s, ok := t.byName[name]
	if !ok {
		return Symbol{}, false
	}
	return *s, true
}

func (t *Symbols) lookupBytes(name []byte) (*Symbol, bool) {
	if t == nil {
		return nil, false
	}
	s, ok := t.byName[string(name)]
	return s, ok
}

// Len returns the number of pairs.
func (t *Symbols) Len() int {
	if t == nil {
		return 0
	}
	return len(t.byName)
}

// List returns the pairs sorted by name, in a new slice.
func (t *Symbols) List() []Symbol {
	if t == nil {
		return nil
	}
	list := make([]Symbol, 0, len(t.byName))
	for _, s := range t.byName {
		list = append(list, *s)
	}
	slices.SortFunc(list, func(a, b Symbol) int { return strings.Compare(a.Name, b.Name) })
	return list
}

// noteTrade records a trade decoded: when its ID jumps past the last
// one's + 1, the last one is marked.
func (s *Symbol) noteTrade(id, ns int64) {
	m := s.trades
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lastID != 0 && id > m.lastID+1 {
		m.marks[m.n%len(m.marks)] = struct{ id, ns int64 }{m.lastID, m.lastNs}
		m.n++
	}
	if id > m.lastID {
		m.lastID, m.lastNs = id, ns
	}
}

// tradeBefore returns the time of the trade marked with the greatest ID
// below id; false when none is.
func (s *Symbol) tradeBefore(id int64) (ns int64, ok bool) {
	m := s.trades
	m.mu.Lock()
	defer m.mu.Unlock()
	best := int64(-1)
	for i := range min(m.n, len(m.marks)) {
		if mk := m.marks[i]; mk.id < id && mk.id > best {
			best, ns = mk.id, mk.ns
		}
	}
	return ns, best >= 0
}
