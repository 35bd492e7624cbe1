package binance_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue/binance"
)

// TestDefaultEndpointsAreMarketDataOnly checks the defaults without
// dialing them, and without naming any real host here: no test connects to
// one.
func TestDefaultEndpointsAreMarketDataOnly(t *testing.T) {
	cfg := binance.RESTConfig(httpx.Config{})
	fallback := binance.RESTFallbackURLs()
	if cfg.BaseURL != binance.DefaultRESTURL || !slices.Equal(cfg.BaseURLs, fallback) || len(fallback) != 6 || fallback[0] != binance.APIRESTURL {
		t.Fatalf("REST defaults %q then %q", cfg.BaseURL, cfg.BaseURLs)
	}
	// the market-data host serves no historicalTrades: those go to the others
	if cfg.Serves(binance.DefaultRESTURL, "/api/v3/historicalTrades") || !cfg.Serves(binance.DefaultRESTURL, "/api/v3/aggTrades") ||
		!cfg.Serves(binance.APIRESTURL, "/api/v3/historicalTrades") {
		t.Fatal("Serves does not follow the market-data host's list")
	}
	c, err := httpx.New(cfg) // builds the client; sends nothing
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if hs := c.Stats().Hosts; len(hs) != 7 || hs[0].BaseURL != binance.DefaultRESTURL || hs[6].BaseURL != fallback[5] {
		t.Fatalf("hosts %+v", hs)
	}
	binance.RESTFallbackURLs()[0] = "changed"
	if binance.RESTFallbackURLs()[0] != binance.APIRESTURL {
		t.Fatal("RESTFallbackURLs shares its slice")
	}

	// a configuration naming its host (a simulator) gets no other
	own := binance.RESTConfig(httpx.Config{BaseURL: "https://127.0.0.1:1"})
	if own.BaseURL != "https://127.0.0.1:1" || len(own.BaseURLs) != 0 {
		t.Fatalf("RESTConfig added hosts to an explicit BaseURL: %q", own.BaseURLs)
	}

	syms, err := binance.NewSymbols(binance.Symbol{Name: "BTCUSDT", PriceScale: 2, QtyScale: 5})
	if err != nil {
		t.Fatal(err)
	}
	spot, err := binance.NewSpot(binance.SpotConfig{Symbols: syms})
	if err != nil {
		t.Fatal(err)
	}
	plans, err := spot.Plan([]string{"btcusdt@aggTrade"})
	if err != nil {
		t.Fatal(err)
	}
	if u := plans[0].URL; !strings.HasPrefix(u, binance.DefaultWSURL+"/stream") {
		t.Fatalf("stream URL %q, want the market-data-only host", u)
	}
	// a connection that falls behind moves to Binance's other stream hosts
	if alts := plans[0].AltURLs; !slices.Equal(alts, []string{binance.StreamWSURL + "/stream", binance.StreamWSURL443 + "/stream"}) {
		t.Fatalf("other stream hosts %q", alts)
	}
	// a configuration naming its host (a simulator) gets no other
	simSpot, err := binance.NewSpot(binance.SpotConfig{Symbols: syms, WSURL: "wss://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if plans, err = simSpot.Plan([]string{"btcusdt@aggTrade"}); err != nil || plans[0].AltURLs != nil {
		t.Fatalf("plans %+v, %v", plans, err)
	}
}
