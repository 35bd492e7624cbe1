package sim

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"strconv"
)

// The simulator's wire format, written by hand with appends: no reflection
// on the hot path, and keys in Binance's order.

// scale converts a symbol's integer ticks and lots to units of 1e-8, the
// precision of Binance's decimal strings.
type scale struct{ tick, step int64 }

// appendE8 appends v (in units of 1e-8) as Binance writes decimals: the
// integer part, a point and exactly eight decimals ("0.00120000").
func appendE8(b []byte, v int64) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	b = strconv.AppendInt(b, v/1e8, 10)
	frac := v % 1e8
	var d [9]byte
	d[0] = '.'
	for i := 8; i > 0; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(b, d[:]...)
}

func (sc scale) appendPrice(b []byte, ticks int64) []byte { return appendE8(b, sc.priceE8(ticks)) }
func (sc scale) appendQty(b []byte, lots int64) []byte    { return appendE8(b, sc.qtyE8(lots)) }

// maxQtyE8 is the largest quantity Binance writes, in units of 1e-8: int64's
// maximum, "92233720368.54775807". CHANGELOG 2022-05-23, "Changes to Order
// Book Depth Levels": "Going forward depth levels will not overflow, but
// will be capped at the max value based on the precision of the base
// asset. This means that the depth level is at max value *or more*. E.g.
// If the precision is 8, then the max value for quantity will be at
// 92,233,720,368.54775807." (GET /api/v3/depth, <symbol>@depth,
// <symbol>@depth@100ms, <symbol>@depth<levels>).
const maxQtyE8 = math.MaxInt64

// priceE8 converts ticks to units of 1e-8.
func (sc scale) priceE8(ticks int64) int64 { return satMul(ticks, sc.tick) }

// qtyE8 converts lots to units of 1e-8, capped at maxQtyE8 as Binance caps
// a depth quantity too large for the base asset's precision.
func (sc scale) qtyE8(lots int64) int64 { return satMul(lots, sc.step) }

// capped reports whether a quantity of lots is written as the capped value.
func (sc scale) capped(lots int64) bool { return sc.qtyE8(lots) == maxQtyE8 }

// satMul multiplies two non-negative numbers, saturating at int64's maximum.
func satMul(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

func (sc scale) priceString(ticks int64) string { return string(sc.appendPrice(nil, ticks)) }
func (sc scale) qtyString(lots int64) string    { return string(sc.appendQty(nil, lots)) }

// levels formats the best n levels of a side held worst first, best first.
func (sc scale) levels(lv []level, n int) []Level {
	out := make([]Level, 0, min(n, len(lv)))
	for i := len(lv) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, Level{Price: sc.priceString(lv[i].price), Qty: sc.qtyString(lv[i].qty)})
	}
	return out
}

func (sc scale) aggTrade(id int64, r aggRec) AggTrade {
	return AggTrade{ID: id, Price: sc.priceString(r.price), Qty: sc.qtyString(r.qty),
		FirstTradeID: r.first, LastTradeID: r.last, Time: r.us / 1000, BuyerMaker: r.maker}
}

// eventTime returns a time in µs in the unit asked for.
func eventTime(us int64, micros bool) int64 {
	if micros {
		return us
	}
	return us / 1000
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// appendQuoted appends "<decimal>" for a price or a quantity.
func appendQuotedE8(b []byte, v int64) []byte {
	b = append(b, '"')
	b = appendE8(b, v)
	return append(b, '"')
}

// appendAggTrade appends an aggTrade stream payload:
// {"e":"aggTrade","E":…,"s":"…","a":…,"p":"…","q":"…","f":…,"l":…,"T":…,"m":…,"M":true}.
func appendAggTrade(b []byte, sc scale, sym string, ev *rawEvent, micros bool) []byte {
	t := eventTime(ev.us, micros)
	b = append(b, `{"e":"aggTrade","E":`...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, `,"s":"`...)
	b = append(b, sym...)
	b = append(b, `","a":`...)
	b = strconv.AppendInt(b, ev.id, 10)
	b = append(b, `,"p":`...)
	b = appendQuotedE8(b, ev.price*sc.tick)
	b = append(b, `,"q":`...)
	b = appendQuotedE8(b, sc.qtyE8(ev.qty))
	b = append(b, `,"f":`...)
	b = strconv.AppendInt(b, ev.first, 10)
	b = append(b, `,"l":`...)
	b = strconv.AppendInt(b, ev.last, 10)
	b = append(b, `,"T":`...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, `,"m":`...)
	b = appendBool(b, ev.maker)
	return append(b, `,"M":true}`...)
}

// appendTrade appends a trade stream payload:
// {"e":"trade","E":…,"s":"…","t":…,"p":"…","q":"…","T":…,"m":…,"M":true}.
func appendTrade(b []byte, sc scale, sym string, ev *rawEvent, micros bool) []byte {
	t := eventTime(ev.us, micros)
	b = append(b, `{"e":"trade","E":`...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, `,"s":"`...)
	b = append(b, sym...)
	b = append(b, `","t":`...)
	b = strconv.AppendInt(b, ev.id, 10)
	b = append(b, `,"p":`...)
	b = appendQuotedE8(b, ev.price*sc.tick)
	b = append(b, `,"q":`...)
	b = appendQuotedE8(b, sc.qtyE8(ev.qty))
	b = append(b, `,"T":`...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, `,"m":`...)
	b = appendBool(b, ev.maker)
	return append(b, `,"M":true}`...)
}

// appendBookTicker appends a bookTicker payload:
// {"u":…,"s":"…","b":"…","B":"…","a":"…","A":"…"}.
func appendBookTicker(b []byte, sc scale, sym string, ev *rawEvent) []byte {
	b = append(b, `{"u":`...)
	b = strconv.AppendInt(b, ev.id, 10)
	b = append(b, `,"s":"`...)
	b = append(b, sym...)
	b = append(b, `","b":`...)
	b = appendQuotedE8(b, ev.price*sc.tick)
	b = append(b, `,"B":`...)
	b = appendQuotedE8(b, sc.qtyE8(ev.qty))
	b = append(b, `,"a":`...)
	b = appendQuotedE8(b, ev.price2*sc.tick)
	b = append(b, `,"A":`...)
	b = appendQuotedE8(b, sc.qtyE8(ev.qty2))
	return append(b, '}')
}

// appendLevels appends [["price","qty"],…] for levels given best first.
func appendLevels(b []byte, sc scale, lv []level) []byte {
	b = append(b, '[')
	for i, l := range lv {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendQuotedE8(b, l.price*sc.tick)
		b = append(b, ',')
		b = appendQuotedE8(b, sc.qtyE8(l.qty))
		b = append(b, ']')
	}
	return append(b, ']')
}

// appendDepthUpdate appends a diff depth payload:
// {"e":"depthUpdate","E":…,"s":"…","U":…,"u":…,"b":[…],"a":[…]}.
func appendDepthUpdate(b []byte, sc scale, sym string, e, first, last int64, bids, asks []level) []byte {
	b = append(b, `{"e":"depthUpdate","E":`...)
	b = strconv.AppendInt(b, e, 10)
	b = append(b, `,"s":"`...)
	b = append(b, sym...)
	b = append(b, `","U":`...)
	b = strconv.AppendInt(b, first, 10)
	b = append(b, `,"u":`...)
	b = strconv.AppendInt(b, last, 10)
	b = append(b, `,"b":`...)
	b = appendLevels(b, sc, bids)
	b = append(b, `,"a":`...)
	b = appendLevels(b, sc, asks)
	return append(b, '}')
}

// appendPartial appends a partial book, the payload of depth5/10/20 and
// the body of GET /api/v3/depth: {"lastUpdateId":…,"bids":[…],"asks":[…]}.
func appendPartial(b []byte, sc scale, lastUpdateID int64, bids, asks []level) []byte {
	b = append(b, `{"lastUpdateId":`...)
	b = strconv.AppendInt(b, lastUpdateID, 10)
	b = append(b, `,"bids":`...)
	b = appendLevels(b, sc, bids)
	b = append(b, `,"asks":`...)
	b = appendLevels(b, sc, asks)
	return append(b, '}')
}

// appendAggTradeREST appends one item of GET /api/v3/aggTrades:
// {"a":…,"p":"…","q":"…","f":…,"l":…,"T":…,"m":…,"M":true}.
func appendAggTradeREST(b []byte, sc scale, id int64, r aggRec, micros bool) []byte {
	b = append(b, `{"a":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"p":`...)
	b = appendQuotedE8(b, r.price*sc.tick)
	b = append(b, `,"q":`...)
	b = appendQuotedE8(b, sc.qtyE8(r.qty))
	b = append(b, `,"f":`...)
	b = strconv.AppendInt(b, r.first, 10)
	b = append(b, `,"l":`...)
	b = strconv.AppendInt(b, r.last, 10)
	b = append(b, `,"T":`...)
	b = strconv.AppendInt(b, eventTime(r.us, micros), 10)
	b = append(b, `,"m":`...)
	b = appendBool(b, r.maker)
	return append(b, `,"M":true}`...)
}

// MarshalJSON writes the level as Binance does: ["price","qty"].
func (l Level) MarshalJSON() ([]byte, error) {
	b := append([]byte{'['}, strconv.Quote(l.Price)...)
	b = append(b, ',')
	b = append(b, strconv.Quote(l.Qty)...)
	return append(b, ']'), nil
}

// UnmarshalJSON reads ["price","qty"].
func (l *Level) UnmarshalJSON(b []byte) error {
	var pq []string
	if err := json.Unmarshal(b, &pq); err != nil {
		return fmt.Errorf("level: %w", err)
	}
	if len(pq) != 2 {
		return fmt.Errorf("level: %d elements, want 2", len(pq))
	}
	l.Price, l.Qty = pq[0], pq[1]
	return nil
}

// MarshalJSON writes the trade as GET /api/v3/aggTrades does.
func (t AggTrade) MarshalJSON() ([]byte, error) {
	b := strconv.AppendInt([]byte(`{"a":`), t.ID, 10)
	b = append(b, `,"p":`...)
	b = strconv.AppendQuote(b, t.Price)
	b = append(b, `,"q":`...)
	b = strconv.AppendQuote(b, t.Qty)
	b = append(b, `,"f":`...)
	b = strconv.AppendInt(b, t.FirstTradeID, 10)
	b = append(b, `,"l":`...)
	b = strconv.AppendInt(b, t.LastTradeID, 10)
	b = append(b, `,"T":`...)
	b = strconv.AppendInt(b, t.Time, 10)
	b = append(b, `,"m":`...)
	b = appendBool(b, t.BuyerMaker)
	return append(b, `,"M":true}`...), nil
}

// UnmarshalJSON reads the form MarshalJSON writes. Keys are matched
// exactly ("m" is not "M"), unlike encoding/json's struct decoding.
func (t *AggTrade) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("aggTrade: %w", err)
	}
	fields := []struct {
		key string
		dst any
	}{
		{"a", &t.ID}, {"p", &t.Price}, {"q", &t.Qty}, {"f", &t.FirstTradeID},
		{"l", &t.LastTradeID}, {"T", &t.Time}, {"m", &t.BuyerMaker},
	}
	for _, f := range fields {
		v, ok := raw[f.key]
		if !ok {
			return fmt.Errorf("aggTrade: no %q", f.key)
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return fmt.Errorf("aggTrade: %q: %w", f.key, err)
		}
	}
	return nil
}

// Trade is one individual trade (one fill), as GET /api/v3/trades and
// historicalTrades give it: {"id":…,"price":…,"qty":…,"quoteQty":…,
// "time":…,"isBuyerMaker":…,"isBestMatch":true}. Its ID is the t of the
// <symbol>@trade stream; an aggregate trade's f..l are such IDs. Time is
// in milliseconds.
type Trade struct {
	ID                    int64
	Price, Qty, QuoteQty  string
	Time                  int64
	BuyerMaker, BestMatch bool
}

// quoteE8 is price × qty (both in 1e-8 units) in 1e-8 units, truncated,
// saturating at int64's maximum.
func quoteE8(price, qty int64) int64 {
	hi, lo := bits.Mul64(uint64(price), uint64(qty))
	if hi >= 1e8 {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, 1e8)
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

// appendTradeREST appends one item of GET /api/v3/trades and
// historicalTrades (r in 1e-8 units).
func appendTradeREST(b []byte, id int64, r tradeRec, micros bool) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"price":`...)
	b = appendQuotedE8(b, r.price)
	b = append(b, `,"qty":`...)
	b = appendQuotedE8(b, r.qty)
	b = append(b, `,"quoteQty":`...)
	b = appendQuotedE8(b, quoteE8(r.price, r.qty))
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, eventTime(r.us, micros), 10)
	b = append(b, `,"isBuyerMaker":`...)
	b = appendBool(b, r.maker)
	return append(b, `,"isBestMatch":true}`...)
}

func (r tradeRec) trade(id int64) Trade {
	return Trade{ID: id, Price: string(appendE8(nil, r.price)), Qty: string(appendE8(nil, r.qty)),
		QuoteQty: string(appendE8(nil, quoteE8(r.price, r.qty))), Time: r.us / 1000, BuyerMaker: r.maker, BestMatch: true}
}

// MarshalJSON writes the trade as GET /api/v3/historicalTrades does.
func (t Trade) MarshalJSON() ([]byte, error) {
	b := strconv.AppendInt([]byte(`{"id":`), t.ID, 10)
	b = append(b, `,"price":`...)
	b = strconv.AppendQuote(b, t.Price)
	b = append(b, `,"qty":`...)
	b = strconv.AppendQuote(b, t.Qty)
	b = append(b, `,"quoteQty":`...)
	b = strconv.AppendQuote(b, t.QuoteQty)
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, t.Time, 10)
	b = append(b, `,"isBuyerMaker":`...)
	b = appendBool(b, t.BuyerMaker)
	b = append(b, `,"isBestMatch":`...)
	b = appendBool(b, t.BestMatch)
	return append(b, '}'), nil
}

// UnmarshalJSON reads the form MarshalJSON writes; every key is required.
func (t *Trade) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("trade: %w", err)
	}
	fields := []struct {
		key string
		dst any
	}{
		{"id", &t.ID}, {"price", &t.Price}, {"qty", &t.Qty}, {"quoteQty", &t.QuoteQty},
		{"time", &t.Time}, {"isBuyerMaker", &t.BuyerMaker}, {"isBestMatch", &t.BestMatch},
	}
	for _, f := range fields {
		v, ok := raw[f.key]
		if !ok {
			return fmt.Errorf("trade: no %q", f.key)
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return fmt.Errorf("trade: %q: %w", f.key, err)
		}
	}
	return nil
}
