package coinbase

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
)

// FuzzDecode checks the decoder against encoding/json: whatever it
// accepts is valid JSON, and the levels and trades it gives are those
// encoding/json reads from the frame.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{docSubscriptions, docL2Snapshot, docL2Update, docTrades, docTradesSnap, docTicker, docHeartbeat, docHeartbeatStr, docError,
		`{"\u0063hannel":"l2_data","timestamp":"2023-02-09T20:32:51Z","events":[{"type":"update","product_id":"ETH-USD","updates":[{"side":"bid","price_level":"1.5","new_quantity":"2"},{"side":"offer","price_level":"2","new_quantity":"0"}]},{"type":"update","product_id":"BTC-USD","updates":[]}]}`,
	} {
		f.Add(s)
	}
	syms := testSymbols(f)
	f.Fuzz(func(t *testing.T, frame string) {
		d := NewDecoder(syms, SequencePerConnection)
		var ev feed.Event
		kind, err := d.Decode([]byte(frame), &ev)
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, feed.ErrUnknown) && !errors.Is(err, ErrRefused) {
			t.Fatalf("error matches no sentinel: %v", err)
		}
		if err != nil && kind != feed.DecodedReply {
			return
		}
		if !json.Valid([]byte(frame)) {
			t.Fatalf("accepted invalid JSON (%v, %v)", kind, err)
		}
		var top struct {
			Channel string `json:"channel"`
			Events  []struct {
				Type      string `json:"type"`
				ProductID string `json:"product_id"`
				Updates   []struct {
					Side  string `json:"side"`
					Price string `json:"price_level"`
					Qty   string `json:"new_quantity"`
				} `json:"updates"`
				Trades []struct {
					Price string `json:"price"`
					Size  string `json:"size"`
				} `json:"trades"`
			} `json:"events"`
		}
		if err := json.Unmarshal([]byte(frame), &top); err != nil {
			return // a value of another type where the decoder skips it
		}
		if kind != feed.DecodedEvent && kind != feed.DecodedBatch {
			return
		}
		events := []feed.Event{ev}
		for {
			var n feed.Event
			if !d.Next(&n) {
				break
			}
			events = append(events, n)
		}
		switch top.Channel {
		case "l2_data":
			if len(events) != len(top.Events) {
				t.Fatalf("%d events from %d", len(events), len(top.Events))
			}
			for i, e := range events {
				var bids, asks []string
				for _, u := range top.Events[i].Updates {
					if u.Side == "bid" {
						bids = append(bids, u.Price, u.Qty)
					} else {
						asks = append(asks, u.Price, u.Qty)
					}
				}
				if len(bids) != 2*len(e.Bids) || len(asks) != 2*len(e.Asks) {
					t.Fatalf("levels %v %v vs %v %v", bids, asks, e.Bids, e.Asks)
				}
				for j, l := range e.Bids {
					checkDecimal(t, bids[2*j], l.Price, e.PriceScale)
					checkDecimal(t, bids[2*j+1], l.Qty, e.QtyScale)
				}
				for j, l := range e.Asks {
					checkDecimal(t, asks[2*j], l.Price, e.PriceScale)
					checkDecimal(t, asks[2*j+1], l.Qty, e.QtyScale)
				}
			}
		case "market_trades":
			var n int
			for _, te := range top.Events {
				if te.Type != "update" {
					continue
				}
				for _, tr := range te.Trades {
					if n >= len(events) {
						t.Fatalf("more trades than %d events", len(events))
					}
					checkDecimal(t, tr.Price, events[n].Price, events[n].PriceScale)
					checkDecimal(t, tr.Size, events[n].Qty, events[n].QtyScale)
					n++
				}
			}
			if n != len(events) {
				t.Fatalf("%d trades, %d events", n, len(events))
			}
		}
	})
}

func checkDecimal(t *testing.T, s string, m int64, scale uint8) {
	t.Helper()
	want, err := fixed.Parse(s, scale)
	if err != nil || want != m {
		t.Fatalf("%q at scale %d: decoder %d, encoding/json's text gives %d (%v)", s, scale, m, want, err)
	}
}
