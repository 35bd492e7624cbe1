package monitor_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/monitor"
	"github.com/feedkeeper/feedkeeper/sink"
	"github.com/feedkeeper/feedkeeper/sink/stdout"
	"github.com/feedkeeper/feedkeeper/venue/binance"
)

// A gateway watched by a Monitor and a terminal status line: the Monitor
// starts first so that /healthz answers while the gateway connects, the
// handler observes every event, and the status line carries the logs.
// /readyz includes the order books (by symbol) and the sinks (by name), and
// the Monitor logs as component=monitor, apart from the gateway.
func Example() {
	status := monitor.NewStatusLine(os.Stderr)
	defer status.Close()
	log := slog.New(slog.NewTextHandler(status, nil))

	rest, err := httpx.New(binance.RESTConfig(httpx.Config{Logger: log})) // the venue's default hosts
	if err != nil {
		log.Error("rest", "err", err)
		return
	}
	serverTime := func(ctx context.Context) (time.Time, error) { return binance.ServerTime(ctx, rest, false) }
	out, err := stdout.Open(stdout.Config{Logger: log})
	if err != nil {
		log.Error("sink", "err", err)
		return
	}
	defer out.Close()
	mon, err := monitor.New(monitor.Config{Venue: "binance", REST: rest.Stats, ServerTime: serverTime,
		BookSymbols: []string{"BTCUSDT"},
		Sinks:       map[string]sink.Sink{"stdout": out},
		Logger:      log.With("component", "monitor")})
	if err != nil {
		log.Error("monitor", "err", err)
		return
	}
	defer mon.Close()
	fmt.Fprintln(os.Stderr, "dashboard:", mon.URL())

	var venue feed.Venue // binance.NewSpot(…)
	g, err := feed.OpenGateway(feed.GatewayConfig{
		Venue: venue, Streams: []string{"btcusdt@aggTrade", "btcusdt@depth@100ms"}, Logger: log.With("component", "gateway"),
		Handler: func(ev *feed.Event) {
			out.Write(ev)
			mon.Observe(ev)
		},
		// Recovery: binance.NewRecovery(…) keeps the BTCUSDT book
	})
	if err != nil {
		log.Error("gateway", "err", err)
		return
	}
	defer g.Close()
	mon.SetGateway(g.Stats)
	status.Start(g.Stats, time.Second)
}
