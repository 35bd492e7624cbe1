package bybit_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/venue/bybit"
)

// TestGatewayDepth1RepeatsLeftOut: in a still market the simulator pushes
// each depth 1 book again every 3 s with the same u, as Bybit does; the
// gateway delivers the first snapshot of each and none of the repeats,
// and keeps the books in sync without asking for them again.
func TestGatewayDepth1RepeatsLeftOut(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Venues: []string{sim.VenueBybit}, Rate: -1})
	b := s.Bybit()
	tlsCfg, err := httpx.TLSConfig(simtest.CAFile(t, s))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, _ := venue.Lookup(bybit.Venue)
	streams := []string{"spot/orderbook.1.BTCUSDT", "linear/orderbook.1.BTCUSDT"}
	setup, err := f.Open(context.Background(), venue.Env{WSURL: b.WSURL(), RESTURL: b.RESTURL(), TLS: tlsCfg, Streams: streams,
		Recovery: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	var mu sync.Mutex
	pushed := map[int]int{}
	snapshots := map[string]int{}
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: setup.Venue, Streams: streams, TLS: tlsCfg, Dials: setup.Dials,
		Logger: quiet, Recovery: setup.Recovery,
		Tap: func(plan int, data []byte, _ int64) {
			if bytes.Contains(data, []byte(`"topic":"orderbook.1.BTCUSDT"`)) {
				mu.Lock()
				pushed[plan]++
				mu.Unlock()
			}
		},
		Handler: func(ev *feed.Event) {
			if ev.Type == feed.TypeBookSnapshot {
				mu.Lock()
				snapshots[ev.Symbol]++
				mu.Unlock()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	simtest.WaitFor(t, 15*time.Second, "two repeats of each book", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(pushed) == 2 && pushed[0] >= 3 && pushed[1] >= 3
	})
	mu.Lock()
	defer mu.Unlock()
	if snapshots["spot/BTCUSDT"] != 1 || snapshots["linear/BTCUSDT"] != 1 {
		t.Fatalf("snapshots delivered %v for %v pushed", snapshots, pushed)
	}
	if st := g.Stats(); st.StreamResubscribes != 0 || st.BookResyncs != 0 {
		t.Fatalf("%d resubscribes, %d resyncs", st.StreamResubscribes, st.BookResyncs)
	}
}
