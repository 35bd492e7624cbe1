package sim

import (
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseStream(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
		typ  streamType
	}{
		{"btcusdt@aggTrade", true, stypeAggTrade},
		{"btcusdt@trade", true, stypeTrade},
		{"btcusdt@depth@100ms", true, stypeDepth},
		{"btcusdt@depth20@100ms", true, stypePartial},
		{"btcusdt@kline_1s", true, stypeKline},
		{"btcusdt@kline_1M", true, stypeKline},
		{"btcusdt@kline_1d@+08:00", true, stypeKline},
		{"btcusdt@miniTicker", true, stypeMiniTicker},
		{"!miniTicker@arr", true, stypeAllMiniTickers},
		{"!ticker@arr", true, stypeAllTickers},
		{"!ticker_4h@arr", true, stypeAllTickers},
		{"!ticker_2h@arr", false, 0},
		{"btcusdt@ticker", true, stypeTicker},
		{"btcusdt@ticker_4h", true, stypeWindowTicker},
		{"btcusdt@avgPrice", true, stypeAvgPrice},
		{"btcusdt@referencePrice", true, stypeSilent},
		{"xrpxrp@miniTicker", true, stypeMiniTicker}, // a symbol nobody trades is well-formed
		{"BTCUSDT@aggTrade", true, stypeAggTrade},
		{"sym17@aggTrade", true, stypeAggTrade},
		{"币安人生usdt@trade", true, stypeTrade},
		{"btc-usdt@trade", false, 0},
		{"btc\xffusdt@trade", false, 0},
		{"btcusdt@aggtrade", false, 0},
		{"btcusdt@foo", false, 0},
		{"btcusdt", false, 0},
		{"@aggTrade", false, 0},
		{"@@@x###", false, 0},
		{"not asdfads", false, 0},
		{"btc usdt@trade", false, 0},
		{"btcusdt@kline_2m", false, 0},
		{"btcusdt@kline_1m@+09:00", false, 0},
		{"btcusdt@kline_1m@", false, 0},
		{"btcusdt@ticker_2h", false, 0},
		{"btcusdt@depth7", false, 0},
		{"!miniTicker", false, 0},
		{"!foo@arr", false, 0},
		{"", false, 0},
	} {
		sn, ok := parseStream(tc.name)
		if ok != tc.ok || (ok && sn.typ != tc.typ) {
			t.Errorf("parseStream(%q) = %+v, %v; want type %d, %v", tc.name, sn, ok, tc.typ, tc.ok)
		}
	}
}

func TestKlineSpan(t *testing.T) {
	at := time.Date(2026, 3, 4, 17, 23, 45, 678_000_000, time.UTC) // a Wednesday
	ms := func(tm time.Time) int64 { return tm.UnixMicro() }
	for _, tc := range []struct {
		iv         string
		tz         bool
		start, end time.Time
	}{
		{"1s", false, at.Truncate(time.Second), at.Truncate(time.Second).Add(time.Second)},
		{"1m", false, time.Date(2026, 3, 4, 17, 23, 0, 0, time.UTC), time.Date(2026, 3, 4, 17, 24, 0, 0, time.UTC)},
		{"15m", false, time.Date(2026, 3, 4, 17, 15, 0, 0, time.UTC), time.Date(2026, 3, 4, 17, 30, 0, 0, time.UTC)},
		{"12h", false, time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)},
		{"1d", false, time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)},
		// the UTC+8 day began at 16:00 UTC
		{"1d", true, time.Date(2026, 3, 4, 16, 0, 0, 0, time.UTC), time.Date(2026, 3, 5, 16, 0, 0, 0, time.UTC)},
		{"1w", false, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)},
		{"1M", false, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
		{"1M", true, time.Date(2026, 2, 28, 16, 0, 0, 0, time.UTC), time.Date(2026, 3, 31, 16, 0, 0, 0, time.UTC)},
		{"3d", false, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)},
	} {
		start, end := klineSpan(klineIndex(tc.iv), tc.tz, ms(at))
		if start != ms(tc.start) || end != ms(tc.end) {
			t.Errorf("%s tz=%v: %v..%v, want %v..%v", tc.iv, tc.tz, time.UnixMicro(start).UTC(), time.UnixMicro(end).UTC(), tc.start, tc.end)
		}
	}
	// 3d klines are counted from the epoch: 2026-03-02 is day 20514, a multiple of 3
	if d := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).Unix() / 86400; d%3 != 0 {
		t.Fatalf("day %d", d)
	}
}

// statsSink wants the computed streams of BTCUSDT and its aggTrade stream,
// some of them in microseconds.
func statsSink(micros bool) *recSink {
	return &recSink{want: func(stream string) (bool, bool) {
		if stream == allMiniTickers || stream == "!ticker@arr" || stream == "!ticker_4h@arr" {
			return true, micros
		}
		if !strings.HasPrefix(stream, "btcusdt@") || strings.Contains(stream, "depth") || stream == "btcusdt@trade" || stream == "btcusdt@bookTicker" {
			return false, false
		}
		return true, micros
	}}
}

func TestStatsPayloadShapes(t *testing.T) {
	m := newTestMarket(t, Config{Symbols: []string{"BTCUSDT", "ETHUSDT"}, Levels: 30})
	sink := statsSink(false)
	drive(m, sink, testStart, 500, 10) // 5 s
	want := map[string][]string{
		"kline":          {"e", "E", "s", "k"},
		"24hrMiniTicker": {"e", "E", "s", "c", "o", "h", "l", "v", "q"},
		"24hrTicker":     {"e", "E", "s", "p", "P", "w", "x", "c", "Q", "b", "B", "a", "A", "o", "h", "l", "v", "q", "O", "C", "F", "L", "n"},
		"1hTicker":       {"e", "E", "s", "p", "P", "o", "h", "l", "c", "w", "v", "q", "O", "C", "F", "L", "n"},
		"avgPrice":       {"e", "E", "s", "i", "w", "T"},
	}
	kWant := []string{"t", "T", "s", "i", "f", "L", "o", "c", "h", "l", "v", "n", "x", "q", "V", "Q", "B"}
	seen := map[string]int{}
	for _, msg := range sink.take() {
		if msg.Kind != KindStats {
			continue
		}
		if !json.Valid(msg.Ms) {
			t.Fatalf("%s: invalid JSON %s", msg.Stream, msg.Ms)
		}
		if strings.HasPrefix(msg.Stream, "!") {
			var arr []json.RawMessage
			if err := json.Unmarshal(msg.Ms, &arr); err != nil || len(arr) == 0 {
				t.Fatalf("%s: %s", msg.Stream, msg.Ms)
			}
			wk := map[string][]string{allMiniTickers: want["24hrMiniTicker"], "!ticker@arr": want["24hrTicker"], "!ticker_4h@arr": want["1hTicker"]}[msg.Stream]
			for _, e := range arr {
				if got := keyOrder(t, e); !reflect.DeepEqual(got, wk) {
					t.Fatalf("%s: keys %v, want %v", msg.Stream, got, wk)
				}
			}
			seen[msg.Stream]++
			continue
		}
		f := fields(t, msg.Ms)
		e := str(t, f, "e")
		wk := want[e]
		if e == "4hTicker" || e == "1dTicker" {
			wk = want["1hTicker"]
		}
		if got := keyOrder(t, msg.Ms); wk == nil || !reflect.DeepEqual(got, wk) {
			t.Fatalf("%s: keys %v, want %v", msg.Stream, got, wk)
		}
		if e == "kline" {
			if got := keyOrder(t, f["k"]); !reflect.DeepEqual(got, kWant) {
				t.Fatalf("%s: kline keys %v, want %v", msg.Stream, got, kWant)
			}
		}
		if num(t, f, "E") != testStart.Add(5*time.Second).UnixMilli() && num(t, f, "E") > testStart.Add(5*time.Second).UnixMilli() {
			t.Fatalf("%s: E %d after the end of the run", msg.Stream, num(t, f, "E"))
		}
		seen[msg.Stream]++
	}
	// 1000 ms streams: 4 or 5 events in 5 s; kline_1s also sends each closed second once more
	for _, name := range []string{"btcusdt@miniTicker", "btcusdt@ticker", "btcusdt@ticker_1h", "btcusdt@ticker_4h", "btcusdt@ticker_1d", "btcusdt@avgPrice", allMiniTickers, "!ticker@arr", "!ticker_4h@arr"} {
		if n := seen[name]; n < 4 || n > 5 {
			t.Errorf("%s: %d events in 5 s, want one a second", name, n)
		}
	}
	if n := seen["btcusdt@kline_1s"]; n < 7 || n > 10 {
		t.Errorf("kline_1s: %d events in 5 s, want an open and a closed one a second", n)
	}
	for _, name := range []string{"btcusdt@kline_1m", "btcusdt@kline_1M", "btcusdt@kline_1d@+08:00"} {
		if n := seen[name]; n < 2 || n > 3 {
			t.Errorf("%s: %d events in 5 s, want one every 2 s", name, n)
		}
	}
}

// trade is an aggregate trade as the aggTrade stream told it.
type streamTrade struct {
	a, f, l, us    int64
	price, qty     int64 // e8
	buyerMaker     bool
	priceS, qtyStr string
}

func aggTradesOf(t *testing.T, msgs []*Message) []streamTrade {
	t.Helper()
	var out []streamTrade
	for _, msg := range msgs {
		if msg.Kind != KindAggTrade {
			continue
		}
		p := msg.Ms
		if msg.Us != nil {
			p = msg.Us
		}
		f := fields(t, p)
		out = append(out, streamTrade{a: num(t, f, "a"), f: num(t, f, "f"), l: num(t, f, "l"), us: num(t, f, "T"),
			price: e8(t, str(t, f, "p")), qty: e8(t, str(t, f, "q")), buyerMaker: string(f["m"]) == "true"})
	}
	return out
}

// expect adds up trades the way the docs define the figures, with big
// numbers, independently of the market's own code.
type expect struct {
	o, h, l, c, v, takerV int64
	q, takerQ             *big.Int
	n, first, last        int64
}

func expectOf(trades []streamTrade) expect {
	e := expect{q: new(big.Int), takerQ: new(big.Int), first: -1, last: -1}
	for i, tr := range trades {
		if i == 0 {
			e.o, e.h, e.l, e.first = tr.price, tr.price, tr.price, tr.f
		}
		e.h, e.l, e.c, e.last = max(e.h, tr.price), min(e.l, tr.price), tr.price, tr.l
		e.v += tr.qty
		e.n += tr.l - tr.f + 1
		pq := new(big.Int).Mul(big.NewInt(tr.price), big.NewInt(tr.qty))
		e.q.Add(e.q, pq)
		if !tr.buyerMaker {
			e.takerV += tr.qty
			e.takerQ.Add(e.takerQ, pq)
		}
	}
	e.q.Quo(e.q, big.NewInt(1e8))
	e.takerQ.Quo(e.takerQ, big.NewInt(1e8))
	return e
}

func TestKlineAndTickerFromTrades(t *testing.T) {
	for _, micros := range []bool{false, true} {
		m := newTestMarket(t, Config{Symbols: []string{"BTCUSDT"}, Levels: 30, Kline1sEvery: 100 * time.Millisecond, TickerEvery: 100 * time.Millisecond})
		sink := statsSink(micros)
		drive(m, sink, testStart, 1300, 3) // 13 s, 3 updates each 10 ms
		msgs := sink.take()
		trades := aggTradesOf(t, msgs)
		if len(trades) < 100 {
			t.Fatalf("only %d aggregate trades", len(trades))
		}
		unit := int64(1000) // µs per time unit of the payloads
		if micros {
			unit = 1
		}
		closed := 0
		for _, msg := range msgs {
			if msg.Kind != KindStats || strings.HasPrefix(msg.Stream, "!") {
				continue
			}
			p := msg.Ms
			if micros {
				if msg.Us == nil {
					t.Fatalf("%s: no microsecond payload", msg.Stream)
				}
				p = msg.Us
			}
			f := fields(t, p)
			E := num(t, f, "E") * unit
			switch msg.Stream {
			case "btcusdt@kline_1s", "btcusdt@kline_1m":
				k := fields(t, f["k"])
				start, end := num(t, k, "t")*unit, num(t, k, "T")*unit+unit
				if end-start != map[string]int64{"btcusdt@kline_1s": 1e6, "btcusdt@kline_1m": 60e6}[msg.Stream] {
					t.Fatalf("%s: kline %d..%d", msg.Stream, start, end)
				}
				var in []streamTrade
				for _, tr := range trades {
					if tr.us*unit >= start && tr.us*unit < end && tr.us*unit <= E {
						in = append(in, tr)
					}
				}
				x := string(k["x"]) == "true"
				if x != (E >= end-unit) {
					t.Fatalf("%s: x=%v at E=%d for a kline ending %d", msg.Stream, x, E, end)
				}
				if x {
					closed++
				}
				if len(in) == 0 {
					if num(t, k, "f") != -1 || num(t, k, "L") != -1 || num(t, k, "n") != 0 {
						t.Fatalf("%s: empty kline %s", msg.Stream, f["k"])
					}
					continue
				}
				want := expectOf(in)
				got := expect{o: e8(t, str(t, k, "o")), h: e8(t, str(t, k, "h")), l: e8(t, str(t, k, "l")), c: e8(t, str(t, k, "c")),
					v: e8(t, str(t, k, "v")), takerV: e8(t, str(t, k, "V")), n: num(t, k, "n"), first: num(t, k, "f"), last: num(t, k, "L"),
					q: big.NewInt(e8(t, str(t, k, "q"))), takerQ: big.NewInt(e8(t, str(t, k, "Q")))}
				if got.o != want.o || got.h != want.h || got.l != want.l || got.c != want.c || got.v != want.v || got.takerV != want.takerV ||
					got.n != want.n || got.first != want.first || got.last != want.last || got.q.Cmp(want.q) != 0 || got.takerQ.Cmp(want.takerQ) != 0 {
					t.Fatalf("%s: kline %s\nwant %+v", msg.Stream, f["k"], want)
				}
			case "btcusdt@ticker":
				from := E - dayUs
				if num(t, f, "O")*unit != from || num(t, f, "C")*unit != E {
					t.Fatalf("ticker window %s", p)
				}
				var in []streamTrade
				for _, tr := range trades {
					if tr.us*unit >= from && tr.us*unit <= E {
						in = append(in, tr)
					}
				}
				if len(in) == 0 {
					continue
				}
				want := expectOf(in)
				w := new(big.Int).Mul(want.q, big.NewInt(1e8))
				w.Quo(w, big.NewInt(want.v))
				if e8(t, str(t, f, "o")) != want.o || e8(t, str(t, f, "c")) != want.c || e8(t, str(t, f, "h")) != want.h ||
					e8(t, str(t, f, "l")) != want.l || e8(t, str(t, f, "v")) != want.v || e8(t, str(t, f, "q")) != want.q.Int64() ||
					num(t, f, "F") != want.first || num(t, f, "L") != want.last || num(t, f, "n") != want.n ||
					e8(t, str(t, f, "p")) != want.c-want.o || e8(t, str(t, f, "w")) != w.Int64() ||
					e8(t, str(t, f, "Q")) != in[len(in)-1].qty {
					t.Fatalf("ticker %s\nwant %+v w %v", p, want, w)
				}
			}
		}
		if closed < 10 {
			t.Fatalf("micros=%v: %d closed klines", micros, closed)
		}
	}
}

func TestAppendPercent(t *testing.T) {
	for _, tc := range []struct {
		o, c int64
		want string
	}{{100, 350, "250.000"}, {300, 299, "-0.333"}, {3, 2, "-33.333"}, {7, 7, "0.000"}, {0, 5, "0.000"}, {1000000, 1000001, "0.000"}} {
		if got := string(appendPercent(nil, tc.o, tc.c)); got != tc.want {
			t.Errorf("%d→%d: %s, want %s", tc.o, tc.c, got, tc.want)
		}
	}
}

// BenchmarkDayTicker measures one 24-hour ticker event over a full history
// of aggregate trades: the cost, per symbol and second, of a subscribed
// <symbol>@ticker.
func BenchmarkDayTicker(b *testing.B) {
	m := newTestMarket(b, Config{Symbols: []string{"BTCUSDT"}, Levels: 50, TradeShare: 1, History: 100000})
	none := &recSink{want: func(string) (bool, bool) { return false, false }}
	now := testStart
	for m.syms[0].nextAgg-m.syms[0].firstAgg < 100000 {
		now = now.Add(time.Second)
		m.advance(now, 5000, none)
	}
	s := m.syms[0]
	at := now.UnixMicro()
	b.ReportAllocs()
	b.ResetTimer()
	var n int
	for range b.N {
		st := m.statsBetween(s, at-dayUs, at)
		n += len(appendTicker(nil, s, &st, s.top(), at-dayUs, at, false))
	}
	b.ReportMetric(float64(len(s.aggs)), "aggTrades")
	_ = n
}

// TestStatsOverWrappedHistory checks the figures once the history ring has
// wrapped: they cover exactly the trades still kept.
func TestStatsOverWrappedHistory(t *testing.T) {
	m := newTestMarket(t, Config{Symbols: []string{"ETHUSDT"}, Levels: 30, TradeShare: 1, History: 37})
	none := &recSink{want: func(string) (bool, bool) { return false, false }}
	now := testStart
	s := m.syms[0]
	for round := 0; round < 20; round++ {
		now = now.Add(time.Second)
		m.advance(now, 7+round, none)
		st := m.statsBetween(s, 0, now.UnixMicro())
		kept, err := m.aggTrades("ETHUSDT", m.oldestAgg(s), s.nextAgg-1)
		if err != nil {
			t.Fatal(err)
		}
		var trades []streamTrade
		for _, a := range kept {
			trades = append(trades, streamTrade{f: a.FirstTradeID, l: a.LastTradeID, price: e8(t, a.Price), qty: e8(t, a.Qty), buyerMaker: a.BuyerMaker})
		}
		want := expectOf(trades)
		hs := historyScale
		if st.firstID != want.first || st.lastID != want.last || st.trades != want.n || st.open != want.o ||
			st.close != want.c || st.high != want.h || st.low != want.l ||
			st.vol != want.v || hs.quoteE8(st.quote) != want.q.Int64() || hs.quoteE8(st.takerQuote) != want.takerQ.Int64() {
			t.Fatalf("round %d (%d kept of %d): %+v\nwant %+v", round, len(kept), s.nextAgg-s.firstAgg, st, want)
		}
	}
	if s.nextAgg-s.firstAgg < 3*37 {
		t.Fatalf("the history did not wrap: %d trades", s.nextAgg-s.firstAgg)
	}
}
