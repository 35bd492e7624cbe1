package binanceusdm_test

import (
	"strings"
	"testing"

	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue/venuetest"
)

// Binance USD-M passes the conformance suite through the simulator's USD-M
// front-end: aggregate trades on /market and the diff depth book, chained
// by pu, on /public.
func TestConformance(t *testing.T) {
	venuetest.Run(t, venuetest.Config{
		Venue:   "binance-usdm",
		Start:   func(t testing.TB) venuetest.Sim { return simtest.USDMSim(t, sim.Config{ConnAttemptLimit: 10000}) },
		Symbols: []string{"BTCUSDT", "ETHUSDT"},
		Streams: func(sym string) []string {
			s := strings.ToLower(sym)
			return []string{s + "@aggTrade", s + "@depth@100ms"}
		},
	})
}
