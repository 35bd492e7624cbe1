package kraken_test

import (
	"testing"

	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue/venuetest"
)

// Kraken passes the conformance suite through the simulator's Kraken
// front-end: trade backfilled by trade_id from /0/public/Trades, and book
// at depth 10, its snapshot then updates checked by the CRC-32 checksum,
// mended by unsubscribe and subscribe. The book is compared at the
// subscribed depth: Kraken sends nothing beyond it.
func TestConformance(t *testing.T) {
	venuetest.Run(t, venuetest.Config{
		Venue:   "kraken",
		Start:   func(t testing.TB) venuetest.Sim { return simtest.KrakenSim(t, sim.Config{ConnAttemptLimit: 10000}) },
		Symbols: []string{"BTC/USDT", "ETH/USDT"},
		Streams: func(sym string) []string { return []string{sym + "@trade", sym + "@book"} },
		Depth:   10,
	})
}
