package binance

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/venue"
)

func TestSymbolIndex(t *testing.T) {
	var none *SymbolIndex[int]
	if _, ok := none.Lookup("BTCUSDT"); ok || none.Len() != 0 || none.List() != nil {
		t.Fatal("a nil index holds a symbol")
	}
	if _, ok := none.LookupStream([]byte("btcusdt@trade")); ok {
		t.Fatal("a nil index finds a stream's symbol")
	}
	x := NewSymbolIndex[int](2)
	for i, name := range []string{"ETHUSDT", "BTCUSDT"} {
		if err := x.Add(name, i+1); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Add("BTCUSDT", 3); err == nil || !strings.Contains(err.Error(), "BTCUSDT") {
		t.Fatalf("Add of a name added before: %v", err)
	}
	if got := x.List(); !slices.Equal(got, []int{2, 1}) {
		t.Errorf("List = %v, want by name", got)
	}
	for _, c := range []struct {
		got  func() (int, bool)
		want int
	}{
		{func() (int, bool) { return x.Lookup("BTCUSDT") }, 2},
		{func() (int, bool) { return x.LookupBytes([]byte("ETHUSDT")) }, 1},
		{func() (int, bool) { return x.LookupLower("ethusdt") }, 1},
		{func() (int, bool) { return x.LookupStream([]byte("btcusdt@depth5@100ms")) }, 2},
		{func() (int, bool) { return x.LookupStream([]byte("btcusdt")) }, 0},
		{func() (int, bool) { return x.Lookup("btcusdt") }, 0},
	} {
		if v, ok := c.got(); v != c.want || ok != (c.want != 0) {
			t.Errorf("lookup = %d, %v; want %d", v, ok, c.want)
		}
	}
	name := []byte("BTCUSDT")
	if n := testing.AllocsPerRun(100, func() { _, _ = x.LookupBytes(name) }); n != 0 {
		t.Errorf("LookupBytes allocates %v times", n)
	}
}

func TestCheckSymbol(t *testing.T) {
	for _, c := range []struct {
		name   string
		ps, qs uint8
		want   string
	}{
		{"BTCUSDT", 2, 5, ""},
		{"btcusdt", 2, 5, `"btcusdt"`},
		{"BTC@USDT", 2, 5, `"BTC@USDT"`},
		{"", 2, 5, `""`},
		{"BTCUSDT", fixed.MaxScale + 1, 5, "BTCUSDT"},
	} {
		err := CheckSymbol(c.name, c.ps, c.qs)
		if (err == nil) != (c.want == "") || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckSymbol(%q, %d, %d) = %v, want an error naming %s", c.name, c.ps, c.qs, err, c.want)
		}
	}
	if !ValidAsset("1000SATS") || !ValidAsset("") || ValidAsset("btc") || ValidAsset("BTC-X") {
		t.Error("ValidAsset")
	}
}

func TestTradeValues(t *testing.T) {
	sym := Symbol{Name: "BTCUSDT", PriceScale: 2, QtyScale: 3}
	if p, q, need, err := TradeValues(sym, "100.25", "0.5"); err != nil || need != nil || p != 10025 || q != 500 {
		t.Fatalf("TradeValues = %d, %d, %v, %v", p, q, need, err)
	}
	_, _, need, err := TradeValues(sym, "100.25", "0.1234")
	if !errors.Is(err, ErrMalformed) || !errors.Is(err, fixed.ErrPrecision) || !strings.HasPrefix(err.Error(), `qty "0.1234": `) {
		t.Fatalf("a quantity too fine: %v", err)
	}
	if need == nil || need.Symbol != "BTCUSDT" || need.Price || need.Scale != 4 {
		t.Fatalf("need = %+v, want BTCUSDT's quantity scale 4", need)
	}
	if _, _, need, err := TradeValues(sym, "1x", "0.5"); need != nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), `"1x"`) {
		t.Fatalf("a bad price: %v, %v", need, err)
	}
}

// A trade of a REST answer finer than its symbol's scales widens them, and
// is parsed at the scales in force then.
func TestRecoveryTradeWidens(t *testing.T) {
	table, err := NewSymbols(Symbol{Name: "BTCUSDT", PriceScale: 2, QtyScale: 3})
	if err != nil {
		t.Fatal(err)
	}
	in := NewInstruments(table)
	r := &Recovery{symbols: in}
	sym, p, q, err := r.parseTrade(table.List()[0], "100.125", "0.0001")
	if err != nil || sym.PriceScale != 3 || sym.QtyScale != 4 || p != 100125 || q != 1 {
		t.Fatalf("parseTrade = %+v, %d, %d, %v", sym, p, q, err)
	}
	if in.Stats().Widened != 2 {
		t.Errorf("%d scales widened, want 2", in.Stats().Widened)
	}
	fixedTable := &Recovery{symbols: table}
	if _, _, _, err := fixedTable.parseTrade(table.List()[0], "100.125", "1"); !errors.Is(err, fixed.ErrPrecision) {
		t.Errorf("a fixed table widened: %v", err)
	}
}

func TestChangeEvent(t *testing.T) {
	old := Symbol{Name: "BTCUSDT", Instrument: "BTC-USDT", Status: "TRADING", PriceScale: 2, QtyScale: 5}
	halted, wider := old, old
	halted.Status = "HALT"
	wider.PriceScale = 3
	for _, c := range []struct {
		old, cur Symbol
		status   feed.Status
		reason   string
	}{
		{old, halted, feed.StatusHalted, "status HALT: the contract does not trade"},
		{halted, old, feed.StatusTrading, "status TRADING: the contract trades again"},
		{old, wider, feed.StatusInstrument, "price scale 2→3, quantity scale 5→5"},
	} {
		ev := ChangeEvent("v", "contract", c.old, c.cur)
		if ev.Type != feed.TypeStatus || ev.Status != c.status || !strings.HasPrefix(ev.Reason, c.reason) || ev.Venue != "v" || ev.Instrument != "BTC-USDT" {
			t.Errorf("ChangeEvent(%s→%s) = %v %q, want %v %q", c.old.Status, c.cur.Status, ev.Status, ev.Reason, c.status, c.reason)
		}
	}
}

func TestOpening(t *testing.T) {
	o := NewOpening(venue.Env{RESTURL: "https://127.0.0.1:1"}, "wss://ws", "https://rest")
	if o.Setup.WSURL != "wss://ws" || o.Setup.RESTURL != "https://127.0.0.1:1" {
		t.Fatalf("endpoints %s %s", o.Setup.WSURL, o.Setup.RESTURL)
	}
	var order []int
	o.Hold(func() { order = append(order, 1) })
	o.Hold(func() { order = append(order, 2) })
	if err := o.Dials(venue.Env{}, "x-dial-budget", "5/x"); !errors.Is(err, venue.ErrBadInput) || !strings.Contains(err.Error(), "--x-dial-budget 5/x") {
		t.Fatalf("a bad budget: %v", err)
	}
	if err := o.Dials(venue.Env{}, "x-dial-budget", "5/1m"); err != nil || o.Setup.Dials == nil {
		t.Fatalf("Dials: %v", err)
	}
	o.Setup.Close()
	o.Setup.Close()
	if !slices.Equal(order, []int{2, 1}) {
		t.Errorf("released %v, want last first", order)
	}
	err := CheckConnSettings(ConnFlags{StreamsPerConn: "a", RefreshInstruments: "b", DialBudget: "c"}, 0, 10, -time.Second, "x")
	for _, want := range []string{"a", "b", "c"} {
		var se *venue.SettingError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckConnSettings: %v, want flag %s named", err, want)
		}
	}
	if RefreshEvery(0) != -1 || RefreshEvery(time.Minute) != time.Minute {
		t.Error("RefreshEvery")
	}
	if got := StreamsOfSymbols([]string{"btcusdt@trade", "ethusdt@trade", "btcusdt@depth"}, []string{"BTCUSDT"}); !slices.Equal(got, []string{"btcusdt@trade", "btcusdt@depth"}) {
		t.Errorf("StreamsOfSymbols = %v", got)
	}
}
