package binance_test

import (
	"strings"
	"testing"

	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue/venuetest"
)

// Binance spot passes the conformance suite through the simulator's spot
// front-end: aggregate trades and the diff depth book of two symbols.
func TestConformance(t *testing.T) {
	venuetest.Run(t, venuetest.Config{
		Venue:   "binance",
		Start:   func(t testing.TB) venuetest.Sim { return simtest.SpotSim(t, sim.Config{ConnAttemptLimit: 10000}) },
		Symbols: []string{"BTCUSDT", "ETHUSDT"},
		Streams: func(sym string) []string {
			s := strings.ToLower(sym)
			return []string{s + "@aggTrade", s + "@depth@100ms"}
		},
	})
}
