package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/feedkeeper/feedkeeper/sim"
)

// simFlags binds the simulator's configuration to flags; demo uses it too.
type simFlags struct {
	cfg     sim.Config
	symbols string
	faults  faultList
	caOut   string
}

type faultList []sim.Fault

func (l *faultList) String() string {
	parts := make([]string, len(*l))
	for i, f := range *l {
		parts[i] = f.String()
	}
	return strings.Join(parts, " ")
}

func (l *faultList) Set(s string) error {
	f, err := sim.ParseFault(s)
	if err != nil {
		return err
	}
	*l = append(*l, f)
	return nil
}

func (sf *simFlags) register(fs *flag.FlagSet) {
	c := &sf.cfg
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:0", "TCP address to listen on (port 0: a random port)")
	fs.StringVar(&c.CertDir, "cert-dir", "", "directory to load the CA from (ca.pem, ca-key.pem), created when absent; empty: a fresh CA in memory")
	fs.StringVar(&sf.caOut, "ca-out", "", "write the CA certificate (PEM) to this file, for clients to trust")
	fs.Int64Var(&c.Seed, "seed", 1, "seed of the market and the faults")
	fs.StringVar(&sf.symbols, "symbols", strings.Join(sim.DefaultSymbols, ","), "symbols to trade, comma separated")
	fs.IntVar(&c.Rate, "rate", 50, "market updates per second over all symbols (negative: none)")
	fs.Float64Var(&c.TradeShare, "trade-share", 0.3, "fraction of market updates that are trades")
	fs.IntVar(&c.History, "history", 100000, "aggregate trades and book updates kept per symbol for REST backfill and ground truth")
	fs.IntVar(&c.Levels, "levels", 500, "price levels per side of each book")
	fs.DurationVar(&c.PingInterval, "ping-interval", 20*time.Second, "how often the server pings each connection")
	fs.DurationVar(&c.PongTimeout, "pong-timeout", time.Minute, "close a connection whose ping got no pong within this")
	fs.DurationVar(&c.MaxLifetime, "max-lifetime", 24*time.Hour, "close each connection (1001) after this long")
	fs.IntVar(&c.MaxIncoming, "max-incoming", 5, "incoming messages per second per connection above which it is closed (1008)")
	fs.IntVar(&c.MaxStreams, "max-streams", 1024, "streams per connection")
	fs.IntVar(&c.MaxFrame, "max-frame", 64<<10, "largest incoming frame, bytes")
	fs.IntVar(&c.SendQueue, "send-queue", 65536, "messages queued for one connection before it is dropped as too slow")
	fs.IntVar(&c.WeightLimit, "weight-limit", 6000, "REST request weight per --weight-window per client IP")
	fs.DurationVar(&c.WeightWindow, "weight-window", time.Minute, "window the REST weight is counted in (whole seconds; published in exchangeInfo)")
	fs.IntVar(&c.BanAfter, "ban-after", 5, "requests over the weight limit before a 418 ban")
	fs.DurationVar(&c.BanTime, "ban-time", 2*time.Minute, "length of the first 418 ban (doubles for repeat offenders)")
	fs.Var(&sf.faults, "fault", "a fault rule kind:key=value,… (repeatable), e.g. drop:every=10s or depth-drop:p=0.01; kinds: "+kindList())
}

func kindList() string {
	var ks []string
	for _, k := range sim.FaultKinds() {
		ks = append(ks, string(k))
	}
	return strings.Join(ks, ", ")
}

// start starts the simulator the flags describe and writes the CA file.
func (sf *simFlags) start() (*sim.Server, error) {
	sf.cfg.Symbols = nil
	for _, s := range strings.Split(sf.symbols, ",") {
		if s = strings.TrimSpace(s); s != "" {
			sf.cfg.Symbols = append(sf.cfg.Symbols, s)
		}
	}
	sf.cfg.Faults = sf.faults
	srv, err := sim.Start(sf.cfg)
	if err != nil {
		return nil, err
	}
	if sf.caOut != "" {
		if err := os.WriteFile(sf.caOut, srv.CAPEM(), 0o644); err != nil {
			srv.Close()
			return nil, fmt.Errorf("--ca-out: %w", err)
		}
	}
	return srv, nil
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", fs.Args())
		return errUsage
	}
	return nil
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("feedkeeper sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf simFlags
	sf.register(fs)
	duration := fs.Duration("duration", 0, "stop after this long (0: run until interrupted)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: feedkeeper sim [flags]\n\nA Binance-spot-compatible TLS exchange simulator with fault injection and ground truth.\n\nFlags:")
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
	srv, err := sf.start()
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "feedkeeper sim listening on %s (seed %d, %d updates/s, symbols %s)\n",
		srv.Addr(), sf.cfg.Seed, srv.Config().Rate, strings.Join(srv.Symbols(), ","))
	fmt.Fprintf(stdout, "  WebSocket  %s/ws/<stream>  %s/stream?streams=<a>/<b>  %s/ws\n", srv.WSURL(), srv.WSURL(), srv.WSURL())
	fmt.Fprintf(stdout, "  REST       %s/api/v3/…\n", srv.RESTURL())
	fmt.Fprintf(stdout, "  sim admin  %s/sim/faults  %s/sim/fire  %s/sim/conns  %s/sim/book?symbol=…  %s/sim/state\n",
		srv.RESTURL(), srv.RESTURL(), srv.RESTURL(), srv.RESTURL(), srv.RESTURL())
	if sf.caOut != "" {
		fmt.Fprintf(stdout, "  CA         %s\n", sf.caOut)
	}
	for _, f := range srv.Faults() {
		fmt.Fprintf(stdout, "  fault      %s\n", f)
	}
	wait(ctx, *duration)
	fmt.Fprintln(stdout, "feedkeeper sim: stopped")
	return nil
}

// wait returns when ctx ends or, when d > 0, after d.
func wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
