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
)

// A gateway watched by a Monitor and a terminal status line: the Monitor
// starts first so that /healthz answers while the gateway connects, the
// handler observes every event, and the status line carries the logs.
func Example() {
	status := monitor.NewStatusLine(os.Stderr)
	defer status.Close()
	log := slog.New(slog.NewTextHandler(status, nil))

	rest, err := httpx.New(httpx.Config{BaseURL: "https://api.binance.com", Logger: log})
	if err != nil {
		log.Error("rest", "err", err)
		return
	}
	serverTime := func(ctx context.Context) (time.Time, error) {
		var v struct {
			ServerTime int64 `json:"serverTime"`
		}
		if _, err := rest.Get(ctx, "/api/v3/time", nil, &v); err != nil {
			return time.Time{}, err
		}
		return time.UnixMilli(v.ServerTime).Add(500 * time.Microsecond), nil
	}
	mon, err := monitor.New(monitor.Config{Venue: "binance", REST: rest.Stats, ServerTime: serverTime, Logger: log})
	if err != nil {
		log.Error("monitor", "err", err)
		return
	}
	defer mon.Close()
	fmt.Fprintln(os.Stderr, "dashboard:", mon.URL())

	var venue feed.Venue // binance.NewSpot(…)
	g, err := feed.OpenGateway(feed.GatewayConfig{
		Venue: venue, Streams: []string{"btcusdt@aggTrade"}, Logger: log,
		Handler: func(ev *feed.Event) {
			// hand ev to the sink, then:
			mon.Observe(ev)
		},
	})
	if err != nil {
		log.Error("gateway", "err", err)
		return
	}
	defer g.Close()
	mon.SetGateway(g.Stats)
	status.Start(g.Stats, time.Second)
}
