package binance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
)

// The statistics streams (web-socket-streams.md): klines, mini tickers,
// tickers of a rolling window, the average price. They come once a second
// or two per symbol, so encoding/json decodes them, off the hot path of
// trades and books.

// klineJSON is <symbol>@kline_<interval>'s payload. Every key is declared:
// encoding/json matches keys without regard to case.
type klineJSON struct {
	E  string `json:"e"`
	EE int64  `json:"E"`
	S  string `json:"s"`
	K  struct {
		T  int64  `json:"t"`
		TT int64  `json:"T"`
		S  string `json:"s"`
		I  string `json:"i"`
		F  int64  `json:"f"`
		L  int64  `json:"L"`
		O  string `json:"o"`
		C  string `json:"c"`
		H  string `json:"h"`
		Lo string `json:"l"`
		V  string `json:"v"`
		N  int64  `json:"n"`
		X  bool   `json:"x"`
		Q  string `json:"q"`
		VV string `json:"V"`
		QQ string `json:"Q"`
		B  string `json:"B"`
	} `json:"k"`
}

// tickerJSON is the payload of <symbol>@ticker (24hrTicker),
// <symbol>@ticker_<window> (1hTicker…), <symbol>@miniTicker
// (24hrMiniTicker) and <symbol>@avgPrice.
type tickerJSON struct {
	E  string `json:"e"`
	EE int64  `json:"E"`
	S  string `json:"s"`
	P  string `json:"p"`
	PP string `json:"P"`
	W  string `json:"w"`
	X  string `json:"x"`
	C  string `json:"c"`
	Q  string `json:"Q"`
	B  string `json:"b"`
	BB string `json:"B"`
	A  string `json:"a"`
	AA string `json:"A"`
	O  string `json:"o"`
	H  string `json:"h"`
	L  string `json:"l"`
	V  string `json:"v"`
	QQ string `json:"q"`
	OO int64  `json:"O"`
	CC int64  `json:"C"`
	F  int64  `json:"F"`
	LL int64  `json:"L"`
	N  int64  `json:"n"`
	I  string `json:"i"`
	T  int64  `json:"T"`
}

// statsEvents says whether a frame the fast decoder did not take is one of
// the statistics streams: a cheap look before a full decode.
func statsEvents(frame []byte) bool {
	for _, k := range [...]string{`"kline"`, `Ticker"`, `"avgPrice"`, `@arr"`} {
		if bytes.Contains(frame, []byte(k)) {
			return true
		}
	}
	return false
}

// decodeStats decodes a statistics frame, raw or combined, one object or
// an array of them, into events; the first goes to ev, the others are kept
// for Next.
func (sd *spotDecoder) decodeStats(frame []byte, ev *feed.Event) (feed.Decoded, error) {
	data := json.RawMessage(frame)
	var wrap struct {
		Stream string          `json:"stream"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(frame, &wrap); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if wrap.Data != nil {
		data = wrap.Data
	}
	var objs []json.RawMessage
	if d := bytes.TrimSpace(data); len(d) > 0 && d[0] == '[' {
		if err := json.Unmarshal(d, &objs); err != nil {
			return 0, fmt.Errorf("%w: %s: %w", ErrMalformed, wrap.Stream, err)
		}
	} else {
		objs = []json.RawMessage{data}
	}
	sd.batch, sd.next = sd.batch[:0], 0
	table := sd.inst.Table()
	for _, o := range objs {
		var e feed.Event
		if err := sd.statsEvent(table, o, &e); err != nil {
			if len(objs) > 1 && isUnknownSymbol(err) {
				continue // a market-wide array: symbols not asked for are left out
			}
			return 0, err
		}
		sd.batch = append(sd.batch, e)
	}
	if len(sd.batch) == 0 {
		return 0, fmt.Errorf("%w: %s: no symbol of the table", feed.ErrUnknown, wrap.Stream)
	}
	sd.batch[0].CopyTo(ev)
	sd.next = 1
	if len(sd.batch) > 1 {
		return feed.DecodedBatch, nil
	}
	return feed.DecodedEvent, nil
}

// Next gives the next event of a market-wide array (feed.BatchDecoder).
func (sd *spotDecoder) Next(ev *feed.Event) bool {
	if sd.next >= len(sd.batch) {
		return false
	}
	sd.batch[sd.next].CopyTo(ev)
	sd.next++
	return true
}

func isUnknownSymbol(err error) bool { return strings.Contains(err.Error(), ErrUnknownSymbol.Error()) }

// statsEvent decodes one statistics object.
func (sd *spotDecoder) statsEvent(table *Symbols, raw json.RawMessage, ev *feed.Event) error {
	var head struct { // both keys: encoding/json matches them without regard to case
		E  string `json:"e"`
		EE int64  `json:"E"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	unit := int64(1e6)
	if sd.d.Micros {
		unit = 1e3
	}
	st := &feed.Stats{}
	ev.Venue, ev.Stats = Venue, st
	var err error
	switch head.E {
	case "kline":
		var k klineJSON
		sym, herr := statsHead(table, raw, &k, func() string { return k.S }, feed.TypeCandle, head.E, ev)
		if herr != nil {
			return herr
		}
		ev.EventTime, ev.ExchangeTime = k.EE*unit, k.EE*unit
		ev.FirstTradeID, ev.LastTradeID, ev.ID, ev.FirstID = k.K.F, k.K.L, k.K.T, k.K.T
		st.Window, st.OpenTime, st.CloseTime, st.Trades, st.Closed = k.K.I, k.K.T*unit, k.K.TT*unit, k.K.N, k.K.X
		err = parseAll(sym,
			price(&st.Open, k.K.O), price(&st.High, k.K.H), price(&st.Low, k.K.Lo), price(&st.Close, k.K.C),
			qty(&st.Volume, k.K.V), qty(&st.TakerBuyVolume, k.K.VV), dec(&st.QuoteVolume, k.K.Q), dec(&st.TakerBuyQuote, k.K.QQ))
	case "24hrTicker", "1hTicker", "4hTicker", "1dTicker", "24hrMiniTicker":
		var t tickerJSON
		sym, herr := statsHead(table, raw, &t, func() string { return t.S }, feed.TypeTicker, head.E, ev)
		if herr != nil {
			return herr
		}
		ev.EventTime, ev.ExchangeTime = t.EE*unit, t.EE*unit
		st.Window = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(head.E, "MiniTicker"), "Ticker"), "r")
		st.Mini = head.E == "24hrMiniTicker"
		fields := []field{price(&st.Open, t.O), price(&st.High, t.H), price(&st.Low, t.L), price(&st.Close, t.C),
			qty(&st.Volume, t.V), dec(&st.QuoteVolume, t.QQ)}
		if !st.Mini {
			ev.FirstTradeID, ev.LastTradeID, ev.ID, ev.FirstID = t.F, t.LL, t.LL, t.LL
			st.OpenTime, st.CloseTime, st.Trades = t.OO*unit, t.CC*unit, t.N
			fields = append(fields, dec(&st.Avg, t.W))
		}
		err = parseAll(sym, fields...)
	case "avgPrice":
		var t tickerJSON
		sym, herr := statsHead(table, raw, &t, func() string { return t.S }, feed.TypeAvgPrice, head.E, ev)
		if herr != nil {
			return herr
		}
		ev.EventTime, ev.ExchangeTime = t.EE*unit, t.T*unit
		st.Window = t.I
		err = parseAll(sym, dec(&st.Avg, t.W))
	default:
		return fmt.Errorf("%w: %q", ErrUnknownEvent, head.E)
	}
	return err
}

// statsHead decodes raw into v, finds the symbol it names (symbol, read
// after decoding) in table, and sets ev's type, symbol, instrument and scales.
func statsHead(table *Symbols, raw json.RawMessage, v any, symbol func() string, typ feed.Type, what string, ev *feed.Event) (Symbol, error) {
	if err := json.Unmarshal(raw, v); err != nil {
		return Symbol{}, fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
	}
	sym, ok := table.Lookup(symbol())
	if !ok {
		return Symbol{}, fmt.Errorf("%w: %q", ErrUnknownSymbol, symbol())
	}
	ev.Type, ev.Symbol, ev.Instrument, ev.PriceScale, ev.QtyScale = typ, sym.Name, sym.Instrument, sym.PriceScale, sym.QtyScale
	return sym, nil
}

// field is one decimal of a statistics payload to parse.
type field struct {
	name, text string
	kind       uint8 // 0 price, 1 quantity, 2 decimal of its own scale
	m          *int64
	d          *fixed.Dec
}

func price(m *int64, s string) field   { return field{name: "price", text: s, m: m} }
func qty(m *int64, s string) field     { return field{name: "quantity", text: s, kind: 1, m: m} }
func dec(d *fixed.Dec, s string) field { return field{name: "amount", text: s, kind: 2, d: d} }

// parseAll parses the fields at sym's scales; amounts (quote volumes,
// averages) at the fewest decimals that hold them exactly.
func parseAll(sym Symbol, fs ...field) error {
	for _, f := range fs {
		var err error
		switch f.kind {
		case 0:
			*f.m, err = fixed.Parse(f.text, sym.PriceScale)
		case 1:
			*f.m, err = fixed.Parse(f.text, sym.QtyScale)
		default:
			*f.d, err = parseExact(f.text)
		}
		if err != nil {
			return fmt.Errorf("%w: %s %s %q: %w", ErrMalformed, sym.Name, f.name, f.text, err)
		}
	}
	return nil
}

// parseExact parses a decimal at the fewest decimals that hold it.
func parseExact(s string) (fixed.Dec, error) {
	scale, err := fixed.ScaleOf(s)
	if err != nil {
		return fixed.Dec{}, err
	}
	m, err := fixed.Parse(s, scale)
	return fixed.Dec{M: m, S: scale}, err
}
