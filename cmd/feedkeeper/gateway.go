package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/monitor"
	"github.com/feedkeeper/feedkeeper/record"
	"github.com/feedkeeper/feedkeeper/sink"
	filesink "github.com/feedkeeper/feedkeeper/sink/file"
	natssink "github.com/feedkeeper/feedkeeper/sink/nats"
	stdoutsink "github.com/feedkeeper/feedkeeper/sink/stdout"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

func (c *runConfig) sessionTemplate() wsconn.Config {
	sc := wsconn.Config{
		PingInterval: c.PingInterval,
		StaleTimeout: c.StaleTimeout,
		ReadLimit:    c.ReadLimit,
		QueueFrames:  c.Queue,
		Lifetime:     c.Lifetime,
		Slow:         wsconn.Block,
	}
	if c.SlowConsumer == "drop" {
		sc.Slow = wsconn.Drop
	}
	return sc
}

// runGateway streams what c (validated) describes, the venues of runs
// (c.venueRuns), to its sinks until ctx ends: one feed.Gateway per venue,
// sharing the TLS configuration, the outputs and the monitor. ready, when
// not nil, is called with the monitor's URL once everything runs. A run
// that delivered no market data returns errNoData.
func runGateway(ctx context.Context, c *runConfig, runs []venueRun, stdout io.Writer, log *slog.Logger, status *monitor.StatusLine, ready func(dashboard string)) error {
	if c.skipped != "" {
		log.Warn("streams some venues do not list: each taken from the venues that list it", "skipped", c.skipped)
	}
	tlsCfg, err := httpx.TLSConfig(c.CA)
	if err != nil {
		return usageErrorf("--ca %s: %w", c.CA, err)
	}
	setups, err := openVenues(ctx, runs, tlsCfg, c.Recovery, log)
	defer func() {
		for _, s := range setups {
			s.Close()
		}
	}()
	if err != nil {
		return err
	}
	all := joinSetups(setups)
	// The monitor first: its port was checked free, take it before the
	// sinks start servers of their own.
	out, err := openSinks(c, stdout, log)
	if err != nil {
		return err
	}
	defer out.Close()
	// each venue's gateway, once open: its metrics are served apart
	gwOf := make([]atomic.Pointer[feed.Gateway], len(runs))
	var mon *monitor.Monitor
	if c.HTTP != "" {
		mon, err = monitor.New(monitor.Config{Addr: c.HTTP, Token: c.HTTPToken, Venue: all.name, REST: all.rest, Dials: all.dials,
			Venues: venueMetrics(setups, gwOf), BookSymbols: all.books, Sinks: out.named, Logger: log.With("component", "monitor"),
			ServerTime: setups[0].ServerTime})
		if err != nil {
			return usageErrorf("--http %s: %w", c.HTTP, err)
		}
		defer mon.Close()
	}

	var tally tally
	write := sink.Handler(out.multi, log)
	handler := func(ev *feed.Event) {
		tally.observe(ev)
		write(ev)
	}
	if mon != nil {
		handler = func(ev *feed.Event) {
			tally.observe(ev)
			write(ev)
			mon.Observe(ev)
		}
	}
	var rec *record.Writer
	if c.Record != "" { // one recording of every venue of the run
		meta := record.Meta{Sources: make([]record.Source, len(runs))}
		for i, r := range runs {
			meta.Sources[i] = record.Source{Venue: r.name, Streams: r.streams, VenueMeta: setups[i].Meta}
		}
		if rec, err = record.Create(c.Record, meta); err != nil {
			return usageErrorf("--record %s: %w", c.Record, err)
		}
		defer func() {
			frames, bytes := rec.Stats()
			if err := rec.Close(); err != nil {
				log.Error("recording", "err", err)
			}
			log.Info("recorded", "dir", c.Record, "frames", frames, "bytes", bytes, "venues", len(runs))
		}()
	}
	// resume: the positions of the state file, each gateway taking its
	// venue's; kept: those of venues this run does not stream, saved again
	// as they were so that a later run of those venues resumes from them
	var resume, kept []feed.Position
	if c.State != "" {
		if resume, err = loadState(c.State); err != nil {
			return err
		}
		for _, p := range resume {
			if !slices.ContainsFunc(runs, func(r venueRun) bool { return r.name == p.Venue }) {
				kept = append(kept, p)
			}
		}
	}
	// a JetStream output knows how far the stream was delivered, by this
	// gateway or another publishing into it: resume from the furthest
	for spec, sk := range out.named {
		ns, ok := sk.(*natssink.Sink)
		if !ok {
			continue
		}
		for _, setup := range setups {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			pos, err := ns.Positions(pctx, setup.Venue.Name(), setup.Symbols)
			cancel()
			if err != nil {
				log.Warn("cannot read how far the stream was delivered", "out", spec, "venue", setup.Venue.Name(), "err", err)
				continue
			}
			resume = furthest(resume, pos)
		}
	}
	var gws []*feed.Gateway
	defer func() {
		for _, g := range gws {
			g.Close()
		}
	}()
	for i, r := range runs {
		lag := feed.LagConfig{MaxLag: c.MaxLag, LagFor: c.LagFor}
		switch {
		case c.MaxLag <= 0:
			lag.MaxLag = -1 // not watched
		case mon != nil && i == 0:
			lag.ClockOffset = mon.ClockOffset // the monitor follows the first venue's clock
		case setups[i].ServerTime != nil:
			// no monitor following this venue's clock: measure the offset
			// once, so a local clock ahead of the venue's is not taken for
			// a slow link
			if o, err := monitor.EstimateOffset(ctx, 3, setups[i].ServerTime); err == nil {
				off := o.Offset
				lag.ClockOffset = func() time.Duration { return off }
			} else {
				log.Warn("clock offset to the venue unknown: --max-lag must also cover the local clock's error", "venue", r.name, "err", err)
			}
		}
		var tap func(int, []byte, int64)
		if rec != nil {
			source := i
			tap = func(plan int, data []byte, recv int64) { _ = rec.WriteSource(source, plan, recv, data) }
		}
		g, err := feed.OpenGateway(feed.GatewayConfig{Resume: resume, ResumeMaxAge: c.ResumeMaxAge, LeaveGaps: c.State != "", Lag: lag,
			Venue: setups[i].Venue, Streams: r.streams, TLS: tlsCfg, Session: c.sessionTemplate(), Logger: log, Handler: handler, Tap: tap, Dials: setups[i].Dials,
			Recovery: setups[i].Recovery, RecoveryConfig: feed.RecoveryConfig{DepthLimit: c.DepthLimit, VerifyEvery: c.VerifyEvery},
		})
		if err != nil {
			return r.wrap(err)
		}
		gws = append(gws, g)
		gwOf[i].Store(g)
	}
	// every venue's positions in one state file: each position names its
	// venue; entries of one venue may share a sequence, the furthest kept
	positions := func() []feed.Position {
		ps := slices.Clone(kept)
		for _, g := range gws {
			ps = furthest(ps, g.Positions())
		}
		return ps
	}
	stats := gws[0].Stats
	if len(gws) > 1 {
		// venue by venue, as monitor.Config.Venues lists them, so that the
		// dashboard names each connection by its venue
		var order []int
		for i := range gws {
			for j := range gws {
				if !slices.Contains(order, j) && runs[j].name == runs[i].name {
					order = append(order, j)
				}
			}
		}
		stats = func() feed.GatewayStats {
			parts := make([]feed.GatewayStats, 0, len(gws))
			for _, i := range order {
				parts = append(parts, gws[i].Stats())
			}
			return sumStats(parts)
		}
	}
	if mon != nil {
		mon.SetGateway(stats)
	}
	if status != nil {
		status.Start(stats, time.Second)
	}
	if ready != nil {
		url := ""
		if mon != nil {
			url = mon.URL()
		}
		ready(url)
	}
	var saver *stateSaver
	if c.State != "" {
		saver = startStateSaver(c.State, time.Second, positions, out.multi.Stats, log)
	}
	<-ctx.Done()
	if saver != nil {
		saver.Close()
	}
	for _, g := range gws {
		g.Close()
	}
	st := stats()
	var rs httpx.Stats
	if all.rest != nil {
		rs = all.rest()
	}
	t := tally.summary()
	log.Info("stopped", "events", st.Events, "data_events", t.data,
		"trade_gaps", t.tradeGaps, "trade_ids_missing", t.backfilled+t.unfilledIDs,
		"trade_ids_backfilled", t.backfilled, "trade_ids_unfilled", t.unfilledIDs,
		"book_syncs", st.BookSyncs, "book_resyncs", st.BookResyncs,
		"duplicates", st.Duplicates, "malformed", st.Malformed, "unknown", st.Unknown,
		"rest_requests", rs.Requests, "rest_retries", rs.Retries)
	if err := out.Close(); err != nil {
		return err // the state is not saved past what the outputs may lack
	}
	if c.State != "" {
		if err := finalState(c.State, positions()); err != nil {
			return err
		}
		log.Info("state saved", "file", c.State)
	}
	if t.data == 0 {
		var from []string
		for _, r := range runs {
			from = append(from, r.ws)
		}
		return &unavailableError{err: fmt.Errorf("%w from %s", errNoData, strings.Join(from, ", "))}
	}
	return nil
}

// openVenues checks each venue's endpoints with a TLS handshake and sets
// it up. The entries of one venue share its connection-attempt budget (the
// venue's limit per IP). The setups opened are returned even on an error,
// for the caller to close.
func openVenues(ctx context.Context, runs []venueRun, tlsCfg *tls.Config, recovery bool, log *slog.Logger) ([]*venue.Setup, error) {
	var setups []*venue.Setup
	dials := map[string]*wsconn.Budget{}
	for _, r := range runs {
		if err := preflightTLS(ctx, r.flag("rest-endpoint")+" "+r.rest, r.rest, tlsCfg); err != nil {
			return setups, err
		}
		if err := preflightTLS(ctx, r.flag("ws-endpoint")+" "+r.ws, r.ws, tlsCfg); err != nil {
			return setups, err
		}
		setup, err := r.f.Open(ctx, venue.Env{WSURL: r.ws, RESTURL: r.rest, Streams: r.streams, TLS: tlsCfg,
			Logger: log, Recovery: recovery, Options: r.opts, Dials: dials[r.name]})
		if err != nil {
			return setups, venueError(r.wrap(err))
		}
		setups = append(setups, setup)
		if dials[r.name] == nil {
			dials[r.name] = setup.Dials
		}
	}
	return setups, nil
}

// joined is what the monitor sees of the venues of a run together.
type joined struct {
	name  string // the venues' names, comma separated
	books []string
	rest  func() httpx.Stats
	dials func() wsconn.BudgetStats
}

func joinSetups(setups []*venue.Setup) joined {
	if len(setups) == 1 {
		s := setups[0]
		return joined{name: s.Venue.Name(), books: s.BookSymbols, rest: s.RESTStats, dials: s.Dials.Stats}
	}
	var j joined
	var names []string
	var rests []func() httpx.Stats
	var budgets []*wsconn.Budget
	for _, s := range setups {
		if !slices.Contains(names, s.Venue.Name()) {
			names = append(names, s.Venue.Name())
		}
		j.books = append(j.books, s.BookSymbols...)
		if s.RESTStats != nil {
			rests = append(rests, s.RESTStats)
		}
		if !slices.Contains(budgets, s.Dials) {
			budgets = append(budgets, s.Dials)
		}
	}
	j.name = strings.Join(names, ",")
	if len(rests) > 0 {
		j.rest = func() httpx.Stats {
			parts := make([]httpx.Stats, len(rests))
			for i, r := range rests {
				parts[i] = r()
			}
			return sumStats(parts)
		}
	}
	j.dials = func() wsconn.BudgetStats {
		parts := make([]wsconn.BudgetStats, len(budgets))
		for i, b := range budgets {
			parts[i] = b.Stats()
		}
		return sumStats(parts)
	}
	return j
}

// venueMetrics groups the setups of a process that runs several venues by
// venue (entries of one venue summed), for metrics served per venue; nil
// for one venue.
func venueMetrics(setups []*venue.Setup, gwOf []atomic.Pointer[feed.Gateway]) []monitor.VenueMetrics {
	if len(setups) < 2 {
		return nil
	}
	var out []monitor.VenueMetrics
	for i, s := range setups {
		name := s.Venue.Name()
		if slices.ContainsFunc(out, func(v monitor.VenueMetrics) bool { return v.Name == name }) {
			continue
		}
		var idx []int
		for j := i; j < len(setups); j++ {
			if setups[j].Venue.Name() == name {
				idx = append(idx, j)
			}
		}
		v := monitor.VenueMetrics{Name: name, Dials: s.Dials.Stats} // the entries of one venue share its budget
		for _, j := range idx {
			v.BookSymbols = append(v.BookSymbols, setups[j].BookSymbols...)
		}
		v.Gateway = func() feed.GatewayStats {
			var parts []feed.GatewayStats
			for _, j := range idx {
				if g := gwOf[j].Load(); g != nil {
					parts = append(parts, g.Stats())
				}
			}
			return sumStats(parts)
		}
		if s.RESTStats != nil {
			v.REST = func() httpx.Stats {
				parts := make([]httpx.Stats, 0, len(idx))
				for _, j := range idx {
					if r := setups[j].RESTStats; r != nil {
						parts = append(parts, r())
					}
				}
				return sumStats(parts)
			}
		}
		out = append(out, v)
	}
	return out
}

// sumStats adds up the counters of several venues' statistics: numbers are
// summed (durations too, except a window, the longest of them), slices
// appended, and of other values (times) the latest kept.
func sumStats[T any](parts []T) T {
	var out T
	ov := reflect.ValueOf(&out).Elem()
	for i := range parts {
		pv := reflect.ValueOf(&parts[i]).Elem()
		for f := 0; f < ov.NumField(); f++ {
			o, p := ov.Field(f), pv.Field(f)
			if !o.CanSet() {
				continue
			}
			switch o.Kind() {
			case reflect.Int, reflect.Int64:
				if ov.Type().Field(f).Name == "Window" {
					o.SetInt(max(o.Int(), p.Int()))
				} else {
					o.SetInt(o.Int() + p.Int())
				}
			case reflect.Float64:
				o.SetFloat(o.Float() + p.Float())
			case reflect.Slice:
				o.Set(reflect.AppendSlice(o, p))
			default:
				if t, ok := p.Interface().(time.Time); ok {
					if t.After(o.Interface().(time.Time)) {
						o.Set(p)
					}
				} else if o.IsZero() {
					o.Set(p)
				}
			}
		}
	}
	return out
}

// tally counts what the handler saw, so that the final summary's trade
// figures add up: trade IDs missing = backfilled + unfilled.
type tally struct {
	data atomic.Int64 // market data events (not status, not gap)

	mu          sync.Mutex
	tradeGaps   int64            // runs of recovered trades, and gap events for trades
	backfilled  int64            // trades delivered as recovered over REST
	unfilledIDs int64            // trade IDs in gap events
	lastFilled  map[string]int64 // symbol → ID of the last recovered trade
}

type tallySummary struct{ data, tradeGaps, backfilled, unfilledIDs int64 }

func (t *tally) observe(ev *feed.Event) {
	switch {
	case ev.Type == feed.TypeStatus:
	case ev.Type == feed.TypeGap:
		if ev.Missing == feed.TypeTrade {
			t.mu.Lock()
			t.tradeGaps++
			t.unfilledIDs += ev.ID - ev.FirstID + 1
			t.mu.Unlock()
		}
	case ev.Type == feed.TypeTrade && ev.Recovered:
		t.data.Add(1)
		t.mu.Lock()
		if t.lastFilled == nil {
			t.lastFilled = map[string]int64{}
		}
		if last, ok := t.lastFilled[ev.Symbol]; !ok || ev.ID != last+1 {
			t.tradeGaps++
		}
		t.lastFilled[ev.Symbol] = ev.ID
		t.backfilled++
		t.mu.Unlock()
	default:
		t.data.Add(1)
	}
}

func (t *tally) summary() tallySummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	return tallySummary{data: t.data.Load(), tradeGaps: t.tradeGaps, backfilled: t.backfilled, unfilledIDs: t.unfilledIDs}
}

// preflightTLS makes one TLS handshake with an endpoint's host, so that an
// endpoint that cannot be reached or whose certificate is not trusted fails
// the start at once instead of being retried for ever; label names it in
// errors ("--ws-endpoint wss://…"). It is skipped when a proxy is
// configured for the endpoint.
func preflightTLS(ctx context.Context, label, endpoint string, tlsCfg *tls.Config) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return usageErrorf("%s: %w", label, err)
	}
	probe := &url.URL{Scheme: "https", Host: u.Host}
	if p, _ := http.ProxyFromEnvironment(&http.Request{URL: probe}); p != nil {
		return nil
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	cfg := tlsCfg.Clone()
	cfg.ServerName = u.Hostname()
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) {
			return ctx.Err()
		}
		return &unavailableError{err: fmt.Errorf("%s: %w%s", label, err, venue.CertHint(err))}
	}
	return conn.Close()
}

// sinks is the set of outputs of a run.
type sinks struct {
	multi   *sink.Multi
	named   map[string]sink.Sink // by what was asked for: stdout, file:DIR, nats, nats:URL
	closed  bool
	closeMu sync.Mutex
	err     error
}

func (s *sinks) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if !s.closed {
		s.closed = true
		s.err = s.multi.Close()
	}
	return s.err
}

// output is one sink to open, with the flag that asked for it (for errors).
type output struct{ flag, spec string }

// openSinks opens every output of c.Out and --nats.
func openSinks(c *runConfig, stdout io.Writer, log *slog.Logger) (*sinks, error) {
	var outs []output
	for _, o := range c.Out {
		outs = append(outs, output{"--out " + o, o})
	}
	if len(outs) == 0 {
		outs = []output{{"--out stdout", "stdout"}}
	}
	switch c.NATS {
	case "":
	case "embedded":
		outs = append(outs, output{"--nats", "nats"})
	default:
		outs = append(outs, output{"--nats=" + redactNATSURLs(c.NATS), "nats:" + c.NATS})
	}
	policy := sink.Block
	if len(outs) > 1 {
		policy = sink.Drop // a dead sink must not hold the healthy ones back
	}
	if c.SinkPolicy != "" {
		p, err := sink.ParsePolicy(c.SinkPolicy)
		if err != nil {
			return nil, usageErrorf("--sink-policy %s: %w", c.SinkPolicy, err)
		}
		policy = p
	}
	buf := sink.Buffer{Events: c.SinkBuffer, Policy: policy}
	var opened []sink.Sink
	named := map[string]sink.Sink{}
	fail := func(err error) (*sinks, error) {
		for _, s := range opened {
			s.Close()
		}
		return nil, err
	}
	for _, o := range outs {
		kind, arg, _ := strings.Cut(o.spec, ":")
		switch kind {
		case "stdout":
			s, err := stdoutsink.Open(stdoutsink.Config{Out: stdout, Buffer: buf, Logger: log})
			if err != nil {
				return fail(fmt.Errorf("%s: %w", o.flag, err))
			}
			opened = append(opened, s)
			named[o.spec] = s
		case "file":
			s, err := filesink.Open(filesink.Config{Dir: arg, MaxBytes: c.RotateSize, Interval: c.RotateEvery,
				Compress: c.Compress == "zstd", FlushInterval: c.FlushEvery, Sync: c.FileSync, Buffer: buf, Logger: log})
			if err != nil {
				return fail(fmt.Errorf("%s: %w", o.flag, err))
			}
			log.Info("writing JSON Lines files", "dir", arg, "compress", c.Compress)
			opened = append(opened, s)
			named[o.spec] = s
		case "nats":
			cfg := natssink.Config{Buffer: buf, Logger: log}
			c.natsStreamSettings(&cfg)
			client := &natsClient{auth: "none"}
			if arg != "" {
				cfg.URLs = strings.Split(arg, ",")
				var err error
				if client, err = c.natsClientOptions(cfg.URLs); err != nil {
					return fail(err)
				}
				cfg.Options = client.opts
				if err := checkJetStream(context.Background(), o.flag, cfg.URLs, client); err != nil {
					return fail(err)
				}
			} else {
				var err error
				if cfg.Server, err = c.natsServerConfig(); err != nil {
					return fail(err)
				}
			}
			s, err := natssink.Open(cfg)
			if err != nil {
				var mismatch *natssink.StreamMismatchError
				switch {
				case errors.As(err, &mismatch) && !mismatch.Fixed:
					return fail(&unavailableError{err: fmt.Errorf("%s: %w; --nats-update-stream applies the flags' settings", o.flag, err)})
				case errors.As(err, &mismatch):
					return fail(&unavailableError{err: fmt.Errorf("%s: %w", o.flag, err)})
				}
				hint := natsHint(err, client)
				if strings.Contains(err.Error(), "no responders") {
					hint = " (the server does not answer JetStream requests: is JetStream enabled, nats-server -js?)"
				}
				return fail(&unavailableError{err: fmt.Errorf("%s: %w%s", o.flag, err, hint)})
			}
			sc := s.StreamConfig()
			attrs := []any{"url", s.ClientURL(), "stream", sc.Name, "subjects", sc.Subjects[0], "replicas", sc.Replicas,
				"storage", c.NATSStorage, "max_age", sc.MaxAge, "max_bytes", sc.MaxBytes, "duplicates", sc.Duplicates}
			if arg == "" {
				attrs = append(attrs, "auth", cfg.Server.AuthString())
				log.Info("embedded NATS JetStream server", attrs...)
			} else {
				attrs = append(attrs, "auth", client.auth)
				if client.tls != "" {
					attrs = append(attrs, "tls", client.tls)
				}
				log.Info("publishing to NATS JetStream", attrs...)
			}
			opened = append(opened, s)
			named[o.spec] = s
		}
	}
	return &sinks{multi: sink.NewMulti(opened...), named: named}, nil
}

// noLimit maps the flags' 0 (no limit) to the sink's negative (no bound).
func noLimit(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// furthest merges two sets of positions, keeping for each sequence the
// furthest one.
func furthest(a, b []feed.Position) []feed.Position {
	type key struct {
		venue, symbol string
		agg           bool
	}
	at := map[key]int{}
	out := append([]feed.Position(nil), a...)
	for i, p := range out {
		at[key{p.Venue, p.Symbol, p.Agg}] = i
	}
	for _, p := range b {
		k := key{p.Venue, p.Symbol, p.Agg}
		if i, ok := at[k]; ok {
			if p.ID > out[i].ID {
				out[i] = p
			}
			continue
		}
		at[k] = len(out)
		out = append(out, p)
	}
	return out
}
