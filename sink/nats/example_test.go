package nats_test

import (
	"context"
	"fmt"
	"time"

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

// A durable consumer keeps its place on the server: a reader that stops
// and comes back under the same name resumes after the last message it
// acknowledged.
func Example_durableConsumer() {
	s, err := nats.Open(nats.Config{})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	for id := int64(1); id <= 3; id++ {
		ev := feed.Event{Type: feed.TypeTrade, Aggregated: true, Venue: "binance", Symbol: "BTCUSDT", ID: id,
			Price: 6000001, PriceScale: 2, Qty: 5, QtyScale: 3, ReceiveTime: 1767225600000000000 + id}
		if err := s.Write(&ev); err != nil {
			panic(err)
		}
	}

	nc, err := natsgo.Connect(s.ClientURL())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	read := func(n int) {
		cons, err := js.CreateOrUpdateConsumer(ctx, nats.DefaultStream, jetstream.ConsumerConfig{
			Durable:       "archiver",
			FilterSubject: "md.binance.btcusdt.agg_trade",
			AckPolicy:     jetstream.AckExplicitPolicy,
		})
		if err != nil {
			panic(err)
		}
		batch, err := cons.Fetch(n)
		if err != nil {
			panic(err)
		}
		for m := range batch.Messages() {
			fmt.Println(m.Headers().Get(jetstream.MsgIDHeader))
			if err := m.DoubleAck(ctx); err != nil { // acknowledged once the server confirms it
				panic(err)
			}
		}
	}
	read(2) // the first run reads two trades and stops
	fmt.Println("restart")
	read(1) // the next one resumes
	// Output:
	// binance:BTCUSDT:agg_trade:1
	// binance:BTCUSDT:agg_trade:2
	// restart
	// binance:BTCUSDT:agg_trade:3
}

// An ordered consumer replays from a time: the messages JetStream stored
// at or after it, in order, and leaves nothing behind on the server.
func Example_replayFromTime() {
	s, err := nats.Open(nats.Config{})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	write := func(id int64) {
		ev := feed.Event{Type: feed.TypeTrade, Aggregated: true, Venue: "binance", Symbol: "BTCUSDT", ID: id,
			Price: 6000001, PriceScale: 2, Qty: 5, QtyScale: 3, ReceiveTime: 1767225600000000000 + id}
		if err := s.Write(&ev); err != nil {
			panic(err)
		}
	}
	nc, err := natsgo.Connect(s.ClientURL())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	stored := func(n uint64) { // wait until the stream holds n messages
		for {
			st, err := js.Stream(ctx, nats.DefaultStream)
			if err != nil {
				panic(err)
			}
			if st.CachedInfo().State.Msgs >= n {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	write(1)
	stored(1)
	time.Sleep(20 * time.Millisecond)
	from := time.Now()
	write(2)
	write(3)
	stored(3)

	cons, err := js.OrderedConsumer(ctx, nats.DefaultStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"md.binance.btcusdt.agg_trade"},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &from,
	})
	if err != nil {
		panic(err)
	}
	for range 2 {
		m, err := cons.Next()
		if err != nil {
			panic(err)
		}
		fmt.Println(m.Headers().Get(jetstream.MsgIDHeader))
	}
	// Output:
	// binance:BTCUSDT:agg_trade:2
	// binance:BTCUSDT:agg_trade:3
}
