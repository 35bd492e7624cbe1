package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// tapCmd is `feedkeeper tap`: any WebSocket API, raw frames out.
type tapCmd struct {
	stdout, stderr io.Writer
	sends          []string
	ca             string
	duration       time.Duration
	ping, stale    time.Duration
	readLimit      int64
	rate           float64
	logLevel       string
}

func newTapCmd(stdout, stderr io.Writer) *cobra.Command {
	t := &tapCmd{stdout: stdout, stderr: stderr}
	cmd := &cobra.Command{
		Use:   "tap [flags] <wss://host/path> [flags]",
		Short: "any WebSocket API: raw frames out, with the same resilience",
		Long: `Connects to one WebSocket URL and writes its raw frames to stdout, one a line, with the same
resilience as run (ping/pong, stall detection, reconnect with backoff); the --send messages
are sent again after each reconnect. Flags may come before or after the URL.

` + exitCodesHelp,
		Example: `  feedkeeper tap wss://stream.binance.com:9443/ws --send '{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}'
  feedkeeper tap wss://127.0.0.1:9443/ws/btcusdt@aggTrade --ca /tmp/sim-ca.pem --duration 10s`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return t.Run(cmd.Context(), args) },
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&t.sends, "send", nil, "a message to send after every connect (repeatable), e.g. a subscribe request")
	fs.StringVar(&t.ca, "ca", "", "PEM `file` of an extra CA to trust; verification is always on")
	fs.DurationVar(&t.duration, "duration", 0, "stop after this long, ≥ 0 (0: run until interrupted)")
	fs.DurationVar(&t.ping, "ping-interval", 15*time.Second, "how often we ping the server, > 0")
	fs.DurationVar(&t.stale, "stale-timeout", 45*time.Second, "replace a connection silent for this long; more than --ping-interval")
	fs.Int64Var(&t.readLimit, "read-limit", 1<<20, fmt.Sprintf("largest frame accepted, bytes, 1024..%d", maxReadLimit))
	fs.Float64Var(&t.rate, "message-rate", 3, "messages a second we may send, > 0")
	fs.StringVar(&t.logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// Run taps args[0] until ctx ends or --duration passes.
func (t *tapCmd) Run(ctx context.Context, args []string) error {
	var k checks
	if !strings.HasPrefix(args[0], "wss://") {
		k.errs = append(k.errs, fmt.Errorf("URL %q: want wss://host/path (TLS only; --ca adds a CA)", args[0]))
	}
	k.notNegative("duration", t.duration)
	k.positive("ping-interval", t.ping)
	if t.stale <= t.ping {
		k.add("stale-timeout", t.stale.String(), fmt.Sprintf("must be more than --ping-interval %v", t.ping))
	}
	k.intRange("read-limit", t.readLimit, 1024, maxReadLimit)
	if !(t.rate > 0) {
		k.add("message-rate", fmt.Sprint(t.rate), "must be positive")
	}
	k.logLevel("log-level", t.logLevel)
	if err := k.err(); err != nil {
		return err
	}
	log, err := newLogger(t.stderr, t.logLevel)
	if err != nil {
		return err
	}
	tlsCfg, err := httpx.TLSConfig(t.ca)
	if err != nil {
		return usageErrorf("--ca %s: %w", t.ca, err)
	}
	if err := preflightTLS(ctx, "tap "+args[0], args[0], tlsCfg); err != nil {
		return err
	}
	ctx, cancel := withDuration(ctx, t.duration)
	defer cancel()
	msgs := make([][]byte, len(t.sends))
	for i, s := range t.sends {
		msgs[i] = []byte(s)
	}
	w := newLineWriter(t.stdout)
	defer w.Close()
	sess, err := wsconn.Open(wsconn.Config{
		URL: args[0], TLS: tlsCfg, Subscribe: func() [][]byte { return msgs },
		PingInterval: t.ping, StaleTimeout: t.stale, ReadLimit: t.readLimit, MessageRate: t.rate, Logger: log,
	}, func(f *wsconn.Frame) {
		if f.Kind == wsconn.Data {
			w.raw(f.Data)
		}
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	sess.Close()
	st := sess.Stats()
	log.Info("stopped", "frames", st.Frames, "bytes", st.Bytes, "connects", st.Connects, "reconnects", st.Reconnects)
	if err := w.Close(); err != nil {
		return err
	}
	if st.Frames == 0 {
		return &unavailableError{err: fmt.Errorf("%w from %s", errNoData, args[0])}
	}
	return nil
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
