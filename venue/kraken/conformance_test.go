package kraken_test

import (
	"testing"
	"time"

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
		Faults: []venuetest.Fault{
			// prices and quantities in exponent form: the same values
			// (first, while no other fault's resyncs are still settling)
			{Spec: "kraken-exponent:p=0.2", Shows: venuetest.Unseen, Hold: 500 * time.Millisecond},
			// a checksum that is not the book's: the book is resubscribed
			{Spec: "kraken-bad-checksum:p=0.05", Shows: venuetest.Resync},
			// the engine announces maintenance and, later, online
			// again: the venue reads the notice as the server's going
			// away and replaces its connections before they go
			{Spec: "kraken-maintenance:duration=500ms", Shows: venuetest.Reconnect},
			// a trade left out of the trade channel: backfilled by
			// trade_id
			{Spec: "kraken-trade-gap:times=1", Shows: venuetest.Backfill},
			// AssetPairs gives decimals above the pairs' precisions: the
			// venue opens, and the instrument channel's precisions keep the
			// checksums verifying (the final checks hold the books)
			{Spec: "kraken-pair-decimals:p=1", Shows: venuetest.Opens},
			// REST answers "EGeneral:Too many requests" to the first
			// backfill of trades left out: the client pauses its REST
			// calls (5s: Kraken sends no Retry-After) and backfills them
			// all the same (a dropped connection would not do: the trade
			// channel's snapshot of the last 50 trades covers the gap)
			{Spec: "kraken-rate-limit:times=1", Shows: venuetest.Backfill, With: "kraken-trade-gap:times=1"},
		},
	})
}
