package simtest

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"go.uber.org/goleak"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/sim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestOKXSim: the adapter answers by the OKX front-end's IDs: trades by
// tradeId, books by seqId, a swap's sizes turned from contracts into the
// base currency (times ctVal, 0.01 for BTC as on OKX).
func TestOKXSim(t *testing.T) {
	v := OKXSim(t, sim.Config{Symbols: []string{"BTCUSDT"}})
	o := v.(*okxSim).o
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
				sz, _ := new(big.Rat).SetString(ts[i].Sz)
				qty, ok := new(big.Rat).SetString(g.Qty)
				if !ok || qty.Cmp(sz.Mul(sz, big.NewRat(1, 100))) != 0 || g.ID != ts[i].TradeID || g.Price != ts[i].Px || g.Side != side {
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
	bids, asks, err := v.Book("BTC-USDT-SWAP", seq, 0)
	if err != nil || len(bids) == 0 || len(asks) == 0 {
		t.Fatalf("Book: %d bids, %d asks, %v", len(bids), len(asks), err)
	}
	want, _ := o.BookAt("BTC-USDT-SWAP", seq)
	sz, _ := new(big.Rat).SetString(want.Bids[0].Qty)
	qty, ok := new(big.Rat).SetString(bids[0].Qty)
	if bids[0].Price != want.Bids[0].Price || !ok || qty.Cmp(sz.Mul(sz, big.NewRat(1, 100))) != 0 {
		t.Fatalf("best bid %+v, front-end %+v", bids[0], want.Bids[0])
	}
}

// TestCoinbaseSim: the adapter answers a book by an l2_data message's
// sequence_num and time, on the connection that got it, also once that
// connection is closed and another has sent the same sequence_num; and
// trades by time.
func TestCoinbaseSim(t *testing.T) {
	v := CoinbaseSim(t, sim.Config{Symbols: []string{"BTCUSDT"}})
	type snap struct {
		seq    int64
		sent   time.Time
		levels int
	}
	// first reads the snapshot of a new connection's level2, and the
	// update after it, then closes the connection
	first := func() (s, u snap) {
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
		for got := 0; got < 2; {
			var m struct {
				Channel     string    `json:"channel"`
				Timestamp   time.Time `json:"timestamp"`
				SequenceNum int64     `json:"sequence_num"`
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
			p := snap{m.SequenceNum, m.Timestamp, len(m.Events[0].Updates)}
			if got == 0 {
				if m.Events[0].Type != "snapshot" {
					t.Fatalf("first l2_data is a %q", m.Events[0].Type)
				}
				s = p
			} else {
				u = p
			}
			got++
		}
		return s, u
	}
	cb := v.(*coinbaseSim).cb
	s1, u1 := first()
	WaitFor(t, 5*time.Second, "the connection to close", func() bool { return len(cb.Conns()) == 0 })
	time.Sleep(300 * time.Millisecond) // the market moves on
	s2, _ := first()
	if s1.seq != s2.seq {
		t.Fatalf("snapshots at sequence_num %d and %d: the test wants the same number on both connections", s1.seq, s2.seq)
	}
	for i, p := range []snap{s1, s2} {
		bids, asks, err := v.Book("BTC-USDT", p.seq, p.sent.UnixNano())
		if err != nil || len(bids)+len(asks) != p.levels {
			t.Fatalf("Book at snapshot %d (%d levels): %d bids, %d asks, %v", i+1, p.levels, len(bids), len(asks), err)
		}
	}
	b1, a1, err1 := v.Book("BTC-USDT", u1.seq, u1.sent.UnixNano())
	b2, a2, err2 := v.Book("BTC-USDT", u1.seq, s2.sent.Add(time.Millisecond).UnixNano())
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if len(b1) == 0 || len(a1) == 0 {
		t.Fatalf("book after the closed connection's update: %d bids, %d asks", len(b1), len(a1))
	}
	if fmt.Sprint(b1, a1) == fmt.Sprint(b2, a2) {
		t.Errorf("the same sequence_num on two connections 300ms apart gave the same book")
	}
	if _, _, err := v.Book("BTC-USDT", u1.seq, u1.sent.Add(-time.Hour).UnixNano()); err == nil {
		t.Errorf("a sequence_num sent an hour from any message: no error")
	}

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
	tr := ts[len(ts)-1]
	id, _ := strconv.ParseInt(tr.TradeID, 10, 64)
	tm, err := time.Parse(time.RFC3339Nano, tr.Time)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Trades("BTC-USDT", tm.UnixMilli(), tm.UnixMilli())
	if err != nil || len(got) == 0 {
		t.Fatalf("Trades at %d ms: %+v, %v", tm.UnixMilli(), got, err)
	}
	g := got[len(got)-1]
	if g.ID != id || g.Price != tr.Price || g.Qty != tr.Size || g.Time != tm.UnixMilli() {
		t.Fatalf("Trades at %d ms: %+v; the front-end has %+v", tm.UnixMilli(), g, tr)
	}
}

// TestServerFault: a fault spec without p=, every= or times= is carried
// out once; one with them stays on until BookFaults(0); a bad one is an
// error naming it; Fired counts what the simulator carried out.
func TestServerFault(t *testing.T) {
	v := SpotSim(t, sim.Config{Symbols: []string{"BTCUSDT"}})
	s := v.(*venueSim).s
	if err := v.Fault("trade-gap"); err != nil {
		t.Fatal(err)
	}
	if err := v.Fault("rest-429:p=0.5,duration=1s"); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(s.Faults())
	if want := "[trade-gap:times=1 rest-429:p=0.5,duration=1s]"; got != want {
		t.Errorf("rules %s, want %s", got, want)
	}
	if err := v.Fault("drop"); err != nil {
		t.Fatal(err)
	}
	if n := v.Fired("drop"); n != 1 {
		t.Errorf("Fired(drop) = %d after one drop", n)
	}
	if err := v.BookFaults(0); err != nil || len(s.Faults()) != 0 {
		t.Errorf("BookFaults(0): %v, rules left %v", err, s.Faults())
	}
	err := v.Fault("trade-gapp:p=0.1")
	if err == nil || !strings.Contains(err.Error(), "trade-gapp") {
		t.Errorf("an unknown fault: %v", err)
	}
}
