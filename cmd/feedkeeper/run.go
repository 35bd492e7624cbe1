package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/feedkeeper/feedkeeper/monitor"
)

// runCmd is `feedkeeper run`: a venue's market data as normalized JSON
// Lines.
type runCmd struct {
	stdout, stderr io.Writer
	cfg            runConfig
	configPath     string
	flags          *pflag.FlagSet
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	return (&runCmd{stdout: stdout, stderr: stderr}).command()
}

func (r *runCmd) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run [flags] <stream>... [flags]",
		Short: "stream venues' market data as normalized JSON Lines",
		Long: `Streams a venue's market data as normalized JSON Lines on stdout (or --out); status and
logs go to stderr. Each <stream> is a name of the venue's own (Binance: <lower-case symbol>@<type>,
type one of aggTrade, trade, bookTicker, depth, depth@100ms, depth5/10/20[@100ms]) or WHAT:INSTRUMENT,
a form every venue reads (trades:BTC-USDT, book:BTC-USDT-PERP; WHAT one of trades, book, top,
funding, liquidations). Stream names are checked before any connection is made. Flags may come
before or after the streams.

Several venues run at once with --venue repeated (or comma separated): each takes the WHAT:INSTRUMENT
streams it lists (a stream some venues lack is skipped for them, and logged; one no venue lists is
refused); --ws-endpoint and --rest-endpoint then take VENUE=URL[,VENUE=URL] for the venues not to use
their own. --record makes one recording of every venue, --state keeps every venue's positions in one
file. Streams or settings that differ by venue: a venues: list in the config file.

--config FILE takes the same settings as YAML (keys as the flags with _ for -: ws_endpoint,
streams, …; unknown keys are errors); a venue's own settings (the flags --help marks with its
name) sit in its section, as "binance: {streams_per_conn: 100, micros: true}". Flags given on
the command line override the file, and streams given as arguments are added to the file's.

` + exitCodesHelp,
		Example: `  feedkeeper run btcusdt@aggTrade btcusdt@depth@100ms ethusdt@bookTicker
  feedkeeper run btcusdt@aggTrade --out file:/var/lib/feedkeeper --nats=nats://10.0.0.5:4222
  feedkeeper run --venue binance --venue okx trades:BTC-USDT book:ETH-USDT --state /var/lib/feedkeeper/state.json
  feedkeeper run --venue binance,binance-usdm trades:BTC-USDT trades:BTC-USDT-PERP --record /tmp/rec
  feedkeeper run --config feedkeeper.yaml --duration 10m
  feedkeeper run btcusdt@trade --ws-endpoint wss://127.0.0.1:9443 --rest-endpoint https://127.0.0.1:9443 --ca /tmp/sim-ca.pem`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: completeStreams,
		RunE:              func(cmd *cobra.Command, args []string) error { return r.Run(cmd.Context(), args) },
	}
	r.flags = cmd.Flags()
	r.cfg.bindRun(r.flags)
	r.flags.StringVar(&r.configPath, "config", "", "YAML config `file` (keys as the flags, with _ for -: ws_endpoint, streams, …)")
	return cmd
}

// Run streams until ctx ends or --duration passes. args are the stream
// names given as arguments; the flags are already parsed.
func (r *runCmd) Run(ctx context.Context, args []string) error {
	c, err := r.config(args)
	if err != nil {
		return err
	}
	runs, err := c.venueRuns()
	if err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	if err := checkListen("http", c.HTTP); err != nil {
		return err
	}
	status := monitor.NewStatusLine(r.stderr)
	defer status.Close()
	log, err := newLogger(status, c.LogLevel)
	if err != nil {
		return err
	}
	ctx, cancel := withDuration(ctx, c.Duration)
	defer cancel()
	return runGateway(ctx, c, runs, r.stdout, log, status, func(dashboard string) {
		if dashboard != "" {
			log.Info("dashboard: " + dashboard)
		}
	})
}

// config merges the defaults, the config file and the flags given, and
// adds the streams given as arguments.
func (r *runCmd) config(args []string) (*runConfig, error) {
	c := &r.cfg
	if r.configPath != "" {
		var err error
		if c, err = applyConfigFile(r.configPath, r.flags, &r.cfg, (*runConfig).bindRun); err != nil {
			return nil, err
		}
	}
	c.Streams = append(c.Streams, args...)
	return c, nil
}
