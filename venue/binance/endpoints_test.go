package binance_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue/binance"
)

// TestDefaultEndpointsAreMarketDataOnly checks the defaults without
// dialing them: no test ever connects to a real host.
func TestDefaultEndpointsAreMarketDataOnly(t *testing.T) {
	cfg := binance.RESTConfig(httpx.Config{})
	want := []string{"https://api.binance.com", "https://api-gcp.binance.com", "https://api1.binance.com",
		"https://api2.binance.com", "https://api3.binance.com", "https://api4.binance.com"}
	if cfg.BaseURL != "https://data-api.binance.vision" || !slices.Equal(cfg.BaseURLs, want) {
		t.Fatalf("REST defaults %q then %q", cfg.BaseURL, cfg.BaseURLs)
	}
	c, err := httpx.New(cfg) // builds the client; sends nothing
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if hs := c.Stats().Hosts; len(hs) != 7 || hs[0].BaseURL != binance.DefaultRESTURL || hs[6].BaseURL != "https://api4.binance.com" {
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
	if u := plans[0].URL; !strings.HasPrefix(u, "wss://data-stream.binance.vision/stream") {
		t.Fatalf("stream URL %q, want the market-data-only host", u)
	}
	// a connection that falls behind moves to Binance's other stream hosts
	if alts := plans[0].AltURLs; !slices.Equal(alts, []string{"wss://stream.binance.com:9443/stream", "wss://stream.binance.com:443/stream"}) {
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
