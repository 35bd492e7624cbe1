package soak

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
)

// TestFetchTruthVenues: every front-end's ground truth, read in its own
// form, holds the same trades by ID as Binance spot's (the one market
// behind them all), an OKX swap's contracts turned into base quantities
// by its ctVal; bybit's and coinbase's trades are refused.
func TestFetchTruthVenues(t *testing.T) {
	s := simtest.Start(t, sim.Config{Venues: []string{sim.VenueBinanceUSDM, sim.VenueOKX, sim.VenueKraken, sim.VenueBybit}})
	urls := map[string]string{}
	for _, ep := range s.Endpoints() {
		urls[ep.Venue] = ep.RESTURL
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool()}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx := context.Background()

	// the spot trades made so far
	var spot []TruthTrade
	simtest.WaitFor(t, 10*time.Second, "20 trades", func() bool {
		var raw []struct{ ID int64 }
		if err := getJSON(ctx, client, urls[sim.VenueBinance]+"/sim/trades?symbol=BTCUSDT&kind=trade", &raw); err != nil {
			t.Fatal(err)
		}
		if len(raw) < 20 {
			return false
		}
		var err error
		spot, err = FetchTruth(ctx, client, urls[sim.VenueBinance], Seq{"binance", "BTCUSDT", false}, raw[0].ID, raw[19].ID)
		if err != nil {
			t.Fatal(err)
		}
		return true
	})
	from, to := spot[0].ID, spot[len(spot)-1].ID
	if len(spot) != 20 || to-from != 19 {
		t.Fatalf("spot trades %d..%d: %d", from, to, len(spot))
	}
	for _, seq := range []Seq{{"binance-usdm", "BTCUSDT", false}, {"okx", "BTC-USDT", false}, {"okx", "BTC-USDT-SWAP", false}, {"kraken", "BTC/USDT", false}} {
		got, err := FetchTruth(ctx, client, urls[seq.Venue], seq, from, to)
		if err != nil {
			t.Fatalf("%s: %v", seq, err)
		}
		if len(got) != len(spot) {
			t.Fatalf("%s: %d trades %d..%d, want %d", seq, len(got), from, to, len(spot))
		}
		for i, g := range got {
			w := spot[i]
			if g.ID != w.ID || !sameDecimal(g.Price, w.Price) || !sameDecimal(g.Qty, w.Qty) {
				t.Fatalf("%s: trade %+v, spot's %+v", seq, g, w)
			}
		}
	}
	// USD-M's aggregate trades, as spot's
	var aggs []struct{ A int64 }
	if err := getJSON(ctx, client, urls[sim.VenueBinance]+"/sim/trades?symbol=BTCUSDT&kind=aggTrade", &aggs); err != nil || len(aggs) == 0 {
		t.Fatalf("spot aggregate trades: %d, %v", len(aggs), err)
	}
	lo, hi := aggs[0].A, aggs[len(aggs)-1].A
	spotAgg, err := FetchTruth(ctx, client, urls[sim.VenueBinance], Seq{"binance", "BTCUSDT", true}, lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	usdmAgg, err := FetchTruth(ctx, client, urls[sim.VenueBinanceUSDM], Seq{"binance-usdm", "BTCUSDT", true}, lo, hi)
	if err != nil || len(usdmAgg) != len(spotAgg) || len(spotAgg) == 0 || usdmAgg[0] != spotAgg[0] || usdmAgg[0].LastTradeID == 0 {
		t.Fatalf("USD-M aggregate trades %v, spot's %v: %v", usdmAgg, spotAgg, err)
	}
	// a venue whose trade IDs cannot show a gap
	for _, v := range []string{"bybit", "coinbase", "nowhere"} {
		_, err := FetchTruth(ctx, client, urls[sim.VenueBybit], Seq{v, "BTCUSDT", false}, from, to)
		if !errors.Is(err, ErrNotAuditable) || !strings.Contains(err.Error(), v) {
			t.Errorf("%s: %v", v, err)
		}
	}
	for _, v := range []string{"binance", "binance-usdm", "okx", "kraken"} {
		if err := CheckAuditable(v); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
	if err := CheckAuditable("coinbase"); err == nil || !strings.Contains(err.Error(), "do not follow one another") {
		t.Errorf("coinbase: %v", err)
	}
}

// TestCheckVenues: the same symbol and trade IDs on two venues are two
// sequences, and a failure names its venue.
func TestCheckVenues(t *testing.T) {
	a, b := Seq{"binance", "BTCUSDT", false}, Seq{"okx", "BTCUSDT", false}
	out := &Output{Trades: map[Seq]map[int64]*OutTrade{a: {}, b: {}}}
	for id := int64(1); id <= 10; id++ {
		out.Trades[a][id] = &OutTrade{Price: "100.5", Qty: "0.1", Runs: []int{0}}
		if id != 4 {
			out.Trades[b][id] = &OutTrade{Price: "100.5", Qty: "0.1", Runs: []int{0}}
		}
	}
	truth := map[Seq][]TruthTrade{a: truthOf(1, 10), b: truthOf(1, 10)}
	audit, _ := Check(out, truth, []bool{false})
	if audit.Venues() != 2 || len(audit.Symbols) != 2 || audit.Missing != 1 || audit.Symbols[0].Venue != "binance" || audit.Symbols[1].Missing != 1 {
		t.Fatalf("audit %+v", audit)
	}
	if f := strings.Join(audit.failures(), "; "); f != "okx BTCUSDT trade: 1 of 10 trades 1..10 in no output (first: [4])" {
		t.Fatalf("failures %q", f)
	}
}
