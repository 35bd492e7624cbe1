package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// recSink is a marketSink that wants the streams its want function
// accepts (nil: every stream, in milliseconds) and records what it gets.
type recSink struct {
	mu   sync.Mutex
	want func(stream string) (any, micros bool)
	msgs []*Message
}

func (s *recSink) wants(stream string) (bool, bool) {
	if s.want == nil {
		return true, false
	}
	return s.want(stream)
}

func (s *recSink) publish(m *Message) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
}

// take returns the messages recorded so far and forgets them.
func (s *recSink) take() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.msgs
	s.msgs = nil
	return out
}

// streamsOf returns the messages of one stream.
func streamsOf(msgs []*Message, stream string) []*Message {
	var out []*Message
	for _, m := range msgs {
		if m.Stream == stream {
			out = append(out, m)
		}
	}
	return out
}

func suffixWant(suffixes ...string) func(string) (bool, bool) {
	return func(stream string) (bool, bool) {
		for _, s := range suffixes {
			if strings.HasSuffix(stream, s) {
				return true, false
			}
		}
		return false, false
	}
}

var testStart = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func newTestMarket(t testing.TB, cfg Config) *market {
	t.Helper()
	m, err := newMarket(cfg.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// drive runs the market as the server does: every 10 ms of simulated time,
// perTick updates and a tick. It returns the time reached.
func drive(m *market, out marketSink, now time.Time, ticks, perTick int) time.Time {
	for range ticks {
		now = now.Add(10 * time.Millisecond)
		m.advance(now, perTick, out)
		m.tick(now, out)
	}
	return now
}

// fields decodes a JSON object keeping keys exact (encoding/json's
// struct decoding would confuse "u" and "U").
func fields(t testing.TB, b []byte) map[string]json.RawMessage {
	t.Helper()
	var f map[string]json.RawMessage
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return f
}

func num(t testing.TB, f map[string]json.RawMessage, key string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(string(f[key]), 10, 64)
	if err != nil {
		t.Fatalf("field %q = %s: %v", key, f[key], err)
	}
	return n
}

func str(t testing.TB, f map[string]json.RawMessage, key string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(f[key], &s); err != nil {
		t.Fatalf("field %q = %s: %v", key, f[key], err)
	}
	return s
}

func levelsOf(t testing.TB, raw json.RawMessage) []Level {
	t.Helper()
	var lv []Level
	if err := json.Unmarshal(raw, &lv); err != nil {
		t.Fatalf("levels %s: %v", raw, err)
	}
	return lv
}

// keyOrder lists the keys of the top-level JSON object in b, in order.
func keyOrder(t testing.TB, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%s is not an object", b)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
	}
	return keys
}

// e8 parses one of Binance's decimals into units of 1e-8.
func e8(t testing.TB, s string) int64 {
	t.Helper()
	i, f, ok := strings.Cut(s, ".")
	if !ok || len(f) != 8 {
		t.Fatalf("%q is not a decimal with 8 decimals", s)
	}
	n, err := strconv.ParseInt(i+f, 10, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}

// bookModel is a client's view of a book, built from a snapshot and diffs.
type bookModel struct{ bids, asks map[string]string }

func modelOf(b BookState) bookModel {
	m := bookModel{map[string]string{}, map[string]string{}}
	for _, l := range b.Bids {
		m.bids[l.Price] = l.Qty
	}
	for _, l := range b.Asks {
		m.asks[l.Price] = l.Qty
	}
	return m
}

func (m bookModel) apply(t testing.TB, bids, asks []Level) {
	t.Helper()
	for _, side := range []struct {
		lv []Level
		to map[string]string
	}{{bids, m.bids}, {asks, m.asks}} {
		for _, l := range side.lv {
			if e8(t, l.Qty) == 0 {
				delete(side.to, l.Price)
			} else {
				side.to[l.Price] = l.Qty
			}
		}
	}
}

func TestAppendE8(t *testing.T) {
	for _, c := range []struct {
		v    int64
		want string
	}{
		{0, "0.00000000"},
		{1, "0.00000001"},
		{120000, "0.00120000"},
		{6000001000000, "60000.01000000"},
		{123456789012, "1234.56789012"},
		{-5, "-0.00000005"},
	} {
		if got := string(appendE8(nil, c.v)); got != c.want {
			t.Errorf("appendE8(%d) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestMarketSymbolSpecs(t *testing.T) {
	for _, c := range []struct {
		name, base, quote string
		tick, step        string // known symbols only
		lo, hi            float64
	}{
		{"BTCUSDT", "BTC", "USDT", "0.01000000", "0.00001000", 50000, 70000},
		{"ETHUSDT", "ETH", "USDT", "0.01000000", "0.00010000", 2500, 3500},
		{"BNBUSDT", "BNB", "USDT", "0.01000000", "0.00100000", 500, 700},
		{"SOLUSDT", "SOL", "USDT", "0.01000000", "0.00100000", 120, 180},
		{"PEPEFDUSD", "PEPE", "FDUSD", "", "", 0.01, 2000},
		{"DOGEBUSD", "DOGE", "BUSD", "", "", 0.01, 2000},
		{"LINKBTC", "LINK", "BTC", "", "", 1e-6, 0.05},
		{"ARBETH", "ARB", "ETH", "", "", 1e-5, 1},
		{"XYZ", "XYZ", "USDT", "", "", 0.01, 2000},
		{"USDT", "USDT", "USDT", "", "", 0.01, 2000},
	} {
		spec := specFor(c.name)
		if spec != specFor(c.name) {
			t.Errorf("%s: spec differs between two calls", c.name)
		}
		if spec.base != c.base || spec.quote != c.quote {
			t.Errorf("%s: assets %s/%s, want %s/%s", c.name, spec.base, spec.quote, c.base, c.quote)
		}
		sc := scale{tick: pow10(spec.tickExp + 8), step: pow10(spec.stepExp + 8)}
		if c.tick != "" && (sc.priceString(1) != c.tick || sc.qtyString(1) != c.step) {
			t.Errorf("%s: tick %s step %s, want %s and %s", c.name, sc.priceString(1), sc.qtyString(1), c.tick, c.step)
		}
		price := float64(spec.price*sc.tick) / 1e8
		if price < c.lo || price > c.hi {
			t.Errorf("%s: price %v outside %v..%v", c.name, price, c.lo, c.hi)
		}
		if spec.tickExp < -8 || spec.stepExp < -8 || spec.stepExp > 0 || spec.typQty < 1 || spec.price < 100 {
			t.Errorf("%s: implausible spec %+v", c.name, spec)
		}
	}
}

func TestMarketSymbols(t *testing.T) {
	m := newTestMarket(t, Config{Symbols: []string{"solusdt", "BTCUSDT", "XYZBTC"}})
	if got, want := m.symbols(), []string{"SOLUSDT", "BTCUSDT", "XYZBTC"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("symbols() = %v, want %v", got, want)
	}
	if _, err := newMarket(Config{Symbols: []string{"BTCUSDT", "BTCUSDT"}}.withDefaults()); err == nil {
		t.Fatal("newMarket accepted a symbol given twice")
	}
	if _, err := newMarket(Config{Levels: 5}.withDefaults()); err == nil {
		t.Fatal("newMarket accepted 5 levels")
	}
}

func TestMarketDeterministic(t *testing.T) {
	run := func(seed int64) []byte {
		m := newTestMarket(t, Config{Seed: seed, Symbols: []string{"BTCUSDT", "ETHUSDT", "ABCBTC"}, Levels: 50, History: 5000})
		sink := &recSink{want: func(string) (bool, bool) { return true, true }}
		drive(m, sink, testStart, 300, 20)
		var out bytes.Buffer
		for _, msg := range sink.take() {
			fmt.Fprintf(&out, "%s %d %s %s\n", msg.Stream, msg.ID, msg.Ms, msg.Us)
		}
		return out.Bytes()
	}
	a, b := run(42), run(42)
	if len(a) < 100000 {
		t.Fatalf("only %d bytes of messages", len(a))
	}
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed gave different messages")
	}
	if bytes.Equal(a, run(43)) {
		t.Fatal("another seed gave the same messages")
	}
}

func TestMarketTradeIDsContiguous(t *testing.T) {
	syms := []string{"BTCUSDT", "ETHUSDT"}
	m := newTestMarket(t, Config{Symbols: syms, Levels: 40, TradeShare: 0.6})
	first := map[string][3]int64{}
	for _, s := range syms {
		u, a, tr, err := m.lastIDs(s)
		if err != nil {
			t.Fatal(err)
		}
		first[s] = [3]int64{u, a, tr}
	}
	sink := &recSink{want: suffixWant("@aggTrade", "@trade")}
	drive(m, sink, testStart, 200, 25)
	msgs := sink.take()
	for _, sym := range syms {
		lower := strings.ToLower(sym)
		aggs, trades := streamsOf(msgs, lower+"@aggTrade"), streamsOf(msgs, lower+"@trade")
		if len(aggs) < 500 || len(trades) <= len(aggs) {
			t.Fatalf("%s: %d aggTrades and %d trades", sym, len(aggs), len(trades))
		}
		type fill struct{ price, qty int64 }
		byID := map[int64]fill{}
		wantT := first[sym][2] + 1
		for _, msg := range trades {
			f := fields(t, msg.Ms)
			id := num(t, f, "t")
			if id != wantT || msg.ID != id || msg.Kind != KindTrade || msg.Symbol != sym || str(t, f, "s") != sym {
				t.Fatalf("%s: trade %d (message ID %d), want %d: %s", sym, id, msg.ID, wantT, msg.Ms)
			}
			wantT++
			byID[id] = fill{e8(t, str(t, f, "p")), e8(t, str(t, f, "q"))}
		}
		wantA, wantF := first[sym][1]+1, first[sym][2]+1
		for _, msg := range aggs {
			f := fields(t, msg.Ms)
			a, fi, la := num(t, f, "a"), num(t, f, "f"), num(t, f, "l")
			if a != wantA || msg.ID != a || fi != wantF || la < fi {
				t.Fatalf("%s: aggTrade a=%d f=%d l=%d, want a=%d f=%d: %s", sym, a, fi, la, wantA, wantF, msg.Ms)
			}
			price, qty, sum := e8(t, str(t, f, "p")), e8(t, str(t, f, "q")), int64(0)
			for id := fi; id <= la; id++ {
				if byID[id].price != price {
					t.Fatalf("%s: trade %d at %d, its aggTrade at %d", sym, id, byID[id].price, price)
				}
				sum += byID[id].qty
			}
			if sum != qty {
				t.Fatalf("%s: aggTrade %d has q %d, its trades add up to %d", sym, a, qty, sum)
			}
			wantA, wantF = a+1, la+1
		}
		_, lastA, lastT, _ := m.lastIDs(sym)
		if lastA != wantA-1 || lastT != wantT-1 {
			t.Fatalf("%s: lastIDs say aggTrade %d trade %d, the streams ended at %d and %d", sym, lastA, lastT, wantA-1, wantT-1)
		}
		// the history holds exactly what the stream said
		hist, err := m.aggTrades(sym, first[sym][1]+1, lastA)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != len(aggs) {
			t.Fatalf("%s: %d aggTrades in history, %d on the stream", sym, len(hist), len(aggs))
		}
		for i, h := range hist {
			f := fields(t, aggs[i].Ms)
			if h.ID != num(t, f, "a") || h.Price != str(t, f, "p") || h.Qty != str(t, f, "q") ||
				h.FirstTradeID != num(t, f, "f") || h.LastTradeID != num(t, f, "l") || h.Time != num(t, f, "T") ||
				strconv.FormatBool(h.BuyerMaker) != string(f["m"]) {
				t.Fatalf("%s: history %+v, stream %s", sym, h, aggs[i].Ms)
			}
		}
	}
}

func TestMarketPayloadShapes(t *testing.T) {
	m := newTestMarket(t, Config{Symbols: []string{"BTCUSDT"}, Levels: 30})
	sink := &recSink{}
	drive(m, sink, testStart, 120, 10)
	want := map[Kind][]string{
		KindAggTrade:   {"e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"},
		KindTrade:      {"e", "E", "s", "t", "p", "q", "T", "m", "M"},
		KindBookTicker: {"u", "s", "b", "B", "a", "A"},
		KindDepth:      {"e", "E", "s", "U", "u", "b", "a"},
		KindPartial:    {"lastUpdateId", "bids", "asks"},
	}
	seen := map[Kind]bool{}
	for _, msg := range sink.take() {
		if msg.Kind == KindStats { // TestStatsPayloadShapes
			continue
		}
		if !json.Valid(msg.Ms) {
			t.Fatalf("%s: invalid JSON %s", msg.Stream, msg.Ms)
		}
		if got := keyOrder(t, msg.Ms); !reflect.DeepEqual(got, want[msg.Kind]) {
			t.Fatalf("%s: keys %v, want %v", msg.Stream, got, want[msg.Kind])
		}
		if msg.Us != nil {
			t.Fatalf("%s: Us filled though nobody asked for microseconds", msg.Stream)
		}
		f := fields(t, msg.Ms)
		switch msg.Kind {
		case KindAggTrade, KindTrade:
			if str(t, f, "e") != msg.Kind.String() || string(f["M"]) != "true" || num(t, f, "E") != num(t, f, "T") {
				t.Fatalf("%s: %s", msg.Stream, msg.Ms)
			}
		case KindBookTicker:
			if e8(t, str(t, f, "b")) >= e8(t, str(t, f, "a")) || num(t, f, "u") != msg.ID {
				t.Fatalf("%s: %s", msg.Stream, msg.Ms)
			}
		case KindDepth:
			if str(t, f, "e") != "depthUpdate" || num(t, f, "u") != msg.ID || num(t, f, "U") > msg.ID {
				t.Fatalf("%s: %s", msg.Stream, msg.Ms)
			}
		}
		seen[msg.Kind] = true
	}
	if len(seen) != len(want) {
		t.Fatalf("saw kinds %v, want all of %v", seen, want)
	}
}

func TestMarketMicroseconds(t *testing.T) {
	m := newTestMarket(t, Config{Symbols: []string{"BTCUSDT"}, Levels: 30})
	sink := &recSink{want: func(string) (bool, bool) { return true, true }}
	now := testStart.Add(1234567 * time.Nanosecond) // sub-millisecond part .234567
	for range 30 {
		now = now.Add(10*time.Millisecond + 321*time.Microsecond)
		m.advance(now, 10, sink)
		m.tick(now, sink)
	}
	kinds := map[Kind]int{}
	for _, msg := range sink.take() {
		kinds[msg.Kind]++
		if msg.Us == nil {
			t.Fatalf("%s: no Us though microseconds were asked for", msg.Stream)
		}
		fm, fu := fields(t, msg.Ms), fields(t, msg.Us)
		switch msg.Kind {
		case KindAggTrade, KindTrade, KindDepth:
			for _, k := range []string{"E", "T"} {
				if _, ok := fm[k]; !ok {
					continue
				}
				ms, us := num(t, fm, k), num(t, fu, k)
				if us/1000 != ms || us%1000 == 0 {
					t.Fatalf("%s: %s is %d ms but %d µs", msg.Stream, k, ms, us)
				}
			}
			delete(fm, "E")
			delete(fu, "E")
			delete(fm, "T")
			delete(fu, "T")
			if !reflect.DeepEqual(fm, fu) {
				t.Fatalf("%s: payloads differ beyond times: %s / %s", msg.Stream, msg.Ms, msg.Us)
			}
		default:
			if !bytes.Equal(msg.Ms, msg.Us) {
				t.Fatalf("%s: payload without times differs: %s / %s", msg.Stream, msg.Ms, msg.Us)
			}
		}
	}
	if kinds[KindAggTrade] == 0 || kinds[KindDepth] == 0 || kinds[KindPartial] == 0 || kinds[KindBookTicker] == 0 {
		t.Fatalf("kinds seen: %v", kinds)
	}
}

func TestMarketWants(t *testing.T) {
	m := newTestMarket(t, Config{Symbols: []string{"BTCUSDT", "ETHUSDT"}, Levels: 30})
	none := &recSink{want: func(string) (bool, bool) { return false, false }}
	drive(m, none, testStart, 50, 20)
	if n := len(none.take()); n != 0 {
		t.Fatalf("%d messages published to a sink that wants none", n)
	}
	one := &recSink{want: func(s string) (bool, bool) { return s == "ethusdt@aggTrade", false }}
	drive(m, one, testStart.Add(time.Second), 50, 20)
	msgs := one.take()
	if len(msgs) == 0 {
		t.Fatal("nothing published")
	}
	for _, msg := range msgs {
		if msg.Stream != "ethusdt@aggTrade" || msg.Kind != KindAggTrade || msg.Symbol != "ETHUSDT" {
			t.Fatalf("unwanted message %s %v", msg.Stream, msg.Kind)
		}
	}
}

// TestMarketDepthRebuild follows Binance's procedure for a local book
// (snapshot, then every diff event) on both diff depth streams and checks,
// after every event, that the local book equals the ground truth at u.
func TestMarketDepthRebuild(t *testing.T) {
	for _, share := range []float64{0.3, 0.9} {
		t.Run(fmt.Sprintf("trades=%v", share), func(t *testing.T) {
			m := newTestMarket(t, Config{Symbols: []string{"BTCUSDT", "SOLUSDT"}, Levels: 60, TradeShare: share, History: 200000})
			sink := &recSink{want: suffixWant("@depth", "@depth@100ms")}
			now := testStart
			m.tick(now, sink) // subscriptions seen: the streams start with the next change
			snaps := map[string]BookState{}
			for _, sym := range []string{"BTCUSDT", "SOLUSDT"} {
				u, _, _, _ := m.lastIDs(sym)
				b, err := m.bookAt(sym, u)
				if err != nil {
					t.Fatal(err)
				}
				snaps[sym] = b
			}
			drive(m, sink, now, 500, 15)
			msgs := sink.take()
			for _, sym := range []string{"BTCUSDT", "SOLUSDT"} {
				for _, stream := range []string{"@depth", "@depth@100ms"} {
					name := strings.ToLower(sym) + stream
					events := streamsOf(msgs, name)
					if len(events) < 4 {
						t.Fatalf("%s: %d events", name, len(events))
					}
					model, next := modelOf(snaps[sym]), snaps[sym].LastUpdateID+1
					var lastE int64
					for i, ev := range events {
						f := fields(t, ev.Ms)
						U, u, e := num(t, f, "U"), num(t, f, "u"), num(t, f, "E")
						if U != next || u < U || ev.ID != u || ev.Kind != KindDepth || str(t, f, "s") != sym {
							t.Fatalf("%s event %d: U=%d u=%d, want U=%d", name, i, U, u, next)
						}
						every := int64(1000)
						if strings.HasSuffix(stream, "100ms") {
							every = 100
						}
						if i > 0 && e-lastE < every-10 {
							t.Fatalf("%s event %d: %d ms after the previous one", name, i, e-lastE)
						}
						lastE, next = e, u+1
						model.apply(t, levelsOf(t, f["b"]), levelsOf(t, f["a"]))
						truth, err := m.bookAt(sym, u)
						if err != nil {
							t.Fatal(err)
						}
						if want := modelOf(truth); !reflect.DeepEqual(model, want) {
							t.Fatalf("%s after event %d (u=%d): local book differs from the truth", name, i, u)
						}
					}
				}
			}
		})
	}
}

func TestMarketDepthQuiet(t *testing.T) {
	m := newTestMarket(t, Config{Symbols: []string{"BTCUSDT"}, Levels: 30})
	sink := &recSink{want: suffixWant("@depth", "@depth@100ms")}
	now := drive(m, sink, testStart, 100, 5)
	now = drive(m, sink, now, 110, 0) // the last changes go out
	sink.take()
	now = drive(m, sink, now, 300, 0)
	if n := len(sink.take()); n != 0 {
		t.Fatalf("%d diff events for intervals without a change", n)
	}
	// the chain goes on where it stopped
	u, _, _, _ := m.lastIDs("BTCUSDT")
	drive(m, sink, now, 20, 5)
	events := streamsOf(sink.take(), "btcusdt@depth@100ms")
	if len(events) == 0 || num(t, fields(t, events[0].Ms), "U") != u+1 {
		t.Fatalf("after a quiet spell: %d events, want the first at U=%d", len(events), u+1)
	}
	// unsubscribed: nothing accumulates, and a new subscriber starts afresh
	sink.want = func(string) (bool, bool) { return false, false }
	now = drive(m, sink, now.Add(time.Second), 50, 5)
	sink.want = suffixWant("@depth@100ms")
	now = drive(m, sink, now, 1, 0)
	u, _, _, _ = m.lastIDs("BTCUSDT")
	drive(m, sink, now, 30, 5)
	events = streamsOf(sink.take(), "btcusdt@depth@100ms")
	if len(events) == 0 || num(t, fields(t, events[0].Ms), "U") != u+1 {
		t.Fatalf("after resubscribing: %d events, want the first at U=%d", len(events), u+1)
	}
}

func TestMarketPartialDepth(t *testing.T) {
	m := newTestMarket(t, Config{Symbols: []string{"BNBUSDT"}, Levels: 40})
	sink := &recSink{want: suffixWant("@depth5", "@depth20@100ms")}
	drive(m, sink, testStart, 300, 3) // 3 s
	msgs := sink.take()
	slow, fast := streamsOf(msgs, "bnbusdt@depth5"), streamsOf(msgs, "bnbusdt@depth20@100ms")
	if len(slow) < 2 || len(slow) > 3 || len(fast) < 28 || len(fast) > 30 || len(slow)+len(fast) != len(msgs) {
		t.Fatalf("%d depth5 and %d depth20@100ms events in 3 s (of %d messages)", len(slow), len(fast), len(msgs))
	}
	for _, msg := range append(slow, fast...) {
		n := 5
		if strings.Contains(msg.Stream, "20") {
			n = 20
		}
		f := fields(t, msg.Ms)
		id := num(t, f, "lastUpdateId")
		truth, err := m.bookAt("BNBUSDT", id)
		if err != nil {
			t.Fatal(err)
		}
		bids, asks := levelsOf(t, f["bids"]), levelsOf(t, f["asks"])
		if msg.ID != id || msg.Kind != KindPartial || !reflect.DeepEqual(bids, truth.Bids[:n]) || !reflect.DeepEqual(asks, truth.Asks[:n]) {
			t.Fatalf("%s: %s differs from the book at %d", msg.Stream, msg.Ms, id)
		}
	}
}

func TestMarketNeverCrossed(t *testing.T) {
	for _, share := range []float64{0.02, 0.3, 1} {
		m := newTestMarket(t, Config{Symbols: []string{"BTCUSDT", "ETHBTC", "QQQFDUSD"}, Levels: 40, TradeShare: share})
		sink := &recSink{want: suffixWant("@bookTicker")}
		now := testStart
		for i := range 30000 {
			now = now.Add(time.Millisecond)
			m.advance(now, 1, sink)
			for _, s := range m.syms {
				top := s.top()
				if top[0] <= 0 || top[2] <= top[0] || top[2]-top[0] > maxSpread {
					t.Fatalf("share %v step %d %s: bid %d ask %d", share, i, s.spec.name, top[0], top[2])
				}
				if i%1000 == 0 {
					checkSides(t, s)
				}
			}
		}
		for _, msg := range sink.take() {
			f := fields(t, msg.Ms)
			if e8(t, str(t, f, "b")) >= e8(t, str(t, f, "a")) {
				t.Fatalf("crossed bookTicker %s", msg.Ms)
			}
		}
		for _, s := range m.syms {
			mid := float64(s.ticker[0]+s.ticker[2]) / 2
			if dev := mid/float64(s.spec.price) - 1; dev > 0.1 || dev < -0.1 {
				t.Errorf("share %v %s: price wandered %.1f %% from its start", share, s.spec.name, dev*100)
			}
		}
	}
}

// checkSides checks that each side is sorted worst first, without empty
// levels, and about as deep as configured.
func checkSides(t *testing.T, s *symState) {
	t.Helper()
	for sd, side := range s.book {
		if len(side.lv) < 20 {
			t.Fatalf("%s side %d: only %d levels", s.spec.name, sd, len(side.lv))
		}
		for i, l := range side.lv {
			if l.qty <= 0 || l.price <= 0 || (i > 0 && !side.worse(side.lv[i-1].price, l.price)) {
				t.Fatalf("%s side %d: level %d %+v out of order or empty", s.spec.name, sd, i, l)
			}
		}
	}
}

// TestMarketBookAtPast checks that the book rebuilt for an old update ID is
// the book observed right after that update, across checkpoints and the
// wrap of the history ring.
func TestMarketBookAtPast(t *testing.T) {
	m := newTestMarket(t, Config{Symbols: []string{"ETHUSDT", "BTCUSDT"}, Levels: 30, History: 300})
	sink := &recSink{want: func(string) (bool, bool) { return false, false }}
	seen := map[int64]BookState{}
	now := testStart
	for range 3000 {
		now = now.Add(time.Millisecond)
		m.advance(now, 1, sink)
		u, _, _, _ := m.lastIDs("ETHUSDT")
		b, err := m.bookAt("ETHUSDT", u)
		if err != nil {
			t.Fatal(err)
		}
		seen[u] = b
	}
	st := m.states()[0]
	if st.Symbol != "ETHUSDT" || st.LastUpdateID-st.OldestUpdateID < 300 {
		t.Fatalf("state %+v keeps fewer than History updates", st)
	}
	checked := 0
	for id, want := range seen {
		got, err := m.bookAt("ETHUSDT", id)
		if id < st.OldestUpdateID {
			if !errors.Is(err, ErrHistoryGone) {
				t.Fatalf("bookAt(%d), older than %d: %v", id, st.OldestUpdateID, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("bookAt(%d): %v", id, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("bookAt(%d) differs from the book seen then", id)
		}
		checked++
	}
	if checked < 100 {
		t.Fatalf("only %d old books checked", checked)
	}
}

func TestMarketHistoryBounds(t *testing.T) {
	m := newTestMarket(t, Config{Symbols: []string{"BTCUSDT"}, Levels: 30, History: 100, TradeShare: 0.5})
	st := m.states()[0]
	if st.OldestAggTradeID != st.LastAggTradeID+1 || st.OldestUpdateID != st.LastUpdateID || st.OldestTradeID != st.LastTradeID+1 {
		t.Fatalf("fresh market state %+v", st)
	}
	if trades, err := m.aggTrades("BTCUSDT", st.OldestAggTradeID, st.OldestAggTradeID+10); err != nil || len(trades) != 0 {
		t.Fatalf("aggTrades before the first trade: %v, %v", trades, err)
	}
	drive(m, &recSink{want: func(string) (bool, bool) { return false, false }}, testStart, 100, 20)
	st = m.states()[0]
	if st.LastAggTradeID-st.OldestAggTradeID+1 != 100 || st.LastUpdateID-st.OldestUpdateID < 100 {
		t.Fatalf("state %+v: want exactly 100 aggTrades and at least 100 updates kept", st)
	}
	if _, err := m.bookAt("BTCUSDT", st.OldestUpdateID); err != nil {
		t.Fatalf("oldest update: %v", err)
	}
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"book before the oldest", errOf(m.bookAt("BTCUSDT", st.OldestUpdateID-1)), ErrHistoryGone},
		{"book after the last", errOf(m.bookAt("BTCUSDT", st.LastUpdateID+1)), ErrNotYet},
		{"book of an unknown symbol", errOf(m.bookAt("NOPE", 1)), ErrUnknownSymbol},
		{"trades before the oldest", errOf(m.aggTrades("BTCUSDT", st.OldestAggTradeID-1, st.LastAggTradeID)), ErrHistoryGone},
		{"trades of an unknown symbol", errOf(m.aggTrades("NOPE", 1, 2)), ErrUnknownSymbol},
		{"IDs of an unknown symbol", func() error { _, _, _, err := m.lastIDs("NOPE"); return err }(), ErrUnknownSymbol},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	trades, err := m.aggTrades("btcusdt", st.OldestAggTradeID, st.LastAggTradeID+50)
	if err != nil || len(trades) != 100 || trades[0].ID != st.OldestAggTradeID || trades[99].ID != st.LastAggTradeID {
		t.Fatalf("all kept aggTrades: %d, %v", len(trades), err)
	}
	if trades[0].FirstTradeID != st.OldestTradeID || trades[99].LastTradeID != st.LastTradeID {
		t.Fatalf("trade IDs %d..%d, state says %d..%d", trades[0].FirstTradeID, trades[99].LastTradeID, st.OldestTradeID, st.LastTradeID)
	}
}

func errOf[T any](_ T, err error) error { return err }

// TestMarketConcurrentReaders runs the ground-truth and snapshot readers
// beside advance and tick (for the race detector).
func TestMarketConcurrentReaders(t *testing.T) {
	m := newTestMarket(t, Config{Symbols: []string{"BTCUSDT", "ETHUSDT"}, Levels: 50, History: 2000})
	sink := &recSink{want: func(string) (bool, bool) { return true, true }}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		drive(m, sink, testStart, 400, 20)
		close(done)
	}()
	for i := 0; ; i++ {
		select {
		case <-done:
			wg.Wait()
			return
		default:
		}
		sym := []string{"BTCUSDT", "ETHUSDT"}[i%2]
		s, _ := m.lookup(sym)
		if id, bids, asks, _, err := m.snapshot(s, 20, int64(i%50)); err != nil || len(bids) == 0 || len(asks) == 0 {
			t.Fatalf("snapshot at %d: %v", id, err)
		}
		st := m.states()[i%2]
		if _, err := m.bookAt(sym, st.LastUpdateID); err != nil {
			t.Fatal(err)
		}
		if _, err := m.aggTrades(sym, st.OldestAggTradeID, st.LastAggTradeID); err != nil && !errors.Is(err, ErrHistoryGone) {
			t.Fatal(err)
		}
	}
}
