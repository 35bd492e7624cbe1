package coinbase_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/venue/coinbase"
)

// localBook is a book kept from a gateway's events.
type localBook struct {
	bids, asks map[int64]int64
	id         int64
	ps, qs     uint8
}

func (b *localBook) apply(ev *feed.Event) {
	if ev.Base {
		b.bids, b.asks = map[int64]int64{}, map[int64]int64{}
	}
	for _, side := range []struct {
		m  map[int64]int64
		ls []feed.Level
	}{{b.bids, ev.Bids}, {b.asks, ev.Asks}} {
		for _, l := range side.ls {
			if l.Qty == 0 {
				delete(side.m, l.Price)
			} else {
				side.m[l.Price] = l.Qty
			}
		}
	}
	b.id, b.ps, b.qs = ev.ID, ev.PriceScale, ev.QtyScale
}

// differs says how b differs from the truth's levels, "" when it does not.
func (b *localBook) differs(bids, asks []sim.Level) string {
	for _, side := range []struct {
		name string
		m    map[int64]int64
		ls   []sim.Level
	}{{"bids", b.bids, bids}, {"asks", b.asks, asks}} {
		if len(side.m) != len(side.ls) {
			return fmt.Sprintf("%s: %d levels, the truth %d", side.name, len(side.m), len(side.ls))
		}
		for _, l := range side.ls {
			p, err1 := fixed.Parse(l.Price, b.ps)
			q, err2 := fixed.Parse(l.Qty, b.qs)
			if err1 != nil || err2 != nil || side.m[p] != q {
				return fmt.Sprintf("%s: level %s holds %d, the truth %s", side.name, l.Price, side.m[p], l.Qty)
			}
		}
	}
	return ""
}

// A product going offline (coinbase-product-offline) is announced by a
// status event naming it and the reason instead of silence; coming back,
// it is announced again and its book, which changed while level2 was
// silent, is asked for anew and matches the truth, over real TLS
// WebSocket through the simulator's front-end.
func TestProductOfflineAnnouncedAndBookResynced(t *testing.T) {
	s := simtest.Start(t, sim.Config{Venues: []string{sim.VenueCoinbase}, Symbols: []string{"BTCUSDT"}})
	cb := s.Coinbase()
	tlsCfg := &tls.Config{RootCAs: s.CertPool()}
	f, err := venue.Lookup(coinbase.Venue)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	streams := []string{"BTC-USDT@level2"}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	setup, err := f.Open(ctx, venue.Env{WSURL: cb.WSURL(), RESTURL: cb.RESTURL(), TLS: tlsCfg, Recovery: true, Streams: streams, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()

	var mu sync.Mutex
	var statuses []feed.Event
	var b localBook
	snapshots, afterBack := 0, 0
	var firstBack feed.Type // the first book event after the product came back
	var held *localBook     // the book once it is rebuilt and moved on after the product came back
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: setup.Venue, Streams: streams, TLS: tlsCfg, Recovery: setup.Recovery, Logger: quiet,
		Handler: func(ev *feed.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch ev.Type {
			case feed.TypeStatus:
				if ev.Symbol != "" {
					statuses = append(statuses, *ev)
				}
			case feed.TypeBookSnapshot, feed.TypeBookDelta:
				b.apply(ev)
				back := len(statuses) == 2
				if back && firstBack == 0 {
					firstBack = ev.Type
				}
				if ev.Base {
					snapshots++
				}
				if back && snapshots >= 2 {
					if afterBack++; afterBack == 20 && held == nil {
						c := b
						c.bids, c.asks = clone(b.bids), clone(b.asks)
						held = &c
					}
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	simtest.WaitFor(t, 10*time.Second, "the book", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return snapshots == 1 && b.id > 0
	})
	if err := s.SetFaults(sim.Fault{Kind: sim.FaultCoinbaseProductOffline, Times: 1, Duration: 500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	simtest.WaitFor(t, 15*time.Second, "the product offline and back, its book rebuilt and 20 updates on", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return held != nil
	})
	mu.Lock()
	defer mu.Unlock()
	if len(statuses) != 2 || statuses[0].Status != feed.StatusHalted || statuses[0].Symbol != "BTC-USDT" ||
		statuses[0].Reason != "status offline (Trading is temporarily disabled for BTC-USDT): the product does not trade; its streams are silent" ||
		statuses[1].Status != feed.StatusTrading || statuses[1].Symbol != "BTC-USDT" {
		t.Fatalf("status events %+v", statuses)
	}
	if firstBack != feed.TypeBookSnapshot {
		t.Errorf("the first book event after the product came back is a %v, want the book anew", firstBack)
	}
	if st := g.Stats(); st.StreamResubscribes != 1 || st.BookResyncs != 1 {
		t.Errorf("resubscribes %d, resyncs %d; want 1 each (the book asked for again once, when the product came back)", st.StreamResubscribes, st.BookResyncs)
	}
	conns := cb.Conns()
	if len(conns) != 1 {
		t.Fatalf("%d connections", len(conns))
	}
	truth, err := cb.BookAtSequence(conns[0].ID, "BTC-USDT", held.id)
	if err != nil {
		t.Fatal(err)
	}
	if d := held.differs(truth.Bids, truth.Asks); d != "" {
		t.Errorf("the book at sequence_num %d: %s", held.id, d)
	}
}

func clone(m map[int64]int64) map[int64]int64 {
	out := make(map[int64]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
