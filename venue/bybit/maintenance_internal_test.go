package bybit

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestIsShutdownOncePerPlan: after a notice arms the plans of its
// categories, the first data frame of each plan reports a shutdown, later
// ones and other categories' do not; the status connection is planned
// last.
func TestIsShutdownOncePerPlan(t *testing.T) {
	v := testVenue(t, 1, Symbol{Category: Spot, Name: "BTCUSDT", PriceScale: 2, QtyScale: 2}, Symbol{Category: Linear, Name: "ETHUSDT", PriceScale: 2, QtyScale: 2})
	v.cfg.StatusStream = true
	plans, err := v.Plan([]string{"spot/publicTrade.BTCUSDT", "spot/orderbook.50.BTCUSDT", "linear/publicTrade.ETHUSDT"})
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 4 || !strings.HasSuffix(plans[3].URL, StatusPath) || plans[3].Streams[0] != StatusStream ||
		string(plans[3].Subscribe[0]) != `{"req_id":"4","op":"subscribe","args":["system.status"]}` {
		t.Fatalf("plans %+v", plans)
	}
	trade := []byte(`{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1,"data":[]}`)
	book := []byte(`{"topic":"orderbook.50.BTCUSDT","ts":1,"type":"delta","data":{}}`)
	linear := []byte(`{"topic":"publicTrade.ETHUSDT","type":"snapshot","ts":1,"data":[]}`)
	if v.IsShutdown(trade) {
		t.Fatal("shutdown before any notice")
	}
	if n := v.index.Load().arm([]Category{Spot}); n != 2 {
		t.Fatalf("armed %d plans, want the 2 spot ones", n)
	}
	got := []bool{v.IsShutdown(trade), v.IsShutdown(trade), v.IsShutdown(linear), v.IsShutdown(book), v.IsShutdown(book), v.IsShutdown([]byte(`{"success":true}`))}
	if want := []bool{true, false, false, true, false, false}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("IsShutdown %v, want %v", got, want)
	}
}

// TestIsShutdownTellsCategories: a topic planned on spot and on linear is
// matched to its plan by the frame's shape; depth 1 books are not; a plan
// that connected anew after the notice is not replaced.
func TestIsShutdownTellsCategories(t *testing.T) {
	v := testVenue(t, 10, Symbol{Category: Spot, Name: "BTCUSDT", PriceScale: 2, QtyScale: 2}, Symbol{Category: Linear, Name: "BTCUSDT", PriceScale: 2, QtyScale: 2})
	plans, err := v.Plan([]string{"spot/publicTrade.BTCUSDT", "spot/orderbook.1.BTCUSDT", "linear/publicTrade.BTCUSDT", "linear/orderbook.1.BTCUSDT", "linear/tickers.BTCUSDT"})
	if err != nil || len(plans) != 2 {
		t.Fatalf("plans %+v, %v", plans, err)
	}
	spotTrade := []byte(`{"topic":"publicTrade.BTCUSDT","ts":1,"type":"snapshot","data":[{"T":1,"s":"BTCUSDT","S":"Buy","v":"1","p":"1","i":"1","BT":false}]}`)
	linearTrade := []byte(`{"topic":"publicTrade.BTCUSDT","ts":1,"type":"snapshot","data":[{"T":1,"s":"BTCUSDT","S":"Buy","v":"1","p":"1","L":"PlusTick","i":"x","BT":false}]}`)
	depth1 := []byte(`{"topic":"orderbook.1.BTCUSDT","ts":1,"type":"snapshot","data":{}}`)
	ix := v.index.Load()
	ix.arm([]Category{Spot, Linear})
	got := []bool{v.IsShutdown(depth1), v.IsShutdown(linearTrade), v.IsShutdown(linearTrade), v.IsShutdown(spotTrade), v.IsShutdown(spotTrade)}
	if want := []bool{false, true, false, true, false}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("IsShutdown %v, want %v", got, want)
	}
	ix.arm([]Category{Spot, Linear})
	plans[1].Build() // the linear connection reconnected
	got = []bool{v.IsShutdown(linearTrade), v.IsShutdown(spotTrade)}
	if want := []bool{false, true}; fmt.Sprint(got) != fmt.Sprint(want) || ix.pending.Load() != 0 {
		t.Fatalf("after a reconnect: IsShutdown %v, want %v; %d pending", got, want, ix.pending.Load())
	}
}

// FuzzParseNotices: whatever the status stream sends, ParseNotices either
// reads notices with an id and a state or returns an ErrMalformed error,
// and frameTopic never reads past the frame.
func FuzzParseNotices(f *testing.F) {
	for _, s := range []string{
		`{"topic":"system.status","ts":1751858399649,"data":[{"id":"4d95b2a0","title":"t06","state":"completed","begin":"1751596902000","end":"1751597011000","href":"","serviceTypes":[2,3,4,5],"product":[1,2],"uidSuffix":[],"maintainType":1,"env":1}]}`,
		`{"topic":"system.status","data":[{"id":"a","state":"scheduled","begin":1,"maintainType":"2","env":"1"}]}`,
		`{"topic":"system.status"`,
		`{"success":true,"ret_msg":"pong","op":"ping"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		_ = frameTopic(frame)
		ns, err := ParseNotices(frame)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		for _, n := range ns {
			if n.ID == "" || n.State == "" {
				t.Fatalf("notice without id or state: %+v", n)
			}
			_ = n.Categories()
		}
	})
}
