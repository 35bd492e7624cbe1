package peers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/adshao/go-binance/v2/futures"

	"github.com/feedkeeper/feedkeeper/sim"
)

// These tests drive go-binance's futures package, unmodified, against the
// simulator's Binance USD-M front-end. It is configured only through what
// it exports: its endpoint variable (futures.BaseWsMainUrl), the Client's
// BaseURL, and futures.WebsocketKeepalive (off: its keep-alive goroutine
// outlives stopped streams, as the spot one does). Its default WebSocket
// base is the legacy wss://fstream.binance.com/ws, which since the route
// split carries /public streams only; a program of today points it at the
// /public and /market routes, and so does this test.

// startFutures starts a simulator serving USD-M, with the CA the process
// trusts, and points go-binance's futures package at it.
func startFutures(t *testing.T) (*sim.Server, *futures.Client) {
	t.Helper()
	s, err := sim.Start(sim.Config{Symbols: []string{btc, eth}, Rate: 2000, Levels: 100, CertDir: certDir,
		RESTLag: -1, Venues: []string{sim.VenueBinanceUSDM}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	saved, keep := futures.BaseWsMainUrl, futures.WebsocketKeepalive
	futures.WebsocketKeepalive = false
	t.Cleanup(func() { futures.BaseWsMainUrl, futures.WebsocketKeepalive = saved, keep })
	c := futures.NewClient("", "")
	c.BaseURL = s.USDM().RESTURL()
	return s, c
}

// serveOn connects one go-binance futures stream with the WebSocket base
// set to route; the stream is stopped and waited for when the test ends.
func serveOn[E any](t *testing.T, s *sim.Server, route string, serve func(func(E), futures.ErrHandler) (chan struct{}, chan struct{}, error)) (<-chan E, <-chan error) {
	t.Helper()
	futures.BaseWsMainUrl = s.USDM().WSURL() + route
	events := make(chan E, 1<<14)
	errs := make(chan error, 16)
	doneC, stopC, err := serve(func(e E) {
		select {
		case events <- e:
		default:
		}
	}, func(err error) {
		select {
		case errs <- err:
		default:
		}
	})
	if err != nil {
		t.Fatalf("go-binance futures could not connect to %s: %v", route, err)
	}
	t.Cleanup(func() {
		close(stopC)
		select {
		case <-doneC:
		case <-time.After(5 * time.Second):
			t.Errorf("go-binance's futures stream did not end within 5 s of closing stopC")
		}
	})
	return events, errs
}

// TestFuturesBookAndTradesMatchGroundTruth: go-binance's futures client
// keeps a book from the diff depth stream and GET /fapi/v1/depth by the
// documented USD-M procedure (drop u < lastUpdateId; the first event has
// U <= lastUpdateId <= u; every later one pu == previous u) and follows
// aggTrade by its contiguous IDs; after every event both match the
// simulator's ground truth, and GET /fapi/v1/aggTrades returns the same
// trades as the stream.
func TestFuturesBookAndTradesMatchGroundTruth(t *testing.T) {
	s, client := startFutures(t)
	u := s.USDM()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	info, err := client.NewExchangeInfoService().Do(ctx)
	if err != nil {
		t.Fatalf("exchangeInfo: %v", err)
	}
	if len(info.Symbols) != 2 || info.Symbols[0].ContractType != futures.ContractTypePerpetual ||
		info.Symbols[0].PriceFilter().TickSize != "0.01000000" || info.Symbols[0].MarginAsset != "USDT" ||
		len(info.RateLimits) == 0 || info.RateLimits[0].Limit != 2400 {
		t.Fatalf("exchangeInfo as go-binance reads it: %+v", info)
	}

	depth, depthErrs := serveOn(t, s, "/public/ws", func(h func(*futures.WsDepthEvent), eh futures.ErrHandler) (chan struct{}, chan struct{}, error) {
		return futures.WsDiffDepthServeWithRate(btc, 100*time.Millisecond, h, eh)
	})
	trades, tradeErrs := serveOn(t, s, "/market/ws", func(h func(*futures.WsAggTradeEvent), eh futures.ErrHandler) (chan struct{}, chan struct{}, error) {
		return futures.WsAggTradeServe(btc, h, eh)
	})
	next := func(what string) {
		select {
		case err := <-depthErrs:
			t.Fatalf("depth stream: %v", err)
		case err := <-tradeErrs:
			t.Fatalf("aggTrade stream: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s within 5 s", what)
		default:
		}
	}
	var first *futures.WsDepthEvent
	select {
	case first = <-depth:
	case <-time.After(5 * time.Second):
		next("depth event")
	}

	snap, err := client.NewDepthService().Symbol(btc).Limit(1000).Do(ctx)
	if err != nil {
		t.Fatalf("depth snapshot: %v", err)
	}
	book := map[string]map[string]string{"b": {}, "a": {}}
	apply := func(side string, lv []futures.Bid) {
		for _, l := range lv {
			if l.Quantity == "0.00000000" {
				delete(book[side], l.Price)
			} else {
				book[side][l.Price] = l.Quantity
			}
		}
	}
	apply("b", snap.Bids)
	apply("a", snap.Asks)

	synced, applied, jumps := false, 0, 0
	var prevU int64
	ev := first
	for applied < 20 {
		if ev == nil {
			select {
			case ev = <-depth:
			case <-time.After(5 * time.Second):
				next("depth event")
			}
		}
		e := ev
		ev = nil
		if e.Symbol != btc || e.Event != "depthUpdate" || e.TransactionTime == 0 {
			t.Fatalf("depth event as go-binance reads it: %+v", e)
		}
		if !synced {
			if e.LastUpdateID < snap.LastUpdateID {
				continue
			}
			if e.FirstUpdateID > snap.LastUpdateID {
				t.Fatalf("no event covers the snapshot's lastUpdateId %d: next starts at U %d", snap.LastUpdateID, e.FirstUpdateID)
			}
			synced = true
		} else {
			if e.PrevLastUpdateID != prevU {
				t.Fatalf("pu %d is not the previous u %d", e.PrevLastUpdateID, prevU)
			}
			if e.FirstUpdateID != prevU+1 {
				jumps++
			}
		}
		prevU = e.LastUpdateID
		apply("b", e.Bids)
		apply("a", e.Asks)
		truth, err := u.BookAt(btc, e.LastUpdateID)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameBook(book, truth); err != nil {
			t.Fatalf("book after u=%d: %v", e.LastUpdateID, err)
		}
		applied++
	}
	if jumps == 0 {
		t.Fatal("every depth event chained by U == previous u + 1; USD-M's do not")
	}

	var got []*futures.WsAggTradeEvent
	for len(got) < 30 {
		select {
		case e := <-trades:
			if n := len(got); n > 0 && e.AggregateTradeID != got[n-1].AggregateTradeID+1 {
				t.Fatalf("aggregate trade %d after %d", e.AggregateTradeID, got[n-1].AggregateTradeID)
			}
			got = append(got, e)
		case <-time.After(5 * time.Second):
			next("aggTrade")
		}
	}
	firstID, lastID := got[0].AggregateTradeID, got[len(got)-1].AggregateTradeID
	truth, err := u.AggTrades(btc, firstID, lastID)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := client.NewAggTradesService().Symbol(btc).FromID(firstID).Limit(len(got)).Do(ctx)
	if err != nil {
		t.Fatalf("aggTrades: %v", err)
	}
	if len(truth) != len(got) || len(rest) != len(got) {
		t.Fatalf("%d streamed, %d in the truth, %d over REST", len(got), len(truth), len(rest))
	}
	for i, e := range got {
		w, r := truth[i], rest[i]
		if e.Price != w.Price || e.Quantity != w.Qty || e.TradeTime != w.Time || e.Maker != w.BuyerMaker ||
			e.FirstTradeID != w.FirstTradeID || e.LastTradeID != w.LastTradeID {
			t.Fatalf("stream %+v, truth %+v", e, w)
		}
		if r.AggTradeID != e.AggregateTradeID || r.Price != e.Price || r.Quantity != e.Quantity || r.Timestamp != e.TradeTime {
			t.Fatalf("REST %+v, stream %+v", r, e)
		}
	}
}

// TestFuturesLegacyRouteIsSilentForMarketStreams: go-binance's aggTrade on
// the legacy /ws route connects, and nothing ever comes, as on Binance
// since the route split; depth on the same route flows.
func TestFuturesLegacyRouteIsSilentForMarketStreams(t *testing.T) {
	s, _ := startFutures(t)
	trades, _ := serveOn(t, s, "/ws", func(h func(*futures.WsAggTradeEvent), eh futures.ErrHandler) (chan struct{}, chan struct{}, error) {
		return futures.WsAggTradeServe(btc, h, eh)
	})
	depth, _ := serveOn(t, s, "/ws", func(h func(*futures.WsDepthEvent), eh futures.ErrHandler) (chan struct{}, chan struct{}, error) {
		return futures.WsDiffDepthServeWithRate(btc, 100*time.Millisecond, h, eh)
	})
	select {
	case <-depth:
	case <-time.After(5 * time.Second):
		t.Fatal("no depth on the legacy route")
	}
	select {
	case e := <-trades:
		t.Fatalf("aggTrade delivered on the legacy route: %+v", e)
	case <-time.After(time.Second):
	}
}

// sameBook compares a book kept as price → quantity maps with the truth.
func sameBook(book map[string]map[string]string, truth sim.BookState) error {
	for side, want := range map[string][]sim.Level{"b": truth.Bids, "a": truth.Asks} {
		if len(book[side]) != len(want) {
			return fmt.Errorf("side %s: %d levels, truth has %d", side, len(book[side]), len(want))
		}
		for _, l := range want {
			if book[side][l.Price] != l.Qty {
				return fmt.Errorf("side %s price %s: %q, truth %q", side, l.Price, book[side][l.Price], l.Qty)
			}
		}
	}
	return nil
}
