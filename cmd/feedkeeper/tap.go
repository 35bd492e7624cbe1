package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

type stringList []string

func (l *stringList) String() string     { return fmt.Sprint(*l) }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func runTap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("feedkeeper tap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sends stringList
	fs.Var(&sends, "send", "a message to send after every connect (repeatable), e.g. a subscribe request")
	ca := fs.String("ca", "", "PEM file of an extra CA to trust; verification is always on")
	duration := fs.Duration("duration", 0, "stop after this long (0: run until interrupted)")
	ping := fs.Duration("ping-interval", 15*time.Second, "how often we ping the server")
	stale := fs.Duration("stale-timeout", 45*time.Second, "replace a connection silent for this long")
	readLimit := fs.Int64("read-limit", 1<<20, "largest frame accepted, bytes")
	rate := fs.Float64("message-rate", 3, "messages a second we may send")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: feedkeeper tap [flags] wss://host/path\n\nAny WebSocket API: raw frames to stdout, one a line, with the same resilience as run\n(the --send messages are sent again after each reconnect).\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return errUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	tlsCfg, err := httpx.TLSConfig(*ca)
	if err != nil {
		return fmt.Errorf("--ca: %w", err)
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	msgs := make([][]byte, len(sends))
	for i, s := range sends {
		msgs[i] = []byte(s)
	}
	w := newLineWriter(stdout)
	defer w.Close()
	sess, err := wsconn.Open(wsconn.Config{
		URL: fs.Arg(0), TLS: tlsCfg, Subscribe: func() [][]byte { return msgs },
		PingInterval: *ping, StaleTimeout: *stale, ReadLimit: *readLimit, MessageRate: *rate, Logger: log,
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
	return w.Close()
}
