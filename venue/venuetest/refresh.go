package venuetest

import (
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
)

// Market is the simulator's market as RefreshCase changes it
// (*sim.Server).
type Market interface {
	SetSymbolFilters(symbol, tickSize, stepSize string) error
	SetSymbolStatus(symbol, status string) error
}

// RefreshCase is a venue that reads its instruments again on a short
// period, streaming the trades of the simulator's BTCUSDT (tick 0.01).
type RefreshCase struct {
	Venue   feed.Venue
	Streams []string
	TLS     *tls.Config
	Market  Market
	// Symbol is the venue's name of BTCUSDT in its status events
	Symbol string
	// Halted and Trading are the reasons of the status events that
	// announce BTCUSDT halted (BREAK) and trading again
	Halted, Trading string
	// Refreshes are the venue's reads of the instruments so far
	Refreshes func() (done, failed int64)
}

// CheckRefresh makes BTCUSDT's tick finer, then halts it and lets it trade
// again, and checks that the venue announces each change by a status
// event, that the trades after the finer tick carry the finer price scale,
// and that three reads or more were made, none failed.
func CheckRefresh(t testing.TB, c RefreshCase) {
	t.Helper()
	var mu sync.Mutex
	var statuses []string
	scales := map[uint8]int{}
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: c.Venue, Streams: c.Streams, TLS: c.TLS, Logger: quiet(), Handler: func(ev *feed.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ev.Type == feed.TypeStatus && ev.Symbol == c.Symbol:
			statuses = append(statuses, fmt.Sprintf("%v %s", ev.Status, ev.Reason))
		case ev.Type == feed.TypeTrade:
			scales[ev.PriceScale]++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	seen := func(what string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return strings.Contains(strings.Join(statuses, "\n"), what)
		}
	}
	trades := func(scale uint8, n int) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return scales[scale] > n }
	}
	waitFor(t, 10*time.Second, "trades", trades(2, 0))
	if err := c.Market.SetSymbolFilters("BTCUSDT", "0.001", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the finer tick announced", seen("instrument price scale 2→3"))
	waitFor(t, 10*time.Second, "trades at the finer scale", trades(3, 5))
	if err := c.Market.SetSymbolStatus("BTCUSDT", "BREAK"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the halt announced", seen(c.Halted))
	if err := c.Market.SetSymbolStatus("BTCUSDT", "TRADING"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "trading again announced", seen(c.Trading))
	if done, failed := c.Refreshes(); done < 3 || failed != 0 {
		t.Fatalf("%d refreshes, %d failed", done, failed)
	}
}
