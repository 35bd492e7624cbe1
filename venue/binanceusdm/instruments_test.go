package binanceusdm

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
)

// A tick made finer while the venue runs: the first price with more
// decimals widens its contract's scale, in the decoders and the recovery
// alike, and nothing is dropped.
func TestFinerTickWidensTheScale(t *testing.T) {
	v, err := New(Config{WSURL: "wss://127.0.0.1:1", Symbols: testSymbols(t)})
	if err != nil {
		t.Fatal(err)
	}
	dec := v.NewDecoder(feed.ConnPlan{})
	var ev feed.Event
	if _, err := dec.Decode([]byte(docAggTrade), &ev); err != nil || ev.Price != 1 || ev.PriceScale != 1 {
		t.Fatalf("at the listed tick: %v, price %d at %d", err, ev.Price, ev.PriceScale)
	}
	finer := `{"e":"aggTrade","E":1,"s":"BTCUSDT","a":2,"p":"0.15","q":"1.0005","f":1,"l":1,"T":1,"m":false}`
	if _, err := dec.Decode([]byte(finer), &ev); err != nil || ev.Price != 15 || ev.PriceScale != 2 || ev.Qty != 10005 || ev.QtyScale != 4 {
		t.Fatalf("finer tick and step: %v, price %d at %d, qty %d at %d", err, ev.Price, ev.PriceScale, ev.Qty, ev.QtyScale)
	}
	if n := v.Instruments().Widened(); n != 2 {
		t.Fatalf("%d scales widened, want the price's and the quantity's", n)
	}
	if _, err := dec.Decode([]byte(docAggTrade), &ev); err != nil || ev.Price != 10 || ev.PriceScale != 2 {
		t.Fatalf("the listed tick at the wider scale: %v, price %d at %d", err, ev.Price, ev.PriceScale)
	}
	tooFine := `{"e":"aggTrade","E":1,"s":"BTCUSDT","a":2,"p":"0.1234567890123456789","q":"1","f":1,"l":1,"T":1,"m":false}`
	if _, err := dec.Decode([]byte(tooFine), &ev); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a price beyond any scale: %v", err)
	}

	rs, c := newRESTServer(t)
	in := NewInstruments(testSymbols(t))
	rec, err := NewRecovery(c, in)
	if err != nil {
		t.Fatal(err)
	}
	sym, _ := in.Table().Lookup("BTCUSDT")
	sym, p, q, err := rec.parseTrade(sym, "0.15", "2")
	if err != nil || p != 15 || q != 2000 || sym.PriceScale != 2 {
		t.Fatalf("recovered trade: %v, %d %d at %+v", err, p, q, sym)
	}
	rs.mu.Lock()
	rs.depth = `{"lastUpdateId":7,"E":1,"T":1,"bids":[["4.005","1"]],"asks":[["4.1","0.00001"]]}`
	rs.mu.Unlock()
	var snap feed.Event
	if err := rec.Depth(context.Background(), "BTCUSDT", 5, &snap); err != nil {
		t.Fatal(err)
	}
	if snap.PriceScale != 3 || snap.QtyScale != 5 || snap.Bids[0] != (feed.Level{Price: 4005, Qty: 100000}) || snap.Asks[0] != (feed.Level{Price: 4100, Qty: 1}) {
		t.Fatalf("snapshot %+v", snap)
	}
	if in.Widened() != 3 {
		t.Fatalf("%d widened", in.Widened())
	}
	if in.Widen("BTCUSDT", true, fixed.MaxScale+1) || in.Widen("XYZ", true, 5) || in.Widen("BTCUSDT", true, 1) {
		t.Fatal("Widen changed the table for a scale beyond MaxScale, an unknown contract or a narrower scale")
	}
}

// Watch announces a contract that stops trading with a finer tick, then
// trades again, and the decoders take the new scale.
func TestWatchAnnouncesChanges(t *testing.T) {
	rs, c := newRESTServer(t)
	syms, err := LoadSymbols(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(Config{WSURL: "wss://127.0.0.1:1", Symbols: syms, REST: c, RefreshEvery: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan feed.Event, 16)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		v.Watch(ctx, func(ev *feed.Event) { events <- *ev })
	}()
	defer wg.Wait()
	defer cancel()

	next := func(want feed.Status) feed.Event {
		t.Helper()
		select {
		case ev := <-events:
			if ev.Status != want || ev.Type != feed.TypeStatus || ev.Symbol != "BTCUSDT" || ev.Instrument != "BTC-USDT-PERP" || ev.Venue != Venue {
				t.Fatalf("announced %+v, want %v", ev, want)
			}
			return ev
		case <-time.After(5 * time.Second):
			t.Fatalf("nothing announced, want %v", want)
		}
		return feed.Event{}
	}
	set := func(body string) {
		rs.mu.Lock()
		rs.info = body
		rs.mu.Unlock()
	}
	set(strings.Replace(strings.Replace(exchangeInfoBody, `"TRADING"`, `"SETTLING"`, 1), `"tickSize":"0.10"`, `"tickSize":"0.01"`, 1))
	if ev := next(feed.StatusHalted); !strings.Contains(ev.Reason, "SETTLING") || !strings.Contains(ev.Reason, "price scale 1→2") {
		t.Fatalf("reason %q", ev.Reason)
	}
	var dev feed.Event
	if _, err := v.NewDecoder(feed.ConnPlan{}).Decode([]byte(docAggTrade), &dev); err != nil || dev.PriceScale != 2 || dev.Price != 10 {
		t.Fatalf("decoded at %d: %d, %v", dev.PriceScale, dev.Price, err)
	}
	set(strings.Replace(exchangeInfoBody, `"tickSize":"0.10"`, `"tickSize":"0.01"`, 1))
	next(feed.StatusTrading)
	select {
	case ev := <-events:
		t.Fatalf("announced %+v with nothing changed", ev)
	case <-time.After(50 * time.Millisecond):
	}
}
