package kraken

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/feedkeeper/feedkeeper/book"
	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testSymbols: BTC/USD at price_precision 1 and qty_precision 8 (the
// "Instruments" example), MATIC/USD at 4 and 8 ("Book (Level 2)" sample).
func testSymbols(t testing.TB) *Symbols {
	t.Helper()
	s, err := NewSymbols(Symbol{Name: "BTC/USD", RESTPair: "XBTUSD", PriceScale: 1, QtyScale: 8},
		Symbol{Name: "MATIC/USD", RESTPair: "MATICUSD", PriceScale: 4, QtyScale: 8})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// docSnapshot is the snapshot of Kraken's "Book checksum (WebSocket v2)"
// guide, whose checksum is 3310070434.
const docSnapshot = `{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD",
"bids":[{"price":45283.5,"qty":0.10000000},{"price":45283.4,"qty":1.54582015},{"price":45282.1,"qty":0.10000000},{"price":45281.0,"qty":0.10000000},{"price":45280.3,"qty":1.54592586},{"price":45279.0,"qty":0.07990000},{"price":45277.6,"qty":0.03310103},{"price":45277.5,"qty":0.30000000},{"price":45277.3,"qty":1.54602737},{"price":45276.6,"qty":0.15445238}],
"asks":[{"price":45285.2,"qty":0.00100000},{"price":45286.4,"qty":1.54571953},{"price":45286.6,"qty":1.54571109},{"price":45289.6,"qty":1.54560911},{"price":45290.2,"qty":0.15890660},{"price":45291.8,"qty":1.54553491},{"price":45294.7,"qty":0.04454749},{"price":45296.1,"qty":0.35380000},{"price":45297.5,"qty":0.09945542},{"price":45299.5,"qty":0.18772827}],
"checksum":3310070434}]}`

func toBook(ls []feed.Level) []book.Level {
	out := make([]book.Level, len(ls))
	for i, l := range ls {
		out[i] = book.Level{Price: l.Price, Qty: l.Qty}
	}
	return out
}

func TestDocChecksum(t *testing.T) {
	d := NewDecoder(testSymbols(t))
	var ev feed.Event
	got, err := d.Decode([]byte(docSnapshot), &ev)
	if err != nil || got != feed.DecodedEvent {
		t.Fatalf("decode: %v %v", got, err)
	}
	if ev.Type != feed.TypeBookSnapshot || !ev.Base || !ev.Checksummed || ev.Checksum != 3310070434 || ev.Stream != "BTC/USD@book" ||
		ev.Instrument != "BTC-USD" || len(ev.Bids) != 10 || len(ev.Asks) != 10 || ev.ID != 1 {
		t.Fatalf("event %+v", ev)
	}
	if ev.Asks[0].Price != 452852 || ev.Asks[0].Qty != 100000 {
		t.Errorf("first ask %+v", ev.Asks[0])
	}
	if c := Checksum(toBook(ev.Asks), toBook(ev.Bids), 1, 8); c != 3310070434 {
		t.Errorf("checksum %d, want 3310070434", c)
	}
	// bids before asks is wrong (the sheet's 2704419326)
	if c := Checksum(toBook(ev.Bids), toBook(ev.Asks), 1, 8); c == 3310070434 {
		t.Error("checksum does not depend on the order of the sides")
	}

	// the rule on a book: loaded, matched; a changed qty fails
	v, err := New(Config{Symbols: testSymbols(t)})
	if err != nil {
		t.Fatal(err)
	}
	b := book.New(1000)
	if err := b.Load(ev.ID, toBook(ev.Bids), toBook(ev.Asks)); err != nil {
		t.Fatal(err)
	}
	if !v.Rules().Checksum(b, &ev) {
		t.Error("the doc's snapshot does not match its checksum")
	}
	b.Set(book.Bid, 452835, 1)
	if v.Rules().Checksum(b, &ev) {
		t.Error("a changed book matches")
	}
}

// TestChecksumTruncatesToDepth: an insert that makes an 11th bid at
// depth 10 drops the worst one, which Kraken does not delete.
func TestChecksumTruncatesToDepth(t *testing.T) {
	v, err := New(Config{Symbols: testSymbols(t), BookDepth: 10})
	if err != nil {
		t.Fatal(err)
	}
	d := NewDecoder(v.Symbols())
	var ev feed.Event
	if _, err := d.Decode([]byte(docSnapshot), &ev); err != nil {
		t.Fatal(err)
	}
	b := book.New(1000)
	if err := b.Load(ev.ID, toBook(ev.Bids), toBook(ev.Asks)); err != nil {
		t.Fatal(err)
	}
	bids := toBook(ev.Bids)
	asks := toBook(ev.Asks)
	b.Set(book.Bid, 452840, 5e8) // a new best bid: 11 bids
	want := append([]book.Level{{Price: 452840, Qty: 5e8}}, bids[:9]...)
	ev2 := feed.Event{PriceScale: 1, QtyScale: 8, Checksum: Checksum(asks, want, 1, 8), Checksummed: true}
	if !v.Rules().Checksum(b, &ev2) {
		t.Fatal("checksum after an insert at depth 10")
	}
	if b.Depth(book.Bid) != 10 {
		t.Errorf("%d bids after the cut", b.Depth(book.Bid))
	}
	// the worst bid went; deleting a top level must not bring it back
	b.Set(book.Bid, 452840, 0)
	ev3 := feed.Event{PriceScale: 1, QtyScale: 8, Checksum: Checksum(asks, bids[:9], 1, 8), Checksummed: true}
	if !v.Rules().Checksum(b, &ev3) {
		t.Error("checksum after a delete: the cut level came back")
	}
}

func TestDecodeUpdateAndNumbering(t *testing.T) {
	d := NewDecoder(testSymbols(t))
	var ev feed.Event
	// the "Book (Level 2)" update sample
	upd := `{"channel":"book","type":"update","data":[{"symbol":"MATIC/USD","bids":[{"price":0.5657,"qty":1098.3947558}],"asks":[],"checksum":2114181697,"timestamp":"2023-10-06T17:35:55.440295Z"}]}`
	const ts = 1696613755440295 // µs
	if _, err := d.Decode([]byte(upd), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != feed.TypeBookDelta || ev.Base || ev.ID != ts || ev.FirstID != 1 || ev.Checksum != 2114181697 ||
		len(ev.Bids) != 1 || ev.Bids[0] != (feed.Level{Price: 5657, Qty: 109839475580}) || len(ev.Asks) != 0 {
		t.Fatalf("update: %+v", ev)
	}
	if ev.ExchangeTime != ts*1000 {
		t.Errorf("time %d", ev.ExchangeTime)
	}
	// the same message again keeps its ID: the sequencer drops it
	if _, err := d.Decode([]byte(upd), &ev); err != nil || ev.ID != ts || ev.FirstID != ts+1 {
		t.Errorf("repeat: %d..%d %v", ev.FirstID, ev.ID, err)
	}
	// another message in the same microsecond follows it
	other := strings.Replace(upd, "2114181697", "5", 1)
	if _, err := d.Decode([]byte(other), &ev); err != nil || ev.ID != ts+1 || ev.FirstID != ts+1 {
		t.Errorf("same µs: %d..%d %v", ev.FirstID, ev.ID, err)
	}
	// a late one keeps its older time, below the last ID
	late := strings.Replace(other, "55.440295Z", "55.440000Z", 1)
	if _, err := d.Decode([]byte(late), &ev); err != nil || ev.ID != 1696613755440000 {
		t.Errorf("late: %d..%d %v", ev.FirstID, ev.ID, err)
	}
	// a later one, and one without a timestamp
	later := strings.Replace(other, "55.440295Z", "56Z", 1)
	if _, err := d.Decode([]byte(later), &ev); err != nil || ev.ID != 1696613756000000 || ev.FirstID != ts+2 {
		t.Errorf("later: %d..%d %v", ev.FirstID, ev.ID, err)
	}
	none := strings.Replace(other, `,"timestamp":"2023-10-06T17:35:55.440295Z"`, "", 1)
	if _, err := d.Decode([]byte(none), &ev); err != nil || ev.ID != 1696613756000001 {
		t.Errorf("no timestamp: %d..%d %v", ev.FirstID, ev.ID, err)
	}
	// an update naming a level twice keeps both, in order
	two := `{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":1.0,"qty":2},{"price":1.0,"qty":0}],"asks":[],"checksum":1}]}`
	if _, err := d.Decode([]byte(two), &ev); err != nil || len(ev.Bids) != 2 || ev.Bids[1].Qty != 0 || ev.ID != 1 {
		t.Fatalf("%+v %v", ev, err)
	}
}

func TestDecodeExponentNumbers(t *testing.T) {
	d := NewDecoder(testSymbols(t))
	var ev feed.Event
	f := `{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":4.52835e4,"qty":1e-08}],"asks":[{"price":45285.2E0,"qty":2.5E-3}],"checksum":7}]}`
	if _, err := d.Decode([]byte(f), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Bids[0] != (feed.Level{Price: 452835, Qty: 1}) || ev.Asks[0] != (feed.Level{Price: 452852, Qty: 250000}) {
		t.Errorf("levels %+v %+v", ev.Bids, ev.Asks)
	}
	// a qty finer than qty_precision is an error, not a rounding
	f = strings.Replace(f, "1e-08", "1e-09", 1)
	if _, err := d.Decode([]byte(f), &ev); !errors.Is(err, ErrMalformed) || !errors.Is(err, fixed.ErrPrecision) {
		t.Errorf("1e-09 at 8 decimals: %v", err)
	}
}

func TestDecodeTradeBatch(t *testing.T) {
	d := NewDecoder(testSymbols(t))
	var ev feed.Event
	f := `{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":105944.20,"qty":0.00027625,"ord_type":"limit","trade_id":10218208,"timestamp":"2023-10-06T17:35:55.440295Z"},` +
		`{"symbol":"BTC/USD","side":"sell","price":105944.1,"qty":1,"ord_type":"market","trade_id":10218209,"timestamp":"2023-10-06T17:35:55.440296Z"}]}`
	got, err := d.Decode([]byte(f), &ev)
	if err != nil || got != feed.DecodedBatch {
		t.Fatalf("%v %v", got, err)
	}
	if ev.Type != feed.TypeTrade || ev.ID != 10218208 || ev.Price != 1059442 || ev.Qty != 27625 || ev.Side != feed.SideBuy || ev.Symbol != "BTC/USD" {
		t.Errorf("first %+v", ev)
	}
	if !d.Next(&ev) || ev.ID != 10218209 || ev.Side != feed.SideSell || ev.Qty != 1e8 {
		t.Errorf("second %+v", ev)
	}
	if d.Next(&ev) {
		t.Error("a third trade")
	}
	sym := d.Symbols.byName["BTC/USD"]
	if _, ok := sym.tradeBefore(10218210); ok {
		t.Error("a mark without a jump")
	}
	jump := strings.Replace(f[:strings.Index(f, `},{`)]+"}]}", "10218208", "10218300", 1)
	if _, err := d.Decode([]byte(jump), &ev); err != nil {
		t.Fatal(err)
	}
	if ns, ok := sym.tradeBefore(10218210); !ok || ns != 1696613755440296000 {
		t.Errorf("mark before 10218210: %d %v", ns, ok)
	}
}

func TestDecodeTicker(t *testing.T) {
	d := NewDecoder(testSymbols(t))
	var ev feed.Event
	f := `{"channel":"ticker","type":"snapshot","data":[{"symbol":"BTC/USD","bid":105944.20,"bid_qty":2.5,"ask":105944.30,"ask_qty":3.2,"last":105899.40,"volume":163.28908096,"vwap":105904.39279,"low":104711.00,"high":106613.10,"change":250.00,"change_pct":0.24,"timestamp":"2022-12-25T09:30:59.123456Z"}]}`
	if _, err := d.Decode([]byte(f), &ev); err != nil {
		t.Fatal(err)
	}
	st := ev.Stats
	if ev.Type != feed.TypeTicker || st.Close != 1058994 || st.Open != 1056494 || st.High != 1066131 || st.Volume != 16328908096 ||
		st.Avg != (fixed.Dec{M: 10590439279, S: 5}) || ev.Bid != (feed.Level{Price: 1059442, Qty: 250000000}) || ev.Ask.Price != 1059443 {
		t.Errorf("%+v %+v", ev, st)
	}
}

func TestDecodeControl(t *testing.T) {
	d := NewDecoder(testSymbols(t))
	var ev feed.Event
	for _, c := range []struct {
		frame string
		want  feed.Decoded
	}{
		{`{"channel":"heartbeat"}`, feed.DecodedReply},
		{`{"method":"pong","req_id":101,"time_in":"2023-09-24T14:10:23.799685Z","time_out":"2023-09-24T14:10:23.799703Z"}`, feed.DecodedReply},
		{`{"channel":"status","type":"update","data":[{"api_version":"v2","connection_id":13834774380200032777,"system":"online","version":"2.0.0"}]}`, feed.DecodedReply},
		{`{"channel":"status","type":"update","data":[{"api_version":"v2","connection_id":13834774380200032777,"system":"cancel_only","version":"2.0.0"}]}`, feed.DecodedReply},
		{`{"channel":"status","type":"update","data":[{"api_version":"v2","connection_id":13834774380200032777,"system":"maintenance","version":"2.0.0"}]}`, feed.DecodedShutdown},
		{`{"method":"subscribe","result":{"channel":"book","depth":10,"snapshot":true,"symbol":"BTC/USD"},"success":true,"time_in":"2023-10-06T17:35:55.219022Z","time_out":"2023-10-06T17:35:55.219067Z","req_id":1}`, feed.DecodedReply},
		{`{"channel":"trade","type":"snapshot","data":[]}`, feed.DecodedReply},
		{`{"channel":"instrument","type":"snapshot","data":{"assets":[],"pairs":[{"symbol":"BTC/USD","qty_increment":1e-08}]}}`, feed.DecodedReply},
	} {
		got, err := d.Decode([]byte(c.frame), &ev)
		if err != nil || got != c.want {
			t.Errorf("%s: %v %v, want %v", c.frame, got, err, c.want)
		}
	}
	v, _ := New(Config{Symbols: testSymbols(t)})
	if !v.IsShutdown([]byte(`{"channel":"status","type":"update","data":[{"system":"maintenance"}]}`)) || v.IsShutdown([]byte(`{"channel":"heartbeat"}`)) {
		t.Error("IsShutdown")
	}

	// a refusal is an *Error with the req_id
	bad := `{"error":"Currency pair not supported XBT/USD","method":"subscribe","success":false,"symbol":"XBT/USD","req_id":3}`
	_, err := d.Decode([]byte(bad), &ev)
	var ke *Error
	if !errors.As(err, &ke) || !errors.Is(err, ErrRefused) || ke.Symbol != "XBT/USD" {
		t.Errorf("refusal: %v", err)
	}
	r, err := d.ParseReply([]byte(bad))
	if err != nil || r.ID != 3 || !r.IsErr {
		t.Errorf("reply %+v %v", r, err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	d := NewDecoder(testSymbols(t))
	var ev feed.Event
	for _, f := range []string{
		``, `{`, `[]`, `{"channel":"book"}`, `{"channel":"book","type":"snap","data":[]}`,
		`{"channel":"book","type":"update","data":{}}`,
		`{"channel":"book","type":"update","data":[{"bids":[],"asks":[],"checksum":1}]}`,
		`{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[],"asks":[]}]}`,
		`{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":"1.0","qty":1}],"asks":[],"checksum":1}]}`,
		`{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":1.0}],"asks":[],"checksum":1}]}`,
		`{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":1.05,"qty":1}],"asks":[],"checksum":1}]}`,
		`{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[],"asks":[],"checksum":-1}]}`,
		`{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[],"asks":[],"checksum":4294967296}]}`,
		`{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"up","price":1,"qty":1,"trade_id":1,"timestamp":"2023-10-06T17:35:55Z"}]}`,
		`{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":1,"qty":1,"trade_id":1,"timestamp":"yesterday"}]}`,
		`{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":1,"qty":1,"timestamp":"2023-10-06T17:35:55Z"}]}`,
		`{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[],"asks":[],"checksum":1}]} x`,
	} {
		if _, err := d.Decode([]byte(f), &ev); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", f, err)
		}
	}
	if _, err := d.Decode([]byte(`{"channel":"ohlc","type":"update","data":[]}`), &ev); !errors.Is(err, feed.ErrUnknown) {
		t.Errorf("unknown channel: %v", err)
	}
	if _, err := d.Decode([]byte(`{"channel":"book","type":"update","data":[{"symbol":"ETH/USD","bids":[],"asks":[],"checksum":1}]}`), &ev); !errors.Is(err, ErrUnknownSymbol) {
		t.Errorf("unknown pair: %v", err)
	}
}

func TestDecodeAllocs(t *testing.T) {
	d := NewDecoder(testSymbols(t))
	ev := feed.Event{Bids: make([]feed.Level, 0, 16), Asks: make([]feed.Level, 0, 16)}
	frame := []byte(docSnapshot)
	trade := []byte(`{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":1.5e4,"qty":0.00027625,"ord_type":"limit","trade_id":10218208,"timestamp":"2023-10-06T17:35:55.440295Z"}]}`)
	n := testing.AllocsPerRun(100, func() {
		if _, err := d.Decode(frame, &ev); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Decode(trade, &ev); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations a decode", n)
	}
}

// FuzzDecode: any frame decodes or fails with an error, never a panic;
// a decoded book event's levels are at the pair's scales and positive.
func FuzzDecode(f *testing.F) {
	f.Add(docSnapshot)
	f.Add(`{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":1.5e4,"qty":1e-08,"trade_id":1,"timestamp":"2023-10-06T17:35:55.440295Z"}]}`)
	f.Add(`{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","last":1e3,"vwap":1.23456789012345678901}]}`)
	f.Add(`{"method":"subscribe","success":false,"error":"x","req_id":2}`)
	syms := testSymbols(f)
	f.Fuzz(func(t *testing.T, s string) {
		d := NewDecoder(syms)
		var ev feed.Event
		got, err := d.Decode([]byte(s), &ev)
		if err != nil || got == feed.DecodedReply || got == feed.DecodedShutdown {
			return
		}
		for {
			if ev.Type == feed.TypeBookDelta || ev.Type == feed.TypeBookSnapshot {
				for _, lv := range append(ev.Bids, ev.Asks...) {
					if lv.Price <= 0 || lv.Qty < 0 {
						t.Fatalf("%s: level %+v", s, lv)
					}
				}
			}
			if got != feed.DecodedBatch || !d.Next(&ev) {
				return
			}
		}
	})
}

// TestDecodeCutsToDepth: an update whose insert makes an 11th bid at
// depth 10 ends with the removal of the worst bid, which Kraken does not
// send; a later update reaching below it does not bring it back.
func TestDecodeCutsToDepth(t *testing.T) {
	d := NewDecoder(testSymbols(t))
	var ev feed.Event
	if _, err := d.Decode([]byte(docSnapshot), &ev); err != nil {
		t.Fatal(err)
	}
	ins := `{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":45284.0,"qty":1}],"asks":[],"checksum":1,"timestamp":"2023-10-06T17:35:56Z"}]}`
	if _, err := d.Decode([]byte(ins), &ev); err != nil {
		t.Fatal(err)
	}
	want := []feed.Level{{Price: 452840, Qty: 1e8}, {Price: 452766, Qty: 0}}
	if len(ev.Bids) != 2 || ev.Bids[0] != want[0] || ev.Bids[1] != want[1] || len(ev.Asks) != 0 {
		t.Errorf("bids %+v, want %+v", ev.Bids, want)
	}
	// a repeat is not applied again: no second removal
	if _, err := d.Decode([]byte(ins), &ev); err != nil || len(ev.Bids) != 1 {
		t.Errorf("repeat: %+v %v", ev.Bids, err)
	}
	// removing the new best bid leaves 9: nothing else to cut
	del := strings.Replace(strings.Replace(ins, `"qty":1}`, `"qty":0}`, 1), "56Z", "57Z", 1)
	if _, err := d.Decode([]byte(del), &ev); err != nil || len(ev.Bids) != 1 {
		t.Errorf("delete: %+v %v", ev.Bids, err)
	}
	if b := d.pairs["BTC/USD"].book; b.Depth(book.Bid) != 9 || b.Depth(book.Ask) != 10 {
		t.Errorf("book depth %d/%d", b.Depth(book.Bid), b.Depth(book.Ask))
	}
}

// instrumentFrame is an instrument push listing BTC/USD at price and qty
// precisions pp and qp (the "Instruments" example's fields).
func instrumentFrame(typ string, pp, qp int) string {
	return fmt.Sprintf(`{"channel":"instrument","type":%q,"data":{"assets":[{"id":"BTC","status":"enabled","precision":10,"precision_display":5,"borrowable":true,"collateral_value":1.0,"margin_rate":0.01}],`+
		`"pairs":[{"symbol":"BTC/USD","base":"BTC","quote":"USD","status":"online","qty_precision":%d,"qty_increment":1e-08,"qty_min":0.0001,"price_precision":%d,"price_increment":0.1,"cost_precision":5,"cost_min":0.5,"marginable":true,"has_index":true},`+
		`{"symbol":"ETH/USD","base":"ETH","quote":"USD","status":"online","qty_precision":8,"qty_increment":1e-08,"qty_min":0.01,"price_precision":2,"price_increment":0.01,"cost_precision":5,"cost_min":0.5,"marginable":true,"has_index":true}]}}`, typ, qp, pp)
}

// TestDecodeInstrumentPrecisions: AssetPairs said 2 price decimals for
// BTC/USD, the instrument channel 1: the channel's win, and the
// documented snapshot's checksum verifies (at 2 it would not); a later
// change of precisions breaks the book's chain so that it is rebuilt.
func TestDecodeInstrumentPrecisions(t *testing.T) {
	rest, err := NewSymbols(Symbol{Name: "BTC/USD", RESTPair: "XBTUSD", PriceScale: 2, QtyScale: 8})
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(Config{Symbols: rest, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	d := v.NewDecoder(feed.ConnPlan{}).(*Decoder)
	var ev feed.Event
	if got, err := d.Decode([]byte(instrumentFrame("snapshot", 1, 8)), &ev); err != nil || got != feed.DecodedReply {
		t.Fatalf("instrument snapshot: %v %v", got, err)
	}
	if s, _ := v.Symbols().Lookup("BTC/USD"); s.PriceScale != 1 || s.QtyScale != 8 {
		t.Fatalf("precisions in force %d/%d, want the channel's 1/8", s.PriceScale, s.QtyScale)
	}
	if _, err := d.Decode([]byte(docSnapshot), &ev); err != nil {
		t.Fatal(err)
	}
	b := book.New(100)
	if err := b.Load(ev.ID, toBook(ev.Bids), toBook(ev.Asks)); err != nil {
		t.Fatal(err)
	}
	if ev.PriceScale != 1 || !v.Rules().Checksum(b, &ev) {
		t.Errorf("the documented snapshot at price scale %d does not verify", ev.PriceScale)
	}
	at2 := func(ls []feed.Level) []book.Level { // the levels as read at AssetPairs' 2 decimals
		out := toBook(ls)
		for i := range out {
			out[i].Price *= 10
		}
		return out
	}
	if Checksum(at2(ev.Asks), at2(ev.Bids), 2, 8) == ev.Checksum {
		t.Error("the checksum at AssetPairs' 2 decimals verifies too: the test proves nothing")
	}
	// the same precisions again (another connection's snapshot): no change
	d2 := v.NewDecoder(feed.ConnPlan{}).(*Decoder)
	if _, err := d2.Decode([]byte(instrumentFrame("snapshot", 1, 8)), &ev); err != nil {
		t.Fatal(err)
	}
	if st := v.Instruments().Stats(); st.Disagreements != 1 || st.Changes != 0 {
		t.Errorf("stats %+v, want one disagreement", st)
	}

	// an update in the chain, then precisions change: the next update breaks the chain
	upd := `{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":0.2}],"asks":[],"checksum":1,"timestamp":"2023-10-06T17:35:56Z"}]}`
	if _, err := d.Decode([]byte(upd), &ev); err != nil || ev.FirstID != 2 {
		t.Fatalf("update: first %d, %v", ev.FirstID, err)
	}
	last := ev.ID
	kind, err := d.Decode([]byte(instrumentFrame("update", 2, 8)), &ev)
	if err != nil || kind != feed.DecodedEvent || ev.Type != feed.TypeStatus || ev.Status != feed.StatusInstrument || ev.Symbol != "BTC/USD" ||
		ev.Instrument != "BTC-USD" || ev.PriceScale != 2 || !strings.HasPrefix(ev.Reason, "instrument channel: price precision 1→2, quantity precision 8→8") {
		t.Fatalf("the change announced: %v %v %+v", kind, err, ev)
	}
	upd2 := strings.Replace(upd, "56Z", "57Z", 1)
	if _, err := d.Decode([]byte(upd2), &ev); err != nil || ev.FirstID != last+2 || ev.PriceScale != 2 || ev.Bids[0].Price != 4528350 {
		t.Fatalf("update after the change: first %d (last %d), scale %d, %+v, %v", ev.FirstID, last, ev.PriceScale, ev.Bids, err)
	}
	if st := v.Instruments().Stats(); st.Changes != 1 {
		t.Errorf("stats %+v, want one change", st)
	}
	// a new snapshot at the new precisions chains again
	if _, err := d.Decode([]byte(strings.Replace(docSnapshot, `"checksum"`, `"timestamp":"2023-10-06T17:35:58Z","checksum"`, 1)), &ev); err != nil || !ev.Base || ev.PriceScale != 2 {
		t.Fatalf("snapshot: %+v %v", ev, err)
	}
	upd3 := strings.Replace(upd, "56Z", "59Z", 1)
	if _, err := d.Decode([]byte(upd3), &ev); err != nil || ev.FirstID != 1696613758000001 {
		t.Errorf("update after the snapshot: first %d, %v", ev.FirstID, err)
	}
	// bad precisions are malformed
	if _, err := d.Decode([]byte(instrumentFrame("update", 40, 8)), &ev); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "BTC/USD") {
		t.Errorf("precision 40: %v", err)
	}
}
