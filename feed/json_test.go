package feed_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
)

// The JSON form of the newer fields and event types: valid JSON, the keys
// docs/schema.md names, decimals exact.
func TestJSONOfStatsAndFlags(t *testing.T) {
	tests := []struct {
		ev   feed.Event
		want map[string]any
	}{
		{feed.Event{Type: feed.TypeCandle, Venue: "binance", Symbol: "BTCUSDT", PriceScale: 2, QtyScale: 5, FirstTradeID: 7, LastTradeID: 9,
			ReceiveTime: 5, Stats: &feed.Stats{Window: "1m", OpenTime: 1, CloseTime: 2, Open: 100, High: 150, Low: 90, Close: 120, Volume: 12345,
				QuoteVolume: fixed.Dec{M: 123456789, S: 4}, TakerBuyVolume: 100, TakerBuyQuote: fixed.Dec{M: 5, S: 0}, Trades: 3, Closed: true}},
			map[string]any{"v": 1.0, "type": "candle", "venue": "binance", "symbol": "BTCUSDT", "interval": "1m", "open_ts": 1.0, "close_ts": 2.0,
				"open": "1.00", "high": "1.50", "low": "0.90", "close": "1.20", "volume": "0.12345", "quote_volume": "12345.6789",
				"taker_buy_volume": "0.00100", "taker_buy_quote_volume": "5", "trades": 3.0, "first_trade_id": 7.0, "last_trade_id": 9.0,
				"closed": true, "receive_ts": 5.0}},
		{feed.Event{Type: feed.TypeTicker, Venue: "binance", Symbol: "BTCUSDT", PriceScale: 1, QtyScale: 1, ReceiveTime: 5,
			Stats: &feed.Stats{Window: "24h", Mini: true, Open: 1, High: 2, Low: 1, Close: 2, Volume: 30, QuoteVolume: fixed.Dec{M: 7, S: 1}}},
			map[string]any{"v": 1.0, "type": "ticker", "venue": "binance", "symbol": "BTCUSDT", "window": "24h", "mini": true,
				"open": "0.1", "high": "0.2", "low": "0.1", "close": "0.2", "volume": "3.0", "quote_volume": "0.7", "receive_ts": 5.0}},
		{feed.Event{Type: feed.TypeAvgPrice, Venue: "binance", Symbol: "BTCUSDT", ExchangeTime: 4, ReceiveTime: 5,
			Stats: &feed.Stats{Window: "5m", Avg: fixed.Dec{M: 5942842084876, S: 8}}},
			map[string]any{"v": 1.0, "type": "avg_price", "venue": "binance", "symbol": "BTCUSDT", "window": "5m", "price": "59428.42084876",
				"exchange_ts": 4.0, "receive_ts": 5.0}},
		{feed.Event{Type: feed.TypeBookSnapshot, Venue: "binance", Symbol: "PEPEUSDT", Stream: "pepeusdt@depth5", ID: 3, Capped: true,
			Bids: []feed.Level{{Price: 1, Qty: 92233720368}}, ReceiveTime: 5},
			map[string]any{"v": 1.0, "type": "book_snapshot", "venue": "binance", "symbol": "PEPEUSDT", "stream": "pepeusdt@depth5", "id": 3.0,
				"bids": []any{[]any{"1", "92233720368"}}, "asks": []any{}, "capped": true, "receive_ts": 5.0}},
		{feed.Event{Type: feed.TypeFunding, Venue: "binance-usdm", Symbol: "BTCUSDT", Instrument: "BTC-USDT-PERP", EventTime: 4, ReceiveTime: 5,
			Deriv: &feed.Deriv{MarkPrice: fixed.Dec{M: 1179415000000, S: 8}, IndexPrice: fixed.Dec{M: 1178462659091, S: 8},
				FundingRate: fixed.Dec{M: 0, S: 8}, NextFunding: 1562306400000000000}},
			map[string]any{"v": 1.0, "type": "funding", "venue": "binance-usdm", "symbol": "BTCUSDT", "instrument": "BTC-USDT-PERP",
				"mark_price": "11794.15000000", "index_price": "11784.62659091", "funding_rate": "0.00000000",
				"next_funding_ts": 1562306400000000000.0, "event_ts": 4.0, "receive_ts": 5.0}},
		{feed.Event{Type: feed.TypeLiquidation, Venue: "binance-usdm", Symbol: "BTCUSDT", Side: feed.SideSell, PriceScale: 1, QtyScale: 3,
			Price: 99100, Qty: 14, ExchangeTime: 3, ReceiveTime: 5},
			map[string]any{"v": 1.0, "type": "liquidation", "venue": "binance-usdm", "symbol": "BTCUSDT", "side": "sell", "price": "9910.0",
				"qty": "0.014", "exchange_ts": 3.0, "receive_ts": 5.0}},
		{feed.Event{Type: feed.TypeOpenInterest, Venue: "binance-usdm", Symbol: "BTCUSDT", ReceiveTime: 5,
			Deriv: &feed.Deriv{OpenInterest: fixed.Dec{M: 10659509, S: 3}}},
			map[string]any{"v": 1.0, "type": "open_interest", "venue": "binance-usdm", "symbol": "BTCUSDT", "open_interest": "10659.509",
				"receive_ts": 5.0}},
	}
	for _, tt := range tests {
		b := tt.ev.AppendJSON(nil)
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s\n got %v\nwant %v", b, got, tt.want)
		}
		var cp feed.Event
		tt.ev.CopyTo(&cp)
		if tt.ev.Stats != nil && (cp.Stats == tt.ev.Stats || *cp.Stats != *tt.ev.Stats) {
			t.Errorf("CopyTo shares or changes Stats")
		}
		if tt.ev.Deriv != nil && (cp.Deriv == tt.ev.Deriv || *cp.Deriv != *tt.ev.Deriv) {
			t.Errorf("CopyTo shares or changes Deriv")
		}
	}
}

// The instrument follows the symbol, and is absent when unknown.
func TestJSONInstrument(t *testing.T) {
	ev := feed.Event{Type: feed.TypeTrade, Venue: "binance", Symbol: "BTCUSDT", Instrument: "BTC-USDT", ID: 1, FirstTradeID: 1, LastTradeID: 1,
		PriceScale: 2, QtyScale: 5, Price: 6000001, Qty: 100, Side: feed.SideBuy, ReceiveTime: 5}
	const prefix = `{"v":1,"type":"trade","venue":"binance","symbol":"BTCUSDT","instrument":"BTC-USDT","id":1,`
	if b := ev.AppendJSON(nil); !strings.HasPrefix(string(b), prefix) || !json.Valid(b) {
		t.Errorf("%s\nwant it to start %s", b, prefix)
	}
	ev.Instrument = ""
	if b := ev.AppendJSON(nil); strings.Contains(string(b), "instrument") {
		t.Errorf("%s: instrument without one", b)
	}
	st := feed.Event{Type: feed.TypeStatus, Status: feed.StatusHalted, Venue: "binance", Symbol: "BTCUSDT", Instrument: "BTC-USDT"}
	var got map[string]any
	if err := json.Unmarshal(st.AppendJSON(nil), &got); err != nil || got["instrument"] != "BTC-USDT" {
		t.Errorf("status: %v, %v", got, err)
	}
	buf := make([]byte, 0, 512)
	ev.Instrument = "BTC-USDT"
	if n := testing.AllocsPerRun(100, func() { buf = ev.AppendJSON(buf[:0]) }); n != 0 {
		t.Errorf("AppendJSON allocates %v times", n)
	}
}
