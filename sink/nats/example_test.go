package nats_test

import (
	"context"
	"fmt"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/sink/nats"
)

// The zero Config starts an embedded NATS server with JetStream; any NATS
// client can read the stream at the URL it listens on.
func Example() {
	s, err := nats.Open(nats.Config{})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	ev := feed.Event{Type: feed.TypeTrade, Aggregated: true, Venue: "binance", Symbol: "BTCUSDT", ID: 1, FirstTradeID: 10, LastTradeID: 12,
		Side: feed.SideSell, Price: 6000001, PriceScale: 2, Qty: 5, QtyScale: 3, ReceiveTime: 1767225600000000000}
	if err := s.Write(&ev); err != nil {
		panic(err)
	}

	nc, err := natsgo.Connect(s.ClientURL())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	cons, err := js.OrderedConsumer(ctx, nats.DefaultStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"md.binance.btcusdt.agg_trade"},
	})
	if err != nil {
		panic(err)
	}
	msg, err := cons.Next()
	if err != nil {
		panic(err)
	}
	fmt.Println(msg.Subject(), msg.Headers().Get(jetstream.MsgIDHeader))
	fmt.Println(string(msg.Data()))
	// Output:
	// md.binance.btcusdt.agg_trade binance:BTCUSDT:agg_trade:1
	// {"v":1,"type":"trade","venue":"binance","symbol":"BTCUSDT","id":1,"agg":true,"first_trade_id":10,"last_trade_id":12,"price":"60000.01","qty":"0.005","side":"sell","receive_ts":1767225600000000000}
}
