package binance

import (
	"testing"

	"github.com/feedkeeper/feedkeeper/feed"
)

// A value with more decimals than its symbol's scale (the venue's tick
// size changed) widens the scale in force: the frame is decoded, not
// dropped, and later frames and REST answers use the new scale.
func TestDecoderWidensScales(t *testing.T) {
	syms := testSymbols(t)
	spot, err := NewSpot(SpotConfig{WSURL: "wss://127.0.0.1:1", Symbols: syms})
	if err != nil {
		t.Fatal(err)
	}
	dec := spot.NewDecoder(feed.ConnPlan{Streams: []string{"btcusdt@aggTrade"}})
	var ev feed.Event
	frame := `{"e":"aggTrade","E":1,"s":"BTCUSDT","a":7,"p":"60000.015","q":"0.0010001","f":1,"l":1,"T":1,"m":true,"M":true}`
	if _, err := dec.Decode([]byte(frame), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.PriceScale != 3 || ev.Price != 60000015 || ev.QtyScale != 7 || ev.Qty != 10001 {
		t.Fatalf("event %+v", ev)
	}
	in := spot.Instruments()
	if s, _ := in.Lookup("BTCUSDT"); s.PriceScale != 3 || s.QtyScale != 7 || in.Stats().Widened != 2 {
		t.Fatalf("symbol %+v, stats %+v", s, in.Stats())
	}
	select {
	case <-in.refresh:
	default:
		t.Fatal("no exchangeInfo refresh asked for")
	}
	// a value at the old scale still parses, at the new one
	if _, err := dec.Decode([]byte(aggTradeFrame), &ev); err != nil || ev.PriceScale != 3 || ev.Price != 60000010 {
		t.Fatalf("event %+v, %v", ev, err)
	}
	// other symbols are untouched; a value too precise for any scale is
	// still an error
	if s, _ := in.Lookup("BNBBTC"); s != (Symbol{Name: "BNBBTC", PriceScale: 7, QtyScale: 3, Base: "BNB", Quote: "BTC", Instrument: "BNB-BTC"}) {
		t.Fatalf("BNBBTC %+v", s)
	}
	bad := `{"e":"aggTrade","E":1,"s":"BTCUSDT","a":7,"p":"1.0000000000000000001","q":"1","f":1,"l":1,"T":1,"m":true,"M":true}`
	if _, err := dec.Decode([]byte(bad), &ev); err == nil {
		t.Fatal("19 decimals accepted")
	}
}

func TestInstrumentsMerge(t *testing.T) {
	in := NewInstruments(testSymbols(t))
	fresh, err := NewSymbols(
		Symbol{Name: "BTCUSDT", PriceScale: 3, QtyScale: 4, Status: "HALT"}, // finer tick, coarser step
		Symbol{Name: "BNBBTC", PriceScale: 7, QtyScale: 3},
		Symbol{Name: "NEWUSDT", PriceScale: 2, QtyScale: 2, Status: "TRADING"},
	)
	if err != nil {
		t.Fatal(err)
	}
	before := in.Table()
	in.merge(fresh)
	changes := diff(before, in.Table())
	if len(changes) != 1 || changes[0].New != (Symbol{Name: "BTCUSDT", PriceScale: 3, QtyScale: 5, Status: "HALT", Base: "BTC", Quote: "USDT", Instrument: "BTC-USDT"}) || changes[0].Old.Trading() == changes[0].New.Trading() {
		t.Fatalf("changes %+v", changes)
	}
	if _, ok := in.Lookup("NEWUSDT"); ok {
		t.Fatal("a symbol nobody asked for was added")
	}
	before = in.Table()
	if in.merge(fresh); in.Table() != before {
		t.Fatal("second merge changed the table")
	}
}

// Statistics frames: a bad figure is an error, a symbol outside the table
// is one for a single object and left out of a market-wide array.
func TestDecodeStatsErrors(t *testing.T) {
	spot, err := NewSpot(SpotConfig{WSURL: "wss://127.0.0.1:1", Symbols: testSymbols(t)})
	if err != nil {
		t.Fatal(err)
	}
	dec := spot.NewDecoder(feed.ConnPlan{})
	kline := `{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":0,"T":59999,"s":"BTCUSDT","i":"1m","f":1,"L":2,"o":"OPEN","c":"1.00","h":"1.00","l":"1.00","v":"1","n":2,"x":false,"q":"1","V":"0","Q":"0","B":"0"}}`
	mini := func(sym string) string {
		return `{"e":"24hrMiniTicker","E":1,"s":"` + sym + `","c":"1.00","o":"1.00","h":"1.00","l":"1.00","v":"1","q":"1"}`
	}
	var ev feed.Event
	for _, bad := range []string{kline, mini("XRPUSDT"), `{"stream":"btcusdt@kline_1m","data":` + kline + `}`} {
		if _, err := dec.Decode([]byte(bad), &ev); err == nil {
			t.Errorf("%.60s… decoded", bad)
		}
	}
	arr := `{"stream":"!miniTicker@arr","data":[` + mini("XRPUSDT") + `,` + mini("BTCUSDT") + `,` + mini("BNBUSDT") + `]}`
	kind, err := dec.Decode([]byte(arr), &ev)
	if err != nil || kind != feed.DecodedBatch || ev.Symbol != "BTCUSDT" || ev.Instrument != "BTC-USDT" || !ev.Stats.Mini {
		t.Fatalf("array: %v %v %+v", kind, err, ev)
	}
	b := dec.(feed.BatchDecoder)
	if !b.Next(&ev) || ev.Symbol != "BNBUSDT" || ev.Instrument != "BNB-USDT" || b.Next(&ev) {
		t.Fatalf("array's second event %+v", ev)
	}
}
