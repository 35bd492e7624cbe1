// Package soak runs the gateway for a long time against a simulator with
// faults, samples the process's memory, goroutines, open files and
// connections every interval, and judges whether anything leaked or any
// data was lost. RunRestarts runs it as child processes instead, killed
// and started again with a state file, and checks the outputs of all runs
// against the simulator's ground truth.
package soak

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// Config describes a soak run against a running simulator (or venue).
type Config struct {
	// Venue is the name of a registered venue (see package venue): the
	// program imports the venue's package.
	Venue string
	// VenueOptions are the venue's settings; nil: its defaults.
	VenueOptions venue.Options
	// WSURL and RESTURL are the venue's endpoints (a simulator's).
	WSURL, RESTURL string
	CAFile         string
	Streams        []string
	Duration       time.Duration // default 10m
	Interval       time.Duration // sampling interval, default 1s
	// Warmup is left out of the growth figures: pools, caches and maps
	// reach their working size. Default 10% of Duration, at least 5s.
	Warmup time.Duration
	// Bounds of the verdict.
	MaxHeapGrowth int64 // live heap, last samples against the first after warm-up; default 2 MiB
	MaxGoroutines int   // goroutines above the post-warm-up baseline at the end; default 5
	MaxFDs        int   // open files above the baseline at the end; default 5
	Session       wsconn.Config
	Logger        *slog.Logger
	// Observe, when set, sees every event after the soak's own checks
	// (the monitor's Observe).
	Observe func(*feed.Event)
	// Started, when set, is called once the gateway is open with its stats
	// function (the monitor's SetGateway); with Also, of every gateway
	// summed.
	Started func(stats func() feed.GatewayStats)
	// Also are further venues soaked at the same time, in the same
	// process, each with a gateway of its own: their trades are checked as
	// the first venue's, and the report's counters and samples cover all.
	Also []Venue
}

// Venue is a further venue of a soak (Config.Also).
type Venue struct {
	Name           string
	Options        venue.Options // nil: its defaults
	WSURL, RESTURL string
	Streams        []string
}

// Sample is one measurement.
type Sample struct {
	T          float64 `json:"t"` // seconds since the start
	RSS        int64   `json:"rss"`
	Heap       int64   `json:"heap"` // live heap after a GC
	Goroutines int     `json:"goroutines"`
	FDs        int     `json:"fds"`
	Connected  int     `json:"connected"` // sessions connected
	Events     int64   `json:"events"`
	Reconnects int64   `json:"reconnects"`
	Gaps       int64   `json:"gaps"`
	Restarts   int     `json:"restarts,omitempty"` // gateway restarts so far (RunRestarts)
}

// Report is the outcome of a run.
type Report struct {
	Started    time.Time `json:"started"`
	Duration   float64   `json:"duration_s"`
	Streams    []string  `json:"streams"`
	Faults     []string  `json:"faults,omitempty"`
	Baseline   Sample    `json:"baseline"` // before the gateway opened
	Samples    []Sample  `json:"samples"`
	Slopes     Slopes    `json:"slopes_per_min"`
	Growth     Growth    `json:"growth"`
	Trades     int64     `json:"trades"`
	Recovered  int64     `json:"recovered"`
	Lost       int64     `json:"lost"`       // trade IDs never delivered, and not announced
	Duplicates int64     `json:"duplicates"` // trade IDs delivered twice
	// AnnouncedAtClose are trade IDs of gaps still being recovered when
	// the run ended, announced by gap events as Gateway.Close does (a
	// firewall block or a lagging history waited out past the end): said,
	// not lost. A gap announced during the run is a failure.
	AnnouncedAtClose int64 `json:"announced_at_close"`
	// Announced are trade IDs announced by gap events during the run.
	Announced int64         `json:"announced"`
	Gateway   GatewayTotals `json:"gateway"`
	Pass      bool          `json:"pass"`
	Failures  []string      `json:"failures,omitempty"`
	// Restarts and Audit are those of RunRestarts: every stop and start of
	// the gateway process, and the outputs of all runs against the ground
	// truth.
	Restarts []Restart `json:"restarts,omitempty"`
	Audit    *Audit    `json:"audit,omitempty"`
}

// Slopes are least-squares slopes after the warm-up, per minute.
type Slopes struct {
	RSS        float64 `json:"rss"`
	Heap       float64 `json:"heap"`
	Goroutines float64 `json:"goroutines"`
	FDs        float64 `json:"fds"`
}

// Growth compares the end of the run with the start after the warm-up.
type Growth struct {
	Heap       int64 `json:"heap"`
	Goroutines int   `json:"goroutines"`
	FDs        int   `json:"fds"`
}

// GatewayTotals are the gateway's counters at the end.
type GatewayTotals struct {
	Events      int64 `json:"events"`
	Connects    int64 `json:"connects"`
	Reconnects  int64 `json:"reconnects"`
	Rotations   int64 `json:"rotations"`
	Stale       int64 `json:"stale"`
	Gaps        int64 `json:"gaps"`
	Missing     int64 `json:"missing"`
	Duplicates  int64 `json:"duplicates_dropped"`
	Malformed   int64 `json:"malformed"`
	Backfilled  int64 `json:"backfilled"`
	Unfilled    int64 `json:"unfilled_ids"`
	BookResyncs int64 `json:"book_resyncs"`
}

func (c *Config) defaults() error {
	if c.WSURL == "" || c.RESTURL == "" {
		return errors.New("soak: WSURL and RESTURL are required")
	}
	if len(c.Streams) == 0 {
		return errors.New("soak: no streams")
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Minute
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Warmup == 0 {
		c.Warmup = max(c.Duration/10, 5*time.Second)
	}
	if c.Warmup >= c.Duration {
		return fmt.Errorf("soak: warm-up %v is not shorter than the duration %v", c.Warmup, c.Duration)
	}
	if c.MaxHeapGrowth == 0 {
		c.MaxHeapGrowth = 2 << 20
	}
	if c.MaxGoroutines == 0 {
		c.MaxGoroutines = 5
	}
	if c.MaxFDs == 0 {
		c.MaxFDs = 5
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// tradeCheck follows delivered aggregate trades per symbol.
type tradeCheck struct {
	mu         sync.Mutex
	last       map[tradeSeq]int64
	closing    bool // the gateways are closing: gaps announced now were cut short
	announced  int64
	atClose    int64
	trades     int64
	recovered  int64
	lost       int64
	duplicates int64
}

func (tc *tradeCheck) handle(ev *feed.Event) {
	if ev.Type == feed.TypeGap && ev.Missing == feed.TypeTrade && ev.ID >= ev.FirstID && ev.FirstID > 0 {
		tc.gap(ev)
		return
	}
	if ev.Type != feed.TypeTrade || ev.ID == 0 { // ID 0: a venue whose trade IDs cannot show a gap
		return
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.trades++
	if ev.Recovered {
		tc.recovered++
	}
	k := tradeSeq{ev.Venue, ev.Symbol, ev.Aggregated}
	last, ok := tc.last[k]
	switch {
	case !ok:
	case ev.ID <= last:
		tc.duplicates++
		return
	case ev.ID > last+1:
		tc.lost += ev.ID - last - 1
	}
	tc.last[k] = ev.ID
}

// gap takes the trade IDs a gap event announces as said: the next trade
// continues after them.
func (tc *tradeCheck) gap(ev *feed.Event) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	k := tradeSeq{ev.Venue, ev.Symbol, ev.Aggregated}
	last, ok := tc.last[k]
	from := ev.FirstID
	if ok && last >= from {
		from = last + 1
	}
	if ev.ID < from {
		return
	}
	n := ev.ID - from + 1
	if ok && from > last+1 {
		tc.lost += from - last - 1 // missing before the announced ones
	}
	if tc.closing {
		tc.atClose += n
	} else {
		tc.announced += n
	}
	tc.last[k] = ev.ID
}

// tradeSeq names one venue's trades, or aggregate trades, of one symbol.
type tradeSeq struct {
	venue, symbol string
	agg           bool
}

// Run streams cfg.Streams for cfg.Duration (or until ctx ends), sampling
// every interval, and returns the report. sample, when not nil, is called
// with each sample as it is taken.
func Run(ctx context.Context, cfg Config, sample func(Sample)) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	tlsCfg, err := httpx.TLSConfig(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	// the soak reconnects far more often than a venue allows an IP: a
	// budget of its own, against a simulator that lifted its limit
	dials, err := wsconn.NewBudget(wsconn.BudgetConfig{Limit: 6000, Window: 5 * time.Minute, Burst: 20, Interval: 50 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	defer dials.Close()
	runs := append([]Venue{{Name: cfg.Venue, Options: cfg.VenueOptions, WSURL: cfg.WSURL, RESTURL: cfg.RESTURL, Streams: cfg.Streams}}, cfg.Also...)
	var setups []*venue.Setup
	defer func() {
		for _, s := range setups {
			s.Close()
		}
	}()
	for _, r := range runs {
		f, err := venue.Lookup(r.Name)
		if err != nil {
			return nil, fmt.Errorf("soak: %w", err)
		}
		setup, err := f.Open(ctx, venue.Env{WSURL: r.WSURL, RESTURL: r.RESTURL, Streams: r.Streams, TLS: tlsCfg,
			Logger: cfg.Logger, Recovery: true, Dials: dials, Options: r.Options})
		if err != nil {
			return nil, fmt.Errorf("soak: %s: %w", r.Name, err)
		}
		setups = append(setups, setup)
	}
	tc := &tradeCheck{last: map[tradeSeq]int64{}}
	rep := &Report{Started: time.Now()}
	for _, r := range runs {
		rep.Streams = append(rep.Streams, r.Streams...)
	}
	rep.Baseline = Sample{Goroutines: runtime.NumGoroutine(), FDs: openFDs(), RSS: rss()}
	handler := tc.handle
	if cfg.Observe != nil {
		handler = func(ev *feed.Event) {
			tc.handle(ev)
			cfg.Observe(ev)
		}
	}
	var gws []*feed.Gateway
	closeAll := func() {
		for _, g := range gws {
			g.Close()
		}
	}
	for i, r := range runs {
		g, err := feed.OpenGateway(feed.GatewayConfig{
			Venue: setups[i].Venue, Streams: r.Streams, TLS: tlsCfg, Session: cfg.Session, Logger: cfg.Logger,
			Dials: setups[i].Dials, Handler: handler, Recovery: setups[i].Recovery,
		})
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("soak: %s: %w", r.Name, err)
		}
		gws = append(gws, g)
	}
	stats := func() feed.GatewayStats { return sumStats(gws) }
	if cfg.Started != nil {
		cfg.Started(stats)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	take := func() {
		s := measure(rep.Started, stats())
		rep.Samples = append(rep.Samples, s)
		if sample != nil {
			sample(s)
		}
	}
	take()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-t.C:
			take()
		}
	}
	tc.mu.Lock()
	tc.closing = true
	tc.mu.Unlock()
	closeAll()
	for _, s := range setups {
		s.Close()
	}
	time.Sleep(200 * time.Millisecond) // connections wind down
	take()                             // after Close: goroutines and files must be back

	st := stats()
	rep.Duration = time.Since(rep.Started).Seconds()
	rep.Gateway = GatewayTotals{Events: st.Events, Gaps: st.Gaps, Missing: st.Missing, Duplicates: st.Duplicates, Malformed: st.Malformed,
		Backfilled: st.Backfilled, Unfilled: st.UnfilledIDs, BookResyncs: st.BookResyncs}
	for _, ss := range st.Sessions {
		rep.Gateway.Connects += ss.Connects
		rep.Gateway.Reconnects += ss.Reconnects
		rep.Gateway.Rotations += ss.Rotations
		rep.Gateway.Stale += ss.Stale
	}
	tc.mu.Lock()
	rep.Trades, rep.Recovered, rep.Lost, rep.Duplicates = tc.trades, tc.recovered, tc.lost, tc.duplicates
	rep.Announced, rep.AnnouncedAtClose = tc.announced, tc.atClose
	tc.mu.Unlock()
	rep.judge(cfg)
	return rep, nil
}

// sumStats adds up the counters of several gateways that measure and the
// report read; sessions are listed one after the other.
func sumStats(gws []*feed.Gateway) feed.GatewayStats {
	var out feed.GatewayStats
	for _, g := range gws {
		st := g.Stats()
		out.Events += st.Events
		out.Gaps += st.Gaps
		out.Missing += st.Missing
		out.Duplicates += st.Duplicates
		out.Malformed += st.Malformed
		out.Backfilled += st.Backfilled
		out.UnfilledIDs += st.UnfilledIDs
		out.BookResyncs += st.BookResyncs
		out.BookSyncs += st.BookSyncs
		out.BooksInSync += st.BooksInSync
		out.Sessions = append(out.Sessions, st.Sessions...)
	}
	return out
}

func measure(start time.Time, st feed.GatewayStats) Sample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := Sample{
		T:          time.Since(start).Seconds(),
		RSS:        rss(),
		Heap:       int64(ms.HeapAlloc),
		Goroutines: runtime.NumGoroutine(),
		FDs:        openFDs(),
		Events:     st.Events,
		Gaps:       st.Gaps,
	}
	for _, ss := range st.Sessions {
		if ss.Status == wsconn.StatusConnected || ss.Status == wsconn.StatusRotating {
			s.Connected++
		}
		s.Reconnects += ss.Reconnects
	}
	return s
}

// judge fits the slopes and decides the verdict.
func (r *Report) judge(cfg Config) {
	warm := cfg.Warmup.Seconds()
	var steady []Sample
	for _, s := range r.Samples[:len(r.Samples)-1] { // the last sample is after Close
		if s.T >= warm {
			steady = append(steady, s)
		}
	}
	if len(steady) < 3 {
		r.Failures = append(r.Failures, fmt.Sprintf("only %d samples after the warm-up", len(steady)))
		return
	}
	r.Slopes = Slopes{
		RSS:        slope(steady, func(s Sample) float64 { return float64(s.RSS) }) * 60,
		Heap:       slope(steady, func(s Sample) float64 { return float64(s.Heap) }) * 60,
		Goroutines: slope(steady, func(s Sample) float64 { return float64(s.Goroutines) }) * 60,
		FDs:        slope(steady, func(s Sample) float64 { return float64(s.FDs) }) * 60,
	}
	// live heap: the mean of the last fifth against the first fifth
	k := max(len(steady)/5, 1)
	mean := func(ss []Sample) float64 {
		var sum float64
		for _, s := range ss {
			sum += float64(s.Heap)
		}
		return sum / float64(len(ss))
	}
	r.Growth.Heap = int64(mean(steady[len(steady)-k:]) - mean(steady[:k]))
	// after Close every goroutine and file of the gateway must be gone
	end := r.Samples[len(r.Samples)-1]
	r.Growth.Goroutines = end.Goroutines - r.Baseline.Goroutines
	r.Growth.FDs = end.FDs - r.Baseline.FDs
	if r.Growth.Heap > cfg.MaxHeapGrowth {
		r.Failures = append(r.Failures, fmt.Sprintf("live heap grew by %d bytes (bound %d)", r.Growth.Heap, cfg.MaxHeapGrowth))
	}
	if r.Growth.Goroutines > cfg.MaxGoroutines {
		r.Failures = append(r.Failures, fmt.Sprintf("%d goroutines more after Close than at the start (bound %d)", r.Growth.Goroutines, cfg.MaxGoroutines))
	}
	if r.Growth.FDs > cfg.MaxFDs {
		r.Failures = append(r.Failures, fmt.Sprintf("%d open files more after Close than at the start (bound %d)", r.Growth.FDs, cfg.MaxFDs))
	}
	if r.Lost > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d trade IDs never delivered", r.Lost))
	}
	if r.Announced > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d trade IDs announced as unrecoverable during the run", r.Announced))
	}
	if r.Duplicates > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d trade IDs delivered twice", r.Duplicates))
	}
	if r.Trades == 0 {
		r.Failures = append(r.Failures, "no trade delivered")
	}
	r.Pass = len(r.Failures) == 0
}

// slope is the least-squares slope of f over the samples, per second.
func slope(ss []Sample, f func(Sample) float64) float64 {
	var n, sx, sy, sxx, sxy float64
	for _, s := range ss {
		x, y := s.T, f(s)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func openFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(entries)
}
