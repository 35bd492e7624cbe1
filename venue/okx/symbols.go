package okx

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/venue/binance"
)

// Instrument types of GET /api/v5/public/instruments this package reads.
const (
	InstSpot = "SPOT"
	InstSwap = "SWAP"
)

// ErrUnknownSymbol: an instrument not in the table. It matches
// feed.ErrUnknown: the gateway counts and skips such frames.
var ErrUnknownSymbol = fmt.Errorf("okx: unknown instrument: %w", feed.ErrUnknown)

// Symbol is one instrument: what the decoder needs to know of it.
type Symbol struct {
	InstID   string // as OKX names it: "BTC-USDT", "BTC-USDT-SWAP"
	InstType string // SPOT, SWAP
	// PriceScale is the decimals of tickSz.
	PriceScale uint8
	// LotScale is the decimals of lotSz: sizes as sent (contracts for a
	// swap).
	LotScale uint8
	// CtVal is a swap's contract face value (ctVal: base currency for a
	// linear swap, USD for an inverse one); zero for spot.
	CtVal fixed.Dec
	// QtyScale is the scale of the quantities of events: LotScale for
	// spot, LotScale + CtVal's scale for a swap (sizes times ctVal).
	QtyScale uint8
	// State is the instrument's state (live, suspend, preopen, test);
	// empty when unknown.
	State string
	// Base and Quote are the assets: baseCcy and quoteCcy for spot; for a
	// linear swap ctValCcy and settleCcy. Empty when unknown.
	Base, Quote string
	// Linear says a swap's ctType is linear.
	Linear bool
	// Instrument is the venue-independent name: "BTC-USDT" for spot,
	// "BTC-USDT-PERP" for a linear swap; empty for others. NewSymbols
	// sets it.
	Instrument string

	wire    binance.Symbol    // scales as sent, for the scanner's parsers
	streams [nChannels]string // "BTC-USDT@books", … for Event.Stream
}

// Symbols is an immutable table of instruments, looked up by the decoder
// without allocating. Safe for concurrent use.
type Symbols struct {
	byName map[string]*Symbol
}

// NewSymbols builds a table. InstIDs must be unique and of OKX's form,
// scales at most fixed.MaxScale. It sets each symbol's QtyScale and
// Instrument from the others.
func NewSymbols(list ...Symbol) (*Symbols, error) {
	t := &Symbols{byName: make(map[string]*Symbol, len(list))}
	for _, s := range list {
		if !instIDForm.MatchString(s.InstID) {
			return nil, fmt.Errorf("okx: instrument %q: not an instId of OKX's form (BTC-USDT, BTC-USDT-SWAP)", s.InstID)
		}
		s.QtyScale = s.LotScale
		if s.InstType == InstSwap {
			if s.CtVal.M <= 0 {
				return nil, fmt.Errorf("okx: instrument %s: ctVal %s: a swap needs a positive contract value", s.InstID, s.CtVal)
			}
			s.QtyScale = s.LotScale + s.CtVal.S
		}
		if s.PriceScale > fixed.MaxScale || s.QtyScale > fixed.MaxScale {
			return nil, fmt.Errorf("okx: instrument %s: scales %d/%d: %w", s.InstID, s.PriceScale, s.QtyScale, fixed.ErrScale)
		}
		s.Instrument = ""
		switch {
		case s.Base == "" || s.Quote == "":
		case s.InstType == InstSpot:
			s.Instrument = s.Base + "-" + s.Quote
		case s.InstType == InstSwap && s.Linear:
			s.Instrument = s.Base + "-" + s.Quote + "-PERP"
		}
		s.wire = binance.Symbol{Name: s.InstID, PriceScale: s.PriceScale, QtyScale: s.LotScale}
		for ch, name := range channelNames {
			s.streams[ch] = s.InstID + "@" + name
		}
		if _, dup := t.byName[s.InstID]; dup {
			return nil, fmt.Errorf("okx: instrument %s listed twice", s.InstID)
		}
		t.byName[s.InstID] = &s
	}
	return t, nil
}

// size converts a size as sent (mantissa at LotScale) to the event's
// quantity (at QtyScale): times ctVal for a swap.
func (s *Symbol) size(m int64) (int64, error) {
	if s.InstType != InstSwap {
		return m, nil
	}
	c := s.CtVal.M
	if m != 0 && (m > math.MaxInt64/c || m < math.MinInt64/c) {
		return 0, fmt.Errorf("%w: size %d contracts of %s overflows", fixed.ErrRange, m, s.InstID)
	}
	return m * c, nil
}

// Contracts converts an event quantity of s (at QtyScale) back to the
// size OKX sent (at LotScale), for the checksum of a swap's book.
func (s *Symbol) Contracts(qty int64) int64 {
	if s.InstType != InstSwap {
		return qty
	}
	return qty / s.CtVal.M
}

// instrumentJSON is one instrument of GET /api/v5/public/instruments
// ("GET / Instruments": every value a string).
type instrumentJSON struct {
	InstType  string `json:"instType"`
	InstID    string `json:"instId"`
	BaseCcy   string `json:"baseCcy"`
	QuoteCcy  string `json:"quoteCcy"`
	SettleCcy string `json:"settleCcy"`
	CtValCcy  string `json:"ctValCcy"`
	CtVal     string `json:"ctVal"`
	CtType    string `json:"ctType"`
	TickSz    string `json:"tickSz"`
	LotSz     string `json:"lotSz"`
	State     string `json:"state"`
}

// ParseInstruments reads the data array of GET
// /api/v5/public/instruments: scales from tickSz and lotSz, a swap's ctVal
// and ctType, the assets, the state.
func ParseInstruments(data []byte) ([]Symbol, error) {
	var list []instrumentJSON
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("okx: instruments: %w", err)
	}
	out := make([]Symbol, 0, len(list))
	for _, in := range list {
		s := Symbol{InstID: in.InstID, InstType: in.InstType, State: in.State}
		tick, err := step(in.TickSz)
		if err != nil {
			return nil, fmt.Errorf("okx: instrument %s: tickSz %q: %w", in.InstID, in.TickSz, err)
		}
		lot, err := step(in.LotSz)
		if err != nil {
			return nil, fmt.Errorf("okx: instrument %s: lotSz %q: %w", in.InstID, in.LotSz, err)
		}
		s.PriceScale, s.LotScale = tick.S, lot.S
		switch in.InstType {
		case InstSpot:
			s.Base, s.Quote = in.BaseCcy, in.QuoteCcy
		case InstSwap:
			if s.CtVal, err = step(in.CtVal); err != nil {
				return nil, fmt.Errorf("okx: instrument %s: ctVal %q: %w", in.InstID, in.CtVal, err)
			}
			s.Linear = in.CtType == "linear"
			if s.Linear {
				s.Base, s.Quote = in.CtValCcy, in.SettleCcy
			}
		default:
			continue
		}
		if !assetName(s.Base) || !assetName(s.Quote) {
			s.Base, s.Quote = "", ""
		}
		out = append(out, s)
	}
	return out, nil
}

// step reads a positive step or face value at its own decimals ("0.01" →
// 1 at scale 2, "1" → 1 at 0, "0.10" → 1 at 1: trailing zeros say nothing
// of the step).
func step(v string) (fixed.Dec, error) {
	if strings.Contains(v, ".") {
		v = strings.TrimRight(strings.TrimRight(v, "0"), ".")
	}
	s, err := fixed.ScaleOf(v)
	if err != nil {
		return fixed.Dec{}, err
	}
	m, err := fixed.Parse(v, s)
	if err != nil {
		return fixed.Dec{}, err
	}
	if m <= 0 {
		return fixed.Dec{}, errors.New("not a positive decimal")
	}
	return fixed.Dec{M: m, S: s}, nil
}

func assetName(a string) bool {
	for _, c := range a {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Lookup returns the instrument instID. A nil table holds none.
func (t *Symbols) Lookup(instID string) (Symbol, bool) {
	if t == nil {
		return Symbol{}, false
	}
	s, ok := t.byName[instID]
	if !ok {
		return Symbol{}, false
	}
	return *s, true
}

// lookupBytes finds an instrument by its name in a frame without
// allocating.
func (t *Symbols) lookupBytes(name []byte) (*Symbol, bool) {
	if t == nil {
		return nil, false
	}
	s, ok := t.byName[string(name)]
	return s, ok
}

// Len returns the number of instruments.
func (t *Symbols) Len() int {
	if t == nil {
		return 0
	}
	return len(t.byName)
}

// List returns the instruments sorted by instId, in a new slice.
func (t *Symbols) List() []Symbol {
	if t == nil {
		return nil
	}
	list := make([]Symbol, 0, len(t.byName))
	for _, s := range t.byName {
		list = append(list, *s)
	}
	slices.SortFunc(list, func(a, b Symbol) int { return strings.Compare(a.InstID, b.InstID) })
	return list
}
