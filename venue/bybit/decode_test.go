package bybit

import (
	"errors"
	"reflect"
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
		Symbol{Category: Spot, Name: "BTCUSDT", PriceScale: 2, QtyScale: 6, Base: "BTC", Quote: "USDT"},
		Symbol{Category: Linear, Name: "BTCUSDT", PriceScale: 2, QtyScale: 3, Base: "BTC", Quote: "USDT", Perpetual: true},
		Symbol{Category: Linear, Name: "ROSEUSDT", PriceScale: 5, QtyScale: 0, Base: "ROSE", Quote: "USDT", Perpetual: true},
	)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// Frames from Bybit's v5 docs (websocket/public: trade, orderbook, ticker,
// all-liquidation; websocket connect: replies).
const (
	docTrade        = `{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false,"seq":1783284617}]}`
	docBookSnapshot = `{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1672304484978,"data":{"s":"BTCUSDT","b":[["16493.50","0.006"],["16493.00","0.100"]],"a":[["16611.00","0.029"],["16612.00","0.213"]],"u":18521288,"seq":7961638724},"cts":1672304484976}`
	docBookDelta    = `{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1687940967466,"data":{"s":"BTCUSDT","b":[["30240.00","0"]],"a":[["30249.30","0.892"]],"u":177400507,"seq":66544703342},"cts":1687940967464}`
	docTicker       = `{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","tickDirection":"MinusTick","price24hPcnt":"-0.158315","lastPrice":"66666.60","markPrice":"66666.60","indexPrice":"115418.19","openInterest":"492373.72","openInterestValue":"32824881841.75","fundingIntervalHour":"8","fundingCap":"0.005","nextFundingTime":"1760342400000","fundingRate":"-0.005","bid1Price":"66666.60","ask1Price":"66666.70","preOpenPrice":""},"cs":9532239429,"ts":1760325052630}`
	docTickerDelta  = `{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","markPrice":"66670.10","bid1Price":"66666.60"},"cs":9532239430,"ts":1760325052730}`
	docLiquidation  = `{"topic":"allLiquidation.ROSEUSDT","type":"snapshot","ts":1739502303204,"data":[{"T":1739502302929,"s":"ROSEUSDT","S":"Sell","v":"20000","p":"0.04499"}]}`
	docSubscribed   = `{"success":true,"ret_msg":"subscribe","conn_id":"2324d924-aa4d-45b0-a858-7b8be29ab52b","req_id":"10001","op":"subscribe"}`
	docArgsTooMany  = `{"success":false,"ret_msg":"args size >10","conn_id":"cfcb4l7kr9d4n4clrlv0-4a7f","req_id":"3","op":"subscribe"}`
	docSpotPong     = `{"success":true,"ret_msg":"pong","conn_id":"0970e817-426e-429a-a679-ff7f55e0b16a","op":"ping"}`
	docLinearPong   = `{"success":true,"ret_msg":"pong","conn_id":"465772b1-7630-4fdc-a492-e003e6f0f260","req_id":"","op":"ping"}`
	docOptionPong   = `{"args":["1672916271846"],"op":"pong"}`
)

func TestDecodeTrade(t *testing.T) {
	d := NewDecoder(testSymbols(t), Linear)
	var ev feed.Event
	kind, err := d.Decode([]byte(docTrade), &ev)
	if err != nil || kind != feed.DecodedEvent {
		t.Fatalf("Decode = %v, %v", kind, err)
	}
	want := feed.Event{Type: feed.TypeTrade, Side: feed.SideBuy, Venue: "bybit", Symbol: "linear/BTCUSDT", Instrument: "BTC-USDT-PERP",
		PriceScale: 2, QtyScale: 3, Price: 1657850, Qty: 1, ExchangeTime: 1672304486865e6, EventTime: 1672304486868e6}
	ev.Bids, ev.Asks = nil, nil
	if !reflect.DeepEqual(ev, want) {
		t.Fatalf("event\n got %+v\nwant %+v", ev, want)
	}
	if ev.ID != 0 {
		t.Fatalf("ID %d: Bybit trade IDs are opaque", ev.ID)
	}
}

func TestDecodeTradeBatch(t *testing.T) {
	d := NewDecoder(testSymbols(t), Spot)
	frame := `{"topic":"publicTrade.BTCUSDT","ts":1672304486868,"type":"snapshot","data":[` +
		`{"i":"2290000000061666327","T":1672304486865,"p":"16578.50","v":"0.001","S":"Buy","s":"BTCUSDT","BT":false},` +
		`{"i":"2290000000061666328","T":1672304486866,"p":"16578.00","v":"0.25","S":"Sell","s":"BTCUSDT","BT":false},` +
		`{"i":"2290000000061666329","T":1672304486867,"p":"16577.99","v":"1","S":"Sell","s":"BTCUSDT","BT":false}]}`
	var ev feed.Event
	kind, err := d.Decode([]byte(frame), &ev)
	if err != nil || kind != feed.DecodedBatch {
		t.Fatalf("Decode = %v, %v", kind, err)
	}
	got := []feed.Event{ev}
	for {
		var next feed.Event
		if !d.Next(&next) {
			break
		}
		got = append(got, next)
	}
	if len(got) != 3 {
		t.Fatalf("%d trades, want 3", len(got))
	}
	wants := []struct {
		side       feed.Side
		price, qty int64
		t          int64
	}{{feed.SideBuy, 1657850, 1000, 1672304486865e6}, {feed.SideSell, 1657800, 250000, 1672304486866e6}, {feed.SideSell, 1657799, 1000000, 1672304486867e6}}
	for i, w := range wants {
		e := got[i]
		if e.Type != feed.TypeTrade || e.Side != w.side || e.Price != w.price || e.Qty != w.qty || e.ExchangeTime != w.t ||
			e.Symbol != "spot/BTCUSDT" || e.Instrument != "BTC-USDT" || e.QtyScale != 6 {
			t.Fatalf("trade %d: %+v", i, e)
		}
	}
}

func TestDecodeBook(t *testing.T) {
	d := NewDecoder(testSymbols(t), Linear)
	var ev feed.Event
	if kind, err := d.Decode([]byte(docBookSnapshot), &ev); err != nil || kind != feed.DecodedEvent {
		t.Fatalf("snapshot: %v, %v", kind, err)
	}
	if ev.Type != feed.TypeBookSnapshot || !ev.Base || ev.ID != 18521288 || ev.FirstID != ev.ID ||
		ev.Stream != "linear/orderbook.50.BTCUSDT" || ev.Symbol != "linear/BTCUSDT" || ev.ExchangeTime != 1672304484976e6 {
		t.Fatalf("snapshot %+v", ev)
	}
	wantB := []feed.Level{{Price: 1649350, Qty: 6}, {Price: 1649300, Qty: 100}}
	wantA := []feed.Level{{Price: 1661100, Qty: 29}, {Price: 1661200, Qty: 213}}
	if !equalLevels(ev.Bids, wantB) || !equalLevels(ev.Asks, wantA) {
		t.Fatalf("levels %v %v", ev.Bids, ev.Asks)
	}
	if kind, err := d.Decode([]byte(docBookDelta), &ev); err != nil || kind != feed.DecodedEvent {
		t.Fatalf("delta: %v, %v", kind, err)
	}
	if ev.Type != feed.TypeBookDelta || ev.Base || ev.ID != 177400507 || ev.FirstID != 177400507 ||
		!equalLevels(ev.Bids, []feed.Level{{Price: 3024000, Qty: 0}}) || !equalLevels(ev.Asks, []feed.Level{{Price: 3024930, Qty: 892}}) {
		t.Fatalf("delta %+v", ev)
	}
	// the snapshot after a service restart: u=1 ("Orderbook": overwrite)
	restart := `{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[["1.00","1"]],"u":1,"seq":2},"cts":1}`
	if _, err := d.Decode([]byte(restart), &ev); err != nil || !ev.Base || ev.ID != 1 {
		t.Fatalf("restart snapshot: %+v, %v", ev, err)
	}
}

func TestDecodeTicker(t *testing.T) {
	d := NewDecoder(testSymbols(t), Linear)
	var ev feed.Event
	kind, err := d.Decode([]byte(docTicker), &ev)
	if err != nil || kind != feed.DecodedBatch {
		t.Fatalf("Decode = %v, %v", kind, err)
	}
	want := feed.Deriv{MarkPrice: dec(t, "66666.60"), IndexPrice: dec(t, "115418.19"), FundingRate: dec(t, "-0.005"), NextFunding: 1760342400000e6}
	if ev.Type != feed.TypeFunding || ev.Deriv == nil || *ev.Deriv != want || ev.EventTime != 1760325052630e6 {
		t.Fatalf("funding %+v %+v", ev, ev.Deriv)
	}
	var oi feed.Event
	if !d.Next(&oi) || oi.Type != feed.TypeOpenInterest || oi.Deriv.OpenInterest != dec(t, "492373.72") || oi.Symbol != "linear/BTCUSDT" {
		t.Fatalf("open interest %+v", oi)
	}
	if d.Next(&oi) {
		t.Fatal("a third event")
	}
	// a delta changes the mark only: the rest is as before
	kind, err = d.Decode([]byte(docTickerDelta), &ev)
	if err != nil || kind != feed.DecodedEvent {
		t.Fatalf("delta: %v, %v", kind, err)
	}
	want.MarkPrice = dec(t, "66670.10")
	if *ev.Deriv != want {
		t.Fatalf("after the delta %+v, want %+v", *ev.Deriv, want)
	}
	// a delta before any snapshot says nothing whole
	d2 := NewDecoder(testSymbols(t), Linear)
	if _, err := d2.Decode([]byte(docTickerDelta), &ev); !errors.Is(err, feed.ErrUnknown) {
		t.Fatalf("delta first: %v", err)
	}
}

func TestDecodeLiquidation(t *testing.T) {
	d := NewDecoder(testSymbols(t), Linear)
	var ev feed.Event
	if _, err := d.Decode([]byte(docLiquidation), &ev); err != nil {
		t.Fatal(err)
	}
	// S "Sell": a short was liquidated, closed by the venue's buy
	if ev.Type != feed.TypeLiquidation || ev.Side != feed.SideBuy || ev.Price != 4499 || ev.Qty != 20000 || ev.Symbol != "linear/ROSEUSDT" {
		t.Fatalf("%+v", ev)
	}
}

func TestDecodeReplies(t *testing.T) {
	d := NewDecoder(testSymbols(t), Spot)
	var ev feed.Event
	for _, f := range []string{docSubscribed, docSpotPong, docLinearPong, docOptionPong} {
		if kind, err := d.Decode([]byte(f), &ev); kind != feed.DecodedReply || err != nil {
			t.Errorf("%s: %v, %v", f, kind, err)
		}
	}
	kind, err := d.Decode([]byte(docArgsTooMany), &ev)
	if kind != feed.DecodedReply || !errors.Is(err, ErrRefused) {
		t.Fatalf("refusal: %v, %v", kind, err)
	}
	r, err := d.ParseReply([]byte(docArgsTooMany))
	if err != nil || r.ID != 3 || !r.IsErr || r.Err == nil || r.Err.Error() != "bybit: request refused: subscribe: args size >10" {
		t.Fatalf("ParseReply = %+v, %v", r, err)
	}
	if r, err := d.ParseReply([]byte(docSubscribed)); err != nil || r.ID != 10001 || r.IsErr {
		t.Fatalf("ParseReply = %+v, %v", r, err)
	}
}

func TestIsPong(t *testing.T) {
	for _, f := range []string{docSpotPong, docLinearPong, docOptionPong} {
		if !IsPong([]byte(f)) {
			t.Errorf("IsPong(%s) = false", f)
		}
	}
	for _, f := range []string{docSubscribed, docTrade, docArgsTooMany} {
		if IsPong([]byte(f)) {
			t.Errorf("IsPong(%s) = true", f)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, frame string
		want        error
	}{
		{"not JSON", `{"topic":`, ErrMalformed},
		{"trailing data", docTrade + `x`, ErrMalformed},
		{"no data", `{"topic":"publicTrade.BTCUSDT","ts":1}`, ErrMalformed},
		{"no ts", `{"topic":"publicTrade.BTCUSDT","data":[]}`, ErrMalformed},
		{"empty trades", `{"topic":"publicTrade.BTCUSDT","ts":1,"data":[]}`, ErrMalformed},
		{"bad side", `{"topic":"publicTrade.BTCUSDT","ts":1,"data":[{"T":1,"S":"Up","v":"1","p":"1"}]}`, ErrMalformed},
		{"price not a string", `{"topic":"publicTrade.BTCUSDT","ts":1,"data":[{"T":1,"S":"Buy","v":"1","p":1}]}`, ErrMalformed},
		{"missing price", `{"topic":"publicTrade.BTCUSDT","ts":1,"data":[{"T":1,"S":"Buy","v":"1"}]}`, ErrMalformed},
		{"negative time", `{"topic":"publicTrade.BTCUSDT","ts":-1,"data":[{"T":1,"S":"Buy","v":"1","p":"1"}]}`, ErrMalformed},
		{"symbol under another topic", `{"topic":"publicTrade.BTCUSDT","ts":1,"data":[{"T":1,"s":"ETHUSDT","S":"Buy","v":"1","p":"1"}]}`, ErrMalformed},
		{"book type", `{"topic":"orderbook.50.BTCUSDT","type":"full","ts":1,"data":{"b":[],"a":[],"u":2}}`, ErrMalformed},
		{"book without u", `{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"b":[],"a":[]}}`, ErrMalformed},
		{"book u 0", `{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"b":[],"a":[],"u":0}}`, ErrMalformed},
		{"level not a pair", `{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"b":[["1"]],"a":[],"u":2}}`, ErrMalformed},
		{"unknown symbol", `{"topic":"publicTrade.ETHUSDT","ts":1,"data":[]}`, feed.ErrUnknown},
		{"unknown topic", `{"topic":"kline.1.BTCUSDT","ts":1,"data":[]}`, feed.ErrUnknown},
		{"tickers on spot", `{"topic":"tickers.BTCUSDT","ts":1,"data":{}}`, feed.ErrUnknown},
		{"neither push nor reply", `{"hello":1}`, ErrMalformed},
	} {
		d := NewDecoder(testSymbols(t), Spot)
		var ev feed.Event
		if _, err := d.Decode([]byte(tc.frame), &ev); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
}

// A value with more decimals than the table says widens the decoder's
// scale: the event carries the wider one.
func TestDecodeWidens(t *testing.T) {
	d := NewDecoder(testSymbols(t), Linear)
	var ev feed.Event
	frame := `{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1,"data":[{"T":1,"s":"BTCUSDT","S":"Sell","v":"0.0005","p":"16578.505"}]}`
	if _, err := d.Decode([]byte(frame), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.PriceScale != 3 || ev.Price != 16578505 || ev.QtyScale != 4 || ev.Qty != 5 {
		t.Fatalf("%+v", ev)
	}
}

func TestDecodeAllocs(t *testing.T) {
	d := NewDecoder(testSymbols(t), Linear)
	var ev feed.Event
	for _, f := range []string{docTrade, docBookSnapshot, docBookDelta, docLiquidation, docTicker, docTickerDelta} {
		frame := []byte(f)
		if _, err := d.Decode(frame, &ev); err != nil && !errors.Is(err, feed.ErrUnknown) {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { d.Decode(frame, &ev) }); n != 0 {
			t.Errorf("%.40s…: %v allocations per frame", f, n)
		}
	}
}

func equalLevels(a, b []feed.Level) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func dec(tb testing.TB, s string) fixed.Dec {
	tb.Helper()
	d, err := parseDec([]byte(s))
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name, frame string
		cat         Category
	}{
		{"publicTrade", docTrade, Linear},
		{"orderbookSnapshot", docBookSnapshot, Linear},
		{"orderbookDelta", docBookDelta, Linear},
		{"tickers", docTicker, Linear},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := NewDecoder(testSymbols(b), bc.cat)
			var ev, next feed.Event
			frame := []byte(bc.frame)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for range b.N {
				if _, err := d.Decode(frame, &ev); err != nil {
					b.Fatal(err)
				}
				for d.Next(&next) {
				}
			}
		})
	}
}
