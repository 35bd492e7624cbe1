package sink_test

import (
	"log/slog"
	"os"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/sink"
	"github.com/feedkeeper/feedkeeper/sink/stdout"
)

// Events go to every sink of a Multi; Handler makes it a gateway's
// handler (feed.GatewayConfig.Handler), and Close delivers what was
// accepted once the gateway is closed.
func Example() {
	out, err := stdout.Open(stdout.Config{Out: os.Stdout})
	if err != nil {
		panic(err)
	}
	all := sink.NewMulti(out)
	handler := sink.Handler(all, slog.Default())

	ev := feed.Event{Type: feed.TypeTrade, Venue: "binance", Symbol: "BTCUSDT", ID: 7, FirstTradeID: 7, LastTradeID: 7,
		Side: feed.SideBuy, Price: 6000001, PriceScale: 2, Qty: 5, QtyScale: 3, ReceiveTime: 1767225600000000000}
	handler(&ev)

	if err := all.Close(); err != nil {
		panic(err)
	}
	// Output:
	// {"v":1,"type":"trade","venue":"binance","symbol":"BTCUSDT","id":7,"agg":false,"first_trade_id":7,"last_trade_id":7,"price":"60000.01","qty":"0.005","side":"buy","receive_ts":1767225600000000000}
}
