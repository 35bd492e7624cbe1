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
// chained by prevSeqId, mended by unsubscribe and subscribe, of a spot
// instrument and a perpetual swap. A swap's sizes, in contracts on the
// wire, are held against the truth in the base currency, as the okx
// venue's events carry them. The front-end sends the legacy non-zero
// checksum, so every book update is verified too.
func TestConformance(t *testing.T) {
	venuetest.Run(t, venuetest.Config{
		Venue: "okx",
		Start: func(t testing.TB) venuetest.Sim {
			return simtest.OKXSim(t, sim.Config{ConnAttemptLimit: 10000, OKX: sim.OKXConfig{LegacyChecksum: true}})
		},
		Symbols: []string{"BTC-USDT", "ETH-USDT-SWAP"},
		Streams: func(sym string) []string { return []string{sym + "@trades-all", sym + "@books"} },
		Faults: []venuetest.Fault{
			// a books update lost on the server's side: prevSeqId names
			// the lost one, the book is resubscribed
			{Spec: "okx-seq-break:p=0.2", Shows: venuetest.Resync},
			// the sequence restarts lower: prevSeqId still names the
			// previous seqId, the chain holds
			{Spec: "okx-seq-reset:times=2", Shows: venuetest.Unseen},
			// a wrong checksum: the book is resubscribed
			{Spec: "okx-bad-checksum:p=0.2", Shows: venuetest.Resync},
			// the notice of a service upgrade on /ws/v5/public, then a
			// close (business: a close without notice): the connections
			// are replaced
			{Spec: "okx-maintenance:duration=300ms", Shows: venuetest.Reconnect},
			// trades-all messages not sent: backfilled by tradeId
			{Spec: "trade-gap:times=3", Shows: venuetest.Backfill},
		},
	})
}
