package peers

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hirokisan/bybit/v2"

	"github.com/feedkeeper/feedkeeper/sim"
)

// These tests drive an unmodified github.com/hirokisan/bybit/v2 against
// the simulator's Bybit front-end, configured only through what it exports
// for the purpose (WithBaseURL) and the process's trusted roots.

func startBybit(t *testing.T) (*sim.Server, *sim.Bybit) {
	t.Helper()
	s, err := sim.Start(sim.Config{Symbols: []string{btc, eth}, Rate: 2000, Levels: 100, CertDir: certDir,
		Venues: []string{sim.VenueBybit}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, s.Bybit()
}

// bybitPublic opens a hirokisan/bybit public connection of category,
// runs subscribe on it, and starts its read loop; the returned stop closes
// it and waits for the loop.
func bybitPublic(t *testing.T, by *sim.Bybit, category bybit.CategoryV5, subscribe func(bybit.V5WebsocketPublicServiceI) error) (stop func(), errs <-chan error) {
	t.Helper()
	svc, err := bybit.NewWebsocketClient().WithBaseURL(by.WSURL()).V5().Public(category)
	if err != nil {
		t.Fatalf("connect %s: %v", category, err)
	}
	if err := subscribe(svc); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	ec := make(chan error, 16)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = svc.Start(ctx, func(closed bool, err error) {
			if ctx.Err() == nil {
				select {
				case ec <- fmt.Errorf("closed=%v: %w", closed, err):
				default:
				}
			}
		})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
		})
	}
	t.Cleanup(stop)
	return stop, ec
}

// TestHirokisanBybitBookAndTrades: hirokisan/bybit subscribes to
// orderbook.50 and publicTrade on the linear stream; the book it parses,
// kept by Bybit's rules (a snapshot replaces the book, a delta sets
// levels, size "0" deletes), equals the ground truth at every u, u rises
// by one, and every trade it parses is the simulator's, in order, with its
// string ID. Its REST client reads the order book and the recent trades.
func TestHirokisanBybitBookAndTrades(t *testing.T) {
	_, by := startBybit(t)

	books := make(chan bybit.V5WebsocketPublicOrderBookResponse, 1<<12)
	trades := make(chan bybit.V5WebsocketPublicTradeData, 1<<14)
	stop, errs := bybitPublic(t, by, bybit.CategoryV5Linear, func(svc bybit.V5WebsocketPublicServiceI) error {
		if _, err := svc.SubscribeOrderBook(bybit.V5WebsocketPublicOrderBookParamKey{Depth: 50, Symbol: btc},
			func(r bybit.V5WebsocketPublicOrderBookResponse) error {
				select {
				case books <- r:
				default:
				}
				return nil
			}); err != nil {
			return err
		}
		_, err := svc.SubscribeTrade(bybit.V5WebsocketPublicTradeParamKey{Symbol: btc},
			func(r bybit.V5WebsocketPublicTradeResponse) error {
				for _, d := range r.Data {
					select {
					case trades <- d:
					default:
					}
				}
				return nil
			})
		return err
	})

	book := map[string]map[string]string{}
	last, checked := 0, 0
	deadline := time.After(20 * time.Second)
	for checked < 100 {
		var r bybit.V5WebsocketPublicOrderBookResponse
		select {
		case r = <-books:
		case err := <-errs:
			t.Fatalf("stream: %v", err)
		case <-deadline:
			t.Fatalf("%d book messages within 20 s", checked)
		}
		switch {
		case r.Type == "snapshot":
			book["b"], book["a"] = map[string]string{}, map[string]string{}
			if checked > 0 {
				t.Fatalf("a snapshot mid-stream at u=%d", r.Data.UpdateID)
			}
		case r.Data.UpdateID != last+1:
			t.Fatalf("u=%d after %d", r.Data.UpdateID, last)
		}
		last = r.Data.UpdateID
		for _, l := range r.Data.Bids {
			setLevel(book["b"], l.Price, l.Size)
		}
		for _, l := range r.Data.Asks {
			setLevel(book["a"], l.Price, l.Size)
		}
		truth, err := by.BookAt(btc, sim.BybitLinear, int64(r.Data.UpdateID))
		if err != nil {
			t.Fatal(err)
		}
		if err := sameTop(book, truth, 50); err != nil {
			t.Fatalf("u=%d: %v", r.Data.UpdateID, err)
		}
		checked++
	}
	stop()
	var got []bybit.V5WebsocketPublicTradeData
drain:
	for {
		select {
		case d := <-trades:
			got = append(got, d)
		default:
			break drain
		}
	}
	if len(got) < 50 {
		t.Fatalf("%d trades", len(got))
	}
	truth, err := by.Trades(btc, sim.BybitLinear, int64(got[0].Timestamp), int64(got[len(got)-1].Timestamp))
	if err != nil {
		t.Fatal(err)
	}
	at := -1
	for i := range truth {
		if truth[i].ID == got[0].ID {
			at = i
			break
		}
	}
	if at < 0 || len(truth)-at < len(got) {
		t.Fatalf("trades from %s: not in the truth (%d there)", got[0].ID, len(truth))
	}
	for i, g := range got {
		w := truth[at+i]
		if g.ID != w.ID || g.Trade != w.Price || g.Value != w.Size || string(g.Side) != w.Side || int64(g.Timestamp) != w.Time || g.Direction == "" {
			t.Fatalf("trade %d as hirokisan/bybit reads it: %+v, truth %+v", i, g, w)
		}
	}
	t.Logf("%d book messages equal to the truth, %d trades", checked, len(got))

	client := bybit.NewClient().WithBaseURL(by.RESTURL())
	defer http.DefaultClient.CloseIdleConnections()
	limit := 50
	ob, err := client.V5().Market().GetOrderbook(bybit.V5GetOrderbookParam{Category: bybit.CategoryV5Linear, Symbol: btc, Limit: &limit})
	if err != nil {
		t.Fatalf("GetOrderbook: %v", err)
	}
	tb, err := by.BookAt(btc, sim.BybitLinear, int64(ob.Result.UpdateID))
	if err != nil {
		t.Fatal(err)
	}
	if len(ob.Result.Bids) != 50 || ob.Result.Bids[0].Price != tb.Bids[0].Price || ob.Result.Asks[49].Quantity != tb.Asks[49].Qty {
		t.Fatalf("GetOrderbook: %+v, truth at u=%d: %v", ob.Result, ob.Result.UpdateID, tb.Bids[:1])
	}
	rt, err := client.V5().Market().GetPublicTradingHistory(bybit.V5GetPublicTradingHistoryParam{Category: bybit.CategoryV5Spot, Symbol: btc})
	if err != nil {
		t.Fatalf("GetPublicTradingHistory: %v", err)
	}
	if len(rt.Result.List) != 60 {
		t.Fatalf("GetPublicTradingHistory on spot: %d trades, want the default 60", len(rt.Result.List))
	}
}

func setLevel(side map[string]string, price, size string) {
	if size == "0" {
		delete(side, price)
		return
	}
	side[price] = size
}

func sameTop(book map[string]map[string]string, truth sim.BookState, depth int) error {
	for side, want := range map[string][]sim.Level{"b": truth.Bids, "a": truth.Asks} {
		want = want[:min(depth, len(want))]
		if len(book[side]) != len(want) {
			return fmt.Errorf("side %s: %d levels, truth %d", side, len(book[side]), len(want))
		}
		for _, l := range want {
			if book[side][l.Price] != l.Qty {
				return fmt.Errorf("side %s at %s: %q, truth %q", side, l.Price, book[side][l.Price], l.Qty)
			}
		}
	}
	return nil
}
