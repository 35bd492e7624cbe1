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
}

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
	log, err := newLogger(stderr, c.LogLevel)
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
	return runGateway(ctx, &c, stdout, log)
}

// runGateway streams what c describes to out as JSON Lines until ctx ends.
func runGateway(ctx context.Context, c *runConfig, out io.Writer, log *slog.Logger) error {
	if c.Venue != "binance" {
		return fmt.Errorf("--venue %q: only binance is supported", c.Venue)
	}
	tlsCfg, err := httpx.TLSConfig(c.CA)
	if err != nil {
		return fmt.Errorf("--ca: %w", err)
	}
	rest, err := httpx.New(httpx.Config{BaseURL: c.RESTEndpoint, TLS: tlsCfg})
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
	w := newLineWriter(out)
	defer w.Close()
	g, err := feed.OpenGateway(feed.GatewayConfig{
		Venue: venue, Streams: c.Streams, TLS: tlsCfg, Session: sc, Logger: log,
		Handler: w.event,
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	g.Close()
	st := g.Stats()
	log.Info("stopped", "events", st.Events, "duplicates", st.Duplicates, "gaps", st.Gaps, "missing", st.Missing,
		"malformed", st.Malformed, "unknown", st.Unknown)
	return w.Close()
}

// lineWriter writes events as JSON Lines through a buffer, flushed when the
// stream pauses and at least every 100 ms.
type lineWriter struct {
	mu   sync.Mutex
	bw   *bufio.Writer
	buf  []byte
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

func (lw *lineWriter) event(ev *feed.Event) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.err != nil {
		return
	}
	lw.buf = ev.AppendJSON(lw.buf[:0])
	lw.buf = append(lw.buf, '\n')
	if _, err := lw.bw.Write(lw.buf); err != nil {
		lw.err = err
	}
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
