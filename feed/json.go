package feed

import (
	"strconv"
	"unicode/utf8"

	"github.com/feedkeeper/feedkeeper/fixed"
)

// SchemaVersion is the "v" of every JSON event. It changes only when a
// field changes meaning or goes away; new fields may appear in any version.
const SchemaVersion = 1

// AppendJSON appends the event as one JSON object (no newline), the form of
// JSON Lines output. Prices and quantities are exact decimal strings; times
// are integer nanoseconds since the Unix epoch. It does not allocate when
// dst has room.
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, SchemaVersion, 10)
	dst = append(dst, `,"type":"`...)
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
		dst = appendInt(dst, "id", e.ID)
		dst = append(dst, `,"agg":`...)
		dst = strconv.AppendBool(dst, e.Aggregated)
		dst = appendInt(dst, "first_trade_id", e.FirstTradeID)
		dst = appendInt(dst, "last_trade_id", e.LastTradeID)
		dst = appendDec(dst, "price", e.Price, e.PriceScale)
		dst = appendDec(dst, "qty", e.Qty, e.QtyScale)
		dst = append(dst, `,"side":"`...)
		dst = append(dst, e.Side.String()...)
		dst = append(dst, '"')
	case TypeBookDelta, TypeBookSnapshot:
		if e.Type == TypeBookDelta {
			dst = appendInt(dst, "first_id", e.FirstID)
			if e.PrevID != 0 {
				dst = appendInt(dst, "prev_id", e.PrevID)
			}
		}
		if e.Stream != "" {
			dst = append(dst, `,"stream":`...)
			dst = appendString(dst, e.Stream)
		}
		dst = appendInt(dst, "id", e.ID)
		dst = append(dst, `,"bids":`...)
		dst = e.appendLevels(dst, e.Bids)
		dst = append(dst, `,"asks":`...)
		dst = e.appendLevels(dst, e.Asks)
	case TypeTopOfBook:
		dst = appendInt(dst, "id", e.ID)
		dst = append(dst, `,"bid":`...)
		dst = e.appendLevel(dst, e.Bid)
		dst = append(dst, `,"ask":`...)
		dst = e.appendLevel(dst, e.Ask)
	case TypeGap:
		dst = append(dst, `,"missing":"`...)
		dst = append(dst, e.Missing.String()...)
		dst = append(dst, '"')
		if e.Missing == TypeTrade {
			dst = append(dst, `,"agg":`...)
			dst = strconv.AppendBool(dst, e.Aggregated)
		}
		if e.GapTo != 0 {
			dst = appendInt(dst, "from_ts", e.GapFrom)
			dst = appendInt(dst, "to_ts", e.GapTo)
		} else {
			dst = appendInt(dst, "first_id", e.FirstID)
			dst = appendInt(dst, "id", e.ID)
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
		dst = appendDec(dst, "price", e.Price, e.PriceScale)
		dst = appendDec(dst, "qty", e.Qty, e.QtyScale)
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
		dst = appendInt(dst, "exchange_ts", e.ExchangeTime)
	}
	if e.EventTime != 0 {
		dst = appendInt(dst, "event_ts", e.EventTime)
	}
	dst = appendInt(dst, "receive_ts", e.ReceiveTime)
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

func appendInt(dst []byte, key string, v int64) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return strconv.AppendInt(dst, v, 10)
}

func appendDec(dst []byte, key string, m int64, scale uint8) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':', '"')
	dst = fixed.Append(dst, m, scale)
	return append(dst, '"')
}

func (e *Event) appendLevel(dst []byte, l Level) []byte {
	dst = append(dst, '[', '"')
	dst = fixed.Append(dst, l.Price, e.PriceScale)
	dst = append(dst, '"', ',', '"')
	dst = fixed.Append(dst, l.Qty, e.QtyScale)
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
	for i := 0; i < len(s); {
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
		return appendDec(dst, "open_interest", d.OpenInterest.M, d.OpenInterest.S)
	}
	dst = appendDec(dst, "mark_price", d.MarkPrice.M, d.MarkPrice.S)
	dst = appendDec(dst, "index_price", d.IndexPrice.M, d.IndexPrice.S)
	if d.SettlePrice.M != 0 {
		dst = appendDec(dst, "settle_price", d.SettlePrice.M, d.SettlePrice.S)
	}
	dst = appendDec(dst, "funding_rate", d.FundingRate.M, d.FundingRate.S)
	if d.NextFunding != 0 {
		dst = appendInt(dst, "next_funding_ts", d.NextFunding)
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
		return appendDec(dst, "price", st.Avg.M, st.Avg.S)
	}
	if e.Type == TypeTicker && st.Mini {
		dst = append(dst, `,"mini":true`...)
	}
	if st.OpenTime != 0 {
		dst = appendInt(dst, "open_ts", st.OpenTime)
	}
	if st.CloseTime != 0 {
		dst = appendInt(dst, "close_ts", st.CloseTime)
	}
	dst = appendDec(dst, "open", st.Open, e.PriceScale)
	dst = appendDec(dst, "high", st.High, e.PriceScale)
	dst = appendDec(dst, "low", st.Low, e.PriceScale)
	dst = appendDec(dst, "close", st.Close, e.PriceScale)
	dst = appendDec(dst, "volume", st.Volume, e.QtyScale)
	dst = appendDec(dst, "quote_volume", st.QuoteVolume.M, st.QuoteVolume.S)
	if e.Type == TypeCandle {
		dst = appendDec(dst, "taker_buy_volume", st.TakerBuyVolume, e.QtyScale)
		dst = appendDec(dst, "taker_buy_quote_volume", st.TakerBuyQuote.M, st.TakerBuyQuote.S)
	}
	if !st.Mini {
		if e.Type == TypeTicker {
			dst = appendDec(dst, "weighted_avg", st.Avg.M, st.Avg.S)
		}
		dst = appendInt(dst, "trades", st.Trades)
		dst = appendInt(dst, "first_trade_id", e.FirstTradeID)
		dst = appendInt(dst, "last_trade_id", e.LastTradeID)
	}
	if e.Type == TypeCandle {
		dst = append(dst, `,"closed":`...)
		dst = strconv.AppendBool(dst, st.Closed)
	}
	return dst
}
