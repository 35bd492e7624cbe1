package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/feedkeeper/feedkeeper/sim"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("feedkeeper demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf simFlags
	sf.register(fs)
	duration := fs.Duration("duration", 0, "stop after this long (0: run until interrupted)")
	streams := fs.String("streams", "btcusdt@aggTrade,ethusdt@aggTrade,btcusdt@bookTicker", "streams to show, comma separated")
	noFaults := fs.Bool("no-faults", false, "do not switch on the demo's faults")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: feedkeeper demo [flags]\n\nStarts the embedded exchange simulator and streams from it, with a few faults on.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	slog.SetDefault(log)
	if !*noFaults && len(sf.faults) == 0 {
		for _, s := range []string{"drop:every=15s", "malformed:p=0.02"} {
			if err := sf.faults.Set(s); err != nil {
				return err
			}
		}
	}
	srv, err := sf.start()
	if err != nil {
		return err
	}
	defer srv.Close()
	log.Info("simulator started", "ws", srv.WSURL(), "rest", srv.RESTURL(), "faults", sf.faults.String())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if *duration > 0 {
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	return demoStream(ctx, srv, strings.Split(*streams, ","), stdout, log)
}

// demoStream shows the simulator's combined stream on stdout, one frame a
// line, reconnecting after each fault until ctx ends.
func demoStream(ctx context.Context, srv *sim.Server, streams []string, stdout io.Writer, log *slog.Logger) error {
	dialer := websocket.Dialer{
		TLSClientConfig:  &tls.Config{RootCAs: srv.CertPool(), ClientSessionCache: tls.NewLRUClientSessionCache(8)},
		HandshakeTimeout: 5 * time.Second,
	}
	url := srv.WSURL() + "/stream?streams=" + strings.Join(streams, "/")
	for ctx.Err() == nil {
		conn, _, err := dialer.DialContext(ctx, url, nil)
		if err != nil {
			log.Warn("dial", "err", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		log.Info("connected", "url", url)
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("connection lost, reconnecting", "err", err)
				}
				break
			}
			fmt.Fprintf(stdout, "%s\n", msg)
		}
		stop()
		conn.Close()
		sleepCtx(ctx, 200*time.Millisecond)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
