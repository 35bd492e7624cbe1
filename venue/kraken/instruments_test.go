package kraken_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/venue/kraken"
)

// logLines collects what a logger writes.
type logLines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A front-end whose AssetPairs gives one decimal more than the pairs'
// precisions (kraken-pair-decimals): the instrument channel's precisions
// win, every checksum of the book verifies over real TLS WebSocket, and
// the disagreement is logged once per pair.
func TestInstrumentChannelPrecisionsWin(t *testing.T) {
	s := simtest.KrakenSim(t, sim.Config{Faults: []sim.Fault{{Kind: sim.FaultKrakenPairDecimals, Prob: 1}}})
	var logs logLines
	log := slog.New(slog.NewTextHandler(&logs, nil))
	f, err := venue.Lookup(kraken.Venue)
	if err != nil {
		t.Fatal(err)
	}
	streams := []string{"BTC/USDT@book", "ETH/USDT@book"}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	setup, err := f.Open(ctx, venue.Env{WSURL: s.WSURL(), RESTURL: s.RESTURL(), TLS: s.TLS(), Recovery: true, Streams: streams, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	v := setup.Venue.(*kraken.Kraken)
	rest, _ := v.Symbols().Lookup("BTC/USDT")

	var mu sync.Mutex
	deltas := map[string]int{}
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: v, Streams: streams, TLS: s.TLS(), Recovery: setup.Recovery,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler: func(ev *feed.Event) {
			if ev.Type == feed.TypeBookDelta {
				mu.Lock()
				deltas[ev.Symbol]++
				mu.Unlock()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	simtest.WaitFor(t, 15*time.Second, "200 book updates of each pair", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return deltas["BTC/USDT"] >= 200 && deltas["ETH/USDT"] >= 200
	})
	st := g.Stats()
	if st.ChecksumMismatches != 0 || st.BookResyncs != 0 || st.BooksInSync != 2 {
		t.Errorf("checksum mismatches %d, resyncs %d, books in sync %d; want 0, 0, 2", st.ChecksumMismatches, st.BookResyncs, st.BooksInSync)
	}
	ws, _ := v.Symbols().Lookup("BTC/USDT")
	if ws.PriceScale != rest.PriceScale-1 || ws.QtyScale != rest.QtyScale-1 {
		t.Errorf("precisions in force %d/%d, AssetPairs gave %d/%d; want the instrument channel's, one less", ws.PriceScale, ws.QtyScale, rest.PriceScale, rest.QtyScale)
	}
	if n := v.Instruments().Stats().Disagreements; n != 2 {
		t.Errorf("%d disagreements counted, want 2 (one a pair)", n)
	}
	if n := strings.Count(logs.String(), "disagree with AssetPairs"); n != 2 {
		t.Errorf("the disagreement logged %d times, want once a pair:\n%s", n, logs.String())
	}
}

// A tick size made finer while running (Server.SetSymbolFilters): the
// front-end's instrument channel sends an update with the new
// price_precision before any book message written at it; the events after
// carry the new scale, the book is rebuilt once from a new snapshot, and
// every checksum verifies.
func TestPrecisionChangeTakesEffect(t *testing.T) {
	s := simtest.Start(t, sim.Config{Venues: []string{sim.VenueKraken}, Symbols: []string{"BTCUSDT"}})
	k := s.Kraken()
	tlsCfg := &tls.Config{RootCAs: s.CertPool()}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := venue.Lookup(kraken.Venue)
	if err != nil {
		t.Fatal(err)
	}
	streams := []string{"BTC/USDT@book"}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	setup, err := f.Open(ctx, venue.Env{WSURL: k.WSURL(), RESTURL: k.RESTURL(), TLS: tlsCfg, Recovery: true, Streams: streams, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	v := setup.Venue.(*kraken.Kraken)
	before, _ := v.Symbols().Lookup("BTC/USDT")

	var mu sync.Mutex
	byScale := map[uint8]int{}
	var announced []string
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: v, Streams: streams, TLS: tlsCfg, Recovery: setup.Recovery, Logger: quiet,
		Handler: func(ev *feed.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case ev.Type == feed.TypeBookDelta:
				byScale[ev.PriceScale]++
			case ev.Type == feed.TypeStatus && ev.Status == feed.StatusInstrument:
				announced = append(announced, fmt.Sprintf("%s %d/%d", ev.Symbol, ev.PriceScale, ev.QtyScale))
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	simtest.WaitFor(t, 10*time.Second, "50 book updates", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return byScale[before.PriceScale] >= 50
	})
	tick := "0." + strings.Repeat("0", int(before.PriceScale)) + "1"
	if err := s.SetSymbolFilters("BTCUSDT", tick, ""); err != nil {
		t.Fatal(err)
	}
	simtest.WaitFor(t, 10*time.Second, "50 book updates at the new price precision", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return byScale[before.PriceScale+1] >= 50
	})
	after, _ := v.Symbols().Lookup("BTC/USDT")
	mu.Lock()
	if want := fmt.Sprintf("BTC/USDT %d/%d", after.PriceScale, after.QtyScale); len(announced) != 1 || announced[0] != want {
		t.Errorf("announced %q, want [%s]", announced, want)
	}
	mu.Unlock()
	if after.PriceScale != before.PriceScale+1 || after.QtyScale != before.QtyScale {
		t.Errorf("precisions %d/%d after the change, before %d/%d", after.PriceScale, after.QtyScale, before.PriceScale, before.QtyScale)
	}
	st := g.Stats()
	if st.ChecksumMismatches != 0 || st.BookResyncs != 1 || st.Malformed != 0 {
		t.Errorf("checksum mismatches %d, resyncs %d, malformed %d; want 0, 1 (the scale changed), 0", st.ChecksumMismatches, st.BookResyncs, st.Malformed)
	}
	if is := v.Instruments().Stats(); is.Changes != 1 || is.Disagreements != 0 {
		t.Errorf("instrument stats %+v, want one change", is)
	}
}

// A pair that stops trading (the market's halt: the front-end's
// instrument channel sends the pair with status cancel_only) is announced
// by a halted event naming it and the status, and by a trading event when
// it trades again, once each, whatever the number of connections.
func TestPairStatusAnnounced(t *testing.T) {
	s := simtest.Start(t, sim.Config{Venues: []string{sim.VenueKraken}, Symbols: []string{"BTCUSDT", "ETHUSDT"}})
	k := s.Kraken()
	tlsCfg := &tls.Config{RootCAs: s.CertPool()}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := venue.Lookup(kraken.Venue)
	if err != nil {
		t.Fatal(err)
	}
	opts := f.NewOptions().(*kraken.Options)
	opts.StreamsPerConn = 1 // two connections, each with the instrument channel
	streams := []string{"BTC/USDT@book", "ETH/USDT@book"}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	setup, err := f.Open(ctx, venue.Env{WSURL: k.WSURL(), RESTURL: k.RESTURL(), TLS: tlsCfg, Recovery: true, Streams: streams, Logger: quiet, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	var mu sync.Mutex
	var statuses []string
	books := 0
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: setup.Venue, Streams: streams, TLS: tlsCfg, Recovery: setup.Recovery, Logger: quiet,
		Handler: func(ev *feed.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case ev.Type == feed.TypeStatus && ev.Symbol != "":
				statuses = append(statuses, ev.Symbol+" "+ev.Status.String()+" "+ev.Reason)
			case ev.Type == feed.TypeBookSnapshot:
				books++
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	simtest.WaitFor(t, 10*time.Second, "both books", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return books >= 2
	})
	if err := s.SetSymbolStatus("BTCUSDT", "HALT"); err != nil {
		t.Fatal(err)
	}
	simtest.WaitFor(t, 5*time.Second, "the halt announced", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(statuses) >= 1
	})
	if err := s.SetSymbolStatus("BTCUSDT", "TRADING"); err != nil {
		t.Fatal(err)
	}
	simtest.WaitFor(t, 5*time.Second, "the return announced", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(statuses) >= 2
	})
	time.Sleep(200 * time.Millisecond) // a repeat from the other connection would come by now
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"BTC/USDT halted status cancel_only: the pair does not trade; its trades stop and its book moves only by cancels, if at all",
		"BTC/USDT trading status online: the pair trades again",
	}
	if strings.Join(statuses, "\n") != strings.Join(want, "\n") {
		t.Errorf("status events:\n%s\nwant\n%s", strings.Join(statuses, "\n"), strings.Join(want, "\n"))
	}
}
