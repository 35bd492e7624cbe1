package sim

import (
	"math/big"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The streams computed from the market's trades: klines, the 24-hour and
// window tickers, the mini tickers and the average price. Every figure
// comes from the aggregate trades the market keeps (Config.History per
// symbol): a window reaching further back than that covers the trades kept.
// The ground-truth endpoints /sim/kline and /sim/ticker compute the same
// figures the same way, so a client can be checked against them.

// windowStats is what the trades of one time window add up to. Prices are
// in ticks, quantities in lots, quote amounts in ticks×lots.
type windowStats struct {
	trades             int64 // number of trades (not aggregate trades)
	firstID, lastID    int64 // first and last trade ID; -1 without trades
	lastAgg            int64 // last aggregate trade ID; -1 without trades
	open, high, low    int64
	close, lastQty     int64
	vol, takerVol      int64
	quote, takerQuote  uint128
	lastUs             int64 // time of the last trade (µs); 0 without trades
	prev               int64 // price of the last trade before the window; 0 if not kept
	prevUs             int64 // its time
	hasTrades, hasPrev bool
}

// uint128 accumulates products of prices and quantities without overflow.
type uint128 struct{ hi, lo uint64 }

func (u *uint128) addMul(a, b int64) {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	var carry uint64
	u.lo, carry = bits.Add64(u.lo, lo, 0)
	u.hi += hi + carry
}

func (u uint128) big() *big.Int {
	b := new(big.Int).SetUint64(u.hi)
	b.Lsh(b, 64)
	return b.Or(b, new(big.Int).SetUint64(u.lo))
}

// statsBetween adds up the aggregate trades of s with times in [from, to]
// (µs). The caller holds m.mu or m.pubMu, so no trade is added meanwhile.
func (m *market) statsBetween(s *symState, from, to int64) windowStats {
	st := windowStats{firstID: -1, lastID: -1, lastAgg: -1}
	lo, hi := m.oldestAgg(s), s.nextAgg-1
	if hi < lo {
		return st
	}
	// first aggregate trade at or after from
	a, b := lo, hi+1
	for a < b {
		h := a + (b-a)/2
		if s.aggAt(h).us < from {
			a = h + 1
		} else {
			b = h
		}
	}
	if a > lo {
		p := s.aggAt(a - 1)
		st.prev, st.prevUs, st.hasPrev = p.price, p.us, true
	}
	ring := s.aggs
	i := int((a - s.firstAgg) % s.aggCap) // position of a in the ring
	for id := a; id <= hi; id, i = id+1, i+1 {
		if i == len(ring) {
			i = 0
		}
		r := &ring[i]
		if r.us > to {
			break
		}
		if !st.hasTrades {
			st.hasTrades = true
			st.open, st.high, st.low = r.price, r.price, r.price
			st.firstID = r.first
		}
		st.high = max(st.high, r.price)
		st.low = min(st.low, r.price)
		st.close, st.lastQty, st.lastUs = r.price, r.qty, r.us
		st.lastID, st.lastAgg = r.last, id
		st.trades += r.last - r.first + 1
		st.vol += r.qty
		st.quote.addMul(r.price, r.qty)
		if !r.maker { // the buyer is the taker
			st.takerVol += r.qty
			st.takerQuote.addMul(r.price, r.qty)
		}
	}
	if !st.hasTrades {
		// a window without trades stands at the last price before it
		st.open, st.high, st.low, st.close = st.prev, st.prev, st.prev, st.prev
	}
	return st
}

var bigE8 = big.NewInt(1e8)

// historyScale is the scale of the market's history, kept in units of
// 1e-8: the statistics read trades from it.
var historyScale = scale{tick: 1, step: 1}

// quoteE8 converts a sum of ticks×lots to units of 1e-8 of the quote asset,
// truncated as Binance truncates to its eight decimals.
func (sc scale) quoteE8(q uint128) int64 {
	v := q.big()
	v.Mul(v, big.NewInt(sc.tick))
	v.Mul(v, big.NewInt(sc.step))
	v.Quo(v, bigE8)
	return v.Int64()
}

// weightedE8 is the volume-weighted average price, in units of 1e-8; 0
// without volume.
func (sc scale) weightedE8(q uint128, vol int64) int64 {
	if vol == 0 {
		return 0
	}
	v := q.big()
	v.Mul(v, big.NewInt(sc.tick))
	v.Quo(v, big.NewInt(vol))
	return v.Int64()
}

// appendPercent appends the change from o to c in percent with three
// decimals, truncated toward zero ("250.000"); "0.000" when o is 0.
func appendPercent(b []byte, o, c int64) []byte {
	if o == 0 {
		return append(b, "0.000"...)
	}
	v := new(big.Int).Mul(big.NewInt(c-o), big.NewInt(100_000))
	v.Quo(v, big.NewInt(o))
	n := v.Int64()
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	b = strconv.AppendInt(b, n/1000, 10)
	frac := n % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

func appendKey(b []byte, key string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func appendIntField(b []byte, key string, v int64) []byte {
	return strconv.AppendInt(appendKey(b, key), v, 10)
}

func appendPriceField(b []byte, sc scale, key string, ticks int64) []byte {
	return appendQuotedE8(appendKey(b, key), ticks*sc.tick)
}

func appendQtyField(b []byte, sc scale, key string, lots int64) []byte {
	return appendQuotedE8(appendKey(b, key), lots*sc.step)
}

func appendE8Field(b []byte, key string, v int64) []byte {
	return appendQuotedE8(appendKey(b, key), v)
}

// klineSpan returns the start and end (µs, end exclusive) of the kline of
// interval iv that holds time us. With tz the intervals open and close in
// UTC+8: "the 1d klines will open at the beginning of the UTC+8 day, and
// close at the end of the UTC+8 day. Note that E (event time), t (start
// time) and T (close time) in the payload are Unix timestamps, which are
// always interpreted in UTC." Weeks open on Monday, months on the 1st; 3d
// klines are counted from the Unix epoch (the docs do not say).
func klineSpan(iv int, tz bool, us int64) (start, end int64) {
	var off int64
	if tz {
		off = 8 * time.Hour.Microseconds()
	}
	d := klineIntervals[iv].every.Microseconds()
	if d == 0 { // 1M: calendar months
		t := time.UnixMicro(us + off).UTC()
		first := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return first.UnixMicro() - off, first.AddDate(0, 1, 0).UnixMicro() - off
	}
	var shift int64
	if klineIntervals[iv].name == "1w" {
		shift = 4 * 24 * time.Hour.Microseconds() // 1970-01-05 was a Monday
	}
	x := us + off - shift
	start = x - ((x%d)+d)%d
	start += shift - off
	return start, start + d
}

// tunit converts a time in µs to the unit the subscriber asked for.
func tunit(us int64, micros bool) int64 {
	if micros {
		return us
	}
	return floorDiv(us, 1000)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// appendKline appends a kline stream payload for the kline of interval iv
// holding time start, with the trades made up to at (µs):
// {"e":"kline","E":…,"s":"…","k":{"t":…,"T":…,"s":"…","i":"…","f":…,"L":…,"o":"…",
// "c":"…","h":"…","l":"…","v":"…","n":…,"x":…,"q":"…","V":"…","Q":"…","B":"0"}}.
// A kline without trades has "f":-1, "L":-1, and the last price before it
// as its open, high, low and close.
func (m *market) appendKline(b []byte, s *symState, iv int, tz bool, start, at int64, micros bool) []byte {
	b = append(b, `{"e":"kline"`...)
	b = appendIntField(b, "E", tunit(at, micros))
	b = append(b, `,"s":"`...)
	b = append(b, s.spec.name...)
	b = append(b, `","k":`...)
	b = m.appendKlineBody(b, s, iv, tz, start, at, micros)
	return append(b, '}')
}

// appendKlineBody appends the "k" object of a kline payload.
func (m *market) appendKlineBody(b []byte, s *symState, iv int, tz bool, start, at int64, micros bool) []byte {
	start, end := klineSpan(iv, tz, start)
	st := m.statsBetween(s, start, min(end-1, at))
	sc := historyScale
	b = strconv.AppendInt(append(b, `{"t":`...), tunit(start, micros), 10)
	b = appendIntField(b, "T", tunit(end-1, micros))
	b = append(b, `,"s":"`...)
	b = append(b, s.spec.name...)
	b = append(b, `","i":"`...)
	b = append(b, klineIntervals[iv].name...)
	b = append(b, '"')
	b = appendIntField(b, "f", st.firstID)
	b = appendIntField(b, "L", st.lastID)
	b = appendPriceField(b, sc, "o", st.open)
	b = appendPriceField(b, sc, "c", st.close)
	b = appendPriceField(b, sc, "h", st.high)
	b = appendPriceField(b, sc, "l", st.low)
	b = appendQtyField(b, sc, "v", st.vol)
	b = appendIntField(b, "n", st.trades)
	b = appendBool(appendKey(b, "x"), at >= end-1)
	b = appendE8Field(b, "q", sc.quoteE8(st.quote))
	b = appendQtyField(b, sc, "V", st.takerVol)
	b = appendE8Field(b, "Q", sc.quoteE8(st.takerQuote))
	return append(b, `,"B":"0"}`...)
}

// dayUs is the window of the 24-hour statistics, in µs: "These are NOT the
// statistics of the UTC day, but a 24hr rolling window for the previous
// 24hrs."
const dayUs = 24 * 60 * 60 * 1_000_000

// appendMiniTicker appends a <symbol>@miniTicker payload:
// {"e":"24hrMiniTicker","E":…,"s":"…","c":"…","o":"…","h":"…","l":"…","v":"…","q":"…"}.
func appendMiniTicker(b []byte, s *symState, st *windowStats, at int64, micros bool) []byte {
	sc := historyScale
	b = append(b, `{"e":"24hrMiniTicker"`...)
	b = appendIntField(b, "E", tunit(at, micros))
	b = append(b, `,"s":"`...)
	b = append(b, s.spec.name...)
	b = append(b, '"')
	b = appendPriceField(b, sc, "c", st.close)
	b = appendPriceField(b, sc, "o", st.open)
	b = appendPriceField(b, sc, "h", st.high)
	b = appendPriceField(b, sc, "l", st.low)
	b = appendQtyField(b, sc, "v", st.vol)
	b = appendE8Field(b, "q", sc.quoteE8(st.quote))
	return append(b, '}')
}

// appendTicker appends a <symbol>@ticker payload (24-hour rolling window
// from `from` to at, µs) with the best bid and ask top:
// {"e":"24hrTicker","E":…,"s":"…","p":"…","P":"…","w":"…","x":"…","c":"…","Q":"…",
// "b":"…","B":"…","a":"…","A":"…","o":"…","h":"…","l":"…","v":"…","q":"…",
// "O":…,"C":…,"F":…,"L":…,"n":…}.
// "x" is "First trade(F)-1 price": the price of the last trade before the
// window when it is still kept, else the open price. "Q" is the quantity
// of the last aggregate trade.
func appendTicker(b []byte, s *symState, st *windowStats, top [4]int64, from, at int64, micros bool) []byte {
	sc := historyScale
	b = append(b, `{"e":"24hrTicker"`...)
	b = appendIntField(b, "E", tunit(at, micros))
	b = append(b, `,"s":"`...)
	b = append(b, s.spec.name...)
	b = append(b, '"')
	b = appendPriceField(b, sc, "p", st.close-st.open)
	b = appendPercent(append(appendKey(b, "P"), '"'), st.open, st.close)
	b = append(b, '"')
	b = appendE8Field(b, "w", sc.weightedE8(st.quote, st.vol))
	prev := st.open
	if st.hasPrev {
		prev = st.prev
	}
	b = appendPriceField(b, sc, "x", prev)
	b = appendPriceField(b, sc, "c", st.close)
	b = appendQtyField(b, sc, "Q", st.lastQty)
	// the book is in the symbol's ticks and lots, the history in 1e-8 units
	b = appendPriceField(b, s.sc, "b", top[0])
	b = appendQtyField(b, s.sc, "B", top[1])
	b = appendPriceField(b, s.sc, "a", top[2])
	b = appendQtyField(b, s.sc, "A", top[3])
	b = appendPriceField(b, sc, "o", st.open)
	b = appendPriceField(b, sc, "h", st.high)
	b = appendPriceField(b, sc, "l", st.low)
	b = appendQtyField(b, sc, "v", st.vol)
	b = appendE8Field(b, "q", sc.quoteE8(st.quote))
	b = appendIntField(b, "O", tunit(from, micros))
	b = appendIntField(b, "C", tunit(at, micros))
	b = appendIntField(b, "F", st.firstID)
	b = appendIntField(b, "L", st.lastID)
	b = appendIntField(b, "n", st.trades)
	return append(b, '}')
}

// windowFrom is where a <symbol>@ticker_<window> window starts at time at:
// "The open time "O" always starts on a minute, while the closing time "C"
// is the current time of the update. As such, the effective window might
// be up to 59999ms wider than <window_size>."
func windowFrom(w int, at int64) int64 {
	from := at - tickerWindows[w].every.Microseconds()
	minute := time.Minute.Microseconds()
	return from - ((from%minute)+minute)%minute
}

// appendWindowTicker appends a <symbol>@ticker_<window> payload:
// {"e":"1hTicker","E":…,"s":"…","p":"…","P":"…","o":"…","h":"…","l":"…","c":"…",
// "w":"…","v":"…","q":"…","O":…,"C":…,"F":…,"L":…,"n":…}.
func appendWindowTicker(b []byte, s *symState, w int, st *windowStats, from, at int64, micros bool) []byte {
	sc := historyScale
	b = append(b, `{"e":"`...)
	b = append(b, tickerWindows[w].name...)
	b = append(b, `Ticker"`...)
	b = appendIntField(b, "E", tunit(at, micros))
	b = append(b, `,"s":"`...)
	b = append(b, s.spec.name...)
	b = append(b, '"')
	b = appendPriceField(b, sc, "p", st.close-st.open)
	b = appendPercent(append(appendKey(b, "P"), '"'), st.open, st.close)
	b = append(b, '"')
	b = appendPriceField(b, sc, "o", st.open)
	b = appendPriceField(b, sc, "h", st.high)
	b = appendPriceField(b, sc, "l", st.low)
	b = appendPriceField(b, sc, "c", st.close)
	b = appendE8Field(b, "w", sc.weightedE8(st.quote, st.vol))
	b = appendQtyField(b, sc, "v", st.vol)
	b = appendE8Field(b, "q", sc.quoteE8(st.quote))
	b = appendIntField(b, "O", tunit(from, micros))
	b = appendIntField(b, "C", tunit(at, micros))
	b = appendIntField(b, "F", st.firstID)
	b = appendIntField(b, "L", st.lastID)
	b = appendIntField(b, "n", st.trades)
	return append(b, '}')
}

// avgPriceWindow is the interval of <symbol>@avgPrice ("i":"5m"): "Average
// price streams push changes in the average price over a fixed time
// interval." The simulator sends one every Config.TickerEvery ("Update
// Speed: 1000ms"), changed or not.
const avgPriceWindow = 5 * time.Minute

// appendAvgPrice appends a <symbol>@avgPrice payload:
// {"e":"avgPrice","E":…,"s":"…","i":"5m","w":"…","T":…}. "w" is the
// volume-weighted price of the trades of the last five minutes (the last
// trade price when there were none); "T" is the last trade time (0 before
// the first trade kept).
func appendAvgPrice(b []byte, s *symState, st *windowStats, at int64, micros bool) []byte {
	w, last := historyScale.weightedE8(st.quote, st.vol), st.lastUs
	if !st.hasTrades {
		w, last = st.prev, st.prevUs
	}
	b = append(b, `{"e":"avgPrice"`...)
	b = appendIntField(b, "E", tunit(at, micros))
	b = append(b, `,"s":"`...)
	b = append(b, s.spec.name...)
	b = append(b, `","i":"5m"`...)
	b = appendE8Field(b, "w", w)
	b = appendIntField(b, "T", tunit(last, micros))
	return append(b, '}')
}

// statsStreams is the per-symbol state of the computed streams, guarded by
// m.pubMu.
type statsStreams struct {
	tickerEvery, kline1sEvery, klineEvery time.Duration
	next                                  [3]time.Time // schedules: tickers, kline_1s, other klines

	names     [][]string       // per symbol: every stream name it has, see snMiniTicker
	openKline map[string]int64 // kline stream → start (µs) of the kline it last sent open
	all       []allMarket      // the all-market streams, in allMarketNames order
}

// allMarket is one all-market stream: an array of the events of the
// symbols that changed since its last event.
type allMarket struct {
	seen        []int64 // per symbol: last aggregate trade ID at the last event
	any, micros bool
	ms, us      []byte
}

// allMarketNames are the all-market streams: mini tickers, 24-hour tickers
// (!ticker@arr, retired from the documentation on 2025-12-02 but still
// served), and the window tickers of each window size ("Stream Name:
// !ticker_<window-size>@arr ... Window Size: 1h,4h,1d").
var allMarketNames = []string{"!miniTicker@arr", "!ticker@arr", "!ticker_1h@arr", "!ticker_4h@arr", "!ticker_1d@arr"}

// allMiniTickers is the stream of every symbol's mini ticker.
const allMiniTickers = "!miniTicker@arr"

// Positions in statsStreams.names of one symbol.
const (
	snMiniTicker = iota
	snTicker
	snAvgPrice
	snWindow // + window index
	snKline  = snWindow + 3
	// snKline + interval index, then snKline + len(klineIntervals) + interval index for @+08:00
)

func newStatsStreams(cfg Config, syms []*symState) statsStreams {
	ss := statsStreams{
		tickerEvery:  cfg.TickerEvery,
		kline1sEvery: cfg.Kline1sEvery,
		klineEvery:   cfg.KlineEvery,
		openKline:    make(map[string]int64),
		all:          make([]allMarket, len(allMarketNames)),
	}
	for i := range ss.all {
		ss.all[i].seen = make([]int64, len(syms))
	}
	for i, s := range syms {
		lower := strings.ToLower(s.spec.name)
		names := []string{lower + "@miniTicker", lower + "@ticker", lower + "@avgPrice"}
		for _, w := range tickerWindows {
			names = append(names, lower+"@ticker_"+w.name)
		}
		for _, iv := range klineIntervals {
			names = append(names, lower+"@kline_"+iv.name)
		}
		for _, iv := range klineIntervals {
			names = append(names, lower+"@kline_"+iv.name+"@"+klineTZ)
		}
		ss.names = append(ss.names, names)
		for j := range ss.all {
			ss.all[j].seen[i] = s.nextAgg - 1
		}
	}
	return ss
}

// tickStats publishes the computed streams due at now. The caller holds
// m.pubMu.
func (m *market) tickStats(now time.Time, out marketSink) {
	ss := &m.stats
	tickers := dueAt(&ss.next[0], now, ss.tickerEvery)
	k1s := dueAt(&ss.next[1], now, ss.kline1sEvery)
	klines := dueAt(&ss.next[2], now, ss.klineEvery)
	if !tickers && !k1s && !klines {
		return
	}
	// Times are those of the last millisecond, so that the ground truth
	// asked with the event's time E finds the same trades.
	at := max(now.UnixMicro(), m.lastUs)
	at -= at % 1000
	if tickers {
		for j := range ss.all {
			a := &ss.all[j]
			a.any, a.micros = out.wants(allMarketNames[j])
			a.ms, a.us = a.ms[:0], a.us[:0]
		}
	}
	for i, s := range m.syms {
		names := ss.names[i]
		if tickers {
			m.tickTickers(out, ss, i, s, names, at)
		}
		for j := range 2 * len(klineIntervals) {
			iv, tz := j%len(klineIntervals), j >= len(klineIntervals)
			if due := (iv == 0 && k1s) || (iv != 0 && klines); !due {
				continue
			}
			name := names[snKline+j]
			any, micros := out.wants(name)
			if !any {
				delete(ss.openKline, name)
				continue
			}
			start, _ := klineSpan(iv, tz, at)
			if prev, ok := ss.openKline[name]; ok && prev < start {
				// the kline sent open last time has closed: once more, final
				m.publishStats(out, name, s, micros, func(b []byte, us bool) []byte {
					return m.appendKline(b, s, iv, tz, prev, at, us)
				})
			}
			ss.openKline[name] = start
			m.publishStats(out, name, s, micros, func(b []byte, us bool) []byte {
				return m.appendKline(b, s, iv, tz, start, at, us)
			})
		}
	}
	if !tickers {
		return
	}
	for j := range ss.all {
		a := &ss.all[j]
		if len(a.ms) == 0 {
			continue
		}
		msg := &Message{Stream: allMarketNames[j], Kind: KindStats, Ms: append(slices.Clone(a.ms), ']')}
		if a.micros {
			msg.Us = append(slices.Clone(a.us), ']')
		}
		out.publish(msg)
	}
}

// tickTickers publishes the ticker streams of symbol i and adds it to the
// all-market streams it changed for.
func (m *market) tickTickers(out marketSink, ss *statsStreams, i int, s *symState, names []string, at int64) {
	var day *windowStats
	dayStats := func() *windowStats {
		if day == nil {
			st := m.statsBetween(s, at-dayUs, at)
			day = &st
		}
		return day
	}
	var win [len(tickerWindows)]*windowStats
	winStats := func(w int) *windowStats {
		if win[w] == nil {
			st := m.statsBetween(s, windowFrom(w, at), at)
			win[w] = &st
		}
		return win[w]
	}
	top := s.top()
	// the event of symbol i on stream k of names, or on all-market stream k
	enc := []func(b []byte, us bool) []byte{
		snMiniTicker: func(b []byte, us bool) []byte { return appendMiniTicker(b, s, dayStats(), at, us) },
		snTicker:     func(b []byte, us bool) []byte { return appendTicker(b, s, dayStats(), top, at-dayUs, at, us) },
		snAvgPrice: func(b []byte, us bool) []byte {
			st := m.statsBetween(s, at-avgPriceWindow.Microseconds(), at)
			return appendAvgPrice(b, s, &st, at, us)
		},
	}
	for w := range tickerWindows {
		enc = append(enc, func(b []byte, us bool) []byte {
			return appendWindowTicker(b, s, w, winStats(w), windowFrom(w, at), at, us)
		})
	}
	for k, e := range enc {
		if any, micros := out.wants(names[k]); any {
			m.publishStats(out, names[k], s, micros, e)
		}
	}
	// "Note that only tickers that have changed will be present in the
	// array": a symbol is in it when it traded since the stream's last event.
	for j := range ss.all {
		a := &ss.all[j]
		if s.nextAgg-1 == a.seen[i] {
			continue
		}
		a.seen[i] = s.nextAgg - 1
		if !a.any {
			continue
		}
		e := enc[snMiniTicker]
		switch j {
		case 1:
			e = enc[snTicker]
		case 2, 3, 4:
			e = enc[snWindow+j-2]
		}
		sep := byte(',')
		if len(a.ms) == 0 {
			sep = '['
		}
		a.ms = e(append(a.ms, sep), false)
		if a.micros {
			a.us = e(append(a.us, sep), true)
		}
	}
}

// publishStats encodes one computed stream's event in milliseconds (and in
// microseconds when a subscriber wants them) and publishes it.
func (m *market) publishStats(out marketSink, name string, s *symState, micros bool, enc func(b []byte, us bool) []byte) {
	msg := &Message{Stream: name, Symbol: s.spec.name, Kind: KindStats, ID: s.nextAgg - 1, Ms: enc(make([]byte, 0, 512), false)}
	if micros {
		msg.Us = enc(make([]byte, 0, 544), true)
	}
	out.publish(msg)
}
