package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/internal/backoff"
	"github.com/feedkeeper/feedkeeper/record"
	"github.com/feedkeeper/feedkeeper/sink"
	"github.com/feedkeeper/feedkeeper/venue"
)

// replayCmd is `feedkeeper replay`: frames recorded by run --record,
// through the same decoding and sequencing, to the same outputs.
type replayCmd struct {
	stdout, stderr io.Writer
	cfg            runConfig
	speed          string
	logLevel       string
}

func newReplayCmd(stdout, stderr io.Writer) *cobra.Command {
	r := &replayCmd{stdout: stdout, stderr: stderr}
	cmd := &cobra.Command{
		Use:   "replay [flags] <DIR> [flags]",
		Short: "feed frames recorded by run --record through the same pipeline",
		Long: `Feeds the frames recorded by "feedkeeper run --record DIR" through the same decoding and
sequencing, to the same outputs, at the recorded speed or as fast as possible. Events keep
their recorded receive times. A recording of several venues (run --venue a --venue b, or
a venues: list) gives each venue's events as recorded, interleaved in the order the frames
were received. Flags may come before or after DIR.

A recording cut short (the recording gateway was killed at once, kill -9 or a power loss,
losing about its last second) is replayed up to its last whole frame; replay then says where
it was cut and exits 1 once the outputs have everything before the cut.

` + exitCodesHelp,
		Example: `  feedkeeper replay /var/lib/feedkeeper/rec --out file:/tmp/replayed
  feedkeeper replay rec --speed recorded --nats`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return r.Run(cmd.Context(), args) },
	}
	fs := cmd.Flags()
	r.cfg.bindSinks(fs)
	fs.StringVar(&r.speed, "speed", "max", "max (as fast as possible), recorded (as it came), or a factor > 0 such as 2 or 0.5")
	fs.StringVar(&r.logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// parseSpeed returns the replay speed factor: 0 for max.
func parseSpeed(s string) (float64, error) {
	switch s {
	case "max":
		return 0, nil
	case "recorded":
		return 1, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "x"), 64)
	if err != nil || !(f > 0) {
		return 0, &flagError{Flag: "speed", Value: s, Want: "want max, recorded or a factor > 0 such as 2 or 0.5"}
	}
	return f, nil
}

// Run replays the recording in args[0] until its end or until ctx ends.
func (r *replayCmd) Run(ctx context.Context, args []string) error {
	c := &r.cfg
	var k checks
	c.validateSinks(&k)
	k.logLevel("log-level", r.logLevel)
	factor, err := parseSpeed(r.speed)
	if err != nil {
		k.errs = append(k.errs, err)
	}
	if err := k.err(); err != nil {
		return err
	}
	log, err := newLogger(r.stderr, r.logLevel)
	if err != nil {
		return err
	}
	rec, err := record.Open(args[0])
	if err != nil {
		return usageErrorf("replay %s: %w", args[0], err)
	}
	defer rec.Close()
	out, err := openSinks(c, r.stdout, log)
	if err != nil {
		return err
	}
	defer out.Close()
	// one gateway per venue recorded, fed its own frames in the order they
	// were received
	handler := sink.Handler(out.multi, log)
	gws := make([]*feed.Gateway, 0, len(rec.Meta.Sources))
	closeAll := func() {
		for _, g := range gws {
			g.Close()
		}
	}
	for i, src := range rec.Meta.Sources {
		f, err := venue.Lookup(src.Venue)
		if err != nil {
			closeAll()
			return usageErrorf("replay %s: recorded venue %q is not supported (known venues are %s)", args[0], src.Venue, strings.Join(venue.Names(), ", "))
		}
		v, err := f.Replay(src.VenueMeta)
		if err != nil {
			closeAll()
			return fmt.Errorf("replay %s: venue %s (source %d): %w", args[0], src.Venue, i, err)
		}
		g, err := feed.OpenReplay(feed.GatewayConfig{Venue: v, Streams: src.Streams, Logger: log, Handler: handler})
		if err != nil {
			closeAll()
			return fmt.Errorf("replay %s: venue %s (source %d): %w", args[0], src.Venue, i, err)
		}
		gws = append(gws, g)
	}
	start := time.Now()
	var first int64
	frames := 0
	var cut error
	for ctx.Err() == nil {
		f, err := rec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, record.ErrCut) {
			cut = fmt.Errorf("replay %s: %w; every frame before the cut was replayed", args[0], err)
			log.Warn("recording cut short: replayed up to its last whole frame", "dir", args[0], "frames", frames)
			break
		}
		if err != nil {
			closeAll()
			return fmt.Errorf("replay %s: %w", args[0], err)
		}
		if factor > 0 {
			if first == 0 {
				first = f.Recv
			}
			due := start.Add(time.Duration(float64(f.Recv-first) / factor))
			if d := time.Until(due); d > 0 {
				backoff.Sleep(ctx, d)
			}
		}
		if err := gws[f.Source].Feed(f.Plan, f.Data, f.Recv); err != nil {
			closeAll()
			return err
		}
		frames++
	}
	closeAll()
	parts := make([]feed.GatewayStats, len(gws))
	for i, g := range gws {
		parts[i] = g.Stats()
	}
	st := sumStats(parts)
	log.Info("replayed", "frames", frames, "events", st.Events, "gaps", st.Gaps, "duplicates", st.Duplicates,
		"malformed", st.Malformed, "took", time.Since(start).Round(time.Millisecond))
	if err := out.Close(); err != nil {
		return err
	}
	return cut
}
