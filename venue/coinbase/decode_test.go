package coinbase

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/feedkeeper/feedkeeper/feed"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testSymbols(tb testing.TB) *Symbols {
	tb.Helper()
	t, err := NewSymbols(Symbol{Name: "BTC-USD", PriceScale: 2, QtyScale: 8}, Symbol{Name: "ETH-USD", PriceScale: 2, QtyScale: 8})
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// Frames in the shapes of Coinbase's "WebSocket Channels" samples.
const (
	docSubscriptions = `{"channel":"subscriptions","client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":0,"events":[{"subscriptions":{"level2":["BTC-USD"],"market_trades":["BTC-USD","ETH-USD"]}}]}`
	docL2Snapshot    = `{"channel":"l2_data","client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":1,"events":[{"type":"snapshot","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"1970-01-01T00:00:00Z","price_level":"21921.73","new_quantity":"0.06317902"},{"side":"offer","event_time":"1970-01-01T00:00:00Z","price_level":"21921.74","new_quantity":"1.5"}]}]}`
	docL2Update      = `{"channel":"l2_data","client_id":"","timestamp":"2023-02-09T20:32:51.1Z","sequence_num":2,"events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"2023-02-09T20:32:51.000091Z","price_level":"21921.73","new_quantity":"0"}]}]}`
	docTrades        = `{"channel":"market_trades","client_id":"","timestamp":"2026-04-07T14:30:03.000000001Z","sequence_num":5,"events":[{"type":"update","trades":[{"trade_id":"995098700","product_id":"BTC-USD","price":"68900.50","size":"0.00150000","side":"BUY","time":"2026-04-07T14:30:02.789012Z"},{"trade_id":"995098701","product_id":"BTC-USD","price":"68900.00","size":"0.2","side":"SELL","time":"2026-04-07T14:30:02.8Z"}]}]}`
	docTradesSnap    = `{"channel":"market_trades","client_id":"","timestamp":"2026-04-07T14:30:01Z","sequence_num":6,"events":[{"type":"snapshot","trades":[{"trade_id":"995098699","product_id":"BTC-USD","price":"68900.50","size":"0.1","side":"BUY","time":"2026-04-07T14:30:00.5Z"}]}]}`
	docTicker        = `{"channel":"ticker","client_id":"","timestamp":"2026-04-07T14:30:04Z","sequence_num":7,"events":[{"type":"snapshot","tickers":[{"type":"ticker","product_id":"BTC-USD","price":"68900.50","volume_24_h":"15328.1","low_24_h":"67500.00","high_24_h":"69200.00","low_52_w":"25000.00","high_52_w":"73800.00","price_percent_chg_24_h":"1.85","best_bid":"68900.00","best_bid_quantity":"1.5","best_ask":"68901.00","best_ask_quantity":"0.5"}]}]}`
	docHeartbeat     = `{"channel":"heartbeats","client_id":"","timestamp":"2023-06-23T20:31:26.122969572Z","sequence_num":0,"events":[{"current_time":"2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.525857105","heartbeat_counter":3049}]}`
	docHeartbeatStr  = `{"channel":"heartbeats","client_id":"","timestamp":"2023-06-23T20:31:27.122969572Z","sequence_num":1,"events":[{"current_time":"2023-06-23 20:31:57.121961769 +0000 UTC m=+91718.525857105","heartbeat_counter":"3050"}]}`
	docError         = `{"type":"error","message":"failure to subscribe"}`
)

func ts(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixNano()
}

func TestDecodeBook(t *testing.T) {
	d := NewDecoder(testSymbols(t), SequencePerConnection)
	var ev feed.Event
	kind, err := d.Decode([]byte(docL2Snapshot), &ev)
	if err != nil || kind != feed.DecodedEvent {
		t.Fatalf("snapshot: %v %v", kind, err)
	}
	if ev.Type != feed.TypeBookSnapshot || !ev.Base || ev.ID != 1 || ev.FirstID != 1 || ev.PrevID != -1 || ev.Symbol != "BTC-USD" || ev.Instrument != "BTC-USD" ||
		ev.Stream != "BTC-USD@level2" || ev.Venue != Venue || ev.EventTime != ts("2023-02-09T20:32:50.714964855Z") || ev.ExchangeTime != ev.EventTime {
		t.Fatalf("snapshot: %+v", ev)
	}
	if len(ev.Bids) != 1 || ev.Bids[0].Price != 2192173 || ev.Bids[0].Qty != 6317902 || len(ev.Asks) != 1 || ev.Asks[0].Price != 2192174 || ev.Asks[0].Qty != 150000000 {
		t.Fatalf("levels %v %v", ev.Bids, ev.Asks)
	}
	if _, err := d.Decode([]byte(docL2Update), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != feed.TypeBookDelta || ev.Base || ev.ID != 2 || ev.PrevID != 1 || len(ev.Bids) != 1 || ev.Bids[0].Qty != 0 || len(ev.Asks) != 0 {
		t.Fatalf("update: %+v", ev)
	}
}

// A book event's ID is its message's sequence_num, its PrevID the book's
// last. A jump of sequence_num, or of heartbeat_counter, makes the next
// event of every book of the connection name no previous one: the gateway
// sees the break. A later snapshot restarts the chain; a lower
// sequence_num restarts the check without a break.
func TestDecodeLostMessageBreaksBooks(t *testing.T) {
	d := NewDecoder(testSymbols(t), SequencePerConnection)
	frame := func(seq int, typ, prod string) string {
		return fmt.Sprintf(`{"channel":"l2_data","timestamp":"2023-02-09T20:32:51Z","sequence_num":%d,"events":[{"type":%q,"product_id":%q,"updates":[{"side":"offer","price_level":"1.00","new_quantity":"2"}]}]}`, seq, typ, prod)
	}
	hb := func(seq, n int) string {
		return fmt.Sprintf(`{"channel":"heartbeats","timestamp":"2023-02-09T20:32:51Z","sequence_num":%d,"events":[{"current_time":"x","heartbeat_counter":%d}]}`, seq, n)
	}
	steps := []struct {
		frame string
		want  string // Symbol ID<-PrevID, or "" for no event
	}{
		{frame(1, "snapshot", "BTC-USD"), "BTC-USD 1<--1"},
		{frame(2, "snapshot", "ETH-USD"), "ETH-USD 2<--1"},
		{frame(3, "update", "BTC-USD"), "BTC-USD 3<-1"},
		{frame(5, "update", "BTC-USD"), "BTC-USD 5<--1"}, // 4 lost: a break
		{frame(6, "update", "ETH-USD"), "ETH-USD 6<--1"}, // the other book breaks too
		{frame(7, "update", "ETH-USD"), "ETH-USD 7<-6"},
		{hb(8, 10), ""},
		{hb(9, 12), ""}, // a heartbeat lost (sequence_num kept: a heartbeat-only loss)
		{frame(10, "update", "BTC-USD"), "BTC-USD 10<--1"},
		{frame(11, "snapshot", "ETH-USD"), "ETH-USD 11<--1"}, // a snapshot: the chain starts anew
		{frame(12, "update", "ETH-USD"), "ETH-USD 12<-11"},
		{frame(0, "update", "ETH-USD"), "ETH-USD 0<-12"}, // a new numbering: no break
		{frame(1, "update", "ETH-USD"), "ETH-USD 1<-0"},
	}
	for i, s := range steps {
		var ev feed.Event
		kind, err := d.Decode([]byte(s.frame), &ev)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got := ""
		if kind == feed.DecodedEvent {
			got = fmt.Sprintf("%s %d<-%d", ev.Symbol, ev.ID, ev.PrevID)
			if ev.FirstID != ev.ID {
				t.Errorf("step %d: FirstID %d ID %d", i, ev.FirstID, ev.ID)
			}
		}
		if got != s.want {
			t.Errorf("step %d: got %q, want %q", i, got, s.want)
		}
	}
	if d.Gaps != 2 {
		t.Errorf("Gaps %d, want 2", d.Gaps)
	}
}

func TestDecodeTradesTickerAndControl(t *testing.T) {
	d := NewDecoder(testSymbols(t), SequencePerConnection)
	var ev feed.Event
	kind, err := d.Decode([]byte(docTrades), &ev)
	if err != nil || kind != feed.DecodedBatch {
		t.Fatalf("trades: %v %v", kind, err)
	}
	if ev.Type != feed.TypeTrade || ev.Price != 6890050 || ev.Qty != 150000 || ev.Side != feed.SideBuy || ev.ID != 0 ||
		ev.ExchangeTime != ts("2026-04-07T14:30:02.789012Z") || ev.EventTime != ts("2026-04-07T14:30:03.000000001Z") {
		t.Fatalf("trade 1: %+v", ev)
	}
	var n feed.Event
	if !d.Next(&n) || n.Price != 6890000 || n.Qty != 20000000 || n.Side != feed.SideSell || n.Symbol != "BTC-USD" || d.Next(&n) {
		t.Fatalf("trade 2: %+v", n)
	}
	if kind, err := d.Decode([]byte(docTradesSnap), &ev); err != nil || kind != feed.DecodedReply {
		t.Fatalf("recent trades on subscribing: %v %v", kind, err)
	}
	if kind, err := d.Decode([]byte(docTicker), &ev); err != nil || kind != feed.DecodedEvent || ev.Type != feed.TypeTopOfBook ||
		ev.Bid.Price != 6890000 || ev.Bid.Qty != 150000000 || ev.ID != ts("2026-04-07T14:30:04Z") || ev.Ask.Price != 6890100 || ev.Ask.Qty != 50000000 {
		t.Fatalf("ticker: %v %v %+v", kind, err, ev)
	}
	for _, f := range []string{docSubscriptions, docHeartbeat, docHeartbeatStr} {
		if kind, err := d.Decode([]byte(f), &ev); err != nil || kind != feed.DecodedReply {
			t.Fatalf("%s: %v %v", f, kind, err)
		}
	}
	if d.hb != 3050 || d.Gaps != 0 {
		t.Errorf("heartbeat_counter %d, gaps %d", d.hb, d.Gaps)
	}
	kind, err = d.Decode([]byte(docError), &ev)
	if kind != feed.DecodedReply || !errors.Is(err, ErrRefused) || err.Error() != "coinbase: request refused: failure to subscribe" {
		t.Fatalf("error: %v %v", kind, err)
	}
}

// A value with more decimals than the product's scale widens it for the
// decoder, and the frame decodes at the wider scale.
func TestDecodeWidensScale(t *testing.T) {
	d := NewDecoder(testSymbols(t), SequencePerConnection)
	var ev feed.Event
	f := `{"channel":"l2_data","timestamp":"2023-02-09T20:32:51Z","sequence_num":1,"events":[{"type":"snapshot","product_id":"BTC-USD","updates":[{"side":"bid","price_level":"1.005","new_quantity":"2"}]}]}`
	if _, err := d.Decode([]byte(f), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.PriceScale != 3 || ev.Bids[0].Price != 1005 || ev.ID != 1 {
		t.Fatalf("%+v", ev)
	}
}

func TestDecodeMalformed(t *testing.T) {
	cases := map[string]error{
		``:                                    ErrMalformed,
		`[]`:                                  ErrMalformed,
		`{"channel":1}`:                       ErrMalformed,
		`{"type":"other"}`:                    ErrMalformed,
		`{"channel":"l2_data","events":[]} x`: ErrMalformed,
		`{"channel":"l2_data","timestamp":"2023-02-09 20:32:51Z","events":[]}`:            ErrMalformed,
		`{"channel":"l2_data","timestamp":"2023-02-09T20:32:51.1234567890Z","events":[]}`: ErrMalformed,
		`{"channel":"l2_data","timestamp":"2023-02-30T20:32:51Z","events":[]}`:            ErrMalformed,
		`{"channel":"l2_data","sequence_num":-1,"events":[]}`:                             ErrMalformed,
		`{"channel":"l2_data"}`:             ErrMalformed,
		`{"channel":"l2_data","events":{}}`: ErrMalformed,
		`{"channel":"l2_data","events":[{"type":"snapshot","product_id":"BTC-USD"}]}`:                                                                                    ErrMalformed,
		`{"channel":"l2_data","events":[{"type":"replace","product_id":"BTC-USD","updates":[]}]}`:                                                                        ErrMalformed,
		`{"channel":"l2_data","events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"ask","price_level":"1","new_quantity":"1"}]}]}`:                      ErrMalformed,
		`{"channel":"l2_data","events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"bid","price_level":"x","new_quantity":"1"}]}]}`:                      ErrMalformed,
		`{"channel":"l2_data","events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"bid","new_quantity":"1"}]}]}`:                                        ErrMalformed,
		`{"channel":"l2_data","events":[{"type":"update","product_id":"DOGE-USD","updates":[]}]}`:                                                                        feed.ErrUnknown,
		`{"channel":"market_trades","events":[{"type":"update","trades":[{"product_id":"BTC-USD","price":"1","size":"1","side":"buy","time":"2023-02-09T20:32:51Z"}]}]}`: ErrMalformed,
		`{"channel":"market_trades","events":[{"type":"update","trades":[{"product_id":"BTC-USD","price":"1","size":"1","side":"BUY"}]}]}`:                               ErrMalformed,
		`{"channel":"heartbeats","events":[{"heartbeat_counter":"x"}]}`:                                                                                                  ErrMalformed,
		`{"channel":"heartbeats","events":[{"current_time":"x"}]}`:                                                                                                       ErrMalformed,
		`{"channel":"candles","events":[]}`:                                               ErrUnknownChannel,
		`{"channel":"status","events":[{"type":"update","products":[{"id":"BTC-USD"}]}]}`: ErrMalformed,
		`{"channel":"status","events":[{"type":"update","products":{"id":"BTC-USD"}}]}`:   ErrMalformed,
	}
	for frame, want := range cases {
		d := NewDecoder(testSymbols(t), SequencePerConnection)
		var ev feed.Event
		if _, err := d.Decode([]byte(frame), &ev); !errors.Is(err, want) {
			t.Errorf("%s: error %v, want %v", frame, err, want)
		}
	}
}

func TestParseTime(t *testing.T) {
	for _, s := range []string{"2023-02-09T20:32:50Z", "2023-02-09T20:32:50.7Z", "2023-02-09T20:32:50.714964Z", "2023-02-09T20:32:50.714964855Z", "2024-02-29T00:00:00.000000001Z"} {
		got, err := ParseTime([]byte(s))
		if err != nil || got != ts(s) {
			t.Errorf("%s: %d %v, want %d", s, got, err, ts(s))
		}
	}
	for _, s := range []string{"", "2023-02-09T20:32:50", "2023-02-09T20:32:50.Z", "2023-02-09T24:00:00Z", "2023-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2023-02-09T20:32:50+00:00", "2023-02-09T20:32:5a.1Z"} {
		if _, err := ParseTime([]byte(s)); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

// The decoder allocates nothing in steady state: book updates, trades and
// heartbeats, once its buffers have grown.
func TestDecodeAllocations(t *testing.T) {
	d := NewDecoder(testSymbols(t), SequencePerConnection)
	var ev, n feed.Event
	frames := [][]byte{[]byte(docL2Snapshot), []byte(docL2Update), []byte(docTrades), []byte(docTicker), []byte(docHeartbeat)}
	run := func() {
		for _, f := range frames {
			if _, err := d.Decode(f, &ev); err != nil {
				t.Fatal(err)
			}
			for d.Next(&n) {
			}
		}
	}
	run()
	if a := testing.AllocsPerRun(100, run); a != 0 {
		t.Errorf("%v allocations a run of %d frames", a, len(frames))
	}
}

// Read per channel, each channel's sequence_num is checked apart: the
// interleaving of two channels is no loss, a jump within one is.
func TestDecodeSequencePerChannel(t *testing.T) {
	l2 := func(seq int, typ string) string {
		return fmt.Sprintf(`{"channel":"l2_data","timestamp":"2023-02-09T20:32:51Z","sequence_num":%d,"events":[{"type":%q,"product_id":"BTC-USD","updates":[]}]}`, seq, typ)
	}
	hb := func(seq, n int) string {
		return fmt.Sprintf(`{"channel":"heartbeats","timestamp":"2023-02-09T20:32:51Z","sequence_num":%d,"events":[{"current_time":"x","heartbeat_counter":%d}]}`, seq, n)
	}
	frames := []string{l2(1, "snapshot"), hb(7, 1), l2(2, "update"), hb(8, 2), l2(3, "update")}
	for scope, want := range map[SequenceScope]string{SequencePerChannel: "1<--1 2<-1 3<-2 gaps 0", SequencePerConnection: "1<--1 2<--1 3<--1 gaps 2", SequenceOff: "1<--1 2<-1 3<-2 gaps 0"} {
		d := NewDecoder(testSymbols(t), scope)
		var got []string
		for _, f := range frames {
			var ev feed.Event
			kind, err := d.Decode([]byte(f), &ev)
			if err != nil {
				t.Fatal(err)
			}
			if kind == feed.DecodedEvent {
				got = append(got, fmt.Sprintf("%d<-%d", ev.ID, ev.PrevID))
			}
		}
		if s := fmt.Sprintf("%s gaps %d", strings.Join(got, " "), d.Gaps); s != want {
			t.Errorf("%v: %s, want %s", scope, s, want)
		}
	}
}

// A scale widened by one connection's decoder is the venue's: the decoder
// of a later connection decodes at it from its first frame.
func TestWidenedScaleIsShared(t *testing.T) {
	v, err := New(Config{Symbols: testSymbols(t)})
	if err != nil {
		t.Fatal(err)
	}
	a, b := v.NewDecoder(feed.ConnPlan{}), v.NewDecoder(feed.ConnPlan{})
	var ev feed.Event
	wide := `{"channel":"l2_data","timestamp":"2023-02-09T20:32:51Z","sequence_num":1,"events":[{"type":"snapshot","product_id":"BTC-USD","updates":[{"side":"bid","price_level":"1.0005","new_quantity":"2"}]}]}`
	if _, err := a.Decode([]byte(wide), &ev); err != nil || ev.PriceScale != 4 {
		t.Fatalf("%v %+v", err, ev)
	}
	if _, err := b.Decode([]byte(docL2Snapshot), &ev); err != nil || ev.PriceScale != 4 || ev.Bids[0].Price != 219217300 {
		t.Fatalf("other decoder: %v %+v", err, ev)
	}
	c := v.NewDecoder(feed.ConnPlan{})
	if _, err := c.Decode([]byte(docL2Snapshot), &ev); err != nil || ev.PriceScale != 4 || v.Widened() != 1 {
		t.Fatalf("later decoder: %v %+v, widened %d", err, ev, v.Widened())
	}
}

// A market_trades batch listed newest first is delivered oldest first.
func TestDecodeTradesInTimeOrder(t *testing.T) {
	d := NewDecoder(testSymbols(t), SequencePerConnection)
	f := `{"channel":"market_trades","timestamp":"2026-04-07T14:30:03Z","sequence_num":1,"events":[{"type":"update","trades":[` +
		`{"trade_id":"3","product_id":"BTC-USD","price":"3","size":"1","side":"BUY","time":"2026-04-07T14:30:02.3Z"},` +
		`{"trade_id":"2","product_id":"BTC-USD","price":"2","size":"1","side":"BUY","time":"2026-04-07T14:30:02.2Z"},` +
		`{"trade_id":"1","product_id":"ETH-USD","price":"1","size":"1","side":"SELL","time":"2026-04-07T14:30:02.1Z"}]}]}`
	var ev, n feed.Event
	if kind, err := d.Decode([]byte(f), &ev); err != nil || kind != feed.DecodedBatch {
		t.Fatal(kind, err)
	}
	got := []string{fmt.Sprintf("%s %d", ev.Symbol, ev.Price)}
	for d.Next(&n) {
		got = append(got, fmt.Sprintf("%s %d", n.Symbol, n.Price))
	}
	if fmt.Sprint(got) != "[ETH-USD 100 BTC-USD 200 BTC-USD 300]" {
		t.Errorf("order %v", got)
	}
}

func BenchmarkDecodeL2Update(b *testing.B) {
	d := NewDecoder(testSymbols(b), SequencePerConnection)
	var ev feed.Event
	frame := []byte(docL2Update)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(frame, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTrades(b *testing.B) {
	d := NewDecoder(testSymbols(b), SequencePerConnection)
	var ev, n feed.Event
	frame := []byte(docTrades)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(frame, &ev); err != nil {
			b.Fatal(err)
		}
		for d.Next(&n) {
		}
	}
}

// statusFrame is a status channel message of BTC-USD in the shape of the
// "WebSocket Channels" sample (Status channel).
func statusFrame(seq int, typ, status, msg string) string {
	return fmt.Sprintf(`{"channel":"status","client_id":"","timestamp":"2023-02-09T20:29:49.753424311Z","sequence_num":%d,"events":[{"type":%q,"products":[`+
		`{"product_type":"SPOT","id":"BTC-USD","base_currency":"BTC","quote_currency":"USD","base_increment":"0.00000001","quote_increment":"0.01","display_name":"BTC/USD","status":%q,"status_message":%q,"min_market_funds":"1"},`+
		`{"product_type":"SPOT","id":"DOGE-USD","base_currency":"DOGE","quote_currency":"USD","base_increment":"0.1","quote_increment":"0.00001","display_name":"DOGE/USD","status":"offline","status_message":"","min_market_funds":"1"}]}]}`,
		seq, typ, status, msg)
}

// The status channel: a first "online" says nothing; a product going
// offline is a TypeStatus StatusHalted event with the status and its
// message; coming back online is StatusTrading, and its book's next event
// names no previous one (the gateway asks for the book again). Products
// the connection does not stream are ignored; repeats make no event.
func TestDecodeStatus(t *testing.T) {
	d := NewDecoder(testSymbols(t), SequencePerConnection)
	var ev feed.Event
	if kind, err := d.Decode([]byte(statusFrame(0, "snapshot", "online", "")), &ev); err != nil || kind != feed.DecodedReply {
		t.Fatalf("snapshot online: %v %v", kind, err)
	}
	if _, err := d.Decode([]byte(docL2Snapshot), &ev); err != nil || ev.PrevID != -1 {
		t.Fatalf("l2 snapshot: %+v %v", ev, err)
	}
	kind, err := d.Decode([]byte(statusFrame(2, "update", "offline", "product is in maintenance")), &ev)
	if err != nil || kind != feed.DecodedEvent || ev.Type != feed.TypeStatus || ev.Status != feed.StatusHalted || ev.Symbol != "BTC-USD" ||
		ev.Instrument != "BTC-USD" || ev.Venue != Venue || ev.Reason != "status offline (product is in maintenance): the product does not trade; its streams are silent" ||
		ev.ExchangeTime != ts("2023-02-09T20:29:49.753424311Z") {
		t.Fatalf("offline: %v %v %+v", kind, err, ev)
	}
	if kind, err := d.Decode([]byte(statusFrame(3, "update", "offline", "product is in maintenance")), &ev); err != nil || kind != feed.DecodedReply {
		t.Fatalf("offline again: %v %v", kind, err)
	}
	if kind, err := d.Decode([]byte(statusFrame(4, "update", "online", "")), &ev); err != nil || kind != feed.DecodedEvent ||
		ev.Status != feed.StatusTrading || !strings.Contains(ev.Reason, "asked for again") {
		t.Fatalf("online: %v %v %+v", kind, err, ev)
	}
	upd := strings.Replace(docL2Update, `"sequence_num":2`, `"sequence_num":5`, 1)
	if _, err := d.Decode([]byte(upd), &ev); err != nil || ev.Type != feed.TypeBookDelta || ev.PrevID != -1 {
		t.Fatalf("the book's next update after coming back: %+v %v", ev, err)
	}
	if d.Gaps != 0 {
		t.Errorf("%d gaps: status messages count in sequence_num", d.Gaps)
	}
	// delisted, first seen: announced at once
	d2 := NewDecoder(testSymbols(t), SequencePerConnection)
	if kind, err := d2.Decode([]byte(statusFrame(0, "snapshot", "delisted", "")), &ev); err != nil || kind != feed.DecodedEvent ||
		ev.Status != feed.StatusHalted || !strings.HasPrefix(ev.Reason, "status delisted: ") {
		t.Fatalf("delisted: %v %v %+v", kind, err, ev)
	}
}

// A connection's decoder announces the products of its own streams only:
// the status channel may list others, which other connections stream.
func TestDecodeStatusOfTheConnectionsProducts(t *testing.T) {
	v, err := New(Config{Symbols: testSymbols(t)})
	if err != nil {
		t.Fatal(err)
	}
	frame := `{"channel":"status","client_id":"","timestamp":"2023-02-09T20:29:49.753424311Z","sequence_num":0,"events":[{"type":"snapshot","products":[` +
		`{"product_type":"SPOT","id":"BTC-USD","status":"online","status_message":""},{"product_type":"SPOT","id":"ETH-USD","status":"offline","status_message":""}]}]}`
	var ev feed.Event
	d := v.NewDecoder(feed.ConnPlan{Streams: []string{"BTC-USD@level2"}})
	if kind, err := d.Decode([]byte(frame), &ev); err != nil || kind != feed.DecodedReply {
		t.Errorf("ETH-USD offline on a connection of BTC-USD: %v %v %+v", kind, err, ev)
	}
	d = v.NewDecoder(feed.ConnPlan{Streams: []string{"ETH-USD@market_trades"}})
	if kind, err := d.Decode([]byte(frame), &ev); err != nil || kind != feed.DecodedEvent || ev.Symbol != "ETH-USD" || ev.Status != feed.StatusHalted {
		t.Errorf("ETH-USD offline on its own connection: %v %v %+v", kind, err, ev)
	}
}

// tradesFrame is a market_trades frame of the trades whose times (ms after
// a fixed minute) are ts, listed in that order, the i-th priced i+1.
func tradesFrame(ts []int) []byte {
	b := []byte(`{"channel":"market_trades","timestamp":"2026-04-07T14:30:03Z","sequence_num":1,"events":[{"type":"update","trades":[`)
	for i, ms := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"trade_id":"t%d","product_id":"BTC-USD","price":"%d","size":"1","side":"BUY","time":"2026-04-07T14:30:%02d.%03dZ"}`,
			i, i+1, ms/1000, ms%1000)
	}
	return append(b, "]}]}"...)
}

// A batch in no order is sorted by time, trades of one time kept in the
// order listed; one listed newest first is reversed whole.
func TestDecodeTradesMixedOrder(t *testing.T) {
	d := NewDecoder(testSymbols(t), SequencePerConnection)
	order := func(ts []int) string {
		var ev, n feed.Event
		if _, err := d.Decode(tradesFrame(ts), &ev); err != nil {
			t.Fatal(err)
		}
		// each trade as its place in the batch @ its time in the minute
		str := func(e *feed.Event) string {
			return fmt.Sprintf("%d@%d", e.Price/100, e.ExchangeTime/1e6%60000)
		}
		got := []string{str(&ev)}
		for d.Next(&n) {
			got = append(got, str(&n))
		}
		return strings.Join(got, " ")
	}
	if got, want := order([]int{5, 3, 9, 3, 1, 9}), "5@1 2@3 4@3 1@5 3@9 6@9"; got != want {
		t.Errorf("mixed: %s, want %s", got, want)
	}
	if got, want := order([]int{9, 7, 7, 1}), "4@1 3@7 2@7 1@9"; got != want {
		t.Errorf("newest first: %s, want %s", got, want)
	}
	if got, want := order([]int{1, 1, 2}), "1@1 2@1 3@2"; got != want {
		t.Errorf("in order: %s, want %s", got, want)
	}
}

// A batch of a thousand trades newest first, as a busy product's can be:
// linear, not quadratic.
func BenchmarkDecodeTradesNewestFirst1000(b *testing.B) {
	d := NewDecoder(testSymbols(b), SequencePerConnection)
	ts := make([]int, 1000)
	for i := range ts {
		ts[i] = 50000 - i*7
	}
	frame := tradesFrame(ts)
	var ev, n feed.Event
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(frame, &ev); err != nil {
			b.Fatal(err)
		}
		for d.Next(&n) {
		}
	}
}
