// Package stdout is the sink that writes events as JSON Lines to standard
// output, or to any io.Writer.
package stdout

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/sink"
	"github.com/feedkeeper/feedkeeper/sink/internal/counters"
	"github.com/feedkeeper/feedkeeper/sink/internal/queue"
	"github.com/feedkeeper/feedkeeper/sink/internal/streak"
)

// Config configures a Sink. The zero value writes to os.Stdout.
type Config struct {
	// Out receives the JSON Lines; nil is os.Stdout. It is written by one
	// goroutine at a time and never closed by the sink.
	Out io.Writer
	// Name names the sink in errors and logs; "" is "stdout".
	Name string
	// FlushInterval is the longest an event waits in the sink's buffer
	// before it is written to Out; 0 is 100 ms. The buffer is also written
	// whenever it holds 64 KiB.
	FlushInterval time.Duration
	// Buffer bounds the events waiting for the writer goroutine.
	Buffer sink.Buffer
	// Logger: nil is slog.Default().
	Logger *slog.Logger
}

const flushSize = 64 << 10

// Sink writes each event as one line of JSON (feed.Event.AppendJSON) to
// Out, from a goroutine of its own. When the reader of a pipe goes away
// (EPIPE, as with `| head`), the sink discards what follows without
// calling it an error.
type Sink struct {
	cfg Config
	log *slog.Logger
	q   *queue.Queue

	errFull, errClosed error

	c counters.Set

	// owned by the writer goroutine
	gone     bool
	firstErr error
	fails    *streak.Log

	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var _ sink.Sink = (*Sink)(nil)

// Open validates cfg and starts the writer goroutine.
func Open(cfg Config) (*Sink, error) {
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	if cfg.Name == "" {
		cfg.Name = "stdout"
	}
	if cfg.FlushInterval < 0 {
		return nil, &sink.Error{Sink: cfg.Name, Err: errors.New("FlushInterval " + cfg.FlushInterval.String() + ": want >= 0")}
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = 100 * time.Millisecond
	}
	if err := cfg.Buffer.Validate(); err != nil {
		return nil, &sink.Error{Sink: cfg.Name, Err: err}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Sink{
		cfg:       cfg,
		log:       cfg.Logger.With("sink", cfg.Name),
		q:         queue.New(cfg.Buffer, flushSize),
		errFull:   &sink.Error{Sink: cfg.Name, Err: sink.ErrFull},
		errClosed: &sink.Error{Sink: cfg.Name, Err: sink.ErrClosed},
		done:      make(chan struct{}),
	}
	s.fails = streak.New(s.log, "write failed", 10*time.Second)
	go s.run()
	return s, nil
}

// Write queues ev as one JSON line.
func (s *Sink) Write(ev *feed.Event) error {
	buf, err := s.q.Begin()
	if err != nil {
		return s.refused(err)
	}
	buf = ev.AppendJSON(buf)
	buf = append(buf, '\n')
	s.c.Accepted.Add(1) // before End: the event is not delivered before it is counted
	s.q.End(buf)
	return nil
}

// WriteLine queues b, followed by a newline, as it is: for raw frames
// (feedkeeper tap). It follows the rules of Write and counts as one event.
func (s *Sink) WriteLine(b []byte) error {
	buf, err := s.q.Begin()
	if err != nil {
		return s.refused(err)
	}
	buf = append(buf, b...)
	buf = append(buf, '\n')
	s.c.Accepted.Add(1)
	s.q.End(buf)
	return nil
}

func (s *Sink) refused(err error) error {
	if errors.Is(err, sink.ErrFull) {
		s.c.Dropped.Add(1)
		return s.errFull
	}
	return s.errClosed
}

// Close writes every accepted event to Out and stops the writer
// goroutine. It waits as long as Out blocks. The error reports events that
// could not be written, except to a pipe whose reader went away.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		s.q.Close()
		<-s.done
		if n := s.c.Lost.Load(); n > 0 && s.firstErr != nil {
			s.closeErr = &sink.Error{Sink: s.cfg.Name, Err: &sink.LostError{Events: n, Err: s.firstErr}}
		}
	})
	return s.closeErr
}

// Stats returns the sink's counters.
func (s *Sink) Stats() sink.Stats { return s.c.Stats() }

func (s *Sink) run() {
	defer close(s.done)
	var b queue.Batch
	tick := time.NewTicker(s.cfg.FlushInterval)
	defer tick.Stop()
	for {
		closing := false
		select {
		case <-s.q.Ready():
		case <-tick.C:
		case <-s.q.Done():
			closing = true
		}
		if n := s.q.Take(&b); n > 0 {
			s.write(b.Buf, int64(n))
		}
		if closing {
			return
		}
	}
}

// write writes events lines to Out.
func (s *Sink) write(lines []byte, events int64) {
	if s.gone {
		s.c.Lost.Add(events)
		return
	}
	n, err := s.cfg.Out.Write(lines)
	if err == nil && n < len(lines) {
		err = io.ErrShortWrite
	}
	if err == nil {
		s.c.Delivered.Add(events)
		s.c.Bytes.Add(int64(n))
		s.fails.OK()
		return
	}
	written := int64(bytes.Count(lines[:n], []byte{'\n'}))
	s.c.Delivered.Add(written)
	s.c.Bytes.Add(int64(n))
	s.c.Lost.Add(events - written)
	if errors.Is(err, syscall.EPIPE) {
		s.gone = true
		s.log.Info("reader went away: discarding events", "reason", err.Error())
		return
	}
	s.c.Errors.Add(1)
	if s.firstErr == nil {
		s.firstErr = err
	}
	s.fails.Fail(err, "events", events-written)
}
