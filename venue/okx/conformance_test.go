package okx_test

import (
	"testing"

	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue/venuetest"
)

// OKX passes the conformance suite through the simulator's OKX front-end:
// trades-all on /ws/v5/business, backfilled by tradeId from the history,
// and the books channel on /ws/v5/public, its own snapshot then updates
// chained by prevSeqId, mended by unsubscribe and subscribe. The spot
// instruments are used: the suite holds quantities against the sizes as
// OKX writes them, and a swap's events carry base currency, not
// contracts.
func TestConformance(t *testing.T) {
	venuetest.Run(t, venuetest.Config{
		Venue:   "okx",
		Start:   func(t testing.TB) venuetest.Sim { return simtest.OKXSim(t, sim.Config{ConnAttemptLimit: 10000}) },
		Symbols: []string{"BTC-USDT", "ETH-USDT"},
		Streams: func(sym string) []string { return []string{sym + "@trades-all", sym + "@books"} },
	})
}
