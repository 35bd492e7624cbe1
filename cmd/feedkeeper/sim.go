package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/feedkeeper/feedkeeper/sim"
)

// simFlags binds the simulator's configuration to flags; demo uses it too.
type simFlags struct {
	cfg     sim.Config
	symbols string
	faults  faultList
	caOut   string
	venues  string
}

// faultList is --fault: each value is parsed as it is given, so a bad rule
// is reported with the flag.
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
		if kind, _, _ := strings.Cut(strings.TrimSpace(s), ":"); !slices.Contains(sim.FaultKinds(), sim.FaultKind(kind)) {
			return fmt.Errorf("%q: %w (kinds: %s)", s, err, kindList())
		}
		return fmt.Errorf("%q: %w", s, err)
	}
	*l = append(*l, f)
	return nil
}

func (l *faultList) Type() string { return "rule" }

// bind is the one place where the simulator's flags map to sim.Config: a
// new sim.Config field is one line here (and, when it has a range, one in
// validate).
func (sf *simFlags) bind(fs *pflag.FlagSet) {
	c := &sf.cfg
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:0", "TCP host:port to listen on (port 0: a random port)")
	fs.StringVar(&c.CertDir, "cert-dir", "", "`directory` to load the CA from (ca.pem, ca-key.pem), created when absent; empty: a fresh CA in memory")
	fs.StringVar(&sf.caOut, "ca-out", "", "write the CA certificate (PEM) to this `file`, for clients to trust")
	fs.Int64Var(&c.Seed, "seed", 1, "seed of the market and the faults, any integer")
	fs.StringVar(&sf.symbols, "symbols", strings.Join(sim.DefaultSymbols, ","), "symbols to trade, comma separated, upper-case letters and digits; NAME:TICK:STEP gives one its own tick and step (powers of ten), e.g. DOGEUSDT:0.00001:1")
	fs.IntVar(&c.Rate, "rate", 50, "market updates per second over all symbols (negative: none)")
	fs.Float64Var(&c.TradeShare, "trade-share", 0.3, "fraction of market updates that are trades, 0..1")
	fs.IntVar(&c.History, "history", 100000, "aggregate trades and book updates kept per symbol for REST backfill and ground truth, ≥ 10")
	fs.IntVar(&c.Levels, "levels", 500, "price levels per side of each book, 20..20000")
	fs.DurationVar(&c.PingInterval, "ping-interval", 20*time.Second, "how often the server pings each connection, > 0")
	fs.DurationVar(&c.PongTimeout, "pong-timeout", time.Minute, "close a connection whose ping got no pong within this, > 0")
	fs.DurationVar(&c.MaxLifetime, "max-lifetime", 24*time.Hour, "close each connection (1001) after this long, > 0")
	fs.IntVar(&c.MaxIncoming, "max-incoming", 5, "incoming messages per second per connection above which it is closed (1008), ≥ 1")
	fs.IntVar(&c.MaxStreams, "max-streams", 1024, "streams per connection, ≥ 1")
	fs.IntVar(&c.MaxFrame, "max-frame", 64<<10, "largest incoming frame, bytes, ≥ 1")
	fs.IntVar(&c.SendQueue, "send-queue", 65536, "messages queued for one connection before it is dropped as too slow, ≥ 1")
	fs.IntVar(&c.WeightLimit, "weight-limit", 6000, "REST request weight per --weight-window per client IP, ≥ 1")
	fs.DurationVar(&c.WeightWindow, "weight-window", time.Minute, "window the REST weight is counted in, whole seconds ≥ 1s (published in exchangeInfo)")
	fs.IntVar(&c.BanAfter, "ban-after", 5, "requests over the weight limit before a 418 ban, ≥ 1")
	fs.DurationVar(&c.BanTime, "ban-time", 2*time.Minute, "length of the first 418 ban (doubles for repeat offenders), > 0")
	fs.DurationVar(&c.RESTLag, "rest-lag", 200*time.Millisecond, "aggTrades and historicalTrades leave out trades younger than this (their data source is the database), ≥ 0 (0: no lag)")
	fs.IntVar(&c.ConnAttemptLimit, "conn-attempt-limit", 300, "WebSocket connection attempts per --conn-attempt-window per client IP; over it the upgrade gets HTTP 429, ≥ 1")
	fs.DurationVar(&c.ConnAttemptWindow, "conn-attempt-window", 5*time.Minute, "sliding window of --conn-attempt-limit, > 0")
	fs.DurationVar(&c.TickerEvery, "ticker-every", time.Second, "cadence of the ticker, miniTicker and avgPrice streams, > 0")
	fs.DurationVar(&c.Kline1sEvery, "kline-1s-every", time.Second, "cadence of the kline_1s streams, > 0")
	fs.DurationVar(&c.KlineEvery, "kline-every", 2*time.Second, "cadence of the other kline streams, > 0")
	fs.BoolVar(&c.KeepOpenAfterInvalidStream, "keep-open-after-invalid-stream", false, "keep a connection open after it asked for a malformed stream name (default: close 1008 after the error reply)")
	fs.StringVar(&sf.venues, "venues", strings.Join(sim.Venues(), ","), "front-ends to serve, comma separated, each on its own listener with the same CA and market: "+strings.Join(sim.Venues(), ", ")+" (spot, on --addr, is always served)")
	fs.StringVar(&c.USDM.Addr, "usdm-addr", "127.0.0.1:0", "TCP host:port of the "+sim.VenueBinanceUSDM+" listener (port 0: a random port)")
	fs.DurationVar(&c.USDM.PingInterval, "usdm-ping-interval", 3*time.Minute, "how often the "+sim.VenueBinanceUSDM+" front-end pings each connection, > 0")
	fs.DurationVar(&c.USDM.PongTimeout, "usdm-pong-timeout", 10*time.Minute, "close a "+sim.VenueBinanceUSDM+" connection whose ping got no pong within this, > 0")
	fs.DurationVar(&c.USDM.MaxLifetime, "usdm-max-lifetime", 24*time.Hour, "close each "+sim.VenueBinanceUSDM+" connection (1001) after this long, > 0")
	fs.StringVar(&c.Bybit.Addr, "bybit-addr", "127.0.0.1:0", "TCP host:port of the "+sim.VenueBybit+" listener (port 0: a random port)")
	fs.DurationVar(&c.Bybit.IdleTimeout, "bybit-idle-timeout", 10*time.Minute, "close (1000) a "+sim.VenueBybit+" connection that for this long sent no request (ping, subscribe) and was sent no data, > 0")
	fs.DurationVar(&c.Bybit.MaxLifetime, "bybit-max-lifetime", 24*time.Hour, "close each "+sim.VenueBybit+" connection (1001) after this long, > 0")
	fs.DurationVar(&c.Bybit.BookTick, "bybit-book-tick", 20*time.Millisecond, "how often the "+sim.VenueBybit+" orderbook topics are pushed, ≥ 1ms and at most 1s")
	fs.StringVar(&c.OKX.Addr, "okx-addr", "127.0.0.1:0", "TCP host:port of the "+sim.VenueOKX+" listener (port 0: a random port)")
	fs.DurationVar(&c.OKX.IdleTimeout, "okx-idle-timeout", 30*time.Second, "close an "+sim.VenueOKX+" connection (4004) after this long with no message either way, ≥ 1ms")
	fs.DurationVar(&c.OKX.KeepAlive, "okx-keepalive", time.Minute, "send an "+sim.VenueOKX+" books keep-alive (seqId == prevSeqId) after this long without a book change, ≥ 1ms")
	fs.BoolVar(&c.OKX.LegacyChecksum, "okx-legacy-checksum", false, "send the "+sim.VenueOKX+" books CRC32 checksum as before 2026-06-23 (default: 0, as now)")
	fs.StringVar(&c.Kraken.Addr, "kraken-addr", "127.0.0.1:0", "TCP host:port of the "+sim.VenueKraken+" listener (port 0: a random port)")
	fs.DurationVar(&c.Kraken.BookTick, "kraken-book-tick", 10*time.Millisecond, "how often the "+sim.VenueKraken+" book, trade and ticker channels are published, ≥ 1ms and at most 1s")
	fs.IntVar(&c.Kraken.RESTBurst, "kraken-rest-burst", 15, "REST requests a client IP may send at once to "+sim.VenueKraken+" before EGeneral:Too many requests, ≥ 1")
	fs.DurationVar(&c.Kraken.RESTRefill, "kraken-rest-refill", time.Second, "time in which one more "+sim.VenueKraken+" REST request is allowed, > 0")
	fs.StringVar(&c.Coinbase.Addr, "coinbase-addr", "127.0.0.1:0", "TCP host:port of the "+sim.VenueCoinbase+" listener (port 0: a random port)")
	fs.DurationVar(&c.Coinbase.SubscribeTimeout, "coinbase-subscribe-timeout", 5*time.Second, "close a "+sim.VenueCoinbase+" connection that sent no subscribe within this, ≥ 1ms")
	fs.DurationVar(&c.Coinbase.ChannelIdle, "coinbase-channel-idle", time.Minute, "drop a "+sim.VenueCoinbase+" channel sent nothing for this long on a connection without heartbeats, ≥ 1ms")
	fs.Var(&sf.faults, "fault", "a fault rule kind:key=value,… (repeatable), e.g. drop:every=10s or depth-drop:p=0.01; venue=okx or venue=okx+bybit aims it at those venues of --venues (default: every one; a venue's own kinds, pu-break, okx-*, bybit-*, kraken-*, coinbase-*, act on their venue alone); kinds: "+kindList())
}

var simSymbol = regexp.MustCompile(`^[A-Z0-9]+(:[0-9.]+:[0-9.]+)?$`)

// validate checks the simulator's flags, naming the flag and the value.
func (sf *simFlags) validate(k *checks) {
	c := &sf.cfg
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		k.add("addr", c.Addr, "want host:port, e.g. 127.0.0.1:0")
	}
	seen := map[string]bool{}
	for _, s := range strings.Split(sf.symbols, ",") {
		s = strings.TrimSpace(s)
		switch {
		case !simSymbol.MatchString(s):
			k.add("symbols", sf.symbols, fmt.Sprintf("%q is not a symbol: upper-case letters and digits, e.g. BTCUSDT,ETHUSDT, optionally with its tick and step, DOGEUSDT:0.00001:1", s))
		case seen[strings.SplitN(s, ":", 2)[0]]:
			k.add("symbols", sf.symbols, fmt.Sprintf("%s is given twice", strings.SplitN(s, ":", 2)[0]))
		}
		seen[strings.SplitN(s, ":", 2)[0]] = true
	}
	if c.TradeShare < 0 || c.TradeShare > 1 {
		k.add("trade-share", strconv.FormatFloat(c.TradeShare, 'g', -1, 64), "out of range 0..1")
	}
	served := map[string]bool{sim.VenueBinance: true}
	for _, v := range strings.Split(sf.venues, ",") {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(sim.Venues(), v) {
			k.add("venues", sf.venues, fmt.Sprintf("%q is not a venue: want a list of %s", v, strings.Join(sim.Venues(), ", ")))
		}
		served[v] = true
	}
	for _, f := range sf.faults {
		for _, v := range f.Venues() {
			if f.Venue != "" && !served[v] {
				k.add("fault", f.String(), fmt.Sprintf("%s is not served: add it to --venues (now %s)", v, sf.venues))
			}
		}
	}
	if _, _, err := net.SplitHostPort(c.USDM.Addr); err != nil {
		k.add("usdm-addr", c.USDM.Addr, "want host:port, e.g. 127.0.0.1:0")
	}
	k.positive("usdm-ping-interval", c.USDM.PingInterval)
	k.positive("usdm-pong-timeout", c.USDM.PongTimeout)
	k.positive("usdm-max-lifetime", c.USDM.MaxLifetime)
	if _, _, err := net.SplitHostPort(c.Bybit.Addr); err != nil {
		k.add("bybit-addr", c.Bybit.Addr, "want host:port, e.g. 127.0.0.1:0")
	}
	k.positive("bybit-idle-timeout", c.Bybit.IdleTimeout)
	k.positive("bybit-max-lifetime", c.Bybit.MaxLifetime)
	if c.Bybit.BookTick < time.Millisecond || c.Bybit.BookTick > time.Second {
		k.add("bybit-book-tick", c.Bybit.BookTick.String(), "out of range 1ms..1s")
	}
	if _, _, err := net.SplitHostPort(c.Kraken.Addr); err != nil {
		k.add("kraken-addr", c.Kraken.Addr, "want host:port, e.g. 127.0.0.1:0")
	}
	if c.Kraken.BookTick < time.Millisecond || c.Kraken.BookTick > time.Second {
		k.add("kraken-book-tick", c.Kraken.BookTick.String(), "out of range 1ms..1s")
	}
	if c.Kraken.RESTBurst < 1 {
		k.add("kraken-rest-burst", strconv.Itoa(c.Kraken.RESTBurst), "must be at least 1")
	}
	k.positive("kraken-rest-refill", c.Kraken.RESTRefill)
	if _, _, err := net.SplitHostPort(c.Coinbase.Addr); err != nil {
		k.add("coinbase-addr", c.Coinbase.Addr, "want host:port, e.g. 127.0.0.1:0")
	}
	if _, _, err := net.SplitHostPort(c.OKX.Addr); err != nil {
		k.add("okx-addr", c.OKX.Addr, "want host:port, e.g. 127.0.0.1:0")
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"okx-idle-timeout", c.OKX.IdleTimeout}, {"okx-keepalive", c.OKX.KeepAlive},
		{"coinbase-subscribe-timeout", c.Coinbase.SubscribeTimeout}, {"coinbase-channel-idle", c.Coinbase.ChannelIdle}} {
		if d.v < time.Millisecond {
			k.add(d.flag, d.v.String(), "want at least 1ms")
		}
	}
	k.atLeast("history", int64(c.History), 10)
	k.intRange("levels", int64(c.Levels), 20, 20000)
	k.positive("ping-interval", c.PingInterval)
	k.positive("pong-timeout", c.PongTimeout)
	k.positive("max-lifetime", c.MaxLifetime)
	k.atLeast("max-incoming", int64(c.MaxIncoming), 1)
	k.atLeast("max-streams", int64(c.MaxStreams), 1)
	k.atLeast("max-frame", int64(c.MaxFrame), 1)
	k.atLeast("send-queue", int64(c.SendQueue), 1)
	k.notNegative("rest-lag", c.RESTLag)
	k.atLeast("conn-attempt-limit", int64(c.ConnAttemptLimit), 1)
	k.positive("conn-attempt-window", c.ConnAttemptWindow)
	k.positive("ticker-every", c.TickerEvery)
	k.positive("kline-1s-every", c.Kline1sEvery)
	k.positive("kline-every", c.KlineEvery)
	k.atLeast("weight-limit", int64(c.WeightLimit), 1)
	if c.WeightWindow < time.Second || c.WeightWindow%time.Second != 0 {
		k.add("weight-window", c.WeightWindow.String(), "want a whole number of seconds, at least 1s")
	}
	k.atLeast("ban-after", int64(c.BanAfter), 1)
	k.positive("ban-time", c.BanTime)
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
	sf.cfg.Venues = nil
	for _, v := range strings.Split(sf.venues, ",") {
		if v = strings.TrimSpace(v); v != "" && v != sim.VenueBinance {
			sf.cfg.Venues = append(sf.cfg.Venues, v)
		}
	}
	cfg := sf.cfg
	if cfg.RESTLag == 0 {
		cfg.RESTLag = -1 // the flag's 0 is no lag; the Config's is its default
	}
	srv, err := sim.Start(cfg)
	if err != nil {
		return nil, err
	}
	if sf.caOut != "" {
		if err := os.WriteFile(sf.caOut, srv.CAPEM(), 0o644); err != nil {
			srv.Close()
			return nil, usageErrorf("--ca-out %s: %w", sf.caOut, pathErr(err))
		}
	}
	return srv, nil
}

// simCmd is `feedkeeper sim`: the exchange simulator on its own.
type simCmd struct {
	stdout, stderr io.Writer
	sim            simFlags
	duration       time.Duration
	logLevel       string
}

func newSimCmd(stdout, stderr io.Writer) *cobra.Command {
	s := &simCmd{stdout: stdout, stderr: stderr}
	cmd := &cobra.Command{
		Use:   "sim [flags]",
		Short: "run the Binance-compatible exchange simulator",
		Long: `A Binance-compatible TLS exchange simulator with fault injection and ground truth: Binance spot
on --addr and, with --venues, Binance USD-M futures on --usdm-addr, Bybit (spot and linear)
on --bybit-addr, OKX on --okx-addr, Kraken on --kraken-addr and Coinbase (Advanced Trade) on
--coinbase-addr, over one market.
It takes no arguments; it prints the URLs it serves on stdout and runs until interrupted
or for --duration.

` + exitCodesHelp,
		Example: `  feedkeeper sim --ca-out /tmp/sim-ca.pem --rate 1000 --fault drop:every=30s
  feedkeeper sim --addr 127.0.0.1:9443 --symbols BTCUSDT,ETHUSDT --fault trade-gap:p=0.01 --fault close:code=1008,every=1m`,
		RunE: func(cmd *cobra.Command, args []string) error { return s.Run(cmd.Context(), args) },
	}
	fs := cmd.Flags()
	s.sim.bind(fs)
	fs.DurationVar(&s.duration, "duration", 0, "stop after this long, ≥ 0 (0: run until interrupted)")
	fs.StringVar(&s.logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// Run serves until ctx ends or --duration passes.
func (s *simCmd) Run(ctx context.Context, args []string) error {
	var k checks
	s.sim.validate(&k)
	k.notNegative("duration", s.duration)
	k.logLevel("log-level", s.logLevel)
	if err := k.err(); err != nil {
		return err
	}
	log, err := newLogger(s.stderr, s.logLevel)
	if err != nil {
		return err
	}
	slog.SetDefault(log)
	srv, err := s.sim.start()
	if err != nil {
		return err
	}
	defer srv.Close()
	stdout := s.stdout
	fmt.Fprintf(stdout, "feedkeeper sim listening on %s (seed %d, %d updates/s, symbols %s)\n",
		srv.Addr(), s.sim.cfg.Seed, srv.Config().Rate, strings.Join(srv.Symbols(), ","))
	fmt.Fprintf(stdout, "  WebSocket  %s/ws/<stream>  %s/stream?streams=<a>/<b>  %s/ws\n", srv.WSURL(), srv.WSURL(), srv.WSURL())
	fmt.Fprintf(stdout, "  REST       %s/api/v3/…\n", srv.RESTURL())
	fmt.Fprintf(stdout, "  sim admin  %s/sim/faults  %s/sim/fire  %s/sim/conns  %s/sim/book?symbol=…  %s/sim/state\n",
		srv.RESTURL(), srv.RESTURL(), srv.RESTURL(), srv.RESTURL(), srv.RESTURL())
	for _, ep := range srv.Endpoints()[1:] {
		fmt.Fprintf(stdout, "  %s\n", ep.Venue)
		switch ep.Venue {
		case sim.VenueBinanceUSDM:
			fmt.Fprintf(stdout, "    WebSocket  %s/public/ws/<stream>  %s/public/stream?streams=<a>/<b>  %s/market/ws/<stream>  %s/market/stream?streams=<a>/<b>\n", ep.WSURL, ep.WSURL, ep.WSURL, ep.WSURL)
			fmt.Fprintf(stdout, "    REST       %s/fapi/v1/…\n", ep.RESTURL)
			fmt.Fprintf(stdout, "    truth      %s/sim/book?symbol=…&id=<u>  %s/sim/trades?symbol=…\n", ep.RESTURL, ep.RESTURL)
		case sim.VenueBybit:
			fmt.Fprintf(stdout, "    WebSocket  %s/v5/public/spot  %s/v5/public/linear\n", ep.WSURL, ep.WSURL)
			fmt.Fprintf(stdout, "    REST       %s/v5/market/…\n", ep.RESTURL)
			fmt.Fprintf(stdout, "    truth      %s/sim/book?category=…&symbol=…&u=<u>  %s/sim/trades?category=…&symbol=…&from=<ms>&to=<ms>  %s/sim/conns\n", ep.RESTURL, ep.RESTURL, ep.RESTURL)
		case sim.VenueOKX:
			fmt.Fprintf(stdout, "    WebSocket  %s/ws/v5/public  %s/ws/v5/business\n", ep.WSURL, ep.WSURL)
			fmt.Fprintf(stdout, "    REST       %s/api/v5/…\n", ep.RESTURL)
			fmt.Fprintf(stdout, "    truth      %s/sim/book?instId=…&seqId=…  %s/sim/trades?instId=…&from=…&to=…\n", ep.RESTURL, ep.RESTURL)
		case sim.VenueKraken:
			fmt.Fprintf(stdout, "    WebSocket  %s/v2\n", ep.WSURL)
			fmt.Fprintf(stdout, "    REST       %s/0/public/…\n", ep.RESTURL)
			fmt.Fprintf(stdout, "    truth      %s/sim/book?symbol=BTC/USDT&ts=<µs>  %s/sim/trades?symbol=BTC/USDT&from=<trade_id>&to=<trade_id>\n", ep.RESTURL, ep.RESTURL)
		case sim.VenueCoinbase:
			fmt.Fprintf(stdout, "    WebSocket  %s/ (subscribe level2, market_trades, ticker, heartbeats)\n", ep.WSURL)
			fmt.Fprintf(stdout, "    REST       %s/api/v3/brokerage/market/…  %s/api/v3/brokerage/time\n", ep.RESTURL, ep.RESTURL)
			fmt.Fprintf(stdout, "    truth      %s/sim/book?product_id=…&conn=…&sequence_num=…  %s/sim/book?product_id=…&update_id=…  %s/sim/trades?product_id=…&from=…&to=…  %s/sim/conns\n", ep.RESTURL, ep.RESTURL, ep.RESTURL, ep.RESTURL)
		default:
			fmt.Fprintf(stdout, "    WebSocket  %s\n    REST       %s\n", ep.WSURL, ep.RESTURL)
		}
	}
	if s.sim.caOut != "" {
		fmt.Fprintf(stdout, "  CA         %s\n", s.sim.caOut)
	}
	for _, f := range srv.Faults() {
		fmt.Fprintf(stdout, "  fault      %s\n", f)
	}
	wait(ctx, s.duration)
	fmt.Fprintln(stdout, "feedkeeper sim: stopped")
	return nil
}
