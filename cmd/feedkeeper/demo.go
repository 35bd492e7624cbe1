package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/feedkeeper/feedkeeper/monitor"
)

// demoFaults are switched on by default so the user sees recovery happen.
var demoFaults = []string{"drop:every=20s", "malformed:p=0.05", "shutdown:every=45s,duration=2s", "trade-gap:p=0.002"}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("feedkeeper demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf simFlags
	sf.register(fs)
	duration := fs.Duration("duration", 0, "stop after this long (0: run until interrupted)")
	streams := fs.String("streams", "btcusdt@aggTrade,ethusdt@aggTrade,btcusdt@bookTicker,btcusdt@depth@100ms", "streams to show, comma separated")
	lifetime := fs.Duration("lifetime", time.Minute, "the simulator's connection lifetime: the gateway rotates before it")
	noFaults := fs.Bool("no-faults", false, "do not switch on the demo's faults")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	httpAddr := fs.String("http", monitor.DefaultAddr, "serve /metrics, /healthz, /readyz and the dashboard here (empty: off)")
	httpToken := fs.String("http-token", "", "bearer token required on every path of --http")
	noNATS := fs.Bool("no-nats", false, "do not start the embedded NATS JetStream server")
	var outs stringList
	fs.Var(&outs, "out", "where events go (repeatable): stdout, file:DIR, nats or nats:URL,URL (default stdout)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: feedkeeper demo [flags]\n\nStarts the embedded exchange simulator and the gateway streaming from it, with a few\nfaults on (", strings.Join(demoFaults, " "), ").\nEvents go to stdout as JSON Lines; what happens to the connections goes to stderr.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	status := monitor.NewStatusLine(stderr)
	defer status.Close()
	log, err := newLogger(status, *logLevel)
	if err != nil {
		return err
	}
	if !*noFaults && len(sf.faults) == 0 {
		for _, s := range demoFaults {
			if err := sf.faults.Set(s); err != nil {
				return err
			}
		}
	}
	sf.cfg.MaxLifetime = *lifetime
	dir, err := os.MkdirTemp("", "feedkeeper-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if sf.caOut == "" {
		sf.caOut = filepath.Join(dir, "ca.pem")
	}
	srv, err := sf.start()
	if err != nil {
		return err
	}
	defer srv.Close()
	log.Info("simulator started", "ws", srv.WSURL(), "rest", srv.RESTURL(), "faults", sf.faults.String(), "lifetime", *lifetime)

	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	c := runConfig{
		Venue: "binance", WSEndpoint: srv.WSURL(), RESTEndpoint: srv.RESTURL(), CA: sf.caOut,
		Streams: strings.Split(*streams, ","), StreamsPerConn: 200,
		PingInterval: 5 * time.Second, StaleTimeout: 15 * time.Second, ReadLimit: 1 << 20, Queue: 4096,
		Lifetime: *lifetime, Recovery: true, DepthLimit: 1000,
		Out: outs, RotateSize: 256 << 20, RotateEvery: time.Hour, Compress: "zstd", SinkBuffer: 32768,
		HTTP: *httpAddr, HTTPToken: *httpToken,
	}
	if !*noNATS {
		c.NATS = "embedded"
	}
	return runGateway(ctx, &c, stdout, log.With("component", "gateway"), status, func(dashboard string) {
		if dashboard != "" {
			log.Info("dashboard: " + dashboard)
		}
	})
}
