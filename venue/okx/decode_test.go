package okx

import (
	"errors"
	"reflect"
	"testing"

	"go.uber.org/goleak"

	"github.com/feedkeeper/feedkeeper/book"
	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testSymbols are instruments as GET /api/v5/public/instruments gives
// them: spot at tick 0.01 (the docs' book samples have two decimals) and
// lot 0.00000001; the linear swap at tick 0.1, lot 0.01 contracts of
// 0.01 BTC.
func testSymbols(t testing.TB) *Symbols {
	t.Helper()
	list, err := ParseInstruments([]byte(`[
	 {"instType":"SPOT","instId":"BTC-USDT","baseCcy":"BTC","quoteCcy":"USDT","tickSz":"0.01","lotSz":"0.00000001","state":"live"},
	 {"instType":"SWAP","instId":"BTC-USDT-SWAP","settleCcy":"USDT","ctValCcy":"BTC","ctVal":"0.01","ctType":"linear","tickSz":"0.1","lotSz":"0.01","state":"live"},
	 {"instType":"SWAP","instId":"BTC-USD-SWAP","settleCcy":"BTC","ctValCcy":"USD","ctVal":"100","ctType":"inverse","tickSz":"0.1","lotSz":"1","state":"live"}]`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSymbols(list...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSymbolsFromInstruments(t *testing.T) {
	s := testSymbols(t)
	spot, _ := s.Lookup("BTC-USDT")
	if spot.PriceScale != 2 || spot.QtyScale != 8 || spot.Instrument != "BTC-USDT" || spot.InstType != InstSpot {
		t.Errorf("spot: %+v", spot)
	}
	swap, _ := s.Lookup("BTC-USDT-SWAP")
	if swap.PriceScale != 1 || swap.LotScale != 2 || swap.QtyScale != 4 || swap.CtVal != (fixed.Dec{M: 1, S: 2}) || swap.Instrument != "BTC-USDT-PERP" {
		t.Errorf("swap: %+v", swap)
	}
	inv, _ := s.Lookup("BTC-USD-SWAP")
	if inv.Instrument != "" || inv.QtyScale != 0 || inv.CtVal != (fixed.Dec{M: 100, S: 0}) {
		t.Errorf("inverse swap: %+v", inv)
	}
	if _, err := ParseInstruments([]byte(`[{"instType":"SPOT","instId":"X-Y","tickSz":"abc","lotSz":"1"}]`)); err == nil {
		t.Error("tickSz abc accepted")
	}
	if _, err := ParseInstruments([]byte(`[{"instType":"SWAP","instId":"X-Y-SWAP","tickSz":"1","lotSz":"1","ctVal":"0"}]`)); err == nil {
		t.Error("ctVal 0 accepted")
	}
}

func decodeOne(t *testing.T, frame string) *feed.Event {
	t.Helper()
	d := &Decoder{Symbols: testSymbols(t)}
	var ev feed.Event
	kind, err := d.Decode([]byte(frame), &ev)
	if err != nil || kind != feed.DecodedEvent {
		t.Fatalf("Decode(%s) = %v, %v", frame, kind, err)
	}
	return &ev
}

// The push samples of OKX's docs ("WS / Trades channel", "WS / All trades
// channel", "WS / Order book channel", …).
func TestDecodeTrades(t *testing.T) {
	ev := decodeOne(t, `{"arg":{"channel":"trades-all","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","source":"0","ts":"1630048897897"}]}`)
	want := feed.Event{Type: feed.TypeTrade, Venue: "okx", Symbol: "BTC-USDT", Instrument: "BTC-USDT", PriceScale: 2, QtyScale: 8,
		ID: 130639474, FirstID: 130639474, FirstTradeID: 130639474, LastTradeID: 130639474, Price: 4221990, Qty: 12060306,
		Side: feed.SideBuy, ExchangeTime: 1630048897897e6}
	ev.Bids, ev.Asks = nil, nil
	if !reflect.DeepEqual(*ev, want) {
		t.Errorf("trades-all:\n got %+v\nwant %+v", *ev, want)
	}

	// keys are read as JSON reads them, escapes decoded
	ev = decodeOne(t, `{"\u0061rg":{"channel":"trades-all","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","trade\u0049d":"5","px":"1","sz":"1","side":"buy","ts":"1"}]}`)
	if ev.ID != 5 {
		t.Errorf("escaped keys: %+v", *ev)
	}

	// trades aggregates: tradeId is the last of count
	ev = decodeOne(t, `{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"sell","ts":"1630048897897","count":"3","source":"0","seqId":1234}]}`)
	if !ev.Aggregated || ev.ID != 130639474 || ev.FirstTradeID != 130639472 || ev.LastTradeID != 130639474 || ev.Side != feed.SideSell {
		t.Errorf("trades with count 3: %+v", *ev)
	}

	// a swap's size is contracts: 3 contracts of 0.01 BTC are 0.03 BTC
	ev = decodeOne(t, `{"arg":{"channel":"trades-all","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP","tradeId":"7","px":"42219.9","sz":"3","side":"buy","source":"0","ts":"1630048897897"}]}`)
	if ev.QtyScale != 4 || ev.Qty != 300 || ev.PriceScale != 1 || ev.Price != 422199 || ev.Instrument != "BTC-USDT-PERP" {
		t.Errorf("swap trade: %+v", *ev)
	}
}

func TestDecodeBooks(t *testing.T) {
	ev := decodeOne(t, `{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["8476.98","415","0","13"],["8477","7","0","2"]],"bids":[["8476.97","256","0","12"]],"ts":"1597026383085","checksum":0,"prevSeqId":-1,"seqId":123456}]}`)
	if ev.Type != feed.TypeBookSnapshot || !ev.Base || ev.ID != 123456 || ev.Stream != "BTC-USDT@books" || ev.Checksummed ||
		len(ev.Asks) != 2 || ev.Asks[0] != (feed.Level{Price: 847698, Qty: 415e8}) || ev.Asks[1] != (feed.Level{Price: 847700, Qty: 7e8}) ||
		len(ev.Bids) != 1 || ev.Bids[0] != (feed.Level{Price: 847697, Qty: 256e8}) || ev.ExchangeTime != 1597026383085e6 {
		t.Errorf("snapshot: %+v", *ev)
	}
	ev = decodeOne(t, `{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["8477","0","0","0"]],"bids":[],"ts":"1597026383185","checksum":0,"prevSeqId":123456,"seqId":123457}]}`)
	if ev.Type != feed.TypeBookDelta || ev.Base || ev.ID != 123457 || ev.FirstID != 123457 || ev.PrevID != 123456 ||
		len(ev.Asks) != 1 || ev.Asks[0] != (feed.Level{Price: 847700}) || len(ev.Bids) != 0 || ev.Stream != "BTC-USDT@books" {
		t.Errorf("update: %+v", *ev)
	}
	// the keep-alive after 60 s without change names itself
	ev = decodeOne(t, `{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[],"bids":[],"ts":"1597026443185","checksum":0,"prevSeqId":123457,"seqId":123457}]}`)
	if ev.Type != feed.TypeBookDelta || ev.ID != 123457 || ev.PrevID != 123457 || ev.FirstID != ev.ID {
		t.Errorf("keep-alive: %+v", *ev)
	}
	// after a maintenance seqId restarts lower (prev 15 → seq 3)
	ev = decodeOne(t, `{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[],"bids":[["8476.5","1","0","1"]],"ts":"1597026443185","checksum":0,"prevSeqId":15,"seqId":3}]}`)
	if ev.ID != 3 || ev.PrevID != 15 || ev.FirstID != 3 {
		t.Errorf("reset: %+v", *ev)
	}
	// a legacy checksum is carried, as its 32 bits
	ev = decodeOne(t, `{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["3366.8","9","0","3"]],"bids":[["3366.1","7","0","3"]],"ts":"1597026383085","checksum":-1881014294,"prevSeqId":-1,"seqId":1}]}`)
	if !ev.Checksummed || int32(ev.Checksum) != -1881014294 {
		t.Errorf("checksum: %+v", *ev)
	}
	// a swap's levels are contracts: 2 contracts of 0.01 BTC
	ev = decodeOne(t, `{"arg":{"channel":"books","instId":"BTC-USDT-SWAP"},"action":"snapshot","data":[{"asks":[["42000.1","2","0","1"]],"bids":[["42000","0.5","0","1"]],"ts":"1","checksum":0,"prevSeqId":-1,"seqId":9}]}`)
	if ev.Asks[0] != (feed.Level{Price: 420001, Qty: 200}) || ev.Bids[0] != (feed.Level{Price: 420000, Qty: 50}) || ev.QtyScale != 4 {
		t.Errorf("swap book: %+v", *ev)
	}
}

func TestDecodeOthers(t *testing.T) {
	ev := decodeOne(t, `{"arg":{"channel":"books5","instId":"BTC-USDT"},"data":[{"asks":[["8476.98","415","0","13"]],"bids":[["8476.97","256","0","12"]],"instId":"BTC-USDT","ts":"1597026383085","seqId":77}]}`)
	if ev.Type != feed.TypeBookSnapshot || ev.Base || ev.ID != 1597026383085 || ev.Stream != "BTC-USDT@books5" || len(ev.Bids) != 1 {
		t.Errorf("books5: %+v", *ev)
	}
	ev = decodeOne(t, `{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT"},"data":[{"asks":[["8476.98","415","0","13"]],"bids":[["8476.97","256","0","12"]],"ts":"1597026383085","seqId":78}]}`)
	if ev.Type != feed.TypeTopOfBook || ev.ID != 1597026383085 || ev.Bid != (feed.Level{Price: 847697, Qty: 256e8}) || ev.Ask != (feed.Level{Price: 847698, Qty: 415e8}) ||
		len(ev.Bids)+len(ev.Asks) != 0 || ev.Stream != "" {
		t.Errorf("bbo-tbt: %+v", *ev)
	}
	ev = decodeOne(t, `{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"instType":"SPOT","instId":"BTC-USDT","last":"9999.99","lastSz":"0.1","askPx":"9999.99","askSz":"11","bidPx":"8888.88","bidSz":"5","open24h":"9000","high24h":"10000","low24h":"8888.88","volCcy24h":"2222","vol24h":"2222","sodUtc0":"2222","sodUtc8":"2222","ts":"1597026383085"}]}`)
	if ev.Type != feed.TypeTicker || ev.Stats == nil || ev.Stats.Close != 999999 || ev.Stats.Open != 900000 || ev.Stats.High != 1000000 ||
		ev.Stats.Low != 888888 || ev.Stats.Volume != 2222e8 || ev.Stats.QuoteVolume != (fixed.Dec{M: 2222}) || ev.Stats.Window != "24h" {
		t.Errorf("tickers: %+v %+v", *ev, ev.Stats)
	}
	ev = decodeOne(t, `{"arg":{"channel":"funding-rate","instId":"BTC-USDT-SWAP"},"data":[{"formulaType":"noRate","fundingRate":"-0.0001515","fundingTime":"1700726400000","impactValue":"","instId":"BTC-USDT-SWAP","instType":"SWAP","interestRate":"","maxFundingRate":"0.00375","method":"current_period","minFundingRate":"-0.00375","nextFundingRate":"","nextFundingTime":"1700755200000","premium":"0.0001233824646391","settFundingRate":"0.0001699799259033","settState":"settled","ts":"1700724675402"}]}`)
	if ev.Type != feed.TypeFunding || ev.Deriv == nil || ev.Deriv.FundingRate != (fixed.Dec{M: -1515, S: 7}) || ev.Deriv.NextFunding != 1700726400000e6 ||
		ev.ExchangeTime != 1700724675402e6 {
		t.Errorf("funding-rate: %+v %+v", *ev, ev.Deriv)
	}
	ev = decodeOne(t, `{"arg":{"channel":"mark-price","instId":"BTC-USDT-SWAP"},"data":[{"instType":"SWAP","instId":"BTC-USDT-SWAP","markPx":"42310.6","ts":"1597026383085"}]}`)
	if ev.Type != feed.TypeFunding || ev.Deriv.MarkPrice != (fixed.Dec{M: 423106, S: 1}) {
		t.Errorf("mark-price: %+v %+v", *ev, ev.Deriv)
	}
	ev = decodeOne(t, `{"arg":{"channel":"open-interest","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP","instType":"SWAP","oi":"2216113.01000000309","oiCcy":"22161.1301000000309","oiUsd":"1939251795.54769270396321","ts":"1743041250440"}]}`)
	if ev.Type != feed.TypeOpenInterest || ev.Deriv.OpenInterest != (fixed.Dec{M: 221611301000000309, S: 13}) {
		t.Errorf("open-interest: %+v %+v", *ev, ev.Deriv)
	}
}

func TestDecodeEvents(t *testing.T) {
	d := &Decoder{Symbols: testSymbols(t)}
	var ev feed.Event
	for _, c := range []struct {
		frame string
		kind  feed.Decoded
		err   error
		id    int64
	}{
		{`pong`, feed.DecodedReply, nil, 0},
		{`{"id":"1512","event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a4d3ae55"}`, feed.DecodedReply, nil, 1512},
		{`{"event":"unsubscribe","arg":{"channel":"tickers","instId":"BTC-USDT"},"connId":"d0b44253"}`, feed.DecodedReply, nil, 0},
		{`{"id":"1512","event":"error","code":"60012","msg":"Invalid request: {\"op\": \"subscribe\", \"argss\":[]}","connId":"a4d3ae55"}`, feed.DecodedReply, ErrRefused, 1512},
		{`{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"a4d3ae55"}`, feed.DecodedShutdown, nil, 0},
	} {
		kind, err := d.Decode([]byte(c.frame), &ev)
		if kind != c.kind || !errors.Is(err, c.err) || (c.err == nil && err != nil) {
			t.Errorf("Decode(%s) = %v, %v; want %v, %v", c.frame, kind, err, c.kind, c.err)
		}
		if c.frame == "pong" {
			continue
		}
		rep, err := d.ParseReply([]byte(c.frame))
		if err != nil || rep.ID != c.id || rep.IsErr != (c.err != nil) {
			t.Errorf("ParseReply(%s) = %+v, %v", c.frame, rep, err)
		}
		if rep.IsErr {
			var oe *Error
			if !errors.As(rep.Err, &oe) || oe.Code != "60012" || oe.ID != "1512" {
				t.Errorf("error reply: %v", rep.Err)
			}
		}
	}
	v := &OKX{}
	if !v.IsShutdown([]byte(`{"event":"notice","code":"64008","msg":"x","connId":"a"}`)) || v.IsShutdown([]byte(`{"event":"subscribe"}`)) {
		t.Error("IsShutdown")
	}
}

func TestDecodeBatch(t *testing.T) {
	d := &Decoder{Symbols: testSymbols(t)}
	frame := []byte(`{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[` +
		`{"tradeId":"10","px":"1","sz":"1","side":"buy","ts":"1","count":"1"},` +
		`{"tradeId":"12","px":"2","sz":"1","side":"sell","ts":"2","count":"2"},` +
		`{"tradeId":"13","px":"3","sz":"1","side":"buy","ts":"3"}]}`)
	var ev feed.Event
	kind, err := d.Decode(frame, &ev)
	if err != nil || kind != feed.DecodedBatch || ev.ID != 10 {
		t.Fatalf("Decode = %v, %v, %d", kind, err, ev.ID)
	}
	var ids []int64
	for d.Next(&ev) {
		ids = append(ids, ev.ID, ev.FirstTradeID)
	}
	if len(ids) != 4 || ids[0] != 12 || ids[1] != 11 || ids[2] != 13 || ids[3] != 13 {
		t.Errorf("Next: %v", ids)
	}
}

func TestDecodeMalformed(t *testing.T) {
	d := &Decoder{Symbols: testSymbols(t)}
	var ev feed.Event
	for _, c := range []struct {
		frame string
		want  error
	}{
		{`not json`, ErrMalformed},
		{`{"arg":{"channel":"books","instId":"BTC-USDT"}}`, ErrMalformed},
		{`{"arg":{"channel":"books","instId":"BTC-USDT"},"data":[{"asks":[],"bids":[],"ts":"1","prevSeqId":1,"seqId":2}]}`, ErrMalformed},
		{`{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[],"bids":[],"ts":"1","seqId":2}]}`, ErrMalformed},
		{`{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"merge","data":[{}]}`, ErrMalformed},
		{`{"arg":{"channel":"trades-all","instId":"BTC-USDT"},"data":[]}`, ErrMalformed},
		{`{"arg":{"channel":"trades-all","instId":"BTC-USDT"},"data":{}}`, ErrMalformed},
		{`{"arg":{"channel":"trades-all","instId":"BTC-USDT"},"data":[{"tradeId":"1","px":"1","sz":"1","side":"hold","ts":"1"}]}`, ErrMalformed},
		{`{"arg":{"channel":"trades-all","instId":"BTC-USDT"},"data":[{"tradeId":"-1","px":"1","sz":"1","side":"buy","ts":"1"}]}`, ErrMalformed},
		{`{"arg":{"channel":"trades-all","instId":"BTC-USDT"},"data":[{"tradeId":"1","px":"1.001","sz":"1","side":"buy","ts":"1"}]}`, fixed.ErrPrecision},
		{`{"arg":{"channel":"trades-all","instId":"BTC-USDT"},"data":[{"tradeId":"1","px":"1","sz":"1","side":"buy"}]}`, ErrMalformed},
		{`{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"tradeId":"1","px":"1","sz":"1","side":"buy","ts":"1","count":"3"}]}`, ErrMalformed},
		{`{"arg":{"channel":"trades-all","instId":"BTC-USDT"},"data":[{"tradeId":"1","px":"1","sz":"1","side":"buy","ts":"1"}]} x`, ErrMalformed},
		{`{"arg":{"channel":"candle1m","instId":"BTC-USDT"},"data":[[]]}`, ErrUnknownChannel},
		{`{"arg":{"channel":"books","instId":"ETH-USDT"},"action":"snapshot","data":[{}]}`, ErrUnknownSymbol},
		{`{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["1","1"]],"bids":[],"ts":"1","prevSeqId":-1,"seqId":1,"checksum":99999999999}]}`, ErrMalformed},
	} {
		_, err := d.Decode([]byte(c.frame), &ev)
		if !errors.Is(err, c.want) {
			t.Errorf("Decode(%s) = %v; want %v", c.frame, err, c.want)
		}
	}
	_, err := d.Decode([]byte(`{"arg":{"channel":"books","instId":"ETH-USDT"},"action":"snapshot","data":[{}]}`), &ev)
	if !errors.Is(err, feed.ErrUnknown) {
		t.Errorf("unknown instrument: %v does not match feed.ErrUnknown", err)
	}
}

// The docs' test vectors (checksum section, up to 2026-06-22), computed
// with zlib.crc32 and read as signed.
func TestChecksum(t *testing.T) {
	lv := func(p, q int64) book.Level { return book.Level{Price: p, Qty: q} }
	if got := Checksum([]book.Level{lv(33661, 7), lv(33660, 6)}, []book.Level{lv(33668, 9), lv(33680, 8)}, 1, 0); got != -1881014294 {
		t.Errorf("3366.1:7:3366.8:9:3366:6:3368:8 = %d; want -1881014294", got)
	}
	if got := Checksum([]book.Level{lv(33661, 7)}, []book.Level{lv(33668, 9), lv(33680, 8), lv(33720, 8)}, 1, 0); got != 831078360 {
		t.Errorf("3366.1:7:3366.8:9:3368:8:3372:8 = %d; want 831078360", got)
	}
	// the snapshot sample of "WS / Order book channel" says checksum
	// -855196043, which is not its levels' checksum: zlib.crc32 of its
	// check string gives 2192127151, -2102840145 signed
	ev := decodeOne(t, `{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["8476.98","415","0","13"],["8477","7","0","2"],["8477.34","85","0","1"],["8477.56","1","0","1"],["8505.84","8","0","1"],["8506.37","85","0","1"],["8506.49","2","0","1"],["8506.96","100","0","2"]],"bids":[["8476.97","256","0","12"],["8475.55","101","0","1"],["8475.54","100","0","1"],["8475.3","1","0","1"],["8447.32","6","0","1"],["8447.02","246","0","1"],["8446.83","24","0","1"],["8446","95","0","3"]],"ts":"1597026383085","checksum":-2102840145,"prevSeqId":-1,"seqId":123456}]}`)
	var bids, asks []book.Level
	for _, l := range ev.Bids {
		bids = append(bids, book.Level{Price: l.Price, Qty: l.Qty})
	}
	for _, l := range ev.Asks {
		asks = append(asks, book.Level{Price: l.Price, Qty: l.Qty})
	}
	if got := Checksum(bids, asks, ev.PriceScale, ev.QtyScale); got != int32(ev.Checksum) || got != -2102840145 {
		t.Errorf("the docs' snapshot: %d; want -2102840145", got)
	}

	// Rules.Checksum checks a swap's book in contracts, as OKX sent it
	syms := testSymbols(t)
	v, err := New(Config{Symbols: syms})
	if err != nil {
		t.Fatal(err)
	}
	b := book.New(0)
	if err := b.Load(1, bids, asks); err != nil {
		t.Fatal(err)
	}
	ev.Symbol = "BTC-USDT"
	if !v.Rules().Checksum(b, ev) {
		t.Error("Rules.Checksum: the docs' snapshot does not match")
	}
	b = book.New(0)
	// 7 and 9 contracts of 0.01 BTC, at the event scale 4
	if err := b.Load(1, []book.Level{lv(33661, 700)}, []book.Level{lv(33668, 900)}); err != nil {
		t.Fatal(err)
	}
	want := Checksum([]book.Level{lv(33661, 700)}, []book.Level{lv(33668, 900)}, 1, 2) // "3366.1:7:3366.8:9"
	if want != Checksum([]book.Level{lv(33661, 7)}, []book.Level{lv(33668, 9)}, 1, 0) {
		t.Error("trailing zeros change the checksum")
	}
	ev = &feed.Event{Symbol: "BTC-USDT-SWAP", PriceScale: 1, QtyScale: 4, Checksummed: true, Checksum: uint32(want)}
	check := v.Rules().Checksum
	if !check(b, ev) {
		t.Error("swap book checksum does not match")
	}
	ev.Checksum++
	if check(b, ev) {
		t.Error("a wrong checksum matches")
	}
}

func TestDecodeAllocs(t *testing.T) {
	d := &Decoder{Symbols: testSymbols(t)}
	frames := [][]byte{
		[]byte(`{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["8477","0","0","0"],["8478.5","1.5","0","2"]],"bids":[["8476","3","0","1"]],"ts":"1597026383185","checksum":0,"prevSeqId":123456,"seqId":123457}]}`),
		[]byte(`{"arg":{"channel":"trades-all","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP","tradeId":"130639474","px":"42219.9","sz":"12","side":"buy","source":"0","ts":"1630048897897"}]}`),
		[]byte(`{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT"},"data":[{"asks":[["8476.98","415","0","13"]],"bids":[["8476.97","256","0","12"]],"ts":"1597026383085","seqId":78}]}`),
		[]byte(`{"arg":{"channel":"funding-rate","instId":"BTC-USDT-SWAP"},"data":[{"fundingRate":"-0.0001515","fundingTime":"1700726400000","instId":"BTC-USDT-SWAP","ts":"1700724675402"}]}`),
	}
	var ev feed.Event
	for _, f := range frames {
		if _, err := d.Decode(f, &ev); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = d.Decode(f, &ev) }); n != 0 {
			t.Errorf("%s: %v allocations a frame", f[:40], n)
		}
	}
}
