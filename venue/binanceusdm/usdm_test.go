package binanceusdm

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
)

func newTestVenue(t *testing.T, cfg Config) *Futures {
	t.Helper()
	if cfg.Symbols == nil {
		cfg.Symbols = testSymbols(t)
	}
	if cfg.WSURL == "" {
		cfg.WSURL = "wss://127.0.0.1:1"
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRouteOf(t *testing.T) {
	for stream, want := range map[string]Route{
		"btcusdt@depth": RoutePublic, "btcusdt@depth@100ms": RoutePublic, "btcusdt@depth@500ms": RoutePublic,
		"btcusdt@depth5": RoutePublic, "btcusdt@depth20@100ms": RoutePublic, "btcusdt@bookTicker": RoutePublic,
		"!bookTicker":      RoutePublic,
		"btcusdt@aggTrade": RouteMarket, "btcusdt@markPrice": RouteMarket, "btcusdt@markPrice@1s": RouteMarket,
		"!markPrice@arr": RouteMarket, "btcusdt@forceOrder": RouteMarket, "!forceOrder@arr": RouteMarket,
		"btcusdt@kline_1m": RouteMarket, "btcusdt@ticker": RouteMarket, "btcusdt@miniTicker": RouteMarket,
	} {
		if got, err := RouteOf(stream); err != nil || got != want {
			t.Errorf("RouteOf(%q) = %q, %v; want %q", stream, got, err, want)
		}
	}
	for _, stream := range []string{"btcusdt@trade", "btcusdt@orderbook", "btcusdt", "@aggTrade", "!nothing@arr"} {
		if _, err := RouteOf(stream); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", stream)) {
			t.Errorf("RouteOf(%q): error %v does not name the stream", stream, err)
		}
	}
}

func TestPlanRoutes(t *testing.T) {
	v := newTestVenue(t, Config{})
	plans, err := v.Plan([]string{"btcusdt@depth@100ms", "btcusdt@markPrice@1s", "btcusdt@aggTrade", "bnbusdt@bookTicker", "!forceOrder@arr", "btcusdt@aggTrade"})
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 2 {
		t.Fatalf("%d plans, want public and market", len(plans))
	}
	pub, mkt := plans[0], plans[1]
	if pub.URL != "wss://127.0.0.1:1/public/stream" || !slices.Equal(pub.Streams, []string{"btcusdt@depth@100ms", "bnbusdt@bookTicker"}) {
		t.Fatalf("public plan %s %v", pub.URL, pub.Streams)
	}
	if mkt.URL != "wss://127.0.0.1:1/market/stream" || !slices.Equal(mkt.Streams, []string{"btcusdt@markPrice@1s", "btcusdt@aggTrade", "!forceOrder@arr"}) {
		t.Fatalf("market plan %s %v", mkt.URL, mkt.Streams)
	}
	ids := map[int64]bool{}
	for _, p := range plans {
		if len(p.Subscribe) != 1 || len(p.Requests) != 1 || !slices.Equal(p.Requests[0].Streams, p.Streams) {
			t.Fatalf("plan %s: subscribe %q requests %+v", p.URL, p.Subscribe, p.Requests)
		}
		var sub struct {
			Method string
			Params []string
			ID     int64
		}
		if err := json.Unmarshal(p.Subscribe[0], &sub); err != nil || sub.Method != "SUBSCRIBE" || !slices.Equal(sub.Params, p.Streams) || sub.ID != p.Requests[0].ID {
			t.Fatalf("subscribe %s: %+v %v", p.Subscribe[0], sub, err)
		}
		var list struct {
			Method string
			ID     int64
		}
		if err := json.Unmarshal(p.Confirm, &list); err != nil || list.Method != "LIST_SUBSCRIPTIONS" || list.ID != p.ConfirmID {
			t.Fatalf("confirm %s", p.Confirm)
		}
		for _, id := range []int64{sub.ID, list.ID} {
			if ids[id] {
				t.Fatalf("request ID %d used twice", id)
			}
			ids[id] = true
		}
	}
	if v.Rules().BookChain != feed.ChainPrevID || v.Lifetime() != ConnLifetime || v.MessageRate() >= IncomingPerSecond || v.Name() != "binance-usdm" {
		t.Fatalf("rules %v lifetime %v rate %v", v.Rules(), v.Lifetime(), v.MessageRate())
	}
}

func TestPlanSplitsAt200Streams(t *testing.T) {
	var list []Symbol
	var streams []string
	for i := range 450 {
		name := fmt.Sprintf("S%03dUSDT", i)
		list = append(list, Symbol{Name: name, PriceScale: 2, QtyScale: 2})
		streams = append(streams, strings.ToLower(name)+"@aggTrade")
	}
	syms, err := NewSymbols(list...)
	if err != nil {
		t.Fatal(err)
	}
	v := newTestVenue(t, Config{Symbols: syms})
	plans, err := v.Plan(streams)
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 3 || len(plans[0].Streams) != 200 || len(plans[1].Streams) != 200 || len(plans[2].Streams) != 50 {
		t.Fatalf("%d plans", len(plans))
	}
	if _, err := New(Config{Symbols: syms, StreamsPerConn: 201}); err == nil || !strings.Contains(err.Error(), "201") {
		t.Fatalf("StreamsPerConn 201: %v", err)
	}
}

func TestPlanRefuses(t *testing.T) {
	v := newTestVenue(t, Config{})
	for _, c := range []struct {
		streams []string
		want    string
	}{
		{[]string{"btcusdt@trade"}, `"btcusdt@trade": no known route`},
		{[]string{"btcusdt@kline_1m"}, `"btcusdt@kline_1m": type "kline_1m" is not decoded`},
		{[]string{"btcusdt@depth5"}, `"btcusdt@depth5": type "depth5" is not decoded`},
		{[]string{"xrpusdt@aggTrade"}, `"xrpusdt@aggTrade"`},
		{[]string{"BTCUSDT@aggTrade"}, `"BTCUSDT@aggTrade"`},
		{[]string{"!markPrice@arr"}, `"!markPrice@arr"`},
		{[]string{"btcusdt@depth", "btcusdt@depth@100ms"}, "one diff depth stream per symbol"},
		{nil, "no streams"},
	} {
		_, err := v.Plan(c.streams)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Plan(%q): %v, want %q", c.streams, err, c.want)
		}
	}
	if _, err := v.Plan([]string{"xrpusdt@aggTrade"}); !errors.Is(err, ErrUnknownSymbol) {
		t.Errorf("unknown symbol: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	syms := testSymbols(t)
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Symbols: syms, WSURL: "https://x"}, `"https://x"`},
		{Config{}, "Symbols"},
		{Config{Symbols: syms, StreamsPerConn: -1}, "-1"},
		{Config{Symbols: syms, Lifetime: -time.Second}, "-1s"},
	} {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): %v, want %q", c.cfg, err, c.want)
		}
	}
	v, err := New(Config{Symbols: syms})
	if err != nil {
		t.Fatal(err)
	}
	plans, err := v.Plan([]string{"btcusdt@aggTrade"})
	if err != nil || plans[0].URL != DefaultWSURL+"/market/stream" {
		t.Fatalf("default host: %v %v", plans, err)
	}
}
