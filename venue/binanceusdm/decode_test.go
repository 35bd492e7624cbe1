package binanceusdm

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testSymbols(tb testing.TB) *Symbols {
	tb.Helper()
	t, err := NewSymbols(
		Symbol{Name: "BTCUSDT", PriceScale: 1, QtyScale: 3, Base: "BTC", Quote: "USDT", Margin: "USDT", ContractType: Perpetual},
		Symbol{Name: "BNBUSDT", PriceScale: 4, QtyScale: 2, Base: "BNB", Quote: "USDT", Margin: "USDT", ContractType: Perpetual},
		Symbol{Name: "BTCUSDT_260327", PriceScale: 1, QtyScale: 3, Base: "BTC", Quote: "USDT", Margin: "USDT", ContractType: CurrentQuarter},
	)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

const ms = 1_000_000 // ns

// The sample frames of Binance's USD-M "Websocket Market Streams" pages,
// with the symbols of the test table.
var (
	docAggTrade   = `{"e":"aggTrade","E":123456789,"s":"BTCUSDT","a":5933014,"p":"0.1","q":"100","nq":"100","f":100,"l":105,"T":123456785,"m":true}`
	docDepth      = `{"e":"depthUpdate","E":123456789,"T":123456788,"s":"BTCUSDT","U":157,"u":160,"pu":149,"b":[["0.2","10"]],"a":[["0.3","100"]]}`
	docBookTicker = `{"e":"bookTicker","u":400900217,"E":1568014460893,"T":1568014460891,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}`
	docMarkPrice  = `{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000","i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}`
	docForceOrder = `{"e":"forceOrder","E":1568014460893,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.014","p":"9910","ap":"9910","X":"FILLED","l":"0.014","z":"0.014","T":1568014460893}}`
)

func combined(stream, data string) string { return `{"stream":"` + stream + `","data":` + data + `}` }

func TestDecodeDocumentedFrames(t *testing.T) {
	syms := testSymbols(t)
	btc, _ := syms.Lookup("BTCUSDT")
	bnb, _ := syms.Lookup("BNBUSDT")
	base := func(s Symbol) feed.Event {
		return feed.Event{Venue: Venue, Symbol: s.Name, Instrument: s.Instrument, PriceScale: s.PriceScale, QtyScale: s.QtyScale}
	}
	agg := base(btc)
	agg.Type, agg.Aggregated, agg.Side = feed.TypeTrade, true, feed.SideSell
	agg.ID, agg.FirstID, agg.FirstTradeID, agg.LastTradeID = 5933014, 5933014, 100, 105
	agg.EventTime, agg.ExchangeTime = 123456789*ms, 123456785*ms
	agg.Price, agg.Qty = 1, 100000

	depth := base(btc)
	depth.Type = feed.TypeBookDelta
	depth.FirstID, depth.ID, depth.PrevID = 157, 160, 149
	depth.EventTime, depth.ExchangeTime = 123456789*ms, 123456788*ms
	depth.Bids, depth.Asks = []feed.Level{{Price: 2, Qty: 10000}}, []feed.Level{{Price: 3, Qty: 100000}}

	top := base(bnb)
	top.Type = feed.TypeTopOfBook
	top.ID, top.FirstID = 400900217, 400900217
	top.EventTime, top.ExchangeTime = 1568014460893*ms, 1568014460891*ms
	top.Bid, top.Ask = feed.Level{Price: 253519, Qty: 3121}, feed.Level{Price: 253652, Qty: 4066}

	fund := base(btc)
	fund.PriceScale, fund.QtyScale = 0, 0
	fund.Type = feed.TypeFunding
	fund.EventTime, fund.ExchangeTime = 1562305380000*ms, 1562305380000*ms
	fund.Deriv = &feed.Deriv{
		MarkPrice:   fixed.Dec{M: 1179415000000, S: 8},
		IndexPrice:  fixed.Dec{M: 1178462659091, S: 8},
		SettlePrice: fixed.Dec{M: 1178425641265, S: 8},
		FundingRate: fixed.Dec{M: 38167, S: 8},
		NextFunding: 1562306400000 * ms,
	}
	fund.PriceScale, fund.QtyScale = btc.PriceScale, btc.QtyScale

	liq := base(btc)
	liq.Type, liq.Side = feed.TypeLiquidation, feed.SideSell
	liq.EventTime, liq.ExchangeTime = 1568014460893*ms, 1568014460893*ms
	liq.Price, liq.Qty = 99100, 14

	for _, c := range []struct {
		name, frame string
		want        feed.Event
	}{
		{"aggTrade", docAggTrade, agg},
		{"depthUpdate", docDepth, depth},
		{"bookTicker", docBookTicker, top},
		{"markPriceUpdate", docMarkPrice, fund},
		{"forceOrder", docForceOrder, liq},
		{"combined aggTrade", combined("btcusdt@aggTrade", docAggTrade), agg},
		{"combined depth", combined("btcusdt@depth@100ms", docDepth), depth},
		{"combined data first", `{"data":` + docBookTicker + `,"stream":"bnbusdt@bookTicker"}`, top},
		{"combined markPrice", combined("btcusdt@markPrice@1s", docMarkPrice), fund},
		{"combined forceOrder", combined("btcusdt@forceOrder", docForceOrder), liq},
		{"e last, s after levels", `{"b":[["0.2","10"]],"a":[["0.3","100"]],"s":"BTCUSDT","U":157,"u":160,"pu":149,"T":123456788,"E":123456789,"e":"depthUpdate"}`, depth},
		{"escaped", `{"e":"aggTr\u0061de","E":123456789,"\u0073":"BTC\u0055SDT","a":5933014,"p":"0.\u0031","q":"100","f":100,"l":105,"T":123456785,"m":true}`, agg},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := &Decoder{Symbols: syms}
			var ev feed.Event
			ev.ReceiveTime = 42
			kind, err := d.Decode([]byte(c.frame), &ev)
			if err != nil || kind != feed.DecodedEvent {
				t.Fatalf("Decode: %v, %v", kind, err)
			}
			want := c.want
			want.ReceiveTime = 42
			if want.Bids == nil {
				want.Bids = ev.Bids[:0]
			}
			if want.Asks == nil {
				want.Asks = ev.Asks[:0]
			}
			if !reflect.DeepEqual(ev, want) {
				t.Fatalf("got  %+v\nwant %+v", ev, want)
			}
			if ev.Deriv != nil && *ev.Deriv != *want.Deriv {
				t.Fatalf("deriv %+v, want %+v", *ev.Deriv, *want.Deriv)
			}
		})
	}
	if btc.Instrument != "BTC-USDT-PERP" {
		t.Fatalf("instrument %q", btc.Instrument)
	}
	if q, _ := syms.Lookup("BTCUSDT_260327"); q.Instrument != "" {
		t.Fatalf("a quarterly contract is named %q", q.Instrument)
	}
}

func TestDecodeFundingWithoutFunding(t *testing.T) {
	d := &Decoder{Symbols: testSymbols(t)}
	var ev feed.Event
	frame := `{"e":"markPriceUpdate","E":1,"s":"BTCUSDT_260327","p":"-0.5","i":"1.123456789012345678000000","P":"","r":"","T":0}`
	if _, err := d.Decode([]byte(frame), &ev); err != nil {
		t.Fatal(err)
	}
	want := feed.Deriv{MarkPrice: fixed.Dec{M: -5, S: 1}, IndexPrice: fixed.Dec{M: 1123456789012345678, S: 18}}
	if *ev.Deriv != want {
		t.Fatalf("deriv %+v, want %+v", *ev.Deriv, want)
	}
}

func TestDecodeReplies(t *testing.T) {
	d := &Decoder{Symbols: testSymbols(t)}
	for _, c := range []struct {
		frame  string
		id     int64
		list   []string
		errMsg string
	}{
		{`{"result":null,"id":1}`, 1, nil, ""},
		{`{"result":["btcusdt@aggTrade","btcusdt@depth"],"id":3}`, 3, []string{"btcusdt@aggTrade", "btcusdt@depth"}, ""},
		{`{"error":{"code":2,"msg":"Invalid request: request ID must be an unsigned integer"},"id":null}`, 0, nil, "code 2"},
		{`{"code":0,"msg":"Unknown property","id":5}`, 5, nil, "Unknown property"},
	} {
		var ev feed.Event
		kind, err := d.Decode([]byte(c.frame), &ev)
		if kind != feed.DecodedReply || (err != nil) != (c.errMsg != "") || (err != nil && !strings.Contains(err.Error(), c.errMsg)) {
			t.Errorf("%s: Decode %v, %v", c.frame, kind, err)
		}
		rep, err := d.ParseReply([]byte(c.frame))
		if err != nil || rep.ID != c.id || !reflect.DeepEqual(rep.List, c.list) || rep.IsErr != (c.errMsg != "") {
			t.Errorf("%s: ParseReply %+v, %v", c.frame, rep, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	d := &Decoder{Symbols: testSymbols(t)}
	for _, c := range []struct {
		name, frame string
		want        error
	}{
		{"empty", ``, ErrMalformed},
		{"array", `[]`, ErrMalformed},
		{"truncated", docDepth[:len(docDepth)-3], ErrMalformed},
		{"trailing", docAggTrade + `x`, ErrMalformed},
		{"missing pu", strings.Replace(docDepth, `"pu":149,`, ``, 1), ErrMalformed},
		{"missing T of depth", strings.Replace(docDepth, `"T":123456788,`, ``, 1), ErrMalformed},
		{"duplicate u", strings.Replace(docDepth, `"u":160`, `"u":160,"u":161`, 1), ErrMalformed},
		{"pu a string", strings.Replace(docDepth, `"pu":149`, `"pu":"149"`, 1), ErrMalformed},
		{"price a number", strings.Replace(docAggTrade, `"p":"0.1"`, `"p":0.1`, 1), ErrMalformed},
		{"price finer than tick", strings.Replace(docAggTrade, `"p":"0.1"`, `"p":"0.15"`, 1), fixed.ErrPrecision},
		{"bad level", strings.Replace(docDepth, `["0.2","10"]`, `["0.2"]`, 1), ErrMalformed},
		{"unknown symbol", strings.Replace(docAggTrade, `BTCUSDT`, `XYZUSDT`, 1), ErrUnknownSymbol},
		{"unknown symbol is feed.ErrUnknown", strings.Replace(docDepth, `BTCUSDT`, `XYZUSDT`, 1), feed.ErrUnknown},
		{"unknown event", `{"e":"kline","E":1,"s":"BTCUSDT","k":{}}`, ErrUnknownEvent},
		{"unknown event is feed.ErrUnknown", `{"e":"kline","E":1}`, feed.ErrUnknown},
		{"bad side", strings.Replace(docForceOrder, `"SELL"`, `"SHORT"`, 1), ErrMalformed},
		{"o not an object", `{"e":"forceOrder","E":1,"o":[]}`, ErrMalformed},
		{"order without symbol", strings.Replace(docForceOrder, `"s":"BTCUSDT",`, ``, 1), ErrMalformed},
		{"mark price empty", strings.Replace(docMarkPrice, `"p":"11794.15000000"`, `"p":""`, 1), ErrMalformed},
		{"envelope without data", `{"stream":"btcusdt@aggTrade"}`, ErrMalformed},
		{"envelope in data", combined("x", combined("y", docAggTrade)), ErrMalformed},
		{"reply in data", combined("x", `{"result":null,"id":1}`), ErrMalformed},
		{"data not an object", `{"stream":"x","data":[]}`, ErrMalformed},
		{"time out of range", strings.Replace(docAggTrade, `"T":123456785`, `"T":9223372036854775`, 1), ErrMalformed},
		{"nothing known", `{"x":1}`, ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ev feed.Event
			_, err := d.Decode([]byte(c.frame), &ev)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
		})
	}
}

func TestDecodeAllocs(t *testing.T) {
	d := &Decoder{Symbols: testSymbols(t)}
	frames := [][]byte{[]byte(docAggTrade), []byte(docDepth), []byte(docBookTicker), []byte(docMarkPrice), []byte(docForceOrder),
		[]byte(combined("btcusdt@depth@100ms", docDepth)), []byte(combined("btcusdt@aggTrade", docAggTrade))}
	var ev feed.Event
	for _, f := range frames {
		if _, err := d.Decode(f, &ev); err != nil {
			t.Fatal(err)
		}
	}
	v, err := New(Config{WSURL: "wss://127.0.0.1:1", Symbols: d.Symbols})
	if err != nil {
		t.Fatal(err)
	}
	venueDec := v.NewDecoder(feed.ConnPlan{})
	for _, f := range frames {
		if n := testing.AllocsPerRun(100, func() { _, _ = d.Decode(f, &ev) }); n != 0 {
			t.Errorf("%s: %v allocations", f[:40], n)
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = venueDec.Decode(f, &ev) }); n != 0 {
			t.Errorf("%s: %v allocations through the venue's decoder", f[:40], n)
		}
	}
}

func TestDecodeKeepsNoReference(t *testing.T) {
	d := &Decoder{Symbols: testSymbols(t)}
	frame := []byte(combined("btcusdt@depth", docDepth))
	var ev feed.Event
	if _, err := d.Decode(frame, &ev); err != nil {
		t.Fatal(err)
	}
	want := ev.Symbol + ev.Venue + ev.Instrument
	for i := range frame {
		frame[i] = 'x'
	}
	if got := ev.Symbol + ev.Venue + ev.Instrument; got != want {
		t.Fatalf("event strings changed with the frame: %q", got)
	}
}

func TestParseExchangeInfo(t *testing.T) {
	body := `{"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":2400}],
	"symbols":[{"symbol":"BTCUSDT","pair":"BTCUSDT","contractType":"PERPETUAL","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT",
	"marginAsset":"USDT","pricePrecision":2,"quantityPrecision":3,
	"filters":[{"filterType":"PRICE_FILTER","maxPrice":"4529764","minPrice":"556.80","tickSize":"0.10"},
	{"filterType":"LOT_SIZE","maxQty":"1000","minQty":"0.001","stepSize":"0.001"}]},
	{"symbol":"ETHUSDT_260327","contractType":"CURRENT_QUARTER","status":"TRADING","baseAsset":"ETH","quoteAsset":"USDT","marginAsset":"USDT",
	"pricePrecision":2,"quantityPrecision":3,"filters":[{"filterType":"PRICE_FILTER","tickSize":"0.01"},{"filterType":"LOT_SIZE","stepSize":"0.001"}]}]}`
	syms, err := ParseExchangeInfo([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	btc, ok := syms.Lookup("BTCUSDT")
	// tick 0.10 has one decimal, whatever pricePrecision says
	if !ok || btc.PriceScale != 1 || btc.QtyScale != 3 || btc.Instrument != "BTC-USDT-PERP" || btc.Margin != "USDT" || btc.Status != "TRADING" {
		t.Fatalf("BTCUSDT %+v", btc)
	}
	eth, ok := syms.Lookup("ETHUSDT_260327")
	if !ok || eth.Instrument != "" || eth.ContractType != CurrentQuarter || eth.PriceScale != 2 {
		t.Fatalf("ETHUSDT_260327 %+v", eth)
	}
	if _, err := ParseExchangeInfo([]byte(`{"symbols":[{"symbol":"btcusdt"}]}`)); err == nil || !strings.Contains(err.Error(), `"btcusdt"`) {
		t.Fatalf("lower-case symbol: %v", err)
	}
}

// TestAggTradeKeyOrders: an aggTrade decodes to the same event whatever the
// order of its keys: "e" first with "s" before or after the price and
// quantity (values decoded where they are met, or after the object's
// end), "e" last (every value after the end), in the combined envelope
// too; a repeated key is refused in every order.
func TestAggTradeKeyOrders(t *testing.T) {
	d := &Decoder{Symbols: testSymbols(t)}
	var want feed.Event
	if _, err := d.Decode([]byte(docAggTrade), &want); err != nil {
		t.Fatal(err)
	}
	for _, frame := range []string{
		`{"e":"aggTrade","p":"0.1","q":"100","E":123456789,"a":5933014,"nq":"100","f":100,"l":105,"T":123456785,"m":true,"s":"BTCUSDT"}`,
		`{"e":"aggTrade","m":true,"T":123456785,"l":105,"f":100,"nq":"100","q":"100","p":"0.1","a":5933014,"s":"BTCUSDT","E":123456789}`,
		`{"E":123456789,"s":"BTCUSDT","a":5933014,"p":"0.1","q":"100","nq":"100","f":100,"l":105,"T":123456785,"m":true,"e":"aggTrade"}`,
		`{"e":"aggTrade","s":"BTCUSDT","q":"100","p":"0.1","E":123456789,"a":5933014,"f":100,"l":105,"T":123456785,"m":true}`,
		combined("btcusdt@aggTrade", docAggTrade),
	} {
		var ev feed.Event
		if _, err := d.Decode([]byte(frame), &ev); err != nil {
			t.Fatalf("%s: %v", frame, err)
		}
		if !reflect.DeepEqual(ev, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", frame, ev, want)
		}
	}
	for _, frame := range []string{
		`{"e":"aggTrade","E":123456789,"s":"BTCUSDT","a":5933014,"p":"0.1","q":"100","f":100,"l":105,"T":123456785,"m":true,"a":5933015}`,
		`{"e":"aggTrade","E":123456789,"s":"BTCUSDT","a":5933014,"p":"0.1","p":"0.2","q":"100","f":100,"l":105,"T":123456785,"m":true}`,
		`{"e":"aggTrade","E":123456789,"s":"BTCUSDT","s":"ETHUSDT","a":5933014,"p":"0.1","q":"100","f":100,"l":105,"T":123456785,"m":true}`,
		`{"e":"aggTrade","E":123456789,"s":"BTCUSDT","a":5933014,"p":"0.1","q":"100","f":100,"l":105,"T":123456785}`,
		`{"e":"aggTrade","E":123456789,"s":"BTCUSDT","a":"5933014","p":"0.1","q":"100","f":100,"l":105,"T":123456785,"m":true}`,
	} {
		var ev feed.Event
		if _, err := d.Decode([]byte(frame), &ev); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", frame, err)
		}
	}
}
