package sim

import (
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

// decodeTrades reads a GET /api/v3/trades or historicalTrades answer,
// checking the keys of every item and that the IDs follow each other.
func decodeTrades(t *testing.T, what string, r restReply) []Trade {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("%s: %d %s", what, r.status, r.body)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatalf("%s: %v in %s", what, err, r.body)
	}
	out := make([]Trade, len(raw))
	for i, item := range raw {
		if got := keyOrder(t, item); !reflect.DeepEqual(got, []string{"id", "price", "qty", "quoteQty", "time", "isBuyerMaker", "isBestMatch"}) {
			t.Fatalf("%s: keys %v", what, got)
		}
		if err := json.Unmarshal(item, &out[i]); err != nil {
			t.Fatal(err)
		}
		if i > 0 && out[i].ID != out[i-1].ID+1 {
			t.Fatalf("%s: ID %d after %d", what, out[i].ID, out[i-1].ID)
		}
	}
	return out
}

func TestRESTTrades(t *testing.T) {
	f := newRESTFixture(t, Config{Symbols: []string{"BTCUSDT", "ETHUSDT"}, Levels: 40, History: 1000, TradeShare: 0.5})
	sink := &recSink{want: suffixWant("btcusdt@trade")}
	now := testStart
	for range 3000 {
		now = now.Add(time.Millisecond)
		f.m.advance(now, 4, sink)
	}
	st := f.m.states()[0]
	if st.OldestAggTradeID <= st.LastAggTradeID-1000 || st.OldestTradeID <= st.LastTradeID-3000 {
		t.Fatalf("history did not wrap: %+v", st)
	}

	// the @trade stream, by ID
	stream := map[int64]map[string]json.RawMessage{}
	for _, m := range sink.take() {
		fl := fields(t, m.Ms)
		stream[num(t, fl, "t")] = fl
	}
	truth, err := f.m.tradesRange("BTCUSDT", st.OldestTradeID, st.LastTradeID)
	if err != nil || int64(len(truth)) != st.LastTradeID-st.OldestTradeID+1 {
		t.Fatalf("%d trades in the ground truth: %v", len(truth), err)
	}
	for _, tr := range truth {
		fl, ok := stream[tr.ID]
		if !ok {
			t.Fatalf("trade %d is not in the @trade stream", tr.ID)
		}
		if str(t, fl, "p") != tr.Price || str(t, fl, "q") != tr.Qty || num(t, fl, "T") != tr.Time || string(fl["m"]) != fmt.Sprint(tr.BuyerMaker) || !tr.BestMatch {
			t.Fatalf("trade %d: stream %v, history %+v", tr.ID, fl, tr)
		}
		p, _ := new(big.Rat).SetString(tr.Price)
		q, _ := new(big.Rat).SetString(tr.Qty)
		qq := new(big.Rat).Mul(p, q)
		want := new(big.Int).Quo(new(big.Int).Mul(qq.Num(), big.NewInt(1e8)), qq.Denom()) // truncated to 8 decimals
		if e8(t, tr.QuoteQty) != want.Int64() {
			t.Fatalf("trade %d: quoteQty %s, price × qty = %s", tr.ID, tr.QuoteQty, qq.FloatString(10))
		}
	}
	// aggregate trades cover the trades f..l: same price, quantities adding up
	aggs, err := f.m.aggTrades("BTCUSDT", st.OldestAggTradeID, st.LastAggTradeID)
	if err != nil {
		t.Fatal(err)
	}
	if aggs[0].FirstTradeID != st.OldestTradeID || aggs[len(aggs)-1].LastTradeID != st.LastTradeID {
		t.Fatalf("aggregate trades cover %d..%d, trades kept %d..%d", aggs[0].FirstTradeID, aggs[len(aggs)-1].LastTradeID, st.OldestTradeID, st.LastTradeID)
	}
	for i, a := range aggs {
		if i > 0 && a.FirstTradeID != aggs[i-1].LastTradeID+1 {
			t.Fatalf("aggregate trade %d starts at %d after %d", a.ID, a.FirstTradeID, aggs[i-1].LastTradeID)
		}
		var sum int64
		for id := a.FirstTradeID; id <= a.LastTradeID; id++ {
			tr := truth[id-st.OldestTradeID]
			if tr.Price != a.Price || tr.Time != a.Time || tr.BuyerMaker != a.BuyerMaker {
				t.Fatalf("trade %d %+v in aggregate trade %+v", id, tr, a)
			}
			sum += e8(t, tr.Qty)
		}
		if sum != e8(t, a.Qty) {
			t.Fatalf("aggregate trade %d: q %s, its trades add up to %d", a.ID, a.Qty, sum)
		}
	}
	byID := func(id int64) Trade { return truth[id-st.OldestTradeID] }
	check := func(name, path string, first int64, n int) {
		t.Helper()
		r := f.get(t, path)
		got := decodeTrades(t, name, r)
		if len(got) != n {
			t.Fatalf("%s: %d trades, want %d", name, len(got), n)
		}
		for i, tr := range got {
			if want := byID(first + int64(i)); tr != want {
				t.Fatalf("%s: item %d is %+v, want %+v", name, i, tr, want)
			}
		}
		if w := r.header.Get("X-MBX-USED-WEIGHT-1M"); w == "" {
			t.Fatalf("%s: no used-weight header", name)
		}
	}
	last, oldest := st.LastTradeID, st.OldestTradeID
	check("recent", "/api/v3/trades?symbol=BTCUSDT", last-499, 500)
	check("recent limit 3", "/api/v3/trades?symbol=BTCUSDT&limit=3", last-2, 3)
	check("recent limit cut to 1000", "/api/v3/trades?symbol=BTCUSDT&limit=1001", last-999, 1000)
	check("historical", "/api/v3/historicalTrades?symbol=BTCUSDT", last-499, 500)
	check("historical fromId", fmt.Sprintf("/api/v3/historicalTrades?symbol=BTCUSDT&fromId=%d&limit=10", oldest+7), oldest+7, 10)
	check("historical fromId older than history", "/api/v3/historicalTrades?symbol=BTCUSDT&fromId=1&limit=2", oldest, 2)
	check("historical fromId near the end", fmt.Sprintf("/api/v3/historicalTrades?symbol=BTCUSDT&fromId=%d", last-1), last-1, 2)
	check("historical fromId past the end", fmt.Sprintf("/api/v3/historicalTrades?symbol=BTCUSDT&fromId=%d", last+1), 0, 0)
	check("historical limit cut to 1000", "/api/v3/historicalTrades?symbol=BTCUSDT&limit=5000", last-999, 1000)

	// weight 25 each, no API key needed (an X-MBX-APIKEY is ignored)
	before := f.get(t, "/api/v3/ping").weight(t)
	r := f.get(t, "/api/v3/historicalTrades?symbol=ETHUSDT&limit=1", "X-MBX-APIKEY", "whatever")
	if r.status != 200 || r.weight(t) != before+25 {
		t.Fatalf("historicalTrades: %d, weight %d after %d", r.status, r.weight(t), before)
	}
	if r := f.get(t, "/api/v3/trades?symbol=ETHUSDT&limit=1"); r.weight(t) != before+50 {
		t.Fatalf("trades: weight %d after %d", r.weight(t), before+25)
	}

	// X-MBX-TIME-UNIT
	r = f.get(t, "/api/v3/trades?symbol=BTCUSDT&limit=1", "X-MBX-TIME-UNIT", "microsecond")
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &items); err != nil || len(items) != 1 {
		t.Fatalf("µs: %s", r.body)
	}
	if us := num(t, items[0], "time"); us/1000 != byID(last).Time || us%1000 == 0 && us == byID(last).Time {
		t.Fatalf("time in µs = %d, trade time %d ms", us, byID(last).Time)
	}

	// errors
	for _, c := range []struct {
		path string
		code int
		msg  string
	}{
		{"/api/v3/trades", -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."},
		{"/api/v3/historicalTrades?limit=5", -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."},
		{"/api/v3/trades?symbol=btcusdt", -1100, "Illegal characters found in parameter 'symbol'; legal range is '" + symbolRange + "'."},
		{"/api/v3/historicalTrades?symbol=NOPE", -1121, "Invalid symbol."},
		{"/api/v3/trades?symbol=BTCUSDT&limit=0", -1130, "Data sent for parameter 'limit' is not valid."},
		{"/api/v3/historicalTrades?symbol=BTCUSDT&limit=-1", -1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'."},
		{"/api/v3/historicalTrades?symbol=BTCUSDT&fromId=x", -1100, "Illegal characters found in parameter 'fromId'; legal range is '^[0-9]{1,20}$'."},
		{"/api/v3/historicalTrades?symbol=BTCUSDT&fromId=", -1105, "Parameter 'fromId' was empty."},
		{"/api/v3/trades?symbol=BTCUSDT&fromId=5", -1104, "Not all sent parameters were read; read '1' parameter(s) but was sent '2'."},
		{"/api/v3/historicalTrades?symbol=BTCUSDT&startTime=5", -1104, "Not all sent parameters were read; read '1' parameter(s) but was sent '2'."},
		{"/api/v3/trades?symbol=BTCUSDT&symbol=ETHUSDT", -1101, "Duplicate values for a parameter detected."},
	} {
		r := f.get(t, c.path)
		code, msg := r.apiError(t)
		if r.status != 400 || code != c.code || msg != c.msg {
			t.Errorf("%s: %d %d %q, want 400 %d %q", c.path, r.status, code, msg, c.code, c.msg)
		}
	}
}

func TestRESTLag(t *testing.T) {
	f := newRESTFixture(t, Config{Symbols: []string{"BTCUSDT"}, Levels: 40, History: 5000, TradeShare: 0.6})
	sink := &recSink{want: func(string) (bool, bool) { return false, false }}
	now := testStart
	for range 1000 { // 10 s of trading, one update per 10 ms
		now = now.Add(10 * time.Millisecond)
		f.m.advance(now, 1, sink)
	}
	st := f.m.states()[0]
	trades, _ := f.m.tradesRange("BTCUSDT", st.OldestTradeID, st.LastTradeID)
	aggs, _ := f.m.aggTrades("BTCUSDT", st.OldestAggTradeID, st.LastAggTradeID)
	f.setNow(now.Add(50 * time.Millisecond)) // the newest trade is 50 ms old or more

	// the last trade the database has at a lag d
	lastTradeBefore := func(d time.Duration) int64 {
		edge := now.Add(50*time.Millisecond - d).UnixMilli()
		id := int64(-1)
		for _, tr := range trades {
			if tr.Time <= edge { // trades fall on whole milliseconds here
				id = tr.ID
			}
		}
		return id
	}
	lastAggBefore := func(d time.Duration) int64 {
		edge := now.Add(50*time.Millisecond - d).UnixMilli()
		id := int64(-1)
		for _, a := range aggs {
			if a.Time <= edge {
				id = a.ID
			}
		}
		return id
	}
	lastOf := func(what, path string) int64 {
		t.Helper()
		r := f.get(t, path)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", what, r.status, r.body)
		}
		var items []map[string]json.RawMessage
		if err := json.Unmarshal(r.body, &items); err != nil {
			t.Fatal(err)
		}
		if len(items) == 0 {
			return -1
		}
		key := "id"
		if strings.Contains(path, "aggTrades") {
			key = "a"
		}
		return num(t, items[len(items)-1], key)
	}

	// default RESTLag 200 ms: the database has not got the last 150 ms of trades
	if got, want := lastOf("historicalTrades", "/api/v3/historicalTrades?symbol=BTCUSDT&limit=5"), lastTradeBefore(200*time.Millisecond); got != want || want >= st.LastTradeID {
		t.Fatalf("historicalTrades ends at %d, want %d (last trade %d)", got, want, st.LastTradeID)
	}
	if got, want := lastOf("aggTrades", "/api/v3/aggTrades?symbol=BTCUSDT&limit=5"), lastAggBefore(200*time.Millisecond); got != want || want >= st.LastAggTradeID {
		t.Fatalf("aggTrades ends at %d, want %d (last %d)", got, want, st.LastAggTradeID)
	}
	// the recent trades come from memory: no lag
	if got := lastOf("trades", "/api/v3/trades?symbol=BTCUSDT&limit=5"); got != st.LastTradeID {
		t.Fatalf("trades ends at %d, want the last trade %d", got, st.LastTradeID)
	}
	// near the live edge: a short page, then an empty one, never an error
	edge := lastTradeBefore(200 * time.Millisecond)
	r := f.get(t, fmt.Sprintf("/api/v3/historicalTrades?symbol=BTCUSDT&fromId=%d&limit=100", edge-2))
	if got := decodeTrades(t, "short page", r); len(got) != 3 || got[2].ID != edge {
		t.Fatalf("fromId %d: %d trades", edge-2, len(got))
	}
	r = f.get(t, fmt.Sprintf("/api/v3/historicalTrades?symbol=BTCUSDT&fromId=%d", st.LastTradeID))
	if got := decodeTrades(t, "empty page", r); len(got) != 0 {
		t.Fatalf("fromId of the last trade, not yet in the database: %d trades", len(got))
	}
	r = f.get(t, fmt.Sprintf("/api/v3/aggTrades?symbol=BTCUSDT&fromId=%d", st.LastAggTradeID))
	if r.status != 200 || string(r.body) != "[]" {
		t.Fatalf("aggTrades fromId of the last one: %d %s", r.status, r.body)
	}
	// later, the database has caught up
	f.setNow(now.Add(time.Second))
	if got := lastOf("historicalTrades", "/api/v3/historicalTrades?symbol=BTCUSDT&limit=5"); got != st.LastTradeID {
		t.Fatalf("a second later historicalTrades ends at %d, want %d", got, st.LastTradeID)
	}

	// rest-lag: one answer lags 5 s; ping and trades do not spend it
	if err := (Fault{Kind: FaultRESTLag, Times: 1}).validate(); err != nil {
		t.Fatal(err)
	}
	f.fs.add(Fault{Kind: FaultRESTLag, Times: 1})
	f.get(t, "/api/v3/ping")
	if got := lastOf("trades", "/api/v3/trades?symbol=BTCUSDT&limit=5"); got != st.LastTradeID {
		t.Fatalf("trades under rest-lag ends at %d", got)
	}
	if got, want := lastOf("historicalTrades", "/api/v3/historicalTrades?symbol=BTCUSDT&limit=5"), lastTradeBefore(4*time.Second+50*time.Millisecond); got != want {
		t.Fatalf("historicalTrades under rest-lag ends at %d, want %d", got, want)
	}
	if got := lastOf("historicalTrades", "/api/v3/historicalTrades?symbol=BTCUSDT&limit=5"); got != st.LastTradeID {
		t.Fatalf("after rest-lag historicalTrades ends at %d", got)
	}
	f.fs.add(Fault{Kind: FaultRESTLag, Times: 1, Duration: 20 * time.Second})
	if got := lastOf("aggTrades", "/api/v3/aggTrades?symbol=BTCUSDT"); got != -1 {
		t.Fatalf("aggTrades with every trade younger than rest-lag's 20 s: ends at %d, want an empty page", got)
	}
	if n := f.fs.counts()[FaultRESTLag]; n != 2 {
		t.Fatalf("rest-lag fired %d times", n)
	}

	// no lag at all
	g := newRESTFixture(t, Config{Symbols: []string{"BTCUSDT"}, Levels: 40, RESTLag: -1})
	g.m.advance(now, 200, sink)
	g.setNow(now)
	_, _, lastID, _ := g.m.lastIDs("BTCUSDT")
	r = g.get(t, "/api/v3/historicalTrades?symbol=BTCUSDT&limit=1")
	if got := decodeTrades(t, "no lag", r); len(got) != 1 || got[0].ID != lastID {
		t.Fatalf("RESTLag -1: %+v, want trade %d", got, lastID)
	}
}
