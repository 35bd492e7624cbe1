package feed_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// TestStatsStreams: klines, mini tickers, tickers of a window, the average
// price and the market-wide mini ticker array arrive as candle, ticker and
// avg_price events whose figures are the simulator's, field by field.
func TestStatsStreams(t *testing.T) {
	s := startSim(t, sim.Config{Rate: 300, TickerEvery: 200 * time.Millisecond, Kline1sEvery: 200 * time.Millisecond, KlineEvery: 200 * time.Millisecond})
	streams := []string{"btcusdt@kline_1s", "btcusdt@kline_1m", "btcusdt@miniTicker", "btcusdt@ticker", "btcusdt@ticker_1h",
		"btcusdt@avgPrice", "!miniTicker@arr"}
	var mu sync.Mutex
	var got []feed.Event
	g := openGateway(t, s, streams, wsconn.Config{}, func(ev *feed.Event) {
		if ev.Stats == nil {
			return
		}
		var cp feed.Event
		ev.CopyTo(&cp)
		mu.Lock()
		got = append(got, cp)
		mu.Unlock()
	})
	kinds := func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		m := map[string]int{}
		for _, ev := range got {
			k := ev.Type.String() + " " + ev.Stats.Window
			if ev.Stats.Mini {
				k += " mini " + ev.Symbol
			}
			m[k]++
		}
		return m
	}
	want := []string{"candle 1s", "candle 1m", "ticker 24h mini BTCUSDT", "ticker 24h mini ETHUSDT", "ticker 24h", "ticker 1h", "avg_price 5m"}
	waitFor(t, 15*time.Second, "every kind of statistics", func() bool {
		m := kinds()
		for _, k := range want {
			if m[k] < 3 {
				return false
			}
		}
		return true
	})
	g.Close()
	if st := g.Stats(); st.Malformed != 0 || st.Unknown != 0 {
		t.Fatalf("stats %+v", st)
	}

	tlsCfg, err := httpx.TLSConfig(simtest.CAFile(t, s))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	defer client.CloseIdleConnections()
	truth := func(path string) map[string]any {
		t.Helper()
		resp, err := client.Get(s.RESTURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, err)
		}
		return m
	}
	dec := func(m map[string]any, key string, scale uint8) int64 {
		t.Helper()
		v, err := fixed.Parse(m[key].(string), scale)
		if err != nil {
			t.Fatalf("%s %v: %v", key, m[key], err)
		}
		return v
	}
	exact := func(m map[string]any, key string, d fixed.Dec) {
		t.Helper()
		w, err := fixed.Parse(m[key].(string), 8)
		if err != nil || (fixed.Dec{M: w, S: 8}).Cmp(d) != 0 {
			t.Fatalf("%s: got %s, the simulator's %v", key, d, m[key])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	checked := map[string]int{}
	for _, ev := range got {
		st := ev.Stats
		ms := ev.EventTime / 1e6
		var m map[string]any
		switch {
		case ev.Type == feed.TypeCandle:
			m = truth(fmt.Sprintf("/sim/kline?symbol=%s&interval=%s&start=%d&at=%d", ev.Symbol, st.Window, st.OpenTime/1e6, ms))["k"].(map[string]any)
			if dec(m, "v", ev.QtyScale) != st.Volume || dec(m, "V", ev.QtyScale) != st.TakerBuyVolume || int64(m["n"].(float64)) != st.Trades ||
				m["x"].(bool) != st.Closed || int64(m["T"].(float64))*1e6 != st.CloseTime || int64(m["L"].(float64)) != ev.LastTradeID {
				t.Fatalf("candle %+v %+v, the simulator's %v", ev, *st, m)
			}
			exact(m, "q", st.QuoteVolume)
		case ev.Type == feed.TypeTicker && st.Mini:
			m = truth(fmt.Sprintf("/sim/ticker?symbol=%s&window=mini&at=%d", ev.Symbol, ms))
		case ev.Type == feed.TypeTicker:
			m = truth(fmt.Sprintf("/sim/ticker?symbol=%s&window=%s&at=%d", ev.Symbol, st.Window, ms))
			if int64(m["n"].(float64)) != st.Trades || int64(m["F"].(float64)) != ev.FirstTradeID || int64(m["L"].(float64)) != ev.LastTradeID {
				t.Fatalf("ticker %+v %+v, the simulator's %v", ev, *st, m)
			}
			exact(m, "w", st.Avg)
		case ev.Type == feed.TypeAvgPrice:
			m = truth(fmt.Sprintf("/sim/ticker?symbol=%s&window=avgPrice&at=%d", ev.Symbol, ms))
			exact(m, "w", st.Avg)
			checked[ev.Type.String()]++
			continue
		}
		if dec(m, "o", ev.PriceScale) != st.Open || dec(m, "h", ev.PriceScale) != st.High || dec(m, "l", ev.PriceScale) != st.Low ||
			dec(m, "c", ev.PriceScale) != st.Close || dec(m, "v", ev.QtyScale) != st.Volume {
			t.Fatalf("%s %+v %+v, the simulator's %v", ev.Type, ev, *st, m)
		}
		checked[ev.Type.String()]++
	}
	t.Logf("checked against the simulator: %v", checked)
}
