package simtest

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/sim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestOKXSim: the adapter answers by the OKX front-end's IDs: trades by
// tradeId as OKX writes them (swap sizes in contracts), books by seqId.
func TestOKXSim(t *testing.T) {
	v := OKXSim(t, sim.Config{Symbols: []string{"BTCUSDT"}})
	o := v.(*venueSim).s.OKX()
	var seq int64
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		if seq, err = o.LastSeqID("BTC-USDT-SWAP"); err != nil {
			t.Fatal(err)
		}
		last, err := o.LastTradeID("BTC-USDT-SWAP")
		if err != nil {
			t.Fatal(err)
		}
		ts, err := o.Trades("BTC-USDT-SWAP", last-2, last)
		if err == nil && len(ts) >= 3 {
			got, err := v.Trades("BTC-USDT-SWAP", ts[0].TradeID, ts[2].TradeID)
			if err != nil || len(got) != 3 {
				t.Fatalf("Trades: %d, %v", len(got), err)
			}
			for i, g := range got {
				side := feed.SideBuy
				if ts[i].Side == "sell" {
					side = feed.SideSell
				}
				if g.ID != ts[i].TradeID || g.Price != ts[i].Px || g.Qty != ts[i].Sz || g.Side != side {
					t.Fatalf("trade %d: %+v, front-end %+v", i, g, ts[i])
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no trades in 5s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	bids, asks, err := v.Book("BTC-USDT-SWAP", seq)
	if err != nil || len(bids) == 0 || len(asks) == 0 {
		t.Fatalf("Book: %d bids, %d asks, %v", len(bids), len(asks), err)
	}
	want, _ := o.BookAt("BTC-USDT-SWAP", seq)
	if bids[0].Price != want.Bids[0].Price || bids[0].Qty != want.Bids[0].Qty {
		t.Fatalf("best bid %+v, front-end %+v", bids[0], want.Bids[0])
	}
}
