package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/record"
	"github.com/feedkeeper/feedkeeper/sink"
	"github.com/feedkeeper/feedkeeper/venue/binance"
)

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("feedkeeper replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c runConfig
	c.registerSinks(fs)
	speed := fs.String("speed", "max", "max (as fast as possible), recorded (as it came), or a factor such as 2 or 0.5")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: feedkeeper replay [flags] DIR\n\nFeeds the frames recorded by `feedkeeper run --record DIR` through the same decoding and\nsequencing, to the same outputs, at the recorded speed or as fast as possible. Events keep\ntheir recorded receive times.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(joinNATSArg(args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	factor := 0.0 // max
	switch *speed {
	case "max":
	case "recorded":
		factor = 1
	default:
		f, err := strconv.ParseFloat(strings.TrimSuffix(*speed, "x"), 64)
		if err != nil || f <= 0 {
			return fmt.Errorf("--speed %q: want max, recorded or a positive factor", *speed)
		}
		factor = f
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	r, err := record.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer r.Close()
	if r.Meta.Venue != binance.Venue {
		return fmt.Errorf("replay: recorded venue %q is not supported", r.Meta.Venue)
	}
	var list []binance.Symbol
	for _, s := range r.Meta.Symbols {
		list = append(list, binance.Symbol{Name: s.Name, PriceScale: s.PriceScale, QtyScale: s.QtyScale})
	}
	symbols, err := binance.NewSymbols(list...)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	venue, err := binance.NewSpot(binance.SpotConfig{WSURL: r.Meta.WSURL, Symbols: symbols, StreamsPerConn: r.Meta.PerConn, Micros: r.Meta.Micros})
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	c.Compress = defaultString(c.Compress, "zstd")
	out, err := openSinks(&c, stdout, log)
	if err != nil {
		return err
	}
	defer out.Close()
	g, err := feed.OpenReplay(feed.GatewayConfig{Venue: venue, Streams: r.Meta.Streams, Logger: log, Handler: sink.Handler(out.multi, log)})
	if err != nil {
		return err
	}
	start := time.Now()
	var first int64
	frames := 0
	for ctx.Err() == nil {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			g.Close()
			return err
		}
		if factor > 0 {
			if first == 0 {
				first = f.Recv
			}
			due := start.Add(time.Duration(float64(f.Recv-first) / factor))
			if d := time.Until(due); d > 0 {
				sleepCtx(ctx, d)
			}
		}
		if err := g.Feed(f.Plan, f.Data, f.Recv); err != nil {
			g.Close()
			return err
		}
		frames++
	}
	g.Close()
	st := g.Stats()
	log.Info("replayed", "frames", frames, "events", st.Events, "gaps", st.Gaps, "duplicates", st.Duplicates,
		"malformed", st.Malformed, "took", time.Since(start).Round(time.Millisecond))
	return out.Close()
}

func defaultString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
