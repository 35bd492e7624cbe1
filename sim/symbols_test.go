package sim

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// capE8 is the capped quantity as Binance writes it.
const capE8 = "92233720368.54775807"

// followDiffs applies every diff depth event of stream to a local book
// started from the ground truth at from, checking it against the ground
// truth after each event, and returns the events' levels.
func followDiffs(t *testing.T, m *market, sym string, from BookState, events []*Message) []Level {
	t.Helper()
	model, next := modelOf(from), from.LastUpdateID+1
	var seen []Level
	for i, ev := range events {
		f := fields(t, ev.Ms)
		U, u := num(t, f, "U"), num(t, f, "u")
		if U != next {
			t.Fatalf("%s event %d: U=%d, want %d", sym, i, U, next)
		}
		next = u + 1
		b, a := levelsOf(t, f["b"]), levelsOf(t, f["a"])
		model.apply(t, b, a)
		seen = append(append(seen, b...), a...)
		truth, err := m.bookAt(sym, u)
		if err != nil {
			t.Fatal(err)
		}
		if want := modelOf(truth); !reflect.DeepEqual(model, want) {
			t.Fatalf("%s after event %d (u=%d): local book differs from the truth", sym, i, u)
		}
	}
	return seen
}

func truthNow(t *testing.T, m *market, sym string) BookState {
	t.Helper()
	u, _, _, _ := m.lastIDs(sym)
	b, err := m.bookAt(sym, u)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMarketQtyCap(t *testing.T) {
	m := newTestMarket(t, Config{Symbols: []string{"BTCUSDT", "DOGEUSDT:0.00001:1"}, Levels: 40, History: 100000})
	sink := &recSink{want: suffixWant("@depth@100ms", "@depth5@100ms")}
	now := testStart
	m.tick(now, sink)
	start := truthNow(t, m, "DOGEUSDT")
	now = drive(m, sink, now, 20, 10)
	if err := m.fault(Fault{Kind: FaultQtyCap, Symbol: "DOGEUSDT", Times: 1}, now); err != nil {
		t.Fatal(err)
	}
	now = now.Add(100 * time.Millisecond)
	m.tick(now, sink) // the streams send the capped level before anything changes it
	var capped Level
	var ask bool
	book := truthNow(t, m, "DOGEUSDT")
	for i, side := range [][]Level{book.Bids, book.Asks} {
		for _, l := range side {
			if l.Qty == capE8 {
				capped, ask = l, i == 1
			}
		}
	}
	if capped.Qty != capE8 {
		t.Fatalf("no capped level in the ground truth after qty-cap")
	}
	// the REST snapshot writes it as Binance does
	s, _ := m.lookup("DOGEUSDT")
	id, bids, asks, sc, err := m.snapshot(s, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	snap := string(appendPartial(nil, sc, id, bids, asks))
	if !strings.Contains(snap, `["`+capped.Price+`","`+capE8+`"]`) {
		t.Fatalf("snapshot without the capped level %v: %s", capped, snap)
	}
	// the step is 1: the capped value has digits the step does not allow
	if sc.qtyString(1) != "1.00000000" {
		t.Fatalf("DOGEUSDT step %s", sc.qtyString(1))
	}
	// a client following the diff stream sees it, then sees it change back
	back := false
	for range 200 {
		now = drive(m, sink, now, 10, 10)
		b := truthNow(t, m, "DOGEUSDT")
		side := b.Bids
		if ask {
			side = b.Asks
		}
		q := "0.00000000"
		for _, l := range side {
			if l.Price == capped.Price {
				q = l.Qty
			}
		}
		if q != capE8 {
			back = true
			break
		}
	}
	if !back {
		t.Fatalf("level %s stayed capped for 2000 updates", capped.Price)
	}
	now = drive(m, sink, now, 20, 10)
	msgs := sink.take()
	seen := followDiffs(t, m, "DOGEUSDT", start, streamsOf(msgs, "dogeusdt@depth@100ms"))
	var states []string
	for _, l := range seen {
		if l.Price == capped.Price && (len(states) == 0 || states[len(states)-1] != l.Qty) {
			states = append(states, l.Qty)
		}
	}
	if i := indexOf(states, capE8); i < 0 || i == len(states)-1 {
		t.Fatalf("the diff stream gave level %s the quantities %v: want the cap, then a normal one", capped.Price, states)
	}
	partialCapped := false
	for _, msg := range streamsOf(msgs, "dogeusdt@depth5@100ms") {
		if strings.Contains(string(msg.Ms), `["`+capped.Price+`","`+capE8+`"]`) {
			partialCapped = true
		}
	}
	if !partialCapped {
		t.Fatalf("no depth5 event carried the capped level")
	}
}

func indexOf(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}

// onGrid reports whether every price of a book is a multiple of tick and
// every quantity of step (in 1e-8 units), capped ones aside.
func onGrid(t *testing.T, b BookState, tick, step int64) error {
	for _, side := range [][]Level{b.Bids, b.Asks} {
		for _, l := range side {
			if e8(t, l.Price)%tick != 0 {
				return fmt.Errorf("price %s is not a multiple of the tick", l.Price)
			}
			if l.Qty != capE8 && e8(t, l.Qty)%step != 0 {
				return fmt.Errorf("quantity %s at %s is not a multiple of the step", l.Qty, l.Price)
			}
		}
	}
	return nil
}

// usesFiner reports whether some price of a book needs tick (it is not a
// multiple of tick×10), and some quantity step.
func usesFiner(t *testing.T, b BookState, tick, step int64) (bool, bool) {
	var p, q bool
	for _, side := range [][]Level{b.Bids, b.Asks} {
		for _, l := range side {
			p = p || e8(t, l.Price)%(tick*10) != 0
			q = q || e8(t, l.Qty)%(step*10) != 0
		}
	}
	return p, q
}

func TestMarketFilters(t *testing.T) {
	m := newTestMarket(t, Config{Symbols: []string{"BTCUSDT", "ETHUSDT"}, Levels: 60, History: 100000})
	sink := &recSink{want: suffixWant("btcusdt@depth@100ms", "btcusdt@trade")}
	now := testStart
	m.tick(now, sink)
	start := truthNow(t, m, "BTCUSDT")
	now = drive(m, sink, now, 20, 10)

	// BTCUSDT: tick 0.01 → 0.001, step 0.00001 → 0.000001
	if err := m.fault(Fault{Kind: FaultFilters, Symbol: "BTCUSDT", Times: 1}, now); err != nil {
		t.Fatal(err)
	}
	st := m.states()[0]
	if st.TickSize != "0.00100000" || st.StepSize != "0.00000100" {
		t.Fatalf("after filters: tick %s step %s", st.TickSize, st.StepSize)
	}
	now = drive(m, sink, now, 100, 20)
	fine := truthNow(t, m, "BTCUSDT")
	if err := onGrid(t, fine, 1e5, 1e2); err != nil {
		t.Fatal(err)
	}
	if p, q := usesFiner(t, fine, 1e5, 1e2); !p || !q {
		t.Fatalf("after a finer tick and step the book uses them: prices %v quantities %v", p, q)
	}
	tradeP, tradeQ := false, false
	for _, msg := range streamsOf(sink.msgs, "btcusdt@trade") {
		f := fields(t, msg.Ms)
		tradeP = tradeP || e8(t, str(t, f, "p"))%1e6 != 0
		tradeQ = tradeQ || e8(t, str(t, f, "q"))%1e3 != 0
	}
	if !tradeP || !tradeQ {
		t.Fatalf("trades after the finer filters: a finer price %v, a finer quantity %v", tradeP, tradeQ)
	}
	// ETHUSDT is unchanged
	if st := m.states()[1]; st.TickSize != "0.01000000" || st.StepSize != "0.00010000" {
		t.Fatalf("ETHUSDT: tick %s step %s", st.TickSize, st.StepSize)
	}

	// back to 0.01 and 0.00001: levels off the grid move, quantities round
	if err := m.fault(Fault{Kind: FaultFilters, Symbol: "BTCUSDT", Times: 1}, now); err != nil {
		t.Fatal(err)
	}
	coarse := truthNow(t, m, "BTCUSDT")
	if err := onGrid(t, coarse, 1e6, 1e3); err != nil {
		t.Fatalf("right after the coarser filters: %v", err)
	}
	if len(coarse.Bids) == 0 || len(coarse.Asks) == 0 || e8(t, coarse.Bids[0].Price) >= e8(t, coarse.Asks[0].Price) {
		t.Fatalf("book after the coarser filters: %d bids, %d asks", len(coarse.Bids), len(coarse.Asks))
	}
	now = drive(m, sink, now, 100, 20)
	if err := onGrid(t, truthNow(t, m, "BTCUSDT"), 1e6, 1e3); err != nil {
		t.Fatalf("later: %v", err)
	}
	// a client following the diff stream kept the same book throughout
	followDiffs(t, m, "BTCUSDT", start, streamsOf(sink.take(), "btcusdt@depth@100ms"))
	// the past is still readable at the scale it had
	if _, err := m.bookAt("BTCUSDT", fine.LastUpdateID); err != nil {
		t.Fatal(err)
	}
}

func TestParseSymbolsAndMarketFaults(t *testing.T) {
	for _, c := range []struct {
		syms []string
		err  string
	}{
		{[]string{"DOGEUSDT:0.00001:1"}, ""},
		{[]string{"XUSDT:10:0.001"}, ""},
		{[]string{"DOGEUSDT:0.00001"}, `"DOGEUSDT:0.00001" is not NAME:TICK:STEP`},
		{[]string{"DOGEUSDT:0.02:1"}, `tick "0.02" is not a power of ten`},
		{[]string{"DOGEUSDT:0.01:0.000000001"}, `step "0.000000001" is not a power of ten from`},
		{[]string{"DOGEUSDT:0.01:1", "DOGEUSDT"}, `"DOGEUSDT" given twice`},
	} {
		err := Config{Symbols: c.syms}.withDefaults().validate()
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("Symbols %q: %v, want %q", c.syms, err, c.err)
		}
	}
	m := newTestMarket(t, Config{Symbols: []string{"XUSDT:10:0.001"}, Levels: 20})
	if st := m.states()[0]; st.TickSize != "10.00000000" || st.StepSize != "0.00100000" {
		t.Fatalf("XUSDT:10:0.001 trades with tick %s step %s", st.TickSize, st.StepSize)
	}

	good := map[string]Fault{
		"qty-cap:times=1,symbol=dogeusdt": {Kind: FaultQtyCap, Times: 1, Symbol: "DOGEUSDT"},
		"halt:every=1m,duration=10s":      {Kind: FaultHalt, Every: time.Minute, Duration: 10 * time.Second},
		"filters:p=0.01,variant=tick":     {Kind: FaultFilters, Prob: 0.01, Variant: "tick"},
		"rest-lag:p=0.5,duration=3s":      {Kind: FaultRESTLag, Prob: 0.5, Duration: 3 * time.Second},
		"rest-403:times=2":                {Kind: FaultREST403, Times: 2},
	}
	for s, want := range good {
		got, err := ParseFault(s)
		if err != nil || got != want {
			t.Errorf("ParseFault(%q) = %+v, %v; want %+v", s, got, err, want)
		}
		if back, err := ParseFault(got.String()); err != nil || back != got {
			t.Errorf("round trip of %q through %q: %+v, %v", s, got.String(), back, err)
		}
		j, _ := json.Marshal(got)
		var fromJSON Fault
		if err := json.Unmarshal(j, &fromJSON); err != nil || fromJSON != got {
			t.Errorf("JSON round trip of %s: %+v, %v", j, fromJSON, err)
		}
	}
	for _, s := range []string{"filters:times=1,variant=both", "halt:times=1,symbol=BTC-USDT", "qty-cap:times=1,symbol="} {
		if f, err := ParseFault(s); err == nil && f.Symbol != "" || err == nil && strings.Contains(s, "variant") {
			t.Errorf("ParseFault(%q) accepted: %+v", s, f)
		}
	}
	if err := (Config{Faults: []Fault{{Kind: FaultHalt, Times: 1, Symbol: "NOPE"}}}).withDefaults().validate(); err == nil || !strings.Contains(err.Error(), `symbol="NOPE" is not traded`) {
		t.Errorf("a fault on a symbol not traded: %v", err)
	}
}

// httpsGet fetches path from the simulator over TLS.
func httpsGet(t *testing.T, client *http.Client, s *Server, path string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := client.Get(s.RESTURL() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

func tlsClient(t *testing.T, s *Server) *http.Client {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool()}}, Timeout: 10 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// symbolInfoOf returns status, tickSize and stepSize of symbol from exchangeInfo.
func symbolInfoOf(t *testing.T, client *http.Client, s *Server, symbol string) (string, string, string) {
	t.Helper()
	code, _, body := httpsGet(t, client, s, "/api/v3/exchangeInfo?symbol="+symbol)
	var info struct {
		Symbols []struct {
			Status  string
			Filters []map[string]any
		}
	}
	if err := json.Unmarshal(body, &info); err != nil || code != 200 || len(info.Symbols) != 1 {
		t.Fatalf("exchangeInfo: %d %s", code, body)
	}
	var tick, step string
	for _, f := range info.Symbols[0].Filters {
		switch f["filterType"] {
		case "PRICE_FILTER":
			tick = f["tickSize"].(string)
		case "LOT_SIZE":
			step = f["stepSize"].(string)
		}
	}
	return info.Symbols[0].Status, tick, step
}

func TestQtyCapOverTLS(t *testing.T) {
	s := startSim(t, Config{Symbols: []string{"BTCUSDT", "DOGEUSDT:0.00001:1"}, Rate: -1, Levels: 50})
	client := tlsClient(t, s)
	if _, _, step := symbolInfoOf(t, client, s, "DOGEUSDT"); step != "1.00000000" {
		t.Fatalf("DOGEUSDT stepSize %s", step)
	}
	c := dial(t, s, "/stream?streams=dogeusdt@depth@100ms/dogeusdt@depth5@100ms")
	waitFor(t, 3*time.Second, func() bool { return len(s.Conns()) == 1 })
	time.Sleep(50 * time.Millisecond) // the engine has seen the subscription
	if err := s.Fire(Fault{Kind: FaultQtyCap, Symbol: "DOGEUSDT"}); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	readUntil(t, c, 5*time.Second, func(m map[string]any) bool {
		b, _ := json.Marshal(m["data"])
		if strings.Contains(string(b), `"`+capE8+`"`) {
			got[m["stream"].(string)] = true
		}
		return len(got) == 2
	})
	code, _, body := httpsGet(t, client, s, "/api/v3/depth?symbol=DOGEUSDT&limit=10")
	if code != 200 || !strings.Contains(string(body), `"`+capE8+`"]`) {
		t.Fatalf("REST depth: %d %s", code, body)
	}
	code, _, body = httpsGet(t, client, s, "/sim/book?symbol=DOGEUSDT")
	if code != 200 || strings.Count(string(body), `"`+capE8+`"`) != 1 {
		t.Fatalf("ground truth: %d %s", code, body)
	}
	if n := s.FaultCounts()[FaultQtyCap]; n != 1 {
		t.Fatalf("qty-cap fired %d times", n)
	}
}

func TestHaltOverTLS(t *testing.T) {
	s := startSim(t, Config{Rate: 2000, PingInterval: 250 * time.Millisecond})
	client := tlsClient(t, s)
	c := dial(t, s, "/stream?streams=btcusdt@trade/btcusdt@depth5@100ms/btcusdt@depth@100ms/ethusdt@trade")
	var pings atomic.Int64
	c.SetPingHandler(func(data string) error {
		pings.Add(1)
		return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	readUntil(t, c, 5*time.Second, func(m map[string]any) bool { return m["stream"] == "btcusdt@trade" })
	if err := s.Fire(Fault{Kind: FaultHalt, Symbol: "BTCUSDT", Duration: time.Second}); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := symbolInfoOf(t, client, s, "BTCUSDT"); st != StatusHalt {
		t.Fatalf("exchangeInfo status %s during the halt", st)
	}
	if st, _, _ := symbolInfoOf(t, client, s, "ETHUSDT"); st != StatusTrading {
		t.Fatalf("ETHUSDT status %s", st)
	}
	code, _, body := httpsGet(t, client, s, "/api/v3/depth?symbol=BTCUSDT&symbolStatus=TRADING")
	if code != 400 || !strings.Contains(string(body), "-1220") {
		t.Fatalf("depth with symbolStatus=TRADING of a halted symbol: %d %s", code, body)
	}
	code, _, body = httpsGet(t, client, s, "/api/v3/exchangeInfo?symbolStatus=HALT")
	if code != 200 || !strings.Contains(string(body), `"symbol":"BTCUSDT"`) || strings.Contains(string(body), `"symbol":"ETHUSDT"`) {
		t.Fatalf("exchangeInfo symbolStatus=HALT: %d %.300s", code, body)
	}
	u0, a0, t0, _ := s.LastIDs("BTCUSDT")
	quiet := time.Now().Add(150 * time.Millisecond) // messages already on their way arrive before
	var btc, eth int
	deadline := time.Now().Add(700 * time.Millisecond)
	for {
		c.SetReadDeadline(deadline)
		_, msg, err := c.ReadMessage()
		if err != nil {
			if !isTimeout(err) {
				t.Fatal(err)
			}
			break
		}
		if time.Now().Before(quiet) {
			pings.Store(0)
			continue
		}
		switch {
		case strings.Contains(string(msg), `"stream":"btcusdt@`):
			btc++
		case strings.Contains(string(msg), `"stream":"ethusdt@`):
			eth++
		}
	}
	if btc != 0 || eth < 10 || pings.Load() < 2 {
		t.Fatalf("during the halt: %d BTCUSDT messages, %d ETHUSDT, %d pings", btc, eth, pings.Load())
	}
	if u, a, tr, _ := s.LastIDs("BTCUSDT"); u != u0 || a != a0 || tr != t0 {
		t.Fatalf("a halted symbol moved: update %d→%d, aggTrade %d→%d, trade %d→%d", u0, u, a0, a, t0, tr)
	}
	// the halt ends by itself
	waitFor(t, 3*time.Second, func() bool { st, _, _ := symbolInfoOf(t, client, s, "BTCUSDT"); return st == StatusTrading })
	c2 := dial(t, s, "/stream?streams=btcusdt@trade/btcusdt@depth5@100ms") // c's read timed out: gorilla cannot read it again
	readUntil(t, c2, 5*time.Second, func(m map[string]any) bool { return m["stream"] == "btcusdt@trade" })
	readUntil(t, c2, 5*time.Second, func(m map[string]any) bool { return m["stream"] == "btcusdt@depth5@100ms" })
}

func TestSymbolAdminOverTLS(t *testing.T) {
	s := startSim(t, Config{Rate: -1})
	client := tlsClient(t, s)
	post := func(q string) (int, map[string]any) {
		t.Helper()
		resp, err := client.Post(s.RESTURL()+"/sim/symbol?"+q, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	code, m := post("symbol=BTCUSDT&status=BREAK&tickSize=0.001&stepSize=0.00000100")
	if code != 200 || m["status"] != "BREAK" || m["tickSize"] != "0.00100000" || m["stepSize"] != "0.00000100" {
		t.Fatalf("POST /sim/symbol: %d %v", code, m)
	}
	if st, tick, step := symbolInfoOf(t, client, s, "BTCUSDT"); st != "BREAK" || tick != "0.00100000" || step != "0.00000100" {
		t.Fatalf("exchangeInfo after POST /sim/symbol: %s %s %s", st, tick, step)
	}
	// in BREAK the book stands still; back to TRADING it uses the finer filters
	u0, _, _, _ := s.LastIDs("BTCUSDT")
	s.Advance(500)
	if u, _, _, _ := s.LastIDs("BTCUSDT"); u != u0 {
		t.Fatalf("BTCUSDT in BREAK moved from update %d to %d", u0, u)
	}
	if code, m := post("symbol=BTCUSDT&status=TRADING"); code != 200 || m["status"] != "TRADING" {
		t.Fatalf("back to TRADING: %d %v", code, m)
	}
	s.Advance(3000)
	code, _, body := httpsGet(t, client, s, "/api/v3/depth?symbol=BTCUSDT&limit=100")
	var snap BookState
	if err := json.Unmarshal(body, &snap); err != nil || code != 200 {
		t.Fatalf("depth: %d %s", code, body)
	}
	if err := onGrid(t, snap, 1e5, 1e2); err != nil {
		t.Fatalf("REST depth after tickSize 0.001, stepSize 0.000001: %v", err)
	}
	if p, q := usesFiner(t, snap, 1e5, 1e2); !p || !q {
		t.Fatalf("REST depth uses the finer tick %v and step %v", p, q)
	}
	truth, err := s.BookAt("BTCUSDT", snap.LastUpdateID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(truth.Bids[:100], snap.Bids) || !reflect.DeepEqual(truth.Asks[:100], snap.Asks) {
		t.Fatalf("REST depth differs from the ground truth at %d", snap.LastUpdateID)
	}

	for _, c := range []struct {
		q    string
		code int
		err  string
	}{
		{"status=HALT", 400, "symbol is required"},
		{"symbol=NOPE&status=HALT", 404, `unknown symbol: "NOPE"`},
		{"symbol=BTCUSDT&status=PAUSED", 400, `status "PAUSED"`},
		{"symbol=BTCUSDT&tickSize=0.002", 400, `tickSize "0.002" is not a power of ten`},
		{"symbol=BTCUSDT&tickSize=0.000000001", 400, `tickSize "0.000000001" is finer than 0.00000001`},
		{"symbol=BTCUSDT&tickSize=10000", 400, `leaves fewer than 100 ticks`},
		{"symbol=BTCUSDT&colour=red", 400, `unknown parameter "colour"`},
	} {
		code, m := post(c.q)
		if code != c.code || !strings.Contains(fmt.Sprint(m["error"]), c.err) {
			t.Errorf("POST /sim/symbol?%s: %d %v, want %d %q", c.q, code, m, c.code, c.err)
		}
	}
	if err := s.SetSymbolStatus("ETHUSDT", "halt"); !errors.Is(err, ErrBadValue) {
		t.Errorf("SetSymbolStatus halt (lower case): %v", err)
	}
	if err := s.SetSymbolFilters("NOPE", "0.1", ""); !errors.Is(err, ErrUnknownSymbol) {
		t.Errorf("SetSymbolFilters NOPE: %v", err)
	}
	resp, err := client.Post(s.RESTURL()+"/sim/fire", "application/json", strings.NewReader(`{"kind":"halt","symbol":"NOPE"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("firing halt on an unknown symbol: %d", resp.StatusCode)
	}
}

func TestREST403OverTLS(t *testing.T) {
	s := startSim(t, Config{Rate: -1})
	client := tlsClient(t, s)
	if err := s.Fire(Fault{Kind: FaultREST403}); err != nil {
		t.Fatal(err)
	}
	code, hdr, body := httpsGet(t, client, s, "/api/v3/depth?symbol=BTCUSDT")
	if code != 403 || hdr.Get("Content-Type") != "text/html" || hdr.Get("Retry-After") != "" || !strings.Contains(string(body), "<H1>403 ERROR</H1>") || !regexp.MustCompile(`\nRequest ID: [A-Za-z0-9_-]{54}==\n`).Match(body) {
		t.Fatalf("rest-403: %d %v %s", code, hdr, body)
	}
	if code, _, _ := httpsGet(t, client, s, "/api/v3/depth?symbol=BTCUSDT"); code != 200 {
		t.Fatalf("after rest-403: %d", code)
	}
}

func TestMarketFaultsOnSchedule(t *testing.T) {
	s := startSim(t, Config{Rate: -1, Faults: []Fault{{Kind: FaultHalt, Every: 50 * time.Millisecond, Duration: time.Hour, Symbol: "ETHUSDT"}}})
	waitFor(t, 3*time.Second, func() bool { return s.FaultCounts()[FaultHalt] > 0 })
	if st := s.market.states()[1]; st.Status != StatusHalt {
		t.Fatalf("ETHUSDT %s after the scheduled halt", st.Status)
	}
	if err := s.SetFaults(); err != nil {
		t.Fatal(err)
	}
	if err := s.AddFault(Fault{Kind: FaultQtyCap, Times: 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, func() bool { return s.FaultCounts()[FaultQtyCap] == 1 })
	// the seed's choice among the symbols trading: BTCUSDT, as ETHUSDT is halted
	b, err := s.BookAt("BTCUSDT", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fmt.Sprint(b.Bids, b.Asks), capE8) {
		t.Fatalf("no capped level in BTCUSDT after the scheduled qty-cap")
	}
	if err := s.SetSymbolStatus("ETHUSDT", StatusTrading); err != nil {
		t.Fatal(err)
	}
	if st := s.market.states()[1]; st.Status != StatusTrading {
		t.Fatalf("ETHUSDT %s after SetSymbolStatus TRADING", st.Status)
	}
}
