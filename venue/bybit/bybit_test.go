package bybit

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
)

func testVenue(t *testing.T, perConn int, syms ...Symbol) *Bybit {
	t.Helper()
	table := testSymbols(t)
	if len(syms) > 0 {
		var err error
		if table, err = NewSymbols(syms...); err != nil {
			t.Fatal(err)
		}
	}
	v, err := New(Config{WSURL: "wss://127.0.0.1:1", Symbols: table, TopicsPerConn: perConn})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseStream(t *testing.T) {
	for _, ok := range []string{"spot/publicTrade.BTCUSDT", "spot/orderbook.1.BTCUSDT", "linear/orderbook.1000.BTCUSDT",
		"linear/tickers.BTCUSDT", "linear/allLiquidation.BTCUSDT", "linear/publicTrade.BTC-26DEC25"} {
		if _, err := ParseStream(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, tc := range []struct{ name, want string }{
		{"orderbook.50.BTCUSDT", `want CATEGORY/TOPIC`},
		{"inverse/orderbook.50.BTCUSD", `want CATEGORY/TOPIC`},
		{"spot:orderbook.50.BTCUSDT", `want CATEGORY/TOPIC`},
		{"spot/orderbook.500.BTCUSDT", `depth "500"`},
		{"spot/orderbook.50.btcusdt", `upper-case symbol`},
		{"spot/tickers.BTCUSDT", `is not decoded`},
		{"spot/allLiquidation.BTCUSDT", `is not decoded`},
		{"linear/kline.1.BTCUSDT", `is not decoded`},
	} {
		_, err := ParseStream(tc.name)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s: %v, want an error naming it with %q", tc.name, err, tc.want)
		}
	}
}

func TestPlan(t *testing.T) {
	var syms []Symbol
	var streams []string
	for i := range 25 {
		name := fmt.Sprintf("C%02dUSDT", i)
		syms = append(syms, Symbol{Category: Spot, Name: name, PriceScale: 2, QtyScale: 2}, Symbol{Category: Linear, Name: name, PriceScale: 2, QtyScale: 2})
		streams = append(streams, "spot/publicTrade."+name, "linear/orderbook.50."+name)
	}
	v := testVenue(t, 20, syms...)
	plans, err := v.Plan(append(streams, streams[0])) // a repeat is planned once
	if err != nil {
		t.Fatal(err)
	}
	// 25 spot topics at 20 a connection: 2 connections; the same for linear
	if len(plans) != 4 {
		t.Fatalf("%d plans, want 4", len(plans))
	}
	seen := map[string]bool{}
	ids := map[int64]bool{}
	for _, p := range plans {
		cat := Spot
		if strings.HasSuffix(p.URL, "/v5/public/linear") {
			cat = Linear
		} else if !strings.HasSuffix(p.URL, "/v5/public/spot") {
			t.Fatalf("URL %s", p.URL)
		}
		if len(p.Subscribe) != len(p.Requests) {
			t.Fatalf("%d messages, %d requests", len(p.Subscribe), len(p.Requests))
		}
		var n int
		for i, m := range p.Subscribe {
			var req struct {
				ReqID string   `json:"req_id"`
				Op    string   `json:"op"`
				Args  []string `json:"args"`
			}
			if err := json.Unmarshal(m, &req); err != nil {
				t.Fatalf("%s: %v", m, err)
			}
			if req.Op != "subscribe" || req.ReqID != fmt.Sprint(p.Requests[i].ID) || len(req.Args) != len(p.Requests[i].Streams) {
				t.Fatalf("request %s vs %+v", m, p.Requests[i])
			}
			if cat == Spot && len(req.Args) > SpotArgsPerRequest {
				t.Fatalf("spot request of %d args: %s", len(req.Args), m)
			}
			if ids[p.Requests[i].ID] {
				t.Fatalf("request ID %d twice", p.Requests[i].ID)
			}
			ids[p.Requests[i].ID] = true
			for j, a := range req.Args {
				if want := string(cat) + "/" + a; p.Requests[i].Streams[j] != want {
					t.Fatalf("topic %s, stream %s", a, p.Requests[i].Streams[j])
				}
				seen[string(cat)+"/"+a] = true
			}
			n += len(req.Args)
		}
		if n > 20 || n != len(p.Streams) {
			t.Fatalf("%d topics on a connection, %d streams", n, len(p.Streams))
		}
	}
	if len(seen) != 50 {
		t.Fatalf("%d streams planned, want 50", len(seen))
	}
	// a decoder of a linear plan reads linear frames
	for _, p := range plans {
		if strings.HasSuffix(p.URL, "linear") {
			var ev feed.Event
			if _, err := v.NewDecoder(p).Decode([]byte(`{"topic":"orderbook.50.C01USDT","type":"snapshot","ts":1,"data":{"b":[],"a":[],"u":3}}`), &ev); err != nil || ev.Symbol != "linear/C01USDT" {
				t.Fatalf("linear decoder: %+v, %v", ev, err)
			}
		}
	}
}

// A connection takes at most 21,000 characters of topics ("Connect").
func TestPlanArgsLength(t *testing.T) {
	var syms []Symbol
	var streams []string
	for i := range 500 {
		name := fmt.Sprintf("VERYLONGSYMBOLNAMEFORTEST%03dUSDT", i) // 47-character topics: 500 take 24,000
		syms = append(syms, Symbol{Category: Linear, Name: name, PriceScale: 2, QtyScale: 2})
		streams = append(streams, "linear/allLiquidation."+name)
	}
	plans, err := testVenue(t, MaxTopicsPerConn, syms...).Plan(streams)
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 2 {
		t.Fatalf("%d plans, want 2", len(plans))
	}
	for _, p := range plans {
		total := 0
		for _, s := range p.Streams {
			total += len(s) - len("linear/") + 1
		}
		if total > MaxArgsLength+1 {
			t.Fatalf("%d characters of topics on one connection", total)
		}
	}
}

func TestPlanErrors(t *testing.T) {
	v := testVenue(t, 0)
	for _, tc := range []struct {
		streams []string
		want    string
	}{
		{[]string{"spot/orderbook.50.ETHUSDT"}, "unknown symbol"},
		{[]string{"linear/orderbook.50.BTCUSDT", "linear/orderbook.200.BTCUSDT"}, "one orderbook topic per market"},
		{nil, "no streams"},
		{[]string{"spot/bogus"}, `"spot/bogus"`},
	} {
		if _, err := v.Plan(tc.streams); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.streams, err, tc.want)
		}
	}
	// the spot book and the perpetual's of one name are two markets
	if _, err := v.Plan([]string{"spot/orderbook.50.BTCUSDT", "linear/orderbook.50.BTCUSDT"}); err != nil {
		t.Fatal(err)
	}
}

func TestKeepaliveAndResubscribe(t *testing.T) {
	v := testVenue(t, 0)
	k := v.Keepalive()
	if k.Interval != 20*time.Second || string(k.Message()) != `{"op":"ping"}` || !k.IsReply([]byte(docLinearPong)) || k.IsReply([]byte(docBookDelta)) {
		t.Fatalf("keepalive %+v", k)
	}
	msgs, err := v.ResubscribeMessages("linear/orderbook.50.BTCUSDT")
	if err != nil || len(msgs) != 2 {
		t.Fatalf("%q, %v", msgs, err)
	}
	for i, op := range []string{"unsubscribe", "subscribe"} {
		var req struct {
			ReqID string   `json:"req_id"`
			Op    string   `json:"op"`
			Args  []string `json:"args"`
		}
		if err := json.Unmarshal(msgs[i], &req); err != nil || req.Op != op || len(req.Args) != 1 || req.Args[0] != "orderbook.50.BTCUSDT" || req.ReqID == "" {
			t.Fatalf("%s: %+v, %v", msgs[i], req, err)
		}
	}
	if _, err := v.ResubscribeMessages("orderbook.50.BTCUSDT"); err == nil {
		t.Fatal("a stream without its category")
	}
	r := v.Rules()
	if r.Book != feed.BookFromStream || r.Trades != feed.TradeIDsOpaque || r.BookChain != feed.ChainFirstID {
		t.Fatalf("rules %+v", r)
	}
}
