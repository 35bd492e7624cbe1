package binance

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
)

func testSymbols(tb testing.TB) *Symbols {
	tb.Helper()
	t, err := NewSymbols(
		Symbol{Name: "BTCUSDT", PriceScale: 2, QtyScale: 5, Base: "BTC", Quote: "USDT"},
		Symbol{Name: "BNBBTC", PriceScale: 7, QtyScale: 3, Base: "BNB", Quote: "BTC"},
		Symbol{Name: "BNBUSDT", PriceScale: 4, QtyScale: 3, Base: "BNB", Quote: "USDT"},
		Symbol{Name: "PEPEUSDT", PriceScale: 8, QtyScale: 0}, // no assets: no instrument
	)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// Frames as Binance sends them.
const (
	aggTradeFrame    = `{"e":"aggTrade","E":1672515782136,"s":"BTCUSDT","a":12345,"p":"60000.01000000","q":"0.00100000","f":100,"l":105,"T":1672515782134,"m":true,"M":true}`
	tradeFrame       = `{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.00100000","q":"100.00000000","T":1672515782135,"m":false,"M":true}`
	depthFrame       = `{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.00240000","10.00000000"]],"a":[["0.00260000","100.00000000"],["0.00270000","0.00000000"]]}`
	partialFrame     = `{"lastUpdateId":160,"bids":[["0.00240000","10.00000000"]],"asks":[["0.00260000","100.00000000"]]}`
	bookTickerFrame  = `{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}`
	combinedAggTrade = `{"stream":"btcusdt@aggTrade","data":` + aggTradeFrame + `}`
	combinedPartial  = `{"stream":"bnbbtc@depth5@100ms","data":` + partialFrame + `}`
	shutdownFrame    = `{"e":"serverShutdown","E":1672515782136}`
)

const ms = int64(1e6) // nanoseconds per millisecond

var (
	aggTradeEvent = feed.Event{
		Type: feed.TypeTrade, Side: feed.SideSell, PriceScale: 2, QtyScale: 5, Aggregated: true,
		Venue: "binance", Symbol: "BTCUSDT", Instrument: "BTC-USDT", ID: 12345, FirstID: 12345, FirstTradeID: 100, LastTradeID: 105,
		ExchangeTime: 1672515782134 * ms, EventTime: 1672515782136 * ms, Price: 6000001, Qty: 100,
	}
	tradeEvent = feed.Event{
		Type: feed.TypeTrade, Side: feed.SideBuy, PriceScale: 7, QtyScale: 3,
		Venue: "binance", Symbol: "BNBBTC", Instrument: "BNB-BTC", ID: 12345, FirstID: 12345, FirstTradeID: 12345, LastTradeID: 12345,
		ExchangeTime: 1672515782135 * ms, EventTime: 1672515782136 * ms, Price: 10000, Qty: 100000,
	}
	depthEvent = feed.Event{
		Type: feed.TypeBookDelta, PriceScale: 7, QtyScale: 3, Venue: "binance", Symbol: "BNBBTC", Instrument: "BNB-BTC",
		ID: 160, FirstID: 157, ExchangeTime: 1672515782136 * ms, EventTime: 1672515782136 * ms,
		Bids: []feed.Level{lv(24000, 10000)}, Asks: []feed.Level{lv(26000, 100000), lv(27000, 0)},
	}
	partialEvent = feed.Event{
		Type: feed.TypeBookSnapshot, PriceScale: 7, QtyScale: 3, Venue: "binance", Symbol: "BNBBTC", Instrument: "BNB-BTC",
		ID: 160, FirstID: 160, Bids: []feed.Level{lv(24000, 10000)}, Asks: []feed.Level{lv(26000, 100000)},
	}
	bookTickerEvent = feed.Event{
		Type: feed.TypeTopOfBook, PriceScale: 4, QtyScale: 3, Venue: "binance", Symbol: "BNBUSDT", Instrument: "BNB-USDT",
		ID: 400900217, FirstID: 400900217, Bid: feed.Level{Price: 253519, Qty: 31210}, Ask: feed.Level{Price: 253652, Qty: 40660},
	}
	shutdownEvent = feed.Event{
		Type: feed.TypeStatus, Status: feed.StatusServerShutdown, Venue: "binance",
		ExchangeTime: 1672515782136 * ms, EventTime: 1672515782136 * ms, Reason: "server announced shutdown",
	}
)

func lv(price, qty int64) feed.Level { return feed.Level{Price: price, Qty: qty} }

func with(e feed.Event, f func(*feed.Event)) feed.Event {
	e.Bids, e.Asks = slices.Clone(e.Bids), slices.Clone(e.Asks)
	f(&e)
	return e
}

func sameEvent(a, b *feed.Event) bool {
	if !slices.Equal(a.Bids, b.Bids) || !slices.Equal(a.Asks, b.Asks) {
		return false
	}
	x, y := *a, *b
	x.Bids, x.Asks, y.Bids, y.Asks = nil, nil, nil, nil
	return reflect.DeepEqual(x, y)
}

func TestDecode(t *testing.T) {
	syms := testSymbols(t)
	tests := []struct {
		name  string
		dec   Decoder
		frame string
		kind  Kind
		want  feed.Event
	}{
		{"aggTrade", Decoder{}, aggTradeFrame, KindEvent, aggTradeEvent},
		{"trade", Decoder{}, tradeFrame, KindEvent, tradeEvent},
		{"depthUpdate", Decoder{}, depthFrame, KindEvent, depthEvent},
		{"partial raw", Decoder{Symbol: "BNBBTC"}, partialFrame, KindEvent, partialEvent},
		{"bookTicker", Decoder{}, bookTickerFrame, KindEvent, bookTickerEvent},
		{"serverShutdown", Decoder{}, shutdownFrame, KindShutdown, shutdownEvent},
		{"combined aggTrade", Decoder{}, combinedAggTrade, KindEvent, aggTradeEvent},
		{"combined partial", Decoder{Symbol: "BTCUSDT"}, combinedPartial, KindEvent,
			with(partialEvent, func(e *feed.Event) { e.Stream = "bnbbtc@depth5@100ms" })},
		{"partial raw with its stream", Decoder{Symbol: "BNBBTC", Stream: "bnbbtc@depth20"}, partialFrame, KindEvent,
			with(partialEvent, func(e *feed.Event) { e.Stream = "bnbbtc@depth20" })},
		{"combined shutdown", Decoder{}, `{"stream":"!serverShutdown","data":` + shutdownFrame + `}`, KindShutdown, shutdownEvent},
		{"combined data first", Decoder{}, `{"data":` + partialFrame + `,"stream":"bnbbtc@depth10"}`, KindEvent,
			with(partialEvent, func(e *feed.Event) { e.Stream = "bnbbtc@depth10" })},
		{"combined extra keys", Decoder{}, `{"x":[1,{"y":null}],"stream":"btcusdt@aggTrade","data":` + aggTradeFrame + `,"z":1}`, KindEvent, aggTradeEvent},
		{"micros", Decoder{Micros: true}, `{"e":"aggTrade","E":1672515782136001,"s":"BTCUSDT","a":12345,"p":"60000.01000000","q":"0.00100000","f":100,"l":105,"T":1672515782134999,"m":true,"M":true}`, KindEvent,
			with(aggTradeEvent, func(e *feed.Event) { e.EventTime, e.ExchangeTime = 1672515782136001000, 1672515782134999000 })},
		{"keys in another order", Decoder{}, `{"p":"60000.01","q":"0.001","m":true,"M":false,"T":1672515782134,"l":105,"f":100,"a":12345,"s":"BTCUSDT","E":1672515782136,"e":"aggTrade"}`, KindEvent, aggTradeEvent},
		{"depth levels before symbol", Decoder{}, `{"b":[["0.0024","10"]],"a":[["0.0026","100"],["0.0027","0"]],"e":"depthUpdate","E":1672515782136,"U":157,"u":160,"s":"BNBBTC"}`, KindEvent, depthEvent},
		{"bookTicker keys reordered", Decoder{}, `{"A":"40.66","a":"25.3652","B":"31.21","b":"25.3519","s":"BNBUSDT","u":400900217}`, KindEvent, bookTickerEvent},
		{"unknown keys skipped", Decoder{}, `{"e":"aggTrade","new":{"a":[1,2.5e-3,"x"],"b":true},"E":1672515782136,"s":"BTCUSDT","a":12345,"p":"60000.01000000","q":"0.00100000","f":100,"l":105,"T":1672515782134,"m":true,"M":true,"X":null}`, KindEvent, aggTradeEvent},
		{"old trade stream with order ids", Decoder{}, `{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","b":88,"a":50,"T":1672515782135,"m":false,"M":true}`, KindEvent, tradeEvent},
		{"levels with an ignored third element", Decoder{}, `{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10",[]]],"a":[["0.0026","100"],["0.0027","0", []]]}`, KindEvent, depthEvent},
		{"empty sides", Decoder{Symbol: "BNBBTC"}, `{"lastUpdateId":160,"bids":[],"asks":[]}`, KindEvent,
			with(partialEvent, func(e *feed.Event) { e.Bids, e.Asks = nil, nil })},
		{"whitespace", Decoder{}, " \t\r\n{ \"u\" : 400900217 , \"s\":\"BNBUSDT\",\n\"b\":\"25.3519\",\"B\":\"31.21\",\"a\":\"25.3652\",\"A\":\"40.66\" }\n ", KindEvent, bookTickerEvent},
		{"escapes", Decoder{}, `{"\u0065":"aggTr\u0061de","E":1672515782136,"s":"BTC\u0055SDT","a":12345,"p":"6000\u0030.01","q":"0.001","f":100,"l":105,"T":1672515782134,"m":true,"M":true}`, KindEvent, aggTradeEvent},
		{"negative zero", Decoder{Symbol: "BNBBTC"}, `{"lastUpdateId":-0,"bids":[],"asks":[["-0.0","0"]]}`, KindEvent,
			with(partialEvent, func(e *feed.Event) { e.ID, e.FirstID, e.Bids, e.Asks = 0, 0, nil, []feed.Level{lv(0, 0)} })},
		// CHANGELOG 2022-05-23: a quantity too large for the base asset's
		// precision is capped at 92233720368.54775807, more decimals (and
		// digits) than a step size of 1 allows.
		{"capped quantity, step 1", Decoder{}, `{"e":"depthUpdate","E":1672515782136,"s":"PEPEUSDT","U":157,"u":160,"b":[["0.00001000","92233720368.54775807"]],"a":[["0.00001010","5.00000000"]]}`, KindEvent,
			feed.Event{Type: feed.TypeBookDelta, PriceScale: 8, QtyScale: 0, Venue: "binance", Symbol: "PEPEUSDT", Capped: true,
				ID: 160, FirstID: 157, ExchangeTime: 1672515782136 * ms, EventTime: 1672515782136 * ms,
				Bids: []feed.Level{lv(1000, 92233720368)}, Asks: []feed.Level{lv(1010, 5)}}},
		{"capped quantity, truncated", Decoder{}, `{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.00240000","922337203685477.5807"]],"a":[]}`, KindEvent,
			with(depthEvent, func(e *feed.Event) { e.Capped, e.Bids, e.Asks = true, []feed.Level{lv(24000, 922337203685477580)}, nil })},
		{"capped quantity, saturated", Decoder{}, `{"e":"depthUpdate","E":1672515782136,"s":"BTCUSDT","U":157,"u":160,"b":[["60000.01","92233720368547758.07"]],"a":[]}`, KindEvent,
			feed.Event{Type: feed.TypeBookDelta, PriceScale: 2, QtyScale: 5, Venue: "binance", Symbol: "BTCUSDT", Instrument: "BTC-USDT", Capped: true,
				ID: 160, FirstID: 157, ExchangeTime: 1672515782136 * ms, EventTime: 1672515782136 * ms,
				Bids: []feed.Level{lv(6000001, 1<<63-1)}}},
		{"capped quantity, escaped", Decoder{}, `{"e":"depthUpdate","E":1672515782136,"s":"PEPEUSDT","U":157,"u":160,"b":[["0.00001000","92233720368.5477580\u0037"]],"a":[]}`, KindEvent,
			feed.Event{Type: feed.TypeBookDelta, PriceScale: 8, QtyScale: 0, Venue: "binance", Symbol: "PEPEUSDT", Capped: true,
				ID: 160, FirstID: 157, ExchangeTime: 1672515782136 * ms, EventTime: 1672515782136 * ms,
				Bids: []feed.Level{lv(1000, 92233720368)}}},
		{"capped quantity, exact at the scale", Decoder{}, `{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.00240000","9223372036854775.807"]],"a":[]}`, KindEvent,
			with(depthEvent, func(e *feed.Event) { e.Capped, e.Bids, e.Asks = true, []feed.Level{lv(24000, 1<<63-1)}, nil })},
		{"capped quantity in a snapshot", Decoder{Symbol: "PEPEUSDT"}, `{"lastUpdateId":160,"bids":[["0.00001000","92233720368.54775807000"]],"asks":[]}`, KindEvent,
			feed.Event{Type: feed.TypeBookSnapshot, PriceScale: 8, QtyScale: 0, Venue: "binance", Symbol: "PEPEUSDT", Capped: true,
				ID: 160, FirstID: 160, Bids: []feed.Level{lv(1000, 92233720368)}}},
		{"reply", Decoder{}, `{"result":null,"id":1}`, KindResponse, feed.Event{}},
		{"error reply", Decoder{}, `{"error":{"code":2,"msg":"Invalid request: unknown variant"},"id":3}`, KindResponse, feed.Event{}},
		{"reply, id first", Decoder{}, `{"id":"abc","result":["btcusdt@aggTrade"]}`, KindResponse, feed.Event{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.dec.Symbols = syms
			ev := feed.Event{ReceiveTime: 42, Bids: make([]feed.Level, 3, 8), Symbol: "stale", Instrument: "STALE-X", Price: 7}
			kind, err := tt.dec.Decode([]byte(tt.frame), &ev)
			if err != nil || kind != tt.kind {
				t.Fatalf("Decode = %v, %v; want %v", kind, err, tt.kind)
			}
			tt.want.ReceiveTime = 42
			if !sameEvent(&ev, &tt.want) {
				t.Errorf("event\n got %+v\nwant %+v", ev, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	syms := testSymbols(t)
	tests := []struct {
		name  string
		frame string
		want  error
	}{
		{"empty", ``, ErrMalformed},
		{"not an object", `[1,2]`, ErrMalformed},
		{"null", `null`, ErrMalformed},
		{"truncated", aggTradeFrame[:len(aggTradeFrame)-10], ErrMalformed},
		{"truncated in string", aggTradeFrame[:40], ErrMalformed},
		{"truncated after brace", `{`, ErrMalformed},
		{"trailing data", aggTradeFrame + `x`, ErrMalformed},
		{"two objects", aggTradeFrame + aggTradeFrame, ErrMalformed},
		{"empty object", `{}`, ErrMalformed},
		{"unrecognized", `{"x":1}`, ErrMalformed},
		{"unknown event", `{"e":"kline","E":1,"s":"BTCUSDT","k":{}}`, ErrUnknownEvent},
		{"e not a string", `{"e":1,"E":1}`, ErrMalformed},
		{"unknown symbol", strings.Replace(aggTradeFrame, "BTCUSDT", "DOGEUSDT", 1), ErrUnknownSymbol},
		{"symbol case", strings.Replace(aggTradeFrame, "BTCUSDT", "btcusdt", 1), ErrUnknownSymbol},
		{"missing price", strings.Replace(aggTradeFrame, `"p":"60000.01000000",`, "", 1), ErrMalformed},
		{"missing m (M is not m)", strings.Replace(aggTradeFrame, `"m":true,`, "", 1), ErrMalformed},
		{"missing U", strings.Replace(depthFrame, `"U":157,`, "", 1), ErrMalformed},
		{"missing A", strings.Replace(bookTickerFrame, `,"A":"40.66000000"`, "", 1), ErrMalformed},
		{"duplicate key", strings.Replace(aggTradeFrame, `"a":12345`, `"a":12345,"a":12346`, 1), ErrMalformed},
		{"price as number", strings.Replace(aggTradeFrame, `"60000.01000000"`, `60000.01`, 1), ErrMalformed},
		{"price garbage", strings.Replace(aggTradeFrame, `"60000.01000000"`, `"6e4"`, 1), ErrMalformed},
		{"price precision", strings.Replace(aggTradeFrame, `"60000.01000000"`, `"60000.01500000"`, 1), fixed.ErrPrecision},
		{"quantity precision, not a cap", strings.Replace(depthFrame, `"10.00000000"`, `"10.00010000"`, 1), fixed.ErrPrecision},
		{"quantity near the cap, not it", strings.Replace(depthFrame, `"10.00000000"`, `"92233720368.54775808"`, 1), fixed.ErrPrecision},
		{"cap digits with integer zeros", strings.Replace(depthFrame, `"10.00000000"`, `"922337203685477580700"`, 1), fixed.ErrRange},
		{"qty range", strings.Replace(aggTradeFrame, `"0.00100000"`, `"99999999999999999.0"`, 1), fixed.ErrRange},
		{"id as string", strings.Replace(aggTradeFrame, `"a":12345`, `"a":"12345"`, 1), ErrMalformed},
		{"id fraction", strings.Replace(aggTradeFrame, `"a":12345`, `"a":12345.0`, 1), ErrMalformed},
		{"id exponent", strings.Replace(aggTradeFrame, `"a":12345`, `"a":1e5`, 1), ErrMalformed},
		{"id leading zero", strings.Replace(aggTradeFrame, `"a":12345`, `"a":012345`, 1), ErrMalformed},
		{"id overflow", strings.Replace(aggTradeFrame, `"a":12345`, `"a":9223372036854775808`, 1), ErrMalformed},
		{"time overflow", strings.Replace(aggTradeFrame, `"T":1672515782134`, `"T":9223372036854775`, 1), ErrMalformed},
		{"bool as string", strings.Replace(aggTradeFrame, `"m":true`, `"m":"true"`, 1), ErrMalformed},
		{"bool truncated literal", strings.Replace(aggTradeFrame, `"m":true`, `"m":tru`, 1), ErrMalformed},
		{"null price", strings.Replace(aggTradeFrame, `"60000.01000000"`, `null`, 1), ErrMalformed},
		{"levels not an array", strings.Replace(depthFrame, `"b":[["0.00240000","10.00000000"]]`, `"b":{}`, 1), ErrMalformed},
		{"level too short", strings.Replace(depthFrame, `["0.00240000","10.00000000"]`, `["0.00240000"]`, 1), ErrMalformed},
		{"level empty", strings.Replace(depthFrame, `["0.00240000","10.00000000"]`, `[]`, 1), ErrMalformed},
		{"level numbers", strings.Replace(depthFrame, `["0.00240000","10.00000000"]`, `[0.0024,10]`, 1), ErrMalformed},
		{"level trailing comma", strings.Replace(depthFrame, `"10.00000000"]]`, `"10.00000000"],]`, 1), ErrMalformed},
		{"control character", strings.Replace(aggTradeFrame, `BTCUSDT`, "BTC\nUSDT", 1), ErrMalformed},
		{"bad escape", strings.Replace(aggTradeFrame, `BTCUSDT`, `BTC\xUSDT`, 1), ErrMalformed},
		{"bad unicode escape", strings.Replace(aggTradeFrame, `BTCUSDT`, `BTC\u00GGUSDT`, 1), ErrMalformed},
		{"invalid utf-8 in symbol", strings.Replace(aggTradeFrame, `BTCUSDT`, "BTC\xffUSDT", 1), ErrUnknownSymbol},
		{"single quotes", `{'e':'aggTrade'}`, ErrMalformed},
		{"missing colon", `{"e" "aggTrade"}`, ErrMalformed},
		{"missing comma", `{"u":1 "s":"BNBUSDT"}`, ErrMalformed},
		{"trailing comma", `{"result":null,"id":1,}`, ErrMalformed},
		{"bad number in skipped value", strings.Replace(aggTradeFrame, `"M":true`, `"M":01`, 1), ErrMalformed},
		{"bad literal in skipped value", strings.Replace(aggTradeFrame, `"M":true`, `"M":nul`, 1), ErrMalformed},
		{"partial without symbol", partialFrame, ErrUnknownSymbol},
		{"partial unknown stream", `{"stream":"dogeusdt@depth5","data":` + partialFrame + `}`, ErrUnknownSymbol},
		{"partial stream without @", `{"stream":"bnbbtc","data":` + partialFrame + `}`, ErrUnknownSymbol},
		{"combined without stream", `{"data":` + aggTradeFrame + `}`, ErrMalformed},
		{"combined without data", `{"stream":"btcusdt@aggTrade"}`, ErrMalformed},
		{"combined data not an object", `{"stream":"btcusdt@aggTrade","data":[]}`, ErrMalformed},
		{"combined nested", `{"stream":"x","data":{"stream":"x","data":` + aggTradeFrame + `}}`, ErrMalformed},
		{"combined reply", `{"stream":"x","data":{"result":null,"id":1}}`, ErrMalformed},
		{"combined duplicate stream", `{"stream":"x","stream":"y","data":` + aggTradeFrame + `}`, ErrMalformed},
		{"combined bad inner", `{"stream":"btcusdt@aggTrade","data":` + aggTradeFrame[:50] + `}`, ErrMalformed},
		{"deep nesting", `{"e":"aggTrade","x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decoder{Symbols: syms}
			var ev feed.Event
			kind, err := d.Decode([]byte(tt.frame), &ev)
			if !errors.Is(err, tt.want) || kind != KindNone {
				t.Fatalf("Decode = %v, %v; want %v", kind, err, tt.want)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownSymbol) && !errors.Is(err, ErrUnknownEvent) {
				t.Errorf("error %v matches none of the package's sentinels", err)
			}
		})
	}
}

// TestDecodeGuessedWrong covers objects whose first key suggests a shape of
// lower precedence than what follows.
func TestDecodeGuessedWrong(t *testing.T) {
	d := Decoder{Symbols: testSymbols(t), Symbol: "BNBBTC"}
	tests := []struct {
		frame string
		kind  Kind
		want  feed.Event
	}{
		// "u" first, but "e" makes it a depth update.
		{`{"u":160,"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"b":[["0.0024","10"]],"a":[["0.0026","100"],["0.0027","0"]]}`, KindEvent, depthEvent},
		// "u" first with a "b" that is no bookTicker price.
		{`{"u":160,"b":[["0.0024","10"]],"s":"BNBBTC","e":"depthUpdate","E":1672515782136,"U":157,"a":[["0.0026","100"],["0.0027","0"]]}`, KindEvent, depthEvent},
		// "lastUpdateId" first, then "e".
		{`{"lastUpdateId":1,"e":"serverShutdown","E":1672515782136}`, KindShutdown, shutdownEvent},
		// "stream" first, then "e": an event with two unknown keys.
		{`{"stream":"x","e":"serverShutdown","data":{},"E":1672515782136}`, KindShutdown, shutdownEvent},
		// "u" first, then "result": a reply.
		{`{"u":1,"result":null,"id":1}`, KindResponse, feed.Event{}},
		// "u" first, then "lastUpdateId": partial depth.
		{`{"u":1,"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}`, KindEvent, partialEvent},
	}
	for _, tt := range tests {
		var ev feed.Event
		kind, err := d.Decode([]byte(tt.frame), &ev)
		if err != nil || kind != tt.kind || !sameEvent(&ev, &tt.want) {
			t.Errorf("Decode(%s) = %v, %v, %+v; want %v, %+v", tt.frame, kind, err, ev, tt.kind, tt.want)
		}
	}
}

// TestDecodeKeepsNoReference checks that the event does not alias the frame.
func TestDecodeKeepsNoReference(t *testing.T) {
	d := Decoder{Symbols: testSymbols(t)}
	for _, frame := range []string{combinedAggTrade, depthFrame, bookTickerFrame} {
		buf := []byte(frame)
		var ev, want feed.Event
		if _, err := d.Decode(buf, &ev); err != nil {
			t.Fatal(err)
		}
		ev.CopyTo(&want)
		for i := range buf {
			buf[i] = 'X'
		}
		if !sameEvent(&ev, &want) || ev.Symbol == strings.Repeat("X", len(ev.Symbol)) {
			t.Errorf("event changed with the frame: %+v", ev)
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	d := Decoder{Symbols: testSymbols(t), Symbol: "BNBBTC", Streams: map[string]string{"bnbbtc@depth5@100ms": "bnbbtc@depth5@100ms"}}
	var ev feed.Event
	for _, frame := range []string{aggTradeFrame, tradeFrame, depthFrame, partialFrame, bookTickerFrame, combinedAggTrade, combinedPartial, shutdownFrame, `{"result":null,"id":1}`} {
		b := []byte(frame)
		n := testing.AllocsPerRun(100, func() {
			if _, err := d.Decode(b, &ev); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("Decode(%.30s…) allocates %v times", frame, n)
		}
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		frame  string
		id     string
		result string
		err    *ServerError
	}{
		{`{"result":null,"id":1}`, `1`, `null`, nil},
		{`{"result":["btcusdt@aggTrade"],"id":3}`, `3`, `["btcusdt@aggTrade"]`, nil},
		{`{"result":true,"id":"abc"}`, `"abc"`, `true`, nil},
		{`{"error":{"code":2,"msg":"Invalid request: unknown variant"},"id":3}`, `3`, ``, &ServerError{2, "Invalid request: unknown variant"}},
		{`{"error":{"code":3,"msg":"Invalid JSON: expected value at line 1 column 1"},"id":null}`, `null`, ``, &ServerError{3, "Invalid JSON: expected value at line 1 column 1"}},
	}
	for _, tt := range tests {
		var ev feed.Event
		if kind, err := (&Decoder{}).Decode([]byte(tt.frame), &ev); kind != KindResponse || err != nil {
			t.Errorf("Decode(%s) = %v, %v; want KindResponse", tt.frame, kind, err)
		}
		r, err := ParseResponse([]byte(tt.frame))
		if err != nil {
			t.Fatalf("ParseResponse(%s): %v", tt.frame, err)
		}
		if string(r.ID) != tt.id || string(r.Result) != tt.result || (r.Err == nil) != (tt.err == nil) || (r.Err != nil && *r.Err != *tt.err) {
			t.Errorf("ParseResponse(%s) = id %s result %s err %v", tt.frame, r.ID, r.Result, r.Err)
		}
	}
	r, _ := ParseResponse([]byte(`{"result":null,"id":77}`))
	if id, ok := r.IntID(); !ok || id != 77 {
		t.Errorf("IntID = %d, %v", id, ok)
	}
	var se *ServerError
	r, _ = ParseResponse([]byte(`{"error":{"code":4,"msg":"Too many subscriptions"},"id":1}`))
	if err := error(r.Err); !errors.As(err, &se) || se.Code != 4 || !strings.Contains(err.Error(), "Too many") {
		t.Errorf("ServerError = %v", err)
	}
	for _, bad := range []string{`{"id":1}`, `{"error":{"code":"x"},"id":1}`, `nope`, `{"error":[],"id":1}`} {
		if _, err := ParseResponse([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseResponse(%s) = %v; want ErrMalformed", bad, err)
		}
	}
}

func TestSymbols(t *testing.T) {
	info := `{"timezone":"UTC","symbols":[
	 {"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","baseAssetPrecision":8,"quoteAsset":"USDT","filters":[
	  {"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"},
	  {"filterType":"LOT_SIZE","minQty":"0.00001000","maxQty":"9000.00000000","stepSize":"0.00001000"}]},
	 {"symbol":"PEPEUSDT","status":"TRADING","baseAsset":"pepe","quoteAsset":"Usdt","filters":[
	  {"filterType":"PRICE_FILTER","tickSize":"0.00000001"},{"filterType":"LOT_SIZE","stepSize":"1.00000000"}]},
	 {"symbol":"ODDUSDT","status":"TRADING","baseAsset":"O-D","quoteAsset":"USDT"},
	 {"symbol":"OLDBTC","status":"BREAK","quoteAsset":"BTC","filters":[{"filterType":"PRICE_FILTER","tickSize":"0.00000000"}]}]}`
	syms, err := ParseExchangeInfo([]byte(info))
	if err != nil {
		t.Fatal(err)
	}
	want := []Symbol{
		{Name: "BTCUSDT", PriceScale: 2, QtyScale: 5, Status: "TRADING", Base: "BTC", Quote: "USDT", Instrument: "BTC-USDT"},
		{Name: "ODDUSDT", PriceScale: 8, QtyScale: 8, Status: "TRADING"},            // an asset that would not parse back: none
		{Name: "OLDBTC", PriceScale: 8, QtyScale: 8, Status: "BREAK", Quote: "BTC"}, // no base asset: no instrument
		{Name: "PEPEUSDT", PriceScale: 8, QtyScale: 0, Status: "TRADING", Base: "PEPE", Quote: "USDT", Instrument: "PEPE-USDT"},
	}
	if got := syms.List(); !slices.Equal(got, want) || syms.Len() != 4 {
		t.Errorf("List = %v; want %v", got, want)
	}
	if s, ok := syms.Lookup("PEPEUSDT"); !ok || s != want[3] {
		t.Errorf("Lookup = %v, %v", s, ok)
	}
	if s, ok := syms.lookupStream([]byte("btcusdt@depth20@100ms")); !ok || s != want[0] {
		t.Errorf("lookupStream = %v, %v", s, ok)
	}
	for _, bad := range []string{
		`{"symbols":[{"symbol":"X","filters":[{"filterType":"PRICE_FILTER","tickSize":"abc"}]}]}`,
		`{"symbols":[{"symbol":"X"},{"symbol":"X"}]}`,
		`{"symbols":[{"symbol":"btcusdt"}]}`,
		`{"symbols":{}}`,
	} {
		if _, err := ParseExchangeInfo([]byte(bad)); err == nil {
			t.Errorf("ParseExchangeInfo(%s) succeeded", bad)
		}
	}
	if _, err := NewSymbols(Symbol{Name: "X", PriceScale: 19}); !errors.Is(err, fixed.ErrScale) {
		t.Errorf("NewSymbols with scale 19: %v", err)
	}
	for _, bad := range []Symbol{{Name: "BTCUSDT", Base: "btc", Quote: "USDT"}, {Name: "BTCUSDT", Base: "BTC", Quote: "US-DT"}} {
		if _, err := NewSymbols(bad); err == nil || !strings.Contains(err.Error(), `"`+bad.Base+`"`) && !strings.Contains(err.Error(), `"`+bad.Quote+`"`) {
			t.Errorf("NewSymbols(%+v) = %v; want an error naming the asset", bad, err)
		}
	}
	if s, _ := mustSymbols(t, Symbol{Name: "BTCUSDT", Base: "BTC", Quote: "USDT", Instrument: "WRONG"}).Lookup("BTCUSDT"); s.Instrument != "BTC-USDT" {
		t.Errorf("Instrument = %q; want it set from the assets", s.Instrument)
	}
	if s, _ := mustSymbols(t, Symbol{Name: "BTCUSDT", Base: "BTC", Instrument: "BTC-USDT"}).Lookup("BTCUSDT"); s.Instrument != "" {
		t.Errorf("Instrument without a quote asset = %q; want empty", s.Instrument)
	}
	var nilTable *Symbols
	if _, err := (&Decoder{Symbols: nilTable}).Decode([]byte(aggTradeFrame), &feed.Event{}); !errors.Is(err, ErrUnknownSymbol) {
		t.Errorf("Decode without a table: %v", err)
	}
}

func mustSymbols(tb testing.TB, list ...Symbol) *Symbols {
	tb.Helper()
	t, err := NewSymbols(list...)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func ExampleDecoder_Decode() {
	syms, _ := NewSymbols(Symbol{Name: "BTCUSDT", PriceScale: 2, QtyScale: 5})
	d := Decoder{Symbols: syms}
	var ev feed.Event // reused for every frame
	kind, err := d.Decode([]byte(combinedAggTrade), &ev)
	fmt.Println(kind, err)
	fmt.Println(ev.Type, ev.Symbol, ev.ID, ev.PriceDec(ev.Price), ev.QtyDec(ev.Qty), ev.Side)
	// Output:
	// event <nil>
	// trade BTCUSDT 12345 60000.01 0.00100 sell
}
