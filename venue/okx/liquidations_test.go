package okx

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue"
)

// TestDecodeLiquidations: the docs' example and a push of two swaps, one
// of them asked for; sizes are contracts times ctVal, side the
// liquidation order's.
func TestDecodeLiquidations(t *testing.T) {
	d := &Decoder{Symbols: testSymbols(t), Liquidations: map[string]bool{"BTC-USDT-SWAP": true}}
	frame := `{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[` +
		`{"details":[{"bkLoss":"0","bkPx":"65000.5","ccy":"","posSide":"short","side":"buy","sz":"13","ts":"1692266434010"},` +
		`{"bkLoss":"0","bkPx":"64990.1","ccy":"","posSide":"long","side":"sell","sz":"2","ts":"1692266434011"}],` +
		`"instFamily":"BTC-USDT","instId":"BTC-USDT-SWAP","instType":"SWAP","uly":"BTC-USDT"},` +
		`{"details":[{"bkLoss":"0","bkPx":"65000.5","ccy":"","posSide":"short","side":"buy","sz":"1","ts":"1692266434010"}],` +
		`"instFamily":"BTC-USD","instId":"BTC-USD-SWAP","instType":"SWAP","uly":"BTC-USD"}]}`
	var ev feed.Event
	kind, err := d.Decode([]byte(frame), &ev)
	if err != nil || kind != feed.DecodedBatch {
		t.Fatalf("%v, %v", kind, err)
	}
	got := []feed.Event{ev}
	for d.Next(&ev) {
		got = append(got, ev)
	}
	want := []string{
		"liquidation BTC-USDT-SWAP BTC-USDT-PERP BTC-USDT-SWAP@liquidation-orders buy 65000.5 0.1300 1692266434010000000",
		"liquidation BTC-USDT-SWAP BTC-USDT-PERP BTC-USDT-SWAP@liquidation-orders sell 64990.1 0.0200 1692266434011000000",
	}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
	}
	for i, e := range got {
		s := fmt.Sprintf("%v %s %s %s %v %s %s %d", e.Type, e.Symbol, e.Instrument, e.Stream, e.Side,
			fixed.Append(nil, e.Price, e.PriceScale), fixed.Append(nil, e.Qty, e.QtyScale), e.ExchangeTime)
		if s != want[i] {
			t.Errorf("event %d: %s\nwant %s", i, s, want[i])
		}
	}
	// every swap: the inverse one too, under the SWAP@ stream
	d = &Decoder{Symbols: testSymbols(t), LiquidationsAll: true}
	n := 0
	if _, err := d.Decode([]byte(frame), &ev); err != nil {
		t.Fatal(err)
	}
	for n = 1; d.Next(&ev); n++ {
	}
	if n != 3 || ev.Symbol != "BTC-USD-SWAP" || ev.Stream != LiquidationsAll || ev.Qty != 100 || ev.QtyScale != 0 {
		t.Fatalf("%d events, last %+v", n, ev)
	}
	// none asked for: nothing to deliver
	d = &Decoder{Symbols: testSymbols(t)}
	if kind, err := d.Decode([]byte(frame), &ev); kind != feed.DecodedReply || err != nil {
		t.Fatalf("none asked for: %v, %v", kind, err)
	}
	for _, bad := range []string{
		strings.Replace(frame, `"side":"buy"`, `"side":"up"`, 1),
		strings.Replace(frame, `"ts":"1692266434010"`, `"ts":"x"`, 1),
		strings.Replace(frame, `"sz":"13"`, `"sz":"1e3"`, 1),
	} {
		d = &Decoder{Symbols: testSymbols(t), Liquidations: map[string]bool{"BTC-USDT-SWAP": true}}
		if _, err := d.Decode([]byte(bad), &ev); err == nil {
			t.Errorf("no error for %s", bad)
		}
	}
}

// TestLiquidationStreams: the stream forms, and one subscription of the
// channel by instType on the first public connection.
func TestLiquidationStreams(t *testing.T) {
	for _, bad := range []string{"BTC-USDT@liquidation-orders", "FUTURES@liquidation-orders", "swap@liquidation-orders"} {
		if _, _, err := ParseStream(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	v, err := New(Config{WSURL: "wss://127.0.0.1:1", Symbols: testSymbols(t), StreamsPerConn: 1})
	if err != nil {
		t.Fatal(err)
	}
	plans, err := v.Plan([]string{"BTC-USDT@books", "BTC-USDT-SWAP@books", "BTC-USDT-SWAP@liquidation-orders", LiquidationsAll, "BTC-USDT@trades-all"})
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 3 || strings.Join(plans[0].Streams, " ") != "BTC-USDT@books BTC-USDT-SWAP@liquidation-orders SWAP@liquidation-orders" ||
		string(plans[0].Subscribe[0]) != `{"id":"1","op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"},{"channel":"liquidation-orders","instType":"SWAP"}]}` {
		t.Fatalf("plans %+v", plans)
	}
	if _, err := v.Plan([]string{"BTC-USDC-SWAP@liquidation-orders"}); err == nil {
		t.Fatal("an unlisted swap planned")
	}
	only, err := v.Plan([]string{LiquidationsAll})
	if err != nil || len(only) != 1 || !strings.HasSuffix(only[0].URL, PathPublic) {
		t.Fatalf("plans %+v, %v", only, err)
	}
	f, _ := venue.Lookup(Venue)
	st, err := f.(venue.Instrumenter).Streams(venue.WantLiquidations, venue.Instrument{Base: "BTC", Quote: "USDT", Perp: true})
	if err != nil || len(st) != 1 || st[0] != "BTC-USDT-SWAP@liquidation-orders" {
		t.Fatalf("liquidations:BTC-USDT-PERP: %v, %v", st, err)
	}
}

// TestGatewayLiquidations runs the venue, as the program opens it, against
// the simulator's OKX front-end with one swap's liquidations and every
// swap's: each liquidation the simulator made in the time covered is
// delivered once, with its price and base-currency size, and only for the
// swap asked for on its stream.
func TestGatewayLiquidations(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT", "ETHUSDT"}, Venues: []string{sim.VenueOKX}, Rate: 2000})
	o := s.OKX()
	tlsCfg, err := httpx.TLSConfig(simtest.CAFile(t, s))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, _ := venue.Lookup(Venue)
	streams := []string{"BTC-USDT-SWAP@liquidation-orders", LiquidationsAll}
	setup, err := f.Open(context.Background(), venue.Env{WSURL: o.WSURL(), RESTURL: o.RESTURL(), TLS: tlsCfg, Streams: streams, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	var mu sync.Mutex
	got := map[string][]feed.Event{}
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: setup.Venue, Streams: streams, TLS: tlsCfg, Dials: setup.Dials, Logger: quiet,
		Handler: func(ev *feed.Event) {
			if ev.Type == feed.TypeLiquidation {
				mu.Lock()
				got[ev.Symbol] = append(got[ev.Symbol], feed.Event{Symbol: ev.Symbol, Stream: ev.Stream, Side: ev.Side, Price: ev.Price, Qty: ev.Qty,
					PriceScale: ev.PriceScale, QtyScale: ev.QtyScale, ExchangeTime: ev.ExchangeTime, Instrument: ev.Instrument})
				mu.Unlock()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	simtest.WaitFor(t, 20*time.Second, "liquidations of both swaps", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got["BTC-USDT-SWAP"]) >= 5 && len(got["ETH-USDT-SWAP"]) >= 5
	})
	g.Close()
	mu.Lock()
	defer mu.Unlock()
	for inst, evs := range got {
		wantStream := LiquidationsAll
		if inst == "BTC-USDT-SWAP" {
			wantStream = "BTC-USDT-SWAP@liquidation-orders"
		}
		sym, _ := setup.Venue.(*OKX).Symbols().Lookup(inst)
		first, last := evs[0].ExchangeTime/1e6, evs[len(evs)-1].ExchangeTime/1e6
		truth, err := o.Liquidations(inst, first, last)
		if err != nil {
			t.Fatal(err)
		}
		var want, have []string
		for _, l := range truth {
			ct, _ := fixed.Parse(l.Size, sym.LotScale)
			px, _ := fixed.Parse(l.BkPx, sym.PriceScale)
			want = append(want, fmt.Sprintf("%s %s %s %d", l.Side, fixed.Append(nil, px, sym.PriceScale), fixed.Append(nil, ct*sym.CtVal.M, sym.QtyScale), l.Time))
		}
		for _, e := range evs {
			if e.Stream != wantStream || e.Instrument == "" {
				t.Errorf("%s: stream %q instrument %q", inst, e.Stream, e.Instrument)
			}
			have = append(have, fmt.Sprintf("%v %s %s %d", e.Side, fixed.Append(nil, e.Price, e.PriceScale), fixed.Append(nil, e.Qty, e.QtyScale), e.ExchangeTime/1e6))
		}
		// the first push may begin inside a millisecond the truth holds more of
		for len(want) > 0 && want[0] != have[0] {
			want = want[1:]
		}
		if strings.Join(want[:min(len(want), len(have))], "\n") != strings.Join(have, "\n") {
			t.Fatalf("%s: delivered\n%s\nsimulator\n%s", inst, strings.Join(have, "\n"), strings.Join(want, "\n"))
		}
	}
}
