package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/feedkeeper/feedkeeper/internal/backoff"
	"github.com/feedkeeper/feedkeeper/monitor"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue"
)

// demoStep is one fault of the demo's script: at At (in units of --pace)
// into each cycle the fault is fired, announced two units before.
type demoStep struct {
	At    int
	Fault sim.Fault
	Says  string
}

// demoCycle is the length of the demo's script in units of --pace: every
// fault happens within the first cycle, then the cycle repeats.
const demoCycle = 30

// demoScript is what the demo shows, in order, within its first 30 s.
var demoScript = []demoStep{
	{4, sim.Fault{Kind: sim.FaultTradeGap}, "an aggTrade is left out of the stream: the gateway sees the ID jump and backfills it over REST (recovered:true)"},
	{8, sim.Fault{Kind: sim.FaultMalformed, Variant: "truncated"}, "one malformed frame: skipped and counted, the connection stays up"},
	{12, sim.Fault{Kind: sim.FaultDepthDrop}, "a diff depth update is lost: the book no longer chains and is resynced from a REST snapshot"},
	{22, sim.Fault{Kind: sim.FaultDrop}, "the server cuts the TCP connection without a close frame: reconnect with backoff, resubscribe, backfill the trades missed"},
	{27, sim.Fault{Kind: sim.FaultShutdown, Duration: 2 * time.Second}, "serverShutdown, then close 1001 in 2s: the gateway opens a replacement at once and loses nothing"},
}

// demoCmd is `feedkeeper demo`: the simulator and the gateway streaming
// from it, with faults fired on a script.
type demoCmd struct {
	stdout, stderr io.Writer
	sim            simFlags
	cfg            runConfig
	duration       time.Duration
	streams        []string
	lifetime       time.Duration
	pace           time.Duration
	noFaults       bool
	noNATS         bool
	logLevel       string
}

func newDemoCmd(stdout, stderr io.Writer) *cobra.Command {
	d := &demoCmd{stdout: stdout, stderr: stderr}
	var script []string
	for _, s := range demoScript {
		script = append(script, fmt.Sprintf("  %2ds  %-10s %s", s.At, s.Fault.Kind, s.Says))
	}
	cmd := &cobra.Command{
		Use:   "demo [flags] [<stream>...]",
		Short: "run the embedded simulator and stream from it, with faults on a script",
		Long: `Starts the embedded exchange simulator and the gateway streaming from it through the same
code path as run. Events go to stdout as JSON Lines; what happens to the connections goes to
stderr. Streams may be given as arguments (default: --streams); given all in the form every
venue reads (trades:BTC-USDT, book:BTC-USDT-PERP) they are shown from every venue the
simulator serves that lists them (--venues), side by side. Every 30 s the demo fires
these faults, each announced on stderr two seconds before:

` + strings.Join(script, "\n") + `

and the simulator closes connections after --lifetime (20s), so the gateway rotates each one
before that. --fault replaces the script with your own rules; --no-faults turns it off.

` + exitCodesHelp,
		Example: `  feedkeeper demo
  feedkeeper demo btcusdt@trade ethusdt@depth@100ms --duration 1m
  feedkeeper demo trades:BTC-USDT book:BTC-USDT trades:BTC-USDT-PERP --duration 1m
  feedkeeper demo --http 127.0.0.1:0 --no-nats --fault close:code=1008,every=10s`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: completeStreams,
		RunE:              func(cmd *cobra.Command, args []string) error { return d.Run(cmd.Context(), args) },
	}
	fs := cmd.Flags()
	d.sim.bind(fs)
	d.cfg.bindSinks(fs)
	d.cfg.bindHTTP(fs)
	fs.DurationVar(&d.duration, "duration", 0, "stop after this long, ≥ 0 (0: run until interrupted)")
	fs.StringSliceVar(&d.streams, "streams", []string{"btcusdt@aggTrade", "ethusdt@aggTrade", "btcusdt@bookTicker", "btcusdt@depth@100ms"}, "streams to show, comma separated (or as arguments)")
	fs.DurationVar(&d.lifetime, "lifetime", 20*time.Second, "the simulator's connection lifetime, ≥ 1s: the gateway rotates before it")
	fs.DurationVar(&d.pace, "pace", time.Second, "the unit of the fault script (1s: a 30 s cycle)")
	_ = fs.MarkHidden("pace")
	_ = fs.MarkHidden("max-lifetime") // --lifetime sets it, for the simulator and the gateway alike
	fs.BoolVar(&d.noFaults, "no-faults", false, "do not fire the demo's faults")
	fs.BoolVar(&d.noNATS, "no-nats", false, "do not start the embedded NATS JetStream server")
	fs.StringVar(&d.logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// Run runs the demo until ctx ends or --duration passes.
func (d *demoCmd) Run(ctx context.Context, args []string) error {
	c := &d.cfg
	streams := d.streams
	if len(args) > 0 {
		streams = args
	}
	// streams all in the form every venue reads (trades:BTC-USDT) are
	// shown from every venue the simulator serves that lists them
	portable := len(streams) > 0
	for _, st := range streams {
		portable = portable && strings.Contains(st, ":") && !strings.Contains(st, "@")
	}
	if !portable {
		f, err := lookupVenue(defaultVenue)
		if err != nil {
			return err
		}
		if err := checkStreams(f, streams); err != nil {
			return err
		}
	}
	var k checks
	d.sim.validate(&k)
	c.validateSinks(&k)
	k.httpAddr("http", c.HTTP, c.HTTPToken)
	k.notNegative("duration", d.duration)
	if d.lifetime < time.Second {
		k.add("lifetime", d.lifetime.String(), "must be at least 1s")
	}
	k.positive("pace", d.pace)
	k.logLevel("log-level", d.logLevel)
	if err := k.err(); err != nil {
		return err
	}
	// Before anything starts: a second demo fails here, not after its
	// simulator and NATS server are up.
	if err := checkListen("http", c.HTTP); err != nil {
		return err
	}
	status := monitor.NewStatusLine(d.stderr)
	defer status.Close()
	log, err := newLogger(status, d.logLevel)
	if err != nil {
		return err
	}
	scripted := !d.noFaults && len(d.sim.faults) == 0
	d.sim.cfg.MaxLifetime = d.lifetime
	dir, err := os.MkdirTemp("", "feedkeeper-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if d.sim.caOut == "" {
		d.sim.caOut = filepath.Join(dir, "ca.pem")
	}
	srv, err := d.sim.start()
	if err != nil {
		return err
	}
	defer srv.Close()
	faults := d.sim.faults.String()
	if scripted {
		faults = fmt.Sprintf("a script of %d faults every %v", len(demoScript), demoCycle*d.pace)
	}
	log.Info("simulator started", "ws", srv.WSURL(), "rest", srv.RESTURL(), "faults", faults, "lifetime", d.lifetime)

	ctx, cancel := withDuration(ctx, d.duration)
	defer cancel()
	c.Venue, c.WSEndpoint, c.RESTEndpoint, c.CA = venueNames{defaultVenue}, srv.WSURL(), srv.RESTURL(), d.sim.caOut
	c.Streams = streams
	if portable {
		if c.Venues, err = demoVenues(srv, streams); err != nil {
			return err
		}
		c.Streams = nil
	}
	c.PingInterval, c.StaleTimeout, c.ReadLimit, c.Queue = 5*time.Second, 15*time.Second, 1<<20, 4096
	c.Lifetime, c.Recovery, c.DepthLimit = d.lifetime, true, 1000
	c.MaxLag, c.LagFor = 5*time.Second, 10*time.Second
	if c.NATS == "" && !d.noNATS {
		c.NATS = "embedded"
	}
	runs, err := c.venueRuns()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	err = runGateway(ctx, c, runs, d.stdout, log, status, func(dashboard string) {
		if dashboard != "" {
			log.Info("dashboard: " + dashboard)
		}
		if scripted {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runScript(ctx, srv, log, d.pace, d.lifetime)
			}()
		}
	})
	cancel()
	return err
}

// demoVenues lists, for streams in the form every venue reads, each venue
// the simulator serves with the streams it lists; a stream no venue lists
// is a usage error.
func demoVenues(srv *sim.Server, streams []string) ([]venueEntry, error) {
	var out []venueEntry
	listed := map[string]bool{}
	for _, ep := range srv.Endpoints() {
		f, err := venue.Lookup(ep.Venue)
		if err != nil {
			continue // a front-end of a venue this program does not offer
		}
		e := venueEntry{Name: ep.Venue, WSEndpoint: ep.WSURL, RESTEndpoint: ep.RESTURL}
		for _, st := range streams {
			own, err := venue.Expand(ep.Venue, f, []string{st})
			switch {
			case errors.Is(err, venue.ErrNotListed):
				continue
			case err != nil:
				return nil, usageErrorf("%w", err)
			}
			listed[st] = true
			e.Streams = append(e.Streams, own...)
		}
		if len(e.Streams) > 0 {
			out = append(out, e)
		}
	}
	for _, st := range streams {
		if !listed[st] {
			return nil, usageErrorf("stream %q: no venue the simulator serves lists it (it serves %d front-ends: --venues)", st, len(srv.Endpoints()))
		}
	}
	return out, nil
}

// runScript fires the demo's faults on their schedule until ctx ends,
// announcing each two units of pace before it happens.
func runScript(ctx context.Context, srv *sim.Server, log *slog.Logger, pace, lifetime time.Duration) {
	type event struct {
		at    time.Duration // into the cycle
		fault *sim.Fault    // nil: an announcement
		says  string
	}
	var cycle []event
	for i := range demoScript {
		s := &demoScript[i]
		at := time.Duration(s.At) * pace
		cycle = append(cycle, event{at - 2*pace, nil, fmt.Sprintf("in %v: %s — %s", 2*pace, s.Fault.Kind, s.Says)},
			event{at, &s.Fault, ""})
	}
	first := append([]event{}, cycle...)
	// The first connection's planned rotation (at 90% of its lifetime),
	// when it falls within the first cycle.
	if rotate := lifetime - min(lifetime/10, 5*time.Minute); rotate > 2*pace && rotate < demoCycle*pace {
		first = append(first, event{rotate - 2*pace, nil, fmt.Sprintf("in %v: rotation — the connection nears the server's %v lifetime: "+
			"the gateway opens a replacement, overlaps, drops duplicates, then closes the old one", 2*pace, lifetime)})
		sort.SliceStable(first, func(i, j int) bool { return first[i].at < first[j].at })
	}
	start := time.Now()
	for n := 0; ; n++ {
		events := cycle
		if n == 0 {
			events = first
		}
		base := start.Add(time.Duration(n) * demoCycle * pace)
		for _, e := range events {
			backoff.Sleep(ctx, time.Until(base.Add(e.at)))
			if ctx.Err() != nil {
				return
			}
			if e.fault == nil {
				log.Info("demo: " + e.says)
			} else if err := srv.Fire(*e.fault); err != nil {
				log.Warn("demo: fault not fired", "fault", e.fault.Kind, "err", err)
			}
		}
	}
}
