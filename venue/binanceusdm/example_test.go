package binanceusdm_test

import (
	"fmt"

	"github.com/feedkeeper/feedkeeper/venue/binanceusdm"
)

// A symbol's depth and its mark price are served on different routes of
// the stream host, so they take two connections. (The host here is a
// local simulator's; the default is DefaultWSURL.)
func ExampleFutures_Plan() {
	syms, err := binanceusdm.NewSymbols(binanceusdm.Symbol{Name: "BTCUSDT", PriceScale: 1, QtyScale: 3,
		Base: "BTC", Quote: "USDT", Margin: "USDT", ContractType: binanceusdm.Perpetual})
	if err != nil {
		fmt.Println(err)
		return
	}
	venue, err := binanceusdm.New(binanceusdm.Config{WSURL: "wss://localhost:9443", Symbols: syms})
	if err != nil {
		fmt.Println(err)
		return
	}
	plans, err := venue.Plan([]string{"btcusdt@depth@100ms", "btcusdt@markPrice@1s", "btcusdt@aggTrade"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range plans {
		fmt.Println(p.URL, p.Streams)
	}
	_, err = venue.Plan([]string{"btcusdt@trade"})
	fmt.Println(err)
	// Output:
	// wss://localhost:9443/public/stream [btcusdt@depth@100ms]
	// wss://localhost:9443/market/stream [btcusdt@markPrice@1s btcusdt@aggTrade]
	// binanceusdm: stream "btcusdt@trade": no known route (/public: depth, bookTicker; /market: aggTrade, markPrice, forceOrder, kline, ticker, …)
}
