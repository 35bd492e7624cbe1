package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Symbol statuses, as exchangeInfo gives them (enums.md, "Symbol status
// (status)": TRADING, END_OF_DAY, HALT, BREAK, CANCEL_ONLY). The simulated
// market moves only a TRADING symbol: in any other status it trades
// nothing, its book does not change and its streams are silent, while
// other symbols go on and connections keep their pings.
const (
	StatusTrading    = "TRADING"
	StatusEndOfDay   = "END_OF_DAY"
	StatusHalt       = "HALT"
	StatusBreak      = "BREAK"
	StatusCancelOnly = "CANCEL_ONLY"
)

var symbolStatuses = []string{StatusTrading, StatusEndOfDay, StatusHalt, StatusBreak, StatusCancelOnly}

// ErrBadValue means a value given to SetSymbolStatus or SetSymbolFilters
// (or the /sim/symbol endpoint) cannot be used; the error names it.
var ErrBadValue = errors.New("sim: bad value")

// haltDefault is how long the halt fault keeps a symbol halted by default.
const haltDefault = 5 * time.Second

// SetSymbolStatus sets a symbol's trading status (StatusTrading,
// StatusHalt, …) from now on; exchangeInfo shows it at once. A symbol not
// TRADING does not move until it is set back to TRADING. It cancels the
// end of a running halt fault.
func (s *Server) SetSymbolStatus(symbol, status string) error {
	return s.market.setStatus(symbol, status, time.Time{})
}

// SetSymbolFilters changes a symbol's PRICE_FILTER tickSize and LOT_SIZE
// stepSize while the market runs ("" keeps one as it is). Each is a power
// of ten written as a decimal ("0.001", "1", "0.00100000"), from 0.00000001
// up (stepSize at most 1000; tickSize leaving at least 100 ticks in the
// symbol's start price). A finer size changes nothing in the book, and the
// market makes prices or quantities with the new decimals from then on; a
// coarser one first moves each level off the new grid to the next price on
// it away from the spread (bids down, asks up) and rounds each quantity to
// the new step (at least one step), as ordinary book updates. exchangeInfo,
// the streams, REST and the ground truth change together.
func (s *Server) SetSymbolFilters(symbol, tickSize, stepSize string) error {
	return s.market.setFiltersBySize(symbol, tickSize, stepSize)
}

// Trades returns the individual trades of symbol with IDs from..to
// inclusive (the IDs of the @trade stream, which aggregate trades' f..l
// cover), oldest first, as the market made them: no REST lag applies. A
// range past the last trade is cut there; one starting before the oldest
// trade kept fails with ErrHistoryGone.
func (s *Server) Trades(symbol string, from, to int64) ([]Trade, error) {
	return s.market.tradesRange(symbol, from, to)
}

// applyMarketFault carries out a fault that changes one symbol's market:
// qty-cap, halt and filters. Others are ignored.
func (s *Server) applyMarketFault(f Fault) {
	if err := s.market.fault(f, time.Now()); err != nil {
		s.log.Warn("fault not applied", "fault", f.String(), "reason", err)
	}
}

// setStatus sets the status of symbol; a zero resumeAt means for as long as
// nobody changes it.
func (m *market) setStatus(symbol, status string, resumeAt time.Time) error {
	if !slices.Contains(symbolStatuses, status) {
		return fmt.Errorf("%w: status %q (known: %s)", ErrBadValue, status, strings.Join(symbolStatuses, ", "))
	}
	s, err := m.lookup(symbol)
	if err != nil {
		return err
	}
	m.pubMu.Lock()
	defer m.pubMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.status != status {
		s.status = status
		s.infoVer++
	}
	s.resumeAt = resumeAt
	return nil
}

// resume ends a halt whose time has come. The caller holds pubMu.
func (m *market) resume(s *symState, now time.Time) {
	if s.resumeAt.IsZero() || now.Before(s.resumeAt) {
		return
	}
	m.mu.Lock()
	s.status, s.resumeAt = StatusTrading, time.Time{}
	s.infoVer++
	m.mu.Unlock()
}

// parsePow10 reads a power of ten written as a decimal ("0.001", "10",
// "0.00100000") and returns its exponent.
func parsePow10(v string) (int, bool) {
	ip, fp, dot := strings.Cut(v, ".")
	if dot {
		fp = strings.TrimRight(fp, "0")
	}
	if ip == "" || strings.Trim(ip, "0123456789") != "" || strings.Trim(fp, "0123456789") != "" {
		return 0, false
	}
	ip = strings.TrimLeft(ip, "0")
	switch {
	case ip != "" && fp == "": // 1, 10, 100…
		if ip[0] != '1' || strings.Trim(ip[1:], "0") != "" {
			return 0, false
		}
		return len(ip) - 1, true
	case ip == "" && fp != "": // 0.1, 0.01…
		if fp[len(fp)-1] != '1' || strings.Trim(fp[:len(fp)-1], "0") != "" {
			return 0, false
		}
		return -len(fp), true
	}
	return 0, false
}

// checkFilters checks new filter exponents for s (the caller holds mu).
func (s *symState) checkFilters(tickExp, stepExp int, tickSize, stepSize string) error {
	if tickExp < -8 {
		return fmt.Errorf("%w: tickSize %q is finer than 0.00000001", ErrBadValue, tickSize)
	}
	if d := tickExp - s.spec.tickExp; d > 0 && (d > 18 || s.spec.price/pow10(d) < 100) {
		return fmt.Errorf("%w: tickSize %q leaves fewer than 100 ticks in %s's price %s", ErrBadValue, tickSize, s.spec.name, s.sc.priceString(s.spec.price))
	}
	if stepExp < -8 || stepExp > 3 {
		return fmt.Errorf("%w: stepSize %q is outside 0.00000001..1000", ErrBadValue, stepSize)
	}
	return nil
}

func (m *market) setFiltersBySize(symbol, tickSize, stepSize string) error {
	s, err := m.lookup(symbol)
	if err != nil {
		return err
	}
	m.pubMu.Lock()
	defer m.pubMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	tickExp, stepExp := s.spec.tickExp, s.spec.stepExp
	var ok bool
	if tickSize != "" {
		if tickExp, ok = parsePow10(tickSize); !ok {
			return fmt.Errorf("%w: tickSize %q is not a power of ten such as 0.01", ErrBadValue, tickSize)
		}
	}
	if stepSize != "" {
		if stepExp, ok = parsePow10(stepSize); !ok {
			return fmt.Errorf("%w: stepSize %q is not a power of ten such as 0.001", ErrBadValue, stepSize)
		}
	}
	if err := s.checkFilters(tickExp, stepExp, tickSize, stepSize); err != nil {
		return err
	}
	m.setFilters(s, tickExp, stepExp)
	return nil
}

// setFilters moves s to tick size 10^tickExp and lot step 10^stepExp. The
// caller holds pubMu and mu, and has checked the exponents.
func (m *market) setFilters(s *symState, tickExp, stepExp int) {
	if d := tickExp - s.spec.tickExp; d > 0 {
		f := pow10(d)
		m.coarsenPrices(s, f)
		for sd := range s.book {
			for i := range s.book[sd].lv {
				s.book[sd].lv[i].price /= f
			}
		}
		s.spec.price = max(1, s.spec.price/f)
		s.span = max(4, s.span/float64(f))
	} else if d < 0 {
		f := pow10(-d)
		for sd := range s.book {
			for i := range s.book[sd].lv {
				s.book[sd].lv[i].price *= f
			}
		}
		s.spec.price *= f
		s.span *= float64(f)
	}
	s.spec.tickExp, s.sc.tick = tickExp, pow10(tickExp+8)

	if d := stepExp - s.spec.stepExp; d > 0 {
		f := pow10(d)
		m.coarsenQtys(s, f)
		for sd := range s.book {
			for i := range s.book[sd].lv {
				l := &s.book[sd].lv[i]
				if s.sc.capped(l.qty) {
					l.qty = math.MaxInt64
				} else {
					l.qty /= f
				}
			}
		}
		s.spec.typQty = max(1, s.spec.typQty/f)
	} else if d < 0 {
		f := pow10(-d)
		for sd := range s.book {
			for i := range s.book[sd].lv {
				s.book[sd].lv[i].qty = satMul(s.book[sd].lv[i].qty, f)
			}
		}
		s.spec.typQty *= f
	}
	s.spec.stepExp, s.sc.step = stepExp, pow10(stepExp+8)
	s.ticker = s.top()
	s.infoVer++
}

// coarsenPrices moves every level whose price is not a multiple of f ticks
// to the next multiple away from the spread, adding to the quantity there.
func (m *market) coarsenPrices(s *symState, f int64) {
	for sd := range s.book {
		book := &s.book[sd]
		var off []level
		for _, l := range book.lv {
			if l.price%f != 0 {
				off = append(off, l)
			}
		}
		for _, l := range off {
			to := l.price / f * f
			if book.ask {
				to += f
			}
			m.setLevel(s, sd, l.price, 0)
			if to > 0 {
				m.setLevel(s, sd, to, satAdd(book.qtyAt(to), l.qty))
			}
		}
	}
}

// coarsenQtys rounds every quantity that is not a multiple of f lots to the
// nearest one, at least f. A capped quantity stays capped.
func (m *market) coarsenQtys(s *symState, f int64) {
	for sd := range s.book {
		book := &s.book[sd]
		var off []level
		for _, l := range book.lv {
			if l.qty%f != 0 && !s.sc.capped(l.qty) {
				off = append(off, l)
			}
		}
		for _, l := range off {
			m.setLevel(s, sd, l.price, max(f, (l.qty+f/2)/f*f))
		}
	}
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// fault carries out qty-cap, halt or filters on f.Symbol, or on a symbol
// chosen by the seed among those trading.
func (m *market) fault(f Fault, now time.Time) error {
	if f.Kind != FaultQtyCap && f.Kind != FaultHalt && f.Kind != FaultFilters {
		return nil
	}
	m.pubMu.Lock()
	defer m.pubMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	var s *symState
	if f.Symbol != "" {
		var err error
		if s, err = m.lookup(f.Symbol); err != nil {
			return err
		}
	} else {
		var trading []*symState
		for _, t := range m.syms {
			if t.status == StatusTrading {
				trading = append(trading, t)
			}
		}
		if len(trading) == 0 {
			return errors.New("no symbol is trading")
		}
		s = trading[m.faultRng.IntN(len(trading))]
	}
	switch f.Kind {
	case FaultQtyCap:
		if s.status != StatusTrading {
			return fmt.Errorf("%s is not trading (%s): its book does not move", s.spec.name, s.status)
		}
		sd := m.faultRng.IntN(2)
		book := &s.book[sd]
		if len(book.lv) == 0 {
			return fmt.Errorf("%s: empty book side", s.spec.name)
		}
		l := book.lv[len(book.lv)-1-m.faultRng.IntN(min(5, len(book.lv)))]
		m.setLevel(s, sd, l.price, math.MaxInt64)
	case FaultHalt:
		if s.status != StatusHalt {
			s.status = StatusHalt
			s.infoVer++
		}
		s.resumeAt = now.Add(orDefault(f.Duration, haltDefault))
	case FaultFilters:
		tickExp, stepExp := s.spec.tickExp, s.spec.stepExp
		toggle := func(cur, base int) int {
			if cur == base && base > -8 {
				return base - 1
			}
			return base
		}
		if f.Variant != "step" {
			tickExp = toggle(tickExp, s.baseTick)
		}
		if f.Variant != "tick" {
			stepExp = toggle(stepExp, s.baseStep)
		}
		if err := s.checkFilters(tickExp, stepExp, "", ""); err != nil {
			return err
		}
		m.setFilters(s, tickExp, stepExp)
	}
	return nil
}
