package feed

import (
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// SchemaVersion is the "v" of every JSON event. It changes only when a
// field changes meaning or goes away; new fields may appear in any version.
const SchemaVersion = 1

// AppendJSON appends the event as one JSON object (no newline), the form of
// JSON Lines output. Prices and quantities are exact decimal strings; times
// are integer nanoseconds since the Unix epoch. It does not allocate when
// dst has room.
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, jsonHead...)
	dst = append(dst, e.Type.String()...)
	dst = append(dst, `","venue":`...)
	dst = appendString(dst, e.Venue)
	if e.Symbol != "" {
		dst = append(dst, `,"symbol":`...)
		dst = appendString(dst, e.Symbol)
	}
	if e.Instrument != "" {
		dst = append(dst, `,"instrument":`...)
		dst = appendString(dst, e.Instrument)
	}
	switch e.Type {
	case TypeTrade:
		dst = appendInt(dst, `,"id":`, e.ID)
		dst = appendBool(dst, `,"agg":`, e.Aggregated)
		dst = appendInt(dst, `,"first_trade_id":`, e.FirstTradeID)
		dst = appendInt(dst, `,"last_trade_id":`, e.LastTradeID)
		dst = appendDec(dst, `,"price":"`, e.Price, e.PriceScale)
		dst = appendDec(dst, `,"qty":"`, e.Qty, e.QtyScale)
		dst = append(dst, `,"side":"`...)
		dst = append(dst, e.Side.String()...)
		dst = append(dst, '"')
	case TypeBookDelta, TypeBookSnapshot:
		if e.Type == TypeBookDelta {
			dst = appendInt(dst, `,"first_id":`, e.FirstID)
			if e.PrevID != 0 {
				dst = appendInt(dst, `,"prev_id":`, e.PrevID)
			}
		}
		if e.Stream != "" {
			dst = append(dst, `,"stream":`...)
			dst = appendString(dst, e.Stream)
		}
		dst = appendInt(dst, `,"id":`, e.ID)
		dst = append(dst, `,"bids":`...)
		dst = e.appendLevels(dst, e.Bids)
		dst = append(dst, `,"asks":`...)
		dst = e.appendLevels(dst, e.Asks)
	case TypeTopOfBook:
		dst = appendInt(dst, `,"id":`, e.ID)
		dst = append(dst, `,"bid":`...)
		dst = e.appendLevel(dst, e.Bid)
		dst = append(dst, `,"ask":`...)
		dst = e.appendLevel(dst, e.Ask)
	case TypeGap:
		dst = append(dst, `,"missing":"`...)
		dst = append(dst, e.Missing.String()...)
		dst = append(dst, '"')
		if e.Missing == TypeTrade {
			dst = appendBool(dst, `,"agg":`, e.Aggregated)
		}
		if e.GapTo != 0 {
			dst = appendInt(dst, `,"from_ts":`, e.GapFrom)
			dst = appendInt(dst, `,"to_ts":`, e.GapTo)
		} else {
			dst = appendInt(dst, `,"first_id":`, e.FirstID)
			dst = appendInt(dst, `,"id":`, e.ID)
		}
	case TypeStatus:
		dst = append(dst, `,"status":"`...)
		dst = append(dst, e.Status.String()...)
		dst = append(dst, '"')
	case TypeCandle, TypeTicker, TypeAvgPrice:
		if st := e.Stats; st != nil {
			dst = e.appendStats(dst, st)
		}
	case TypeLiquidation:
		dst = append(dst, `,"side":"`...)
		dst = append(dst, e.Side.String()...)
		dst = append(dst, '"')
		dst = appendDec(dst, `,"price":"`, e.Price, e.PriceScale)
		dst = appendDec(dst, `,"qty":"`, e.Qty, e.QtyScale)
	case TypeFunding, TypeOpenInterest:
		if d := e.Deriv; d != nil {
			dst = e.appendDeriv(dst, d)
		}
	}
	if e.Reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = appendString(dst, e.Reason)
	}
	if e.ExchangeTime != 0 {
		dst = appendInt(dst, `,"exchange_ts":`, e.ExchangeTime)
	}
	if e.EventTime != 0 {
		dst = appendInt(dst, `,"event_ts":`, e.EventTime)
	}
	dst = appendInt(dst, `,"receive_ts":`, e.ReceiveTime)
	if e.Recovered {
		dst = append(dst, `,"recovered":true`...)
	}
	if e.Derived {
		dst = append(dst, `,"derived":true`...)
	}
	if e.Base {
		dst = append(dst, `,"base":true`...)
	}
	if e.Capped {
		dst = append(dst, `,"capped":true`...)
	}
	return append(dst, '}')
}

// jsonHead begins every event: {"v":<SchemaVersion>,"type":"
var jsonHead = string(strconv.AppendInt([]byte(`{"v":`), SchemaVersion, 10)) + `,"type":"`

// appendInt appends key (punctuation included: `,"id":`) and v.
func appendInt(dst []byte, key string, v int64) []byte {
	dst = append(dst, key...)
	return appendInt64(dst, v)
}

// appendDec appends key (punctuation included, up to the value's opening
// quote: `,"price":"`) and the decimal m at scale, quoted.
func appendDec(dst []byte, key string, m int64, scale uint8) []byte {
	dst = append(dst, key...)
	dst = appendFixed(dst, m, scale)
	return append(dst, '"')
}

func appendBool(dst []byte, key string, v bool) []byte {
	dst = append(dst, key...)
	if v {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

func (e *Event) appendLevel(dst []byte, l Level) []byte {
	dst = append(dst, '[', '"')
	dst = appendFixed(dst, l.Price, e.PriceScale)
	dst = append(dst, '"', ',', '"')
	dst = appendFixed(dst, l.Qty, e.QtyScale)
	return append(dst, '"', ']')
}

func (e *Event) appendLevels(dst []byte, ls []Level) []byte {
	dst = append(dst, '[')
	for i, l := range ls {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = e.appendLevel(dst, l)
	}
	return append(dst, ']')
}

// appendString appends s as a JSON string, escaping what JSON requires and
// replacing invalid UTF-8.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	plain := 0
	for plain < len(s) && jsonPlain[s[plain]] {
		plain++
	}
	dst = append(dst, s[:plain]...)
	for i := plain; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// appendDeriv appends the figures of a funding or open interest event.
func (e *Event) appendDeriv(dst []byte, d *Deriv) []byte {
	if e.Type == TypeOpenInterest {
		return appendDec(dst, `,"open_interest":"`, d.OpenInterest.M, d.OpenInterest.S)
	}
	dst = appendDec(dst, `,"mark_price":"`, d.MarkPrice.M, d.MarkPrice.S)
	dst = appendDec(dst, `,"index_price":"`, d.IndexPrice.M, d.IndexPrice.S)
	if d.SettlePrice.M != 0 {
		dst = appendDec(dst, `,"settle_price":"`, d.SettlePrice.M, d.SettlePrice.S)
	}
	dst = appendDec(dst, `,"funding_rate":"`, d.FundingRate.M, d.FundingRate.S)
	if d.NextFunding != 0 {
		dst = appendInt(dst, `,"next_funding_ts":`, d.NextFunding)
	}
	return dst
}

// appendStats appends the fields of a candle, ticker or average price.
func (e *Event) appendStats(dst []byte, st *Stats) []byte {
	key := "interval"
	if e.Type != TypeCandle {
		key = "window"
	}
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	dst = appendString(dst, st.Window)
	if e.Type == TypeAvgPrice {
		return appendDec(dst, `,"price":"`, st.Avg.M, st.Avg.S)
	}
	if e.Type == TypeTicker && st.Mini {
		dst = append(dst, `,"mini":true`...)
	}
	if st.OpenTime != 0 {
		dst = appendInt(dst, `,"open_ts":`, st.OpenTime)
	}
	if st.CloseTime != 0 {
		dst = appendInt(dst, `,"close_ts":`, st.CloseTime)
	}
	dst = appendDec(dst, `,"open":"`, st.Open, e.PriceScale)
	dst = appendDec(dst, `,"high":"`, st.High, e.PriceScale)
	dst = appendDec(dst, `,"low":"`, st.Low, e.PriceScale)
	dst = appendDec(dst, `,"close":"`, st.Close, e.PriceScale)
	dst = appendDec(dst, `,"volume":"`, st.Volume, e.QtyScale)
	dst = appendDec(dst, `,"quote_volume":"`, st.QuoteVolume.M, st.QuoteVolume.S)
	if e.Type == TypeCandle {
		dst = appendDec(dst, `,"taker_buy_volume":"`, st.TakerBuyVolume, e.QtyScale)
		dst = appendDec(dst, `,"taker_buy_quote_volume":"`, st.TakerBuyQuote.M, st.TakerBuyQuote.S)
	}
	if !st.Mini {
		if e.Type == TypeTicker {
			dst = appendDec(dst, `,"weighted_avg":"`, st.Avg.M, st.Avg.S)
		}
		dst = appendInt(dst, `,"trades":`, st.Trades)
		dst = appendInt(dst, `,"first_trade_id":`, e.FirstTradeID)
		dst = appendInt(dst, `,"last_trade_id":`, e.LastTradeID)
	}
	if e.Type == TypeCandle {
		dst = appendBool(dst, `,"closed":`, st.Closed)
	}
	return dst
}

// jsonPlain marks the bytes a JSON string holds as they are: printable
// ASCII but the quote and the backslash.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// The numbers of the JSON Lines output are written straight into dst, two
// digits at a time: strconv formats into a buffer of its own and copies,
// which cost a tenth of an event's encoding.

const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// pow10 holds 10^0 .. 10^19, every power of ten a uint64 holds.
var pow10 = func() (p [20]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// digitCount returns the number of decimal digits of u (1 for 0).
func digitCount(u uint64) int {
	t := (bits.Len64(u) * 1233) >> 12 // ⌊len·log10(2)⌋: u has t or t+1 digits
	if u < pow10[t] && t > 0 {
		return t
	}
	return t + 1
}

// appendInt64 appends v in decimal, as strconv.AppendInt(dst, v, 10).
func appendInt64(dst []byte, v int64) []byte {
	u := uint64(v)
	if v < 0 {
		dst = append(dst, '-')
		u = -u
	}
	return appendDigits(dst, u, digitCount(u))
}

// appendDigits appends the n lowest decimal digits of u, zero-padded: u
// itself when n is digitCount(u).
func appendDigits(dst []byte, u uint64, n int) []byte {
	l := len(dst)
	if cap(dst)-l < n {
		dst = append(dst[:cap(dst)], make([]byte, n-(cap(dst)-l))...)
	}
	dst = dst[:l+n]
	out := dst[l:]
	i := n
	// eight digits at a time, each eight as two independent fours: the
	// divisions of one do not wait for the other's
	for i >= 8 {
		q := u / 1e8
		r := uint32(u - q*1e8)
		u = q
		i -= 8
		hi, lo := r/1e4, r%1e4
		h1, h2 := (hi/100)*2, (hi%100)*2
		l1, l2 := (lo/100)*2, (lo%100)*2
		o := out[i : i+8]
		o[0], o[1], o[2], o[3] = digitPairs[h1], digitPairs[h1+1], digitPairs[h2], digitPairs[h2+1]
		o[4], o[5], o[6], o[7] = digitPairs[l1], digitPairs[l1+1], digitPairs[l2], digitPairs[l2+1]
	}
	v := uint32(u) // < 10^8 now when n is u's digit count; the digits above i are not written otherwise
	for i >= 2 {
		q := v / 100
		r := (v - q*100) * 2
		v = q
		i -= 2
		out[i], out[i+1] = digitPairs[r], digitPairs[r+1]
	}
	if i == 1 {
		out[0] = byte('0' + v%10)
	}
	return dst
}

// appendFixed appends the decimal of mantissa m at scale (m·10^-scale) as
// fixed.Append does: a leading "0." below one, every decimal place of the
// scale written, trailing zeros included.
func appendFixed(dst []byte, m int64, scale uint8) []byte {
	u := uint64(m)
	if m < 0 {
		dst = append(dst, '-')
		u = -u
	}
	s := int(scale)
	if s == 0 {
		return appendDigits(dst, u, digitCount(u))
	}
	if s >= len(pow10) { // every digit below the point
		n := digitCount(u)
		dst = append(dst, '0', '.')
		for z := s - n; z > 0; z-- {
			dst = append(dst, '0')
		}
		return appendDigits(dst, u, n)
	}
	// the digits, at least one before the point, then the last s moved
	// one place right to make room for it (no division by 10^s)
	n := max(digitCount(u), s+1)
	dst = appendDigits(dst, u, n)
	dst = append(dst, 0)
	end := len(dst) - 1
	for i := end; i > end-s; i-- {
		dst[i] = dst[i-1]
	}
	dst[end-s] = '.'
	return dst
}
