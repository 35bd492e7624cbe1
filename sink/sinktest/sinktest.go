// Package sinktest is the test suite every sink passes: what is written
// comes back identical, in order, whatever the event type, and the
// ownership and closing rules of sink.Sink hold.
package sinktest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/sink"
)

// Target is a sink under test and the way to read back what reached its
// destination.
type Target struct {
	Sink sink.Sink
	// Read returns the JSON objects at the destination, in the order they
	// were written. It is called after Sink.Close.
	Read func(t testing.TB) [][]byte
}

// Run runs the suite; open makes a fresh Target for each subtest.
func Run(t *testing.T, open func(t *testing.T) Target) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, open(t)) })
	t.Run("CopiesEvent", func(t *testing.T) { testCopiesEvent(t, open(t)) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, open(t)) })
	t.Run("ConcurrentStats", func(t *testing.T) { testConcurrentStats(t, open(t)) })
}

// Events returns events of every type, with the corner cases of the JSON
// form: empty symbol, escapes, invalid UTF-8, scales 0 to 18, negative
// values, empty and long level lists. Trade and snapshot IDs are unique.
func Events() []feed.Event {
	evs := []feed.Event{
		{Type: feed.TypeTrade, Venue: "binance", Symbol: "BTCUSDT", ID: 1001, FirstID: 1001, FirstTradeID: 5001, LastTradeID: 5003,
			Aggregated: true, Side: feed.SideBuy, Price: 6000001, PriceScale: 2, Qty: 12345678, QtyScale: 8,
			ExchangeTime: 1767225600000000000, EventTime: 1767225600001000000, ReceiveTime: 1767225600002000000},
		{Type: feed.TypeTrade, Venue: "binance", Symbol: "BTCUSDT", ID: 5004, FirstID: 5004, FirstTradeID: 5004, LastTradeID: 5004,
			Side: feed.SideSell, Price: 1, PriceScale: 8, Qty: 7, QtyScale: 0, Recovered: true,
			ExchangeTime: 1767225600003000000, ReceiveTime: 1767225600004000000},
		{Type: feed.TypeBookDelta, Venue: "binance", Symbol: "ETHUSDT", FirstID: 200, ID: 205,
			PriceScale: 2, QtyScale: 4, Bids: []feed.Level{lv(300012, 5), lv(300011, 0)}, Asks: []feed.Level{lv(300013, 123456)},
			ExchangeTime: 1767225600005000000, EventTime: 1767225600005000000, ReceiveTime: 1767225600006000000},
		{Type: feed.TypeBookDelta, Venue: "binance", Symbol: "ETHUSDT", FirstID: 206, ID: 206, PriceScale: 2, QtyScale: 4,
			ReceiveTime: 1767225600007000000},
		{Type: feed.TypeBookSnapshot, Venue: "binance", Symbol: "ETHUSDT", FirstID: 210, ID: 210, PriceScale: 2, QtyScale: 4,
			Bids: []feed.Level{lv(300010, 1)}, Asks: []feed.Level{lv(300020, 2)}, ReceiveTime: 1767225600008000000},
		{Type: feed.TypeTopOfBook, Venue: "binance", Symbol: "ETHUSDT", FirstID: 211, ID: 211, PriceScale: 2, QtyScale: 4,
			Bid: feed.Level{Price: 300010, Qty: 1}, Ask: feed.Level{Price: 300020, Qty: 2}, ReceiveTime: 1767225600009000000},
		{Type: feed.TypeGap, Venue: "binance", Symbol: "BTCUSDT", Missing: feed.TypeTrade, Aggregated: true, FirstID: 1002, ID: 1010,
			Reason: "backfill failed: 429", ReceiveTime: 1767225600010000000},
		{Type: feed.TypeGap, Venue: "binance", Symbol: "ETHUSDT", Missing: feed.TypeBookDelta, FirstID: 207, ID: 209,
			Reason: "resync", ReceiveTime: 1767225600011000000},
		{Type: feed.TypeStatus, Venue: "binance", Status: feed.StatusConnected, Reason: "connection 1 up",
			ReceiveTime: 1767225600012000000},
		{Type: feed.TypeStatus, Venue: "binance", Status: feed.StatusDisconnected,
			Reason: "quote \" backslash \\ newline \n tab \t nul \x00 é 日本 bad \xff\xfe end", ReceiveTime: 1767225600013000000},
		{Type: feed.TypeTrade, Venue: "binance", Symbol: "SHIBUSDT", ID: 77, FirstID: 77, FirstTradeID: 77, LastTradeID: 77,
			Side: feed.SideBuy, Price: -123456789012345678, PriceScale: 18, Qty: 9223372036854775807, QtyScale: 3,
			ReceiveTime: 1767225600014000000},
	}
	deep := feed.Event{Type: feed.TypeBookSnapshot, Derived: true, Venue: "binance", Symbol: "BTCUSDT", FirstID: 9000, ID: 9000,
		PriceScale: 2, QtyScale: 8, ReceiveTime: 1767225600015000000}
	for i := range 1000 {
		deep.Bids = append(deep.Bids, feed.Level{Price: 6000000 - int64(i), Qty: int64(i + 1)})
		deep.Asks = append(deep.Asks, feed.Level{Price: 6000001 + int64(i), Qty: int64(1000 - i)})
	}
	return append(evs, deep)
}

func lv(price, qty int64) feed.Level { return feed.Level{Price: price, Qty: qty} }

// Trades returns n aggregated trades of symbol with IDs from first on.
func Trades(symbol string, first int64, n int) []feed.Event {
	evs := make([]feed.Event, n)
	for i := range evs {
		id := first + int64(i)
		evs[i] = feed.Event{Type: feed.TypeTrade, Aggregated: true, Venue: "binance", Symbol: symbol,
			ID: id, FirstID: id, FirstTradeID: 3 * id, LastTradeID: 3*id + 2,
			Side: feed.Side(1 + i%2), Price: 6000000 + int64(i%100), PriceScale: 2, Qty: int64(1 + i), QtyScale: 8,
			ExchangeTime: 1767225600000000000 + id*1000, EventTime: 1767225600000000000 + id*1000 + 1,
			ReceiveTime: 1767225600000000000 + id*1000 + 2}
	}
	return evs
}

// Equal reports whether got and want hold the same JSON values, and the
// first difference if not.
func Equal(got, want []byte) error {
	g, err := decode(got)
	if err != nil {
		return fmt.Errorf("got %q: %w", got, err)
	}
	w, err := decode(want)
	if err != nil {
		return fmt.Errorf("want %q: %w", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		return fmt.Errorf("got  %s\nwant %s", got, want)
	}
	return nil
}

func decode(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("more than one JSON value")
	}
	return m, nil
}

// Check compares the objects read back with the events written.
func Check(t testing.TB, got [][]byte, want []feed.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read back %d events, wrote %d", len(got), len(want))
	}
	for i := range want {
		if err := Equal(got[i], want[i].AppendJSON(nil)); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
}

// CheckStats checks that a closed sink delivered all n events it accepted.
func CheckStats(t testing.TB, st sink.Stats, n int64) {
	t.Helper()
	if st.Accepted != n || st.Delivered != n || st.Lost != 0 || st.Dropped != 0 || st.Pending != 0 {
		t.Fatalf("stats %+v: want %d accepted and delivered, none lost, dropped or pending", st, n)
	}
}

func write(t testing.TB, s sink.Sink, evs []feed.Event) {
	t.Helper()
	for i := range evs {
		if err := s.Write(&evs[i]); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
}

func testRoundTrip(t *testing.T, tg Target) {
	want := append(Events(), Trades("BTCUSDT", 100000, 2000)...)
	write(t, tg.Sink, want)
	if err := tg.Sink.Close(); err != nil {
		t.Fatal(err)
	}
	Check(t, tg.Read(t), want)
	CheckStats(t, tg.Sink.Stats(), int64(len(want)))
}

// testCopiesEvent reuses one Event and its level arrays for every write,
// as the gateway does: each write must keep what it was given.
func testCopiesEvent(t *testing.T, tg Target) {
	src := Events()
	var ev feed.Event
	for i := range src {
		src[i].CopyTo(&ev)
		if err := tg.Sink.Write(&ev); err != nil {
			t.Fatal(err)
		}
		ev.Symbol, ev.Reason = "CHANGED", "changed"
		for j := range ev.Bids {
			ev.Bids[j] = feed.Level{Price: -1, Qty: -1}
		}
		ev.Reset()
	}
	if err := tg.Sink.Close(); err != nil {
		t.Fatal(err)
	}
	Check(t, tg.Read(t), src)
}

func testClosed(t *testing.T, tg Target) {
	evs := Trades("ETHUSDT", 1, 3)
	write(t, tg.Sink, evs[:2])
	if err := tg.Sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tg.Sink.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	err := tg.Sink.Write(&evs[2])
	if !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
	var se *sink.Error
	if !errors.As(err, &se) || se.Sink == "" {
		t.Fatalf("Write after Close: %v, want a *sink.Error naming the sink", err)
	}
	Check(t, tg.Read(t), evs[:2])
	CheckStats(t, tg.Sink.Stats(), 2)
}

func testConcurrentStats(t *testing.T, tg Target) {
	evs := Trades("BNBUSDT", 1, 3000)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				st := tg.Sink.Stats()
				if st.Pending < 0 || st.Delivered > st.Accepted {
					t.Errorf("inconsistent stats %+v", st)
				}
			}
		}
	}()
	write(t, tg.Sink, evs)
	err := tg.Sink.Close()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	Check(t, tg.Read(t), evs)
	CheckStats(t, tg.Sink.Stats(), int64(len(evs)))
}
