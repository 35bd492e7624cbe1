// Command bybitjson is the program a user of github.com/hirokisan/bybit/v2
// writes to print Bybit's public trades as JSON Lines: hirokisan/bybit
// unmodified (one public connection of the category, a publicTrade
// subscription per symbol) and encoding/json, one line per trade on
// stdout, one write a line. The peers benchmarks run it beside
// `feedkeeper run`.
//
// It runs until SIGINT or SIGTERM. The WebSocket base URL is the
// simulator's (-ws); the process trusts the simulator's CA through
// SSL_CERT_FILE.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/hirokisan/bybit/v2"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bybitjson:", err)
		os.Exit(1)
	}
}

func run() error {
	ws := flag.String("ws", "", "WebSocket base, wss://host:port (required)")
	category := flag.String("category", "linear", "spot or linear")
	symbols := flag.String("symbols", "BTCUSDT", "comma-separated symbols")
	flag.Parse()
	if !strings.HasPrefix(*ws, "wss://") {
		return fmt.Errorf("-ws %q: want wss://host:port", *ws)
	}
	var cat bybit.CategoryV5
	switch *category {
	case "spot":
		cat = bybit.CategoryV5Spot
	case "linear":
		cat = bybit.CategoryV5Linear
	default:
		return fmt.Errorf("-category %q: want spot or linear", *category)
	}
	svc, err := bybit.NewWebsocketClient().WithBaseURL(*ws).V5().Public(cat)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", *ws, err)
	}
	var mu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	for _, s := range strings.Split(*symbols, ",") {
		_, err := svc.SubscribeTrade(bybit.V5WebsocketPublicTradeParamKey{Symbol: bybit.SymbolV5(s)},
			func(r bybit.V5WebsocketPublicTradeResponse) error {
				mu.Lock()
				defer mu.Unlock()
				for _, t := range r.Data {
					enc.Encode(t)
				}
				return nil
			})
		if err != nil {
			return fmt.Errorf("subscribe publicTrade.%s: %w", s, err)
		}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- svc.Start(ctx, func(closed bool, err error) {
			if ctx.Err() == nil {
				fmt.Fprintln(os.Stderr, "bybitjson:", err)
			}
		})
	}()
	select {
	case <-ctx.Done():
		<-errc
		return nil
	case err := <-errc:
		return fmt.Errorf("the stream from %s ended: %w", *ws, err)
	}
}
