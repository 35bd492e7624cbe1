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
		Faults: []venuetest.Fault{
			// a push is a whole new snapshot: the book is reset to it
			{Spec: "bybit-new-snapshot:p=0.05", Shows: venuetest.Snapshot},
			// a delta lost on the server's side, u jumps by 2: the book
			// is resubscribed
			{Spec: "bybit-u-gap:p=0.05", Shows: venuetest.Resync},
			// the service restarts: u starts again at 1 with a snapshot,
			// the book is reset to it
			{Spec: "bybit-restart:times=1", Shows: venuetest.Snapshot},
			// a market data maintenance announced on system.status, due in
			// 2 s (within --bybit-maintenance-lead): every data connection
			// is replaced make-before-break before the front-end closes
			// the old ones
			{Spec: "bybit-maintenance:times=1,duration=2s", Shows: venuetest.Reconnect},
			// REST answers 403 "access too frequent", over the IP limit,
			// after which Bybit asks for no request for 10 minutes: the
			// venue does not open (its start reads the instruments)
			// rather than retry, and the streams already open, which
			// need no REST, go on
			{Spec: "bybit-rate-limit:p=1", Shows: venuetest.OpenRefused},
		},
	})
}
