package simtest

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

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

// TestCoinbaseSim: the adapter answers books by an l2_data message's
// sequence_num on the connection that got it, and trades by trade_id.
func TestCoinbaseSim(t *testing.T) {
	v := CoinbaseSim(t, sim.Config{Symbols: []string{"BTCUSDT"}})
	d := websocket.Dialer{TLSClientConfig: v.TLS(), HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial(v.WSURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"subscribe","product_ids":["BTC-USDT"],"channel":"level2"}`)); err != nil {
		t.Fatal(err)
	}
	for {
		var m struct {
			Channel     string `json:"channel"`
			SequenceNum int64  `json:"sequence_num"`
			Events      []struct {
				Type    string            `json:"type"`
				Updates []json.RawMessage `json:"updates"`
			} `json:"events"`
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := c.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Channel != "l2_data" {
			continue
		}
		bids, asks, err := v.Book("BTC-USDT", m.SequenceNum)
		if err != nil || len(bids)+len(asks) != len(m.Events[0].Updates) || m.Events[0].Type != "snapshot" {
			t.Fatalf("Book at the snapshot (%d levels): %d bids, %d asks, %v", len(m.Events[0].Updates), len(bids), len(asks), err)
		}
		break
	}
	cb := v.(*venueSim).s.Coinbase()
	var ts []sim.CoinbaseTrade
	for deadline := time.Now().Add(5 * time.Second); len(ts) < 1 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		last, err := cb.LastTradeID("BTC-USDT")
		if err != nil {
			t.Fatal(err)
		}
		ts, _ = cb.Trades("BTC-USDT", last, last)
	}
	if len(ts) == 0 {
		t.Fatal("no trades")
	}
	id, _ := strconv.ParseInt(ts[len(ts)-1].TradeID, 10, 64)
	got, err := v.Trades("BTC-USDT", id, id)
	if err != nil || len(got) != 1 || got[0].ID != id || got[0].Price != ts[len(ts)-1].Price {
		t.Fatalf("Trades(%d): %+v, %v", id, got, err)
	}
}
