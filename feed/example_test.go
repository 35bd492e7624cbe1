package feed_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue/binance"
)

// A gateway on Binance spot (here the simulator): the symbols' rules come
// over REST, then the streams are opened and every event goes to Handler.
func ExampleOpenGateway() {
	srv, err := sim.Start(sim.Config{Symbols: []string{"BTCUSDT"}, Rate: 200})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "feedkeeper-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, srv.CAPEM(), 0o600); err != nil {
		fmt.Println(err)
		return
	}

	// One TLS configuration for the whole process: its session cache
	// serves every connection, REST and WebSocket.
	tlsCfg, err := httpx.TLSConfig(caFile) // "": system roots only
	if err != nil {
		fmt.Println(err)
		return
	}
	rest, err := httpx.New(httpx.Config{BaseURL: srv.RESTURL(), TLS: tlsCfg})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rest.Close()
	streams := []string{"btcusdt@aggTrade"}
	syms, err := binance.LoadSymbols(context.Background(), rest, binance.SymbolsOfStreams(streams))
	if err != nil {
		fmt.Println(err)
		return
	}
	venue, err := binance.NewSpot(binance.SpotConfig{WSURL: srv.WSURL(), Symbols: syms})
	if err != nil {
		fmt.Println(err)
		return
	}

	trades := make(chan string, 1)
	g, err := feed.OpenGateway(feed.GatewayConfig{
		Venue:   venue,
		Streams: streams,
		TLS:     tlsCfg,
		Logger:  slog.New(slog.DiscardHandler),
		// Handler is called one event at a time; the event is reused once
		// it returns (Event.CopyTo keeps one), and it must not call Close.
		Handler: func(ev *feed.Event) {
			if ev.Type != feed.TypeTrade {
				return // status, gap and other events
			}
			select {
			case trades <- fmt.Sprintf("%v %s aggregated=%v", ev.Type, ev.Symbol, ev.Aggregated):
			default:
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Close stops every connection and recovery worker; the events already
	// received reach Handler before it returns.
	defer g.Close()

	select {
	case tr := <-trades:
		fmt.Println(tr)
	case <-time.After(10 * time.Second):
		fmt.Println("no trade")
	}
	// Output: trade BTCUSDT aggregated=true
}
