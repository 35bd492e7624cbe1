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
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue"
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
	var mu sync.Mutex
	var statuses []string
	scales := map[uint8]int{}
	streams := []string{"BTC-USDT@trades-all"}
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: v, Streams: streams, TLS: tlsCfg, Logger: quiet, Handler: func(ev *feed.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ev.Type == feed.TypeStatus && ev.Symbol == "BTC-USDT":
			statuses = append(statuses, fmt.Sprintf("%v %s", ev.Status, ev.Reason))
		case ev.Type == feed.TypeTrade:
			scales[ev.PriceScale]++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	seen := func(what string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return strings.Contains(strings.Join(statuses, "\n"), what)
		}
	}
	simtest.WaitFor(t, 10*time.Second, "trades", func() bool { mu.Lock(); defer mu.Unlock(); return scales[2] > 0 })
	if err := s.SetSymbolFilters("BTCUSDT", "0.001", ""); err != nil {
		t.Fatal(err)
	}
	simtest.WaitFor(t, 10*time.Second, "the finer tick announced", seen("instrument price scale 2→3"))
	simtest.WaitFor(t, 10*time.Second, "trades at the finer scale", func() bool { mu.Lock(); defer mu.Unlock(); return scales[3] > 5 })
	if err := s.SetSymbolStatus("BTCUSDT", "BREAK"); err != nil {
		t.Fatal(err)
	}
	simtest.WaitFor(t, 10*time.Second, "the halt announced", seen("halted state suspend"))
	if err := s.SetSymbolStatus("BTCUSDT", "TRADING"); err != nil {
		t.Fatal(err)
	}
	simtest.WaitFor(t, 10*time.Second, "trading again announced", seen("trading state live"))
	if done, failed := v.Refreshes(); done < 3 || failed != 0 {
		t.Fatalf("%d refreshes, %d failed", done, failed)
	}
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
