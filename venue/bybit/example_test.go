package bybit_test

import (
	"fmt"

	"github.com/feedkeeper/feedkeeper/venue/bybit"
)

// The spot pair and the perpetual of one name are two markets on two
// stream paths: a stream names its category. A spot connection subscribes
// in requests of at most 10 topics. (The host here is a local simulator's;
// the default is DefaultWSURL.)
func ExampleBybit_Plan() {
	syms, err := bybit.NewSymbols(
		bybit.Symbol{Category: bybit.Spot, Name: "BTCUSDT", PriceScale: 2, QtyScale: 6, Base: "BTC", Quote: "USDT"},
		bybit.Symbol{Category: bybit.Linear, Name: "BTCUSDT", PriceScale: 1, QtyScale: 3, Base: "BTC", Quote: "USDT", Perpetual: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	venue, err := bybit.New(bybit.Config{WSURL: "wss://localhost:9443", Symbols: syms})
	if err != nil {
		fmt.Println(err)
		return
	}
	plans, err := venue.Plan([]string{"spot/orderbook.50.BTCUSDT", "spot/publicTrade.BTCUSDT",
		"linear/orderbook.200.BTCUSDT", "linear/tickers.BTCUSDT"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range plans {
		fmt.Println(p.URL, p.Streams)
		for _, m := range p.Subscribe {
			fmt.Println(" ", string(m))
		}
	}
	_, err = venue.Plan([]string{"spot/tickers.BTCUSDT"})
	fmt.Println(err)
	// Output:
	// wss://localhost:9443/v5/public/spot [spot/orderbook.50.BTCUSDT spot/publicTrade.BTCUSDT]
	//   {"req_id":"1","op":"subscribe","args":["orderbook.50.BTCUSDT","publicTrade.BTCUSDT"]}
	// wss://localhost:9443/v5/public/linear [linear/orderbook.200.BTCUSDT linear/tickers.BTCUSDT]
	//   {"req_id":"2","op":"subscribe","args":["orderbook.200.BTCUSDT","tickers.BTCUSDT"]}
	// stream "spot/tickers.BTCUSDT": topic "tickers.BTCUSDT" is not decoded (spot/ or linear/ followed by publicTrade.SYMBOL or orderbook.{1,50,200,1000}.SYMBOL; linear/ also tickers.SYMBOL, allLiquidation.SYMBOL)
}
