package coinbase_test

import (
	"testing"

	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue/venuetest"
)

// Coinbase passes the conformance suite through the simulator's Coinbase
// front-end: trades whose IDs cannot show a gap, held against the truth by
// time with a gap window for every dropped connection, and books from the
// stream's own snapshots, IDs being the messages' sequence_num (which
// counts per connection: the front-end tells the connections apart by the
// message's time).
func TestConformance(t *testing.T) {
	venuetest.Run(t, venuetest.Config{
		Venue: "coinbase",
		Start: func(t testing.TB) venuetest.Sim {
			return simtest.CoinbaseSim(t, sim.Config{ConnAttemptLimit: 10000})
		},
		Symbols:      []string{"BTC-USDT"},
		OpaqueTrades: true,
		Streams: func(sym string) []string {
			return []string{sym + "@market_trades", sym + "@level2"}
		},
		Faults: []venuetest.Fault{
			// a sequence_num skipped: every book of the connection is
			// resubscribed
			{Spec: "coinbase-seq-jump:p=0.05", Shows: venuetest.Resync},
			// heartbeats stop and come back with heartbeat_counter
			// further on: the connection lost messages, its books are
			// resubscribed
			{Spec: "coinbase-no-heartbeat:duration=1500ms", Shows: venuetest.Resync},
			// the product goes offline (status channel), its channels fall
			// silent, and online again: its book is asked for again (a
			// fresh snapshot)
			{Spec: "coinbase-product-offline:duration=1s", Shows: venuetest.Snapshot},
			// a market_trades message not sent, its sequence_num spent: the
			// connection lost a message, its books are resubscribed and
			// the trades it held lie in the gap window announced for the
			// product (the final trade check holds every trade of the truth
			// not delivered against the windows)
			{Spec: "trade-gap:times=3", Shows: venuetest.Resync},
		},
	})
}
