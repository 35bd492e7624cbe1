package feed

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/feedkeeper/feedkeeper/book"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// replayDecoder hands out prepared diffs with chaining IDs, in a cycle.
type replayDecoder struct {
	diffs []Event
	i     int
	id    int64
}

func (d *replayDecoder) Decode(_ []byte, ev *Event) (Decoded, error) {
	src := &d.diffs[d.i%len(d.diffs)]
	d.i++
	src.CopyTo(ev)
	ev.FirstID = d.id + 1
	d.id += 3
	ev.ID = d.id
	return DecodedEvent, nil
}

// noRecovery is a Recovery that is never called: the book is loaded by hand.
type noRecovery struct{}

func (noRecovery) AggTrades(context.Context, string, int64, int, []Event) ([]Event, error) {
	return nil, nil
}
func (noRecovery) Trades(context.Context, string, int64, int, []Event) ([]Event, error) {
	return nil, nil
}
func (noRecovery) Depth(context.Context, string, int, *Event) error { return nil }

// BenchmarkGatewayBookDelta measures one diff of 10 levels through the
// gateway path of a book in sync: sequencer, chain check, book update,
// derived top of book, handler. Bids stay below a mid price and asks above
// it, so replaying the diffs never crosses the book; the book holds 1000
// levels a side.
func BenchmarkGatewayBookDelta(b *testing.B) {
	const mid, levelsPerDiff = 1_000_000, 10
	rng := rand.New(rand.NewPCG(1, 2))
	diffs := make([]Event, 4096)
	for i := range diffs {
		ev := &diffs[i]
		*ev = Event{Type: TypeBookDelta, Venue: "binance", Symbol: "BTCUSDT", PriceScale: 2, QtyScale: 5}
		for j := range levelsPerDiff {
			qty := rng.Int64N(1000)
			if rng.IntN(4) == 0 {
				qty = 0
			}
			depth := int64(1 + rng.ExpFloat64()*8)
			if j%2 == 0 {
				ev.Bids = append(ev.Bids, Level{Price: mid - depth, Qty: qty})
			} else {
				ev.Asks = append(ev.Asks, Level{Price: mid + depth, Qty: qty})
			}
		}
	}
	rec, err := newRecovery(noRecovery{}, RecoveryConfig{})
	if err != nil {
		b.Fatal(err)
	}
	g := &Gateway{
		cfg: GatewayConfig{Handler: func(*Event) {}},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		seq: newSequencer(ChainFirstID),
		rec: rec,
	}
	bs := &bookSync{symbol: "BTCUSDT", venue: "binance", priceScale: 2, qtyScale: 5, b: book.New(rec.cfg.BookLevels), synced: true}
	var bids, asks []book.Level
	for i := int64(1); i <= 1000; i++ {
		bids = append(bids, book.Level{Price: mid - i, Qty: 100})
		asks = append(asks, book.Level{Price: mid + i, Qty: 100})
	}
	if err := bs.b.Load(0, bids, asks); err != nil {
		b.Fatal(err)
	}
	rec.books["BTCUSDT"] = bs
	dec := &planDecoder{dec: &replayDecoder{diffs: diffs}}
	f := &wsconn.Frame{Kind: wsconn.Data, Data: []byte("{}")}
	for range len(diffs) { // warm up: the book reaches its working size
		dec.decode(f.Data)
		g.onData(0, dec, f)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dec.decode(f.Data)
		g.onData(0, dec, f)
	}
	b.StopTimer()
	if !bs.synced || g.stats.events.Load() == 0 {
		b.Fatalf("the book fell out of sync: %+v", g.Stats())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*levelsPerDiff), "ns/level")
}
