package binanceusdm_test

import (
	"strings"
	"testing"
	"time"

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
		Faults: []venuetest.Fault{
			// a diff depth event lost on the server's side: pu names
			// the lost event, the book is rebuilt from a REST snapshot
			{Spec: "pu-break:p=0.05", Shows: venuetest.Resync},
			// aggTrades not sent: their IDs are missing, backfilled over
			// REST
			{Spec: "trade-gap:times=3", Shows: venuetest.Backfill},
			// serverShutdown, then a close: the connection is replaced
			// before it goes
			{Spec: "shutdown:duration=300ms", Shows: venuetest.Reconnect},
			// REST answers 429 half the time while the connections drop:
			// the trades are backfilled and the books loaded all the same
			{Spec: "rest-429:p=0.5,duration=200ms", Shows: venuetest.Backfill, With: "drop"},
			// pings go unanswered for a while; the data flows, the
			// connection stays
			{Spec: "nopong:duration=2s", Shows: venuetest.Unseen, Hold: 2 * time.Second},
		},
	})
}
