package bybit_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/venue/bybit"
	"github.com/feedkeeper/feedkeeper/venue/venuetest"
)

// TestRefreshMerges: a new read lists a new market, drops one, closes one
// and makes a tick finer and another coarser; the table takes each (the
// coarser tick keeps the finer scale), the decoders use it, and the
// changes say so.
func TestRefreshMerges(t *testing.T) {
	old, err := bybit.NewSymbols(
		bybit.Symbol{Category: bybit.Spot, Name: "BTCUSDT", PriceScale: 2, QtyScale: 6, Base: "BTC", Quote: "USDT", Status: "Trading"},
		bybit.Symbol{Category: bybit.Spot, Name: "XRPUSDT", PriceScale: 4, QtyScale: 2, Base: "XRP", Quote: "USDT", Status: "Trading"},
		bybit.Symbol{Category: bybit.Linear, Name: "BTCUSDT", PriceScale: 1, QtyScale: 3, Base: "BTC", Quote: "USDT", Perpetual: true, Status: "Trading"})
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := bybit.NewSymbols(
		bybit.Symbol{Category: bybit.Spot, Name: "BTCUSDT", PriceScale: 3, QtyScale: 6, Base: "BTC", Quote: "USDT", Status: "Trading"},
		bybit.Symbol{Category: bybit.Spot, Name: "ETHUSDT", PriceScale: 2, QtyScale: 5, Base: "ETH", Quote: "USDT", Status: "Trading"},
		bybit.Symbol{Category: bybit.Linear, Name: "BTCUSDT", PriceScale: 0, QtyScale: 3, Base: "BTC", Quote: "USDT", Perpetual: true, Status: "Closed"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := bybit.New(bybit.Config{WSURL: "wss://127.0.0.1:1", Symbols: old})
	if err != nil {
		t.Fatal(err)
	}
	dec := v.NewDecoder(feed.ConnPlan{URL: "wss://127.0.0.1:1/v5/public/spot"})
	var got []string
	for _, c := range v.Refresh(fresh) {
		ev := c.Event()
		got = append(got, fmt.Sprintf("%s %s %v %s", ev.Symbol, ev.Instrument, ev.Status, ev.Reason))
	}
	slices.Sort(got)
	want := []string{
		"linear/BTCUSDT BTC-USDT-PERP halted status Closed: the market does not trade; its topics are silent",
		"spot/BTCUSDT BTC-USDT instrument price scale 2→3, quantity scale 6→6",
		"spot/ETHUSDT ETH-USDT trading listed (status Trading, price scale 2, quantity scale 5)",
		"spot/XRPUSDT XRP-USDT halted no longer listed by Bybit: its topics are silent",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s, _ := v.Table().Lookup(bybit.Linear, "BTCUSDT"); s.PriceScale != 1 {
		t.Errorf("a coarser tick lowered the scale: %+v", s)
	}
	// a decoder made before the read decodes the new listing, at its scales
	var ev feed.Event
	frame := `{"topic":"publicTrade.ETHUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"ETHUSDT","S":"Buy","v":"0.00001","p":"1657.85","i":"1","BT":false}]}`
	if _, err := dec.Decode([]byte(frame), &ev); err != nil || ev.Symbol != "spot/ETHUSDT" || ev.PriceScale != 2 || ev.QtyScale != 5 || ev.Qty != 1 {
		t.Fatalf("new listing: %v %+v", err, ev)
	}
	if changes := v.Refresh(fresh); len(changes) != 0 {
		t.Errorf("the same read again changed %+v", changes)
	}
}

// TestGatewayRefreshesInstruments: the simulator makes BTCUSDT's tick
// finer, then halts it and lets it trade again; the venue, reading the
// instruments every 300 ms, announces each change, and trades after the
// finer tick carry the finer price scale.
func TestGatewayRefreshesInstruments(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Venues: []string{sim.VenueBybit}, Rate: 500})
	b := s.Bybit()
	tlsCfg, err := httpx.TLSConfig(simtest.CAFile(t, s))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	rest, err := httpx.New(bybit.RESTConfig(httpx.Config{BaseURL: b.RESTURL(), TLS: tlsCfg, Logger: quiet}))
	if err != nil {
		t.Fatal(err)
	}
	defer rest.Close()
	streams := []string{"spot/publicTrade.BTCUSDT"}
	parsed, _ := bybit.ParseStream(streams[0])
	symbols, err := bybit.LoadSymbols(context.Background(), rest, []bybit.Stream{parsed})
	if err != nil {
		t.Fatal(err)
	}
	v, err := bybit.New(bybit.Config{WSURL: b.WSURL(), Symbols: symbols, REST: rest, RefreshEvery: 300 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	venuetest.CheckRefresh(t, venuetest.RefreshCase{Venue: v, Streams: streams, TLS: tlsCfg, Market: s, Symbol: "spot/BTCUSDT",
		Halted: "halted status Closed", Trading: "trading status Trading", Refreshes: v.Refreshes})
	f, _ := venue.Lookup(bybit.Venue)
	opts := f.NewOptions().(*bybit.Options)
	if opts.InstrumentsRefresh != time.Hour {
		t.Fatalf("default %v", opts.InstrumentsRefresh)
	}
	opts.InstrumentsRefresh = 10 * time.Second
	if err := opts.Validate(); err == nil || !strings.Contains(err.Error(), "--bybit-instruments-refresh 10s") {
		t.Fatalf("Validate: %v", err)
	}
}
