package okx

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/venue/venuetest"
)

// TestRefreshMerges: a new read lists a new swap, drops one, suspends one
// and makes a tick finer and another coarser; the table takes each (the
// coarser tick keeps the finer scale) and the changes say so.
func TestRefreshMerges(t *testing.T) {
	in := NewInstruments(testSymbols(t))
	fresh, err := ParseInstruments([]byte(`[
	 {"instType":"SPOT","instId":"BTC-USDT","baseCcy":"BTC","quoteCcy":"USDT","tickSz":"0.001","lotSz":"0.00000001","state":"live"},
	 {"instType":"SWAP","instId":"BTC-USDT-SWAP","settleCcy":"USDT","ctValCcy":"BTC","ctVal":"0.01","ctType":"linear","tickSz":"1","lotSz":"0.01","state":"suspend"},
	 {"instType":"SWAP","instId":"ETH-USDT-SWAP","settleCcy":"USDT","ctValCcy":"ETH","ctVal":"0.1","ctType":"linear","tickSz":"0.01","lotSz":"1","state":"live"}]`))
	if err != nil {
		t.Fatal(err)
	}
	table, err := NewSymbols(fresh...)
	if err != nil {
		t.Fatal(err)
	}
	changes := in.Refresh(table)
	var got []string
	for _, c := range changes {
		ev := c.Event()
		got = append(got, fmt.Sprintf("%s %v %s", ev.Symbol, ev.Status, ev.Reason))
	}
	want := []string{
		"BTC-USD-SWAP halted no longer listed by OKX: its streams are silent",
		"BTC-USDT instrument price scale 2→3, quantity scale 8→8",
		"BTC-USDT-SWAP halted state suspend: the instrument does not trade; its streams are silent",
		"ETH-USDT-SWAP trading listed (state live, price scale 2, quantity scale 1)",
	}
	if strings.Join(sorted(got), "\n") != strings.Join(want, "\n") {
		t.Fatalf("changes:\n%s\nwant:\n%s", strings.Join(sorted(got), "\n"), strings.Join(want, "\n"))
	}
	cur := in.Table()
	if s, _ := cur.Lookup("BTC-USDT-SWAP"); s.PriceScale != 1 || s.State != "suspend" {
		t.Errorf("a coarser tick lowered the scale: %+v", s)
	}
	if s, ok := cur.Lookup("ETH-USDT-SWAP"); !ok || s.Instrument != "ETH-USDT-PERP" || s.QtyScale != 1 {
		t.Errorf("new listing %+v", s)
	}
	if changes := in.Refresh(table); len(changes) != 0 {
		t.Errorf("the same read again changed %+v", changes)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestGatewayRefreshesInstruments: the simulator makes BTCUSDT's tick
// finer, then halts it and lets it trade again; the venue, reading the
// instruments every 300 ms, announces each change, and trades after the
// finer tick carry the finer price scale.
func TestGatewayRefreshesInstruments(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Venues: []string{sim.VenueOKX}, Rate: 500})
	o := s.OKX()
	tlsCfg, err := httpx.TLSConfig(simtest.CAFile(t, s))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	rest, err := httpx.New(RESTConfig(httpx.Config{BaseURL: o.RESTURL(), TLS: tlsCfg, Logger: quiet}))
	if err != nil {
		t.Fatal(err)
	}
	defer rest.Close()
	symbols, err := LoadSymbols(context.Background(), rest, []string{"BTC-USDT"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(Config{WSURL: o.WSURL(), Symbols: symbols, REST: rest, RefreshEvery: 300 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	streams := []string{"BTC-USDT@trades-all"}
	venuetest.CheckRefresh(t, venuetest.RefreshCase{Venue: v, Streams: streams, TLS: tlsCfg, Market: s, Symbol: "BTC-USDT",
		Halted: "halted state suspend", Trading: "trading state live", Refreshes: v.Refreshes})
	// the factory's flag: 0 is never, a minute is the least
	f, _ := venue.Lookup(Venue)
	opts := f.NewOptions().(*Options)
	if opts.InstrumentsRefresh != time.Hour {
		t.Fatalf("default %v", opts.InstrumentsRefresh)
	}
	opts.InstrumentsRefresh = 10 * time.Second
	if err := opts.Validate(); err == nil || !strings.Contains(err.Error(), "--okx-instruments-refresh 10s") {
		t.Fatalf("Validate: %v", err)
	}
	opts.InstrumentsRefresh = 0
	if err := opts.Validate(); err != nil {
		t.Fatal(err)
	}
}
