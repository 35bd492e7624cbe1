package bybit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
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

// TestWatchActsAtTheLead: a scheduled maintenance arms the plans of its
// products MaintenanceLead before it begins, not sooner; one canceled
// before then, one of the demo service and one of trading only are not
// acted on; one under way is acted on at once, and announced.
func TestWatchActsAtTheLead(t *testing.T) {
	v := testVenue(t, 10, Symbol{Category: Spot, Name: "BTCUSDT", PriceScale: 2, QtyScale: 2}, Symbol{Category: Linear, Name: "BTCUSDT", PriceScale: 2, QtyScale: 2})
	v.cfg.MaintenanceLead = 300 * time.Millisecond
	if _, err := v.Plan([]string{"spot/publicTrade.BTCUSDT", "linear/publicTrade.BTCUSDT"}); err != nil {
		t.Fatal(err)
	}
	ix := v.index.Load()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var mu sync.Mutex
	var reasons []string
	go func() {
		defer close(done)
		v.Watch(ctx, func(ev *feed.Event) {
			mu.Lock()
			reasons = append(reasons, ev.Reason)
			mu.Unlock()
		})
	}()
	defer func() { cancel(); <-done }()
	now := time.Now()
	v.notices <- []Notice{
		{ID: "spot", Title: "spot", State: "scheduled", Begin: now.Add(700 * time.Millisecond), End: now.Add(time.Second), ServiceTypes: []int{5}, Product: []int{2}, Env: 1},
		{ID: "gone", Title: "gone", State: "scheduled", Begin: now.Add(500 * time.Millisecond), Product: []int{1}, Env: 1},
		{ID: "demo", Title: "demo", State: "ongoing", Product: []int{1}, Env: 2},
		{ID: "trading", Title: "trading", State: "ongoing", ServiceTypes: []int{1, 2}, Product: []int{1}, Env: 1},
	}
	v.notices <- []Notice{{ID: "gone", State: "canceled", Product: []int{1}, Env: 1}}
	time.Sleep(250 * time.Millisecond)
	if n := ix.pending.Load(); n != 0 {
		t.Fatalf("%d plans armed before the lead", n)
	}
	deadline := time.Now().Add(3 * time.Second)
	for ix.pending.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if at := time.Since(now); ix.pending.Load() != 1 || !ix.due[0].Load() || ix.due[1].Load() || at < 380*time.Millisecond {
		t.Fatalf("after %v: %d armed, due %v %v", at, ix.pending.Load(), ix.due[0].Load(), ix.due[1].Load())
	}
	v.notices <- []Notice{{ID: "now", Title: "now", State: "ongoing", Env: 1}}
	for ix.pending.Load() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reasons) != 2 || !strings.Contains(reasons[0], `"spot" (spot) scheduled`) || !strings.Contains(reasons[0], "replacing 1 connections of spot") ||
		!strings.Contains(reasons[1], "replacing 1 connections of spot, linear") {
		t.Fatalf("announced %q", reasons)
	}
}
