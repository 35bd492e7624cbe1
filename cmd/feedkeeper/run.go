package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/monitor"
	"github.com/feedkeeper/feedkeeper/record"
	"github.com/feedkeeper/feedkeeper/sink"
	filesink "github.com/feedkeeper/feedkeeper/sink/file"
	natssink "github.com/feedkeeper/feedkeeper/sink/nats"
	stdoutsink "github.com/feedkeeper/feedkeeper/sink/stdout"
	"github.com/feedkeeper/feedkeeper/venue/binance"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// runConfig is what `feedkeeper run` needs; the YAML config file has the
// same fields.
type runConfig struct {
	Venue          string        `yaml:"venue"`
	Streams        []string      `yaml:"streams"`
	WSEndpoint     string        `yaml:"ws_endpoint"`
	RESTEndpoint   string        `yaml:"rest_endpoint"`
	CA             string        `yaml:"ca"`
	Duration       time.Duration `yaml:"duration"`
	StreamsPerConn int           `yaml:"streams_per_conn"`
	Micros         bool          `yaml:"micros"`
	PingInterval   time.Duration `yaml:"ping_interval"`
	StaleTimeout   time.Duration `yaml:"stale_timeout"`
	Lifetime       time.Duration `yaml:"lifetime"`
	ReadLimit      int64         `yaml:"read_limit"`
	Queue          int           `yaml:"queue"`
	SlowConsumer   string        `yaml:"slow_consumer"`
	LogLevel       string        `yaml:"log_level"`

	Recovery    bool          `yaml:"recovery"`
	DepthLimit  int           `yaml:"depth_limit"`
	VerifyEvery time.Duration `yaml:"verify_every"`

	Out         []string      `yaml:"out"`
	NATS        string        `yaml:"nats"`
	NATSStore   string        `yaml:"nats_store"`
	RotateSize  int64         `yaml:"rotate_size"`
	RotateEvery time.Duration `yaml:"rotate_every"`
	Compress    string        `yaml:"compress"`
	SinkPolicy  string        `yaml:"sink_policy"`
	SinkBuffer  int           `yaml:"sink_buffer"`

	HTTP      string `yaml:"http"`
	HTTPToken string `yaml:"http_token"`

	Record string `yaml:"record"`
}

func (c *runConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.Venue, "venue", "binance", "venue (binance)")
	fs.StringVar(&c.WSEndpoint, "ws-endpoint", binance.DefaultWSURL, "WebSocket endpoint base")
	fs.StringVar(&c.RESTEndpoint, "rest-endpoint", binance.DefaultRESTURL, "REST endpoint base")
	fs.StringVar(&c.CA, "ca", "", "PEM file of an extra CA to trust (the simulator's); verification is always on")
	fs.DurationVar(&c.Duration, "duration", 0, "stop after this long (0: run until interrupted)")
	fs.IntVar(&c.StreamsPerConn, "streams-per-conn", 200, "streams per connection (at most 1024)")
	fs.BoolVar(&c.Micros, "micros", false, "ask the venue for microsecond times")
	fs.DurationVar(&c.PingInterval, "ping-interval", 15*time.Second, "how often we ping the server")
	fs.DurationVar(&c.StaleTimeout, "stale-timeout", 45*time.Second, "replace a connection silent for this long")
	fs.DurationVar(&c.Lifetime, "lifetime", 0, "rotate connections before this age (0: the venue's limit, 24h on Binance)")
	fs.Int64Var(&c.ReadLimit, "read-limit", 1<<20, "largest frame accepted, bytes")
	fs.IntVar(&c.Queue, "queue", 4096, "frames queued per connection for a slow consumer")
	fs.StringVar(&c.SlowConsumer, "slow-consumer", "block", "block (then reconnect and recover) or drop (with a gap marker)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")

	fs.BoolVar(&c.Recovery, "recovery", true, "backfill trade gaps over REST and keep order books in sync (snapshot + diffs)")
	fs.IntVar(&c.DepthLimit, "depth-limit", 1000, "levels of each REST book snapshot (at most 5000)")
	fs.DurationVar(&c.VerifyEvery, "verify-every", 0, "compare each book with a fresh REST snapshot this often (0: never)")

	fs.StringVar(&c.Record, "record", "", "keep the raw frames with their receive times in this directory (compressed), for feedkeeper replay")
	c.registerSinks(fs)
	fs.StringVar(&c.HTTP, "http", monitor.DefaultAddr, "serve /metrics, /healthz, /readyz and the dashboard here (empty: off); beyond loopback needs --http-token")
	fs.StringVar(&c.HTTPToken, "http-token", "", "bearer token required on every path of --http")
}

// registerSinks binds the output flags (run and replay).
func (c *runConfig) registerSinks(fs *flag.FlagSet) {
	fs.Var((*stringList)(&c.Out), "out", "where events go (repeatable): stdout, file:DIR, nats (embedded server) or nats:URL,URL (default stdout)")
	fs.Var(&natsFlag{&c.NATS}, "nats", "publish to NATS JetStream: --nats alone starts an embedded server, --nats=nats://a,nats://b uses those")
	fs.StringVar(&c.NATSStore, "nats-store", "", "JetStream store directory of the embedded server (default: a temporary one)")
	fs.Int64Var(&c.RotateSize, "rotate-size", 256<<20, "file sink: start a new file past this many bytes")
	fs.DurationVar(&c.RotateEvery, "rotate-every", time.Hour, "file sink: start a new file this often")
	fs.StringVar(&c.Compress, "compress", "zstd", "file sink: zstd or none")
	fs.StringVar(&c.SinkPolicy, "sink-policy", "", "a sink that cannot keep up: block (wait up to 1s) or drop (counted); default block with one sink, drop with several")
	fs.IntVar(&c.SinkBuffer, "sink-buffer", 32768, "events buffered per sink")
}

// joinNATSArg turns "--nats nats://a,nats://b" into "--nats=nats://a,nats://b":
// --nats alone is a boolean-like flag (the embedded server).
func joinNATSArg(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if (a == "--nats" || a == "-nats") && i+1 < len(args) && strings.HasPrefix(args[i+1], "nats://") {
			out = append(out, a+"="+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

// natsFlag is --nats: alone it means the embedded server, with a value the
// servers to use.
type natsFlag struct{ v *string }

func (f *natsFlag) String() string {
	if f.v == nil {
		return ""
	}
	return *f.v
}

func (f *natsFlag) Set(s string) error {
	if s == "true" || s == "" {
		s = "embedded"
	}
	if s == "false" {
		s = ""
	}
	*f.v = s
	return nil
}

func (f *natsFlag) IsBoolFlag() bool { return true }

// loadConfigFile reads a YAML config into c; unknown keys are errors.
func loadConfigFile(path string, c *runConfig) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	return nil
}

// parseRunFlags parses flags over the defaults, a config file (--config)
// and explicit flags, in that order of precedence from low to high.
func parseRunFlags(fs *flag.FlagSet, c *runConfig, args []string) error {
	configPath := fs.String("config", "", "YAML config file (keys as the flags, with _ for -: ws_endpoint, streams, …)")
	args = joinNATSArg(args)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if *configPath != "" {
		explicit := map[string]string{}
		fs.Visit(func(f *flag.Flag) { explicit[f.Name] = f.Value.String() })
		if err := loadConfigFile(*configPath, c); err != nil {
			return err
		}
		for name, v := range explicit {
			_ = fs.Set(name, v)
		}
	}
	for _, a := range fs.Args() {
		if strings.HasPrefix(a, "nats://") {
			fmt.Fprintf(fs.Output(), "%q looks like a NATS URL: write --nats=%s\n", a, a)
			return errUsage
		}
	}
	c.Streams = append(c.Streams, fs.Args()...)
	return nil
}

func (c *runConfig) sessionTemplate() (wsconn.Config, error) {
	sc := wsconn.Config{
		PingInterval: c.PingInterval,
		StaleTimeout: c.StaleTimeout,
		ReadLimit:    c.ReadLimit,
		QueueFrames:  c.Queue,
		Lifetime:     c.Lifetime,
	}
	switch c.SlowConsumer {
	case "block", "":
		sc.Slow = wsconn.Block
	case "drop":
		sc.Slow = wsconn.Drop
	default:
		return sc, fmt.Errorf("--slow-consumer %q: want block or drop", c.SlowConsumer)
	}
	return sc, nil
}

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("feedkeeper run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c runConfig
	c.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: feedkeeper run [flags] <stream>…\n\nStreams a venue's market data as normalized JSON Lines on stdout; status and logs on stderr.\nExample: feedkeeper run btcusdt@aggTrade btcusdt@depth@100ms\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseRunFlags(fs, &c, args); err != nil {
		return err
	}
	status := monitor.NewStatusLine(stderr)
	defer status.Close()
	log, err := newLogger(status, c.LogLevel)
	if err != nil {
		return err
	}
	if len(c.Streams) == 0 {
		fmt.Fprintln(stderr, "feedkeeper run: no streams given")
		return errUsage
	}
	if c.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Duration)
		defer cancel()
	}
	return runGateway(ctx, &c, stdout, log, status, nil)
}

// runGateway streams what c describes to its sinks until ctx ends. ready,
// when not nil, is called with the monitor's URL once everything runs.
func runGateway(ctx context.Context, c *runConfig, stdout io.Writer, log *slog.Logger, status *monitor.StatusLine, ready func(dashboard string)) error {
	if c.Venue != "binance" {
		return fmt.Errorf("--venue %q: only binance is supported", c.Venue)
	}
	tlsCfg, err := httpx.TLSConfig(c.CA)
	if err != nil {
		return fmt.Errorf("--ca: %w", err)
	}
	rest, err := httpx.New(binance.RESTConfig(httpx.Config{BaseURL: c.RESTEndpoint, TLS: tlsCfg, Logger: log}))
	if err != nil {
		return err
	}
	defer rest.Close()
	symbols, err := binance.LoadSymbols(ctx, rest, binance.SymbolsOfStreams(c.Streams))
	if err != nil {
		return err
	}
	venue, err := binance.NewSpot(binance.SpotConfig{WSURL: c.WSEndpoint, Symbols: symbols, StreamsPerConn: c.StreamsPerConn, Micros: c.Micros})
	if err != nil {
		return err
	}
	sc, err := c.sessionTemplate()
	if err != nil {
		return err
	}
	var recovery feed.Recovery
	books := 0
	if c.Recovery {
		if recovery, err = binance.NewRecovery(rest, symbols, c.Micros); err != nil {
			return err
		}
		for _, st := range c.Streams {
			if strings.HasSuffix(st, "@depth") || strings.HasSuffix(st, "@depth@100ms") {
				books++
			}
		}
	}
	out, err := openSinks(c, stdout, log)
	if err != nil {
		return err
	}
	defer out.Close()

	var mon *monitor.Monitor
	if c.HTTP != "" {
		mon, err = monitor.New(monitor.Config{Addr: c.HTTP, Token: c.HTTPToken, Venue: venue.Name(), REST: rest.Stats, Books: books, Logger: log,
			Checks:     map[string]func() error{"sinks": out.check},
			ServerTime: func(ctx context.Context) (time.Time, error) { return binance.ServerTime(ctx, rest) }})
		if err != nil {
			return err
		}
		defer mon.Close()
	}
	write := sink.Handler(out.multi, log)
	handler := write
	if mon != nil {
		handler = func(ev *feed.Event) {
			write(ev)
			mon.Observe(ev)
		}
	}
	var tap func(int, []byte, int64)
	if c.Record != "" {
		meta := record.Meta{Venue: venue.Name(), WSURL: c.WSEndpoint, Streams: c.Streams, PerConn: c.StreamsPerConn, Micros: c.Micros}
		for _, s := range symbols.List() {
			meta.Symbols = append(meta.Symbols, record.Symbol{Name: s.Name, PriceScale: s.PriceScale, QtyScale: s.QtyScale})
		}
		rec, err := record.Create(c.Record, meta)
		if err != nil {
			return fmt.Errorf("--record: %w", err)
		}
		defer func() {
			frames, bytes := rec.Stats()
			if err := rec.Close(); err != nil {
				log.Error("recording", "err", err)
			}
			log.Info("recorded", "dir", c.Record, "frames", frames, "bytes", bytes)
		}()
		tap = func(plan int, data []byte, recv int64) { _ = rec.Write(plan, recv, data) }
	}
	g, err := feed.OpenGateway(feed.GatewayConfig{
		Venue: venue, Streams: c.Streams, TLS: tlsCfg, Session: sc, Logger: log, Handler: handler, Tap: tap,
		Recovery: recovery, RecoveryConfig: feed.RecoveryConfig{DepthLimit: c.DepthLimit, VerifyEvery: c.VerifyEvery},
	})
	if err != nil {
		return err
	}
	if mon != nil {
		mon.SetGateway(g.Stats)
	}
	if status != nil {
		status.Start(g.Stats, time.Second)
	}
	if ready != nil {
		url := ""
		if mon != nil {
			url = mon.URL()
		}
		ready(url)
	}
	<-ctx.Done()
	g.Close()
	st := g.Stats()
	rs := rest.Stats()
	log.Info("stopped", "events", st.Events, "duplicates", st.Duplicates, "gaps", st.Gaps, "missing", st.Missing,
		"backfilled", st.Backfilled, "unfilled", st.Unfilled, "book_resyncs", st.BookResyncs,
		"malformed", st.Malformed, "unknown", st.Unknown, "rest_requests", rs.Requests, "rest_retries", rs.Retries)
	return out.Close()
}

// sinks is the set of outputs of a run.
type sinks struct {
	multi   *sink.Multi
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

// check is a readiness check: a sink that lost events is not ready.
func (s *sinks) check() error {
	if st := s.multi.Stats(); st.Lost > 0 {
		return fmt.Errorf("%d events lost by the sinks", st.Lost)
	}
	return nil
}

// openSinks opens every output of c.Out and --nats.
func openSinks(c *runConfig, stdout io.Writer, log *slog.Logger) (*sinks, error) {
	outs := append([]string{}, c.Out...)
	if len(outs) == 0 {
		outs = []string{"stdout"}
	}
	if c.NATS != "" {
		if c.NATS == "embedded" {
			outs = append(outs, "nats")
		} else {
			outs = append(outs, "nats:"+c.NATS)
		}
	}
	policy := sink.Block
	if len(outs) > 1 {
		policy = sink.Drop // a dead sink must not hold the healthy ones back
	}
	if c.SinkPolicy != "" {
		p, err := sink.ParsePolicy(c.SinkPolicy)
		if err != nil {
			return nil, fmt.Errorf("--sink-policy: %w", err)
		}
		policy = p
	}
	buf := sink.Buffer{Events: c.SinkBuffer, Policy: policy}
	var opened []sink.Sink
	fail := func(err error) (*sinks, error) {
		for _, s := range opened {
			s.Close()
		}
		return nil, err
	}
	for _, o := range outs {
		kind, arg, _ := strings.Cut(o, ":")
		switch kind {
		case "stdout":
			s, err := stdoutsink.Open(stdoutsink.Config{Out: stdout, Buffer: buf, Logger: log})
			if err != nil {
				return fail(fmt.Errorf("--out stdout: %w", err))
			}
			opened = append(opened, s)
		case "file":
			if arg == "" {
				return fail(fmt.Errorf("--out file: give a directory: file:DIR"))
			}
			var compress bool
			switch c.Compress {
			case "zstd":
				compress = true
			case "none", "":
			default:
				return fail(fmt.Errorf("--compress %q: want zstd or none", c.Compress))
			}
			s, err := filesink.Open(filesink.Config{Dir: arg, MaxBytes: c.RotateSize, Interval: c.RotateEvery, Compress: compress, Buffer: buf, Logger: log})
			if err != nil {
				return fail(fmt.Errorf("--out %s: %w", o, err))
			}
			log.Info("writing JSON Lines files", "dir", arg, "compress", c.Compress)
			opened = append(opened, s)
		case "nats":
			cfg := natssink.Config{Buffer: buf, Logger: log, Server: natssink.ServerConfig{StoreDir: c.NATSStore}}
			if arg != "" {
				cfg.URLs = strings.Split(arg, ",")
			}
			s, err := natssink.Open(cfg)
			if err != nil {
				return fail(fmt.Errorf("--out %s: %w", o, err))
			}
			if arg == "" {
				log.Info("embedded NATS JetStream server", "url", s.ClientURL(), "stream", s.StreamConfig().Name, "subjects", "md.>")
			}
			opened = append(opened, s)
		default:
			return fail(fmt.Errorf("--out %q: want stdout, file:DIR, nats or nats:URL,…", o))
		}
	}
	return &sinks{multi: sink.NewMulti(opened...)}, nil
}

// lineWriter writes raw frames as lines (tap) through a buffer, flushed at
// least every 100 ms.
type lineWriter struct {
	mu   sync.Mutex
	bw   *bufio.Writer
	err  error
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newLineWriter(w io.Writer) *lineWriter {
	lw := &lineWriter{bw: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go lw.flusher()
	return lw
}

// raw writes one frame as a line, as it came.
func (lw *lineWriter) raw(b []byte) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.err != nil {
		return
	}
	lw.bw.Write(b)
	if err := lw.bw.WriteByte('\n'); err != nil {
		lw.err = err
	}
}

func (lw *lineWriter) flusher() {
	defer close(lw.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-lw.stop:
			return
		case <-t.C:
			lw.mu.Lock()
			if lw.err == nil {
				lw.err = lw.bw.Flush()
			}
			lw.mu.Unlock()
		}
	}
}

// Close flushes and stops the flusher; it returns the first write error.
func (lw *lineWriter) Close() error {
	lw.once.Do(func() {
		close(lw.stop)
		<-lw.done
		lw.mu.Lock()
		if lw.err == nil {
			lw.err = lw.bw.Flush()
		}
		lw.mu.Unlock()
	})
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.err != nil && strings.Contains(lw.err.Error(), "broken pipe") {
		return nil // the reader went away (| head): not an error of ours
	}
	return lw.err
}
