package peers

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	binance "github.com/adshao/go-binance/v2"
)

// groundTruth fetches one of the simulator's ground-truth documents and
// decodes it into a map of raw fields.
func groundTruth(t *testing.T, path string) map[string]json.RawMessage {
	t.Helper()
	resp, err := http.Get(srv.RESTURL() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return m
}

// sameFields compares what go-binance decoded (field name → value) with
// the ground truth's raw fields.
func sameFields(t *testing.T, what string, got map[string]any, truth map[string]json.RawMessage) {
	t.Helper()
	for k, v := range got {
		want, ok := truth[k]
		if !ok {
			t.Fatalf("%s: ground truth has no %q", what, k)
		}
		var w any
		switch v.(type) {
		case string:
			var s string
			_ = json.Unmarshal(want, &s)
			w = s
		case int64:
			var n int64
			_ = json.Unmarshal(want, &n)
			w = n
		case bool:
			var b bool
			_ = json.Unmarshal(want, &b)
			w = b
		}
		if v != w {
			t.Fatalf("%s %q: go-binance read %v, the ground truth says %s", what, k, v, want)
		}
	}
}

// TestGoBinanceKlineStream checks klines as go-binance decodes them against
// the simulator's ground truth, a closed one ("x":true) included.
func TestGoBinanceKlineStream(t *testing.T) {
	t.Parallel()
	f := startFeed(t, func(h func(*binance.WsKlineEvent), e binance.ErrHandler) (chan struct{}, chan struct{}, error) {
		return binance.WsKlineServe(btc, "1s", h, e)
	}, func(ev []*binance.WsKlineEvent) bool {
		closed := 0
		for _, e := range ev {
			if e.Kline.IsFinal {
				closed++
			}
		}
		return closed >= 2
	})
	events := f.wait(t, 15*time.Second)
	for _, ev := range events {
		k := ev.Kline
		if ev.Event != "kline" || ev.Symbol != btc || k.Symbol != btc || k.Interval != "1s" || k.EndTime-k.StartTime != 999 {
			t.Fatalf("kline event %+v", ev)
		}
		checkMillis(t, "kline E", ev.Time, time.Now())
		truth := groundTruth(t, fmt.Sprintf("/sim/kline?symbol=%s&interval=1s&start=%d&at=%d", btc, k.StartTime, ev.Time))
		if string(truth["E"]) != fmt.Sprint(ev.Time) {
			t.Fatalf("ground truth E %s, event %d", truth["E"], ev.Time)
		}
		var tk map[string]json.RawMessage
		if err := json.Unmarshal(truth["k"], &tk); err != nil {
			t.Fatal(err)
		}
		sameFields(t, fmt.Sprintf("kline %d", k.StartTime), map[string]any{
			"t": k.StartTime, "T": k.EndTime, "s": k.Symbol, "i": k.Interval, "f": k.FirstTradeID, "L": k.LastTradeID,
			"o": k.Open, "c": k.Close, "h": k.High, "l": k.Low, "v": k.Volume, "n": k.TradeNum, "x": k.IsFinal,
			"q": k.QuoteVolume, "V": k.ActiveBuyVolume, "Q": k.ActiveBuyQuoteVolume,
		}, tk)
		if k.IsFinal && k.TradeNum > 0 {
			positive(t, "closed kline volume", k.Volume)
		}
	}
}

// TestGoBinanceTickerStreams checks the 24-hour ticker and the mini tickers
// of every symbol against the ground truth.
func TestGoBinanceTickerStreams(t *testing.T) {
	t.Parallel()
	tickers := startFeed(t, func(h func(*binance.WsMarketStatEvent), e binance.ErrHandler) (chan struct{}, chan struct{}, error) {
		return binance.WsMarketStatServe(btc, h, e)
	}, atLeast[*binance.WsMarketStatEvent](2))
	minis := startFeed(t, func(h func(binance.WsAllMiniMarketsStatEvent), e binance.ErrHandler) (chan struct{}, chan struct{}, error) {
		return binance.WsAllMiniMarketsStatServe(h, e)
	}, atLeast[binance.WsAllMiniMarketsStatEvent](2))
	for _, ev := range tickers.wait(t, 15*time.Second) {
		if ev.Event != "24hrTicker" || ev.Symbol != btc || ev.Count < 1 || ev.CloseTime != ev.Time || ev.CloseTime-ev.OpenTime != 24*60*60*1000 {
			t.Fatalf("24hrTicker %+v", ev)
		}
		truth := groundTruth(t, fmt.Sprintf("/sim/ticker?symbol=%s&window=24h&at=%d", btc, ev.Time))
		sameFields(t, "24hrTicker", map[string]any{
			"e": ev.Event, "E": ev.Time, "s": ev.Symbol, "p": ev.PriceChange, "P": ev.PriceChangePercent,
			"w": ev.WeightedAvgPrice, "x": ev.PrevClosePrice, "c": ev.LastPrice, "Q": ev.CloseQty,
			"o": ev.OpenPrice, "h": ev.HighPrice, "l": ev.LowPrice, "v": ev.BaseVolume, "q": ev.QuoteVolume,
			"O": ev.OpenTime, "C": ev.CloseTime, "F": ev.FirstID, "L": ev.LastID, "n": ev.Count,
		}, truth)
		positive(t, "24hrTicker bid", ev.BidPrice)
		positive(t, "24hrTicker ask", ev.AskPrice)
	}
	symbols := map[string]bool{}
	for _, arr := range minis.wait(t, 15*time.Second) {
		for _, ev := range arr {
			symbols[ev.Symbol] = true
			if ev.Event != "24hrMiniTicker" {
				t.Fatalf("mini ticker %+v", ev)
			}
			truth := groundTruth(t, fmt.Sprintf("/sim/ticker?symbol=%s&window=mini&at=%d", ev.Symbol, ev.Time))
			sameFields(t, "24hrMiniTicker "+ev.Symbol, map[string]any{
				"e": ev.Event, "E": ev.Time, "s": ev.Symbol, "c": ev.LastPrice, "o": ev.OpenPrice,
				"h": ev.HighPrice, "l": ev.LowPrice, "v": ev.BaseVolume, "q": ev.QuoteVolume,
			}, truth)
		}
	}
	if !symbols[btc] || !symbols[eth] {
		t.Fatalf("!miniTicker@arr carried %v, want %s and %s", symbols, btc, eth)
	}
	if a, r := srv.ConnAttempts(); r != 0 || a < 2 {
		t.Fatalf("connection attempts %d, refused %d", a, r)
	}
}
