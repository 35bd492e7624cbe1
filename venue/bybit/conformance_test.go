package bybit_test

import (
	"strings"
	"testing"

	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue/venuetest"
)

// Bybit passes the conformance suite through the simulator's Bybit
// front-end: trades whose IDs cannot show a gap, held against the truth by
// time with a gap window for every dropped connection, and books from the
// stream's own snapshots, spot and linear.
func TestConformance(t *testing.T) {
	venuetest.Run(t, venuetest.Config{
		Venue:        "bybit",
		Start:        func(t testing.TB) venuetest.Sim { return simtest.BybitSim(t, sim.Config{ConnAttemptLimit: 10000}) },
		Symbols:      []string{"spot/BTCUSDT", "linear/ETHUSDT"},
		OpaqueTrades: true,
		Streams: func(sym string) []string {
			cat, s, _ := strings.Cut(sym, "/")
			return []string{cat + "/publicTrade." + s, cat + "/orderbook.50." + s}
		},
	})
}
