// Package file is the sink that writes events as JSON Lines into files in a
// directory, rotated by size and by time, optionally compressed with zstd.
//
// Files are named <prefix><UTC open time>-<sequence>.jsonl (".jsonl.zst"
// compressed), for example events-20260102T150405.123Z-000001.jsonl.zst, so
// sorting the names (List) puts them in the order they were written. Every
// file but the one being written is complete: rotation and Close flush,
// end the zstd frame, fsync and close it.
//
// A crash of the process (kill -9, out of memory) loses what the current
// file had not flushed yet: at most FlushInterval of events, one second by
// default. A crash of the machine also loses what the kernel had not
// written to the disk yet, unless Config.Sync fsyncs every flush. Such a
// file ends in a partial line or an unfinished zstd frame (zstd -dc then
// prints the flushed lines, a partial one, and fails): Reader reads every
// complete event and reports the cut (*CutError), and the next Open names
// the file in a warning.
package file

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/sink"
	"github.com/feedkeeper/feedkeeper/sink/internal/counters"
	"github.com/feedkeeper/feedkeeper/sink/internal/queue"
	"github.com/feedkeeper/feedkeeper/sink/internal/streak"
)

// Defaults of Config.
const (
	DefaultPrefix        = "events-"
	DefaultMaxBytes      = 256 << 20
	DefaultInterval      = time.Hour
	DefaultFlushInterval = time.Second
)

// Config configures a Sink. Only Dir is required.
type Config struct {
	// Dir is the directory of the files, created if missing.
	Dir string
	// Prefix starts every file name; "" is "events-".
	Prefix string
	// MaxBytes starts a new file before one would hold more than this many
	// bytes of JSON Lines (counted before compression); a single larger
	// event gets a file of its own. 0 is 256 MiB; negative, no limit.
	MaxBytes int64
	// Interval starts a new file each time the wall clock crosses a
	// multiple of Interval (UTC): 1h rotates on the hour. 0 is 1h;
	// negative, never.
	Interval time.Duration
	// Compress writes zstd-compressed files (".jsonl.zst") at Level
	// (0 is zstd.SpeedDefault).
	Compress bool
	Level    zstd.EncoderLevel
	// FlushInterval is the longest an accepted event waits before it is
	// written to the file (and, compressed, before its zstd block is
	// finished); 0 is 1s. Events are also written whenever 64 KiB wait,
	// into the zstd encoder when compressed.
	FlushInterval time.Duration
	// Sync makes every flush also fsync the file, so that what was flushed
	// survives a power loss or a crash of the machine, not only of the
	// process; it costs a disk sync every FlushInterval.
	Sync bool
	// Name names the sink in errors and logs; "" is "file".
	Name string
	// Buffer bounds the events waiting for the writer goroutine.
	Buffer sink.Buffer
	// Logger: nil is slog.Default().
	Logger *slog.Logger
}

// writeFile is what the sink needs of an open file.
type writeFile interface {
	io.Writer
	Sync() error
	Close() error
}

func createFile(path string) (writeFile, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
}

const (
	flushSize   = 64 << 10
	retryFirst  = 100 * time.Millisecond
	retryLatest = 5 * time.Second
)

// Sink writes events into rotating files from a goroutine of its own.
//
// A write error (disk full, a file removed under it) loses the events not
// yet written when it happened (Stats.Lost, logged, returned by Close); the
// file is closed and the sink goes on with a new one, retrying with a
// backoff while files cannot be created. Meanwhile events wait in the
// buffer, and Write applies its policy when the buffer is full.
type Sink struct {
	cfg    Config
	log    *slog.Logger
	q      *queue.Queue
	create func(path string) (writeFile, error)

	errFull, errClosed error

	c counters.Set

	// owned by the writer goroutine
	f           writeFile
	path        string
	seq         int
	enc         *zstd.Encoder
	fileBytes   int64 // JSON bytes in the current file, pending ones included
	fileEvents  int64
	rotateAt    time.Time
	pend        []byte
	pendEvents  int64
	staged      int64 // events written to the encoder since its last flush
	stagedBytes int64
	dirty       bool // written to the file since the last flush
	retryAt     time.Time
	backoff     time.Duration
	firstErr    error
	fails       *streak.Log

	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var _ sink.Sink = (*Sink)(nil)

// Open validates cfg, creates the directory and the first file, and starts
// the writer goroutine. An unusable directory is an error here.
//
// Open first looks for files an earlier sink left cut short by a crash
// (ending in a partial line or an unfinished zstd frame): the last file of
// each earlier run, found by its sequence number, is checked from its
// frame headers without being decompressed, and each one cut short gets
// one warning naming it. Such files are left as they are: the sink never
// appends to an existing file. Read them with Reader (or feedkeeper cat).
func Open(cfg Config) (*Sink, error) {
	return open(cfg, createFile)
}

func open(cfg Config, create func(string) (writeFile, error)) (*Sink, error) {
	if cfg.Name == "" {
		cfg.Name = "file"
	}
	bad := func(format string, a ...any) error {
		return &sink.Error{Sink: cfg.Name, Err: fmt.Errorf(format, a...)}
	}
	switch {
	case cfg.Dir == "":
		return nil, bad("Dir is empty")
	case cfg.FlushInterval < 0:
		return nil, bad("FlushInterval %v: want >= 0", cfg.FlushInterval)
	case cfg.Compress && cfg.Level != 0 && (cfg.Level < zstd.SpeedFastest || cfg.Level > zstd.SpeedBestCompression):
		return nil, bad("Level %d: want %d to %d", cfg.Level, zstd.SpeedFastest, zstd.SpeedBestCompression)
	}
	if err := cfg.Buffer.Validate(); err != nil {
		return nil, &sink.Error{Sink: cfg.Name, Err: err}
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.Level == 0 {
		cfg.Level = zstd.SpeedDefault
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, &sink.Error{Sink: cfg.Name, Err: fmt.Errorf("directory: %w", err)}
	}
	s := &Sink{
		cfg:       cfg,
		log:       cfg.Logger.With("sink", cfg.Name, "dir", cfg.Dir),
		q:         queue.New(cfg.Buffer, flushSize),
		create:    create,
		errFull:   &sink.Error{Sink: cfg.Name, Err: sink.ErrFull},
		errClosed: &sink.Error{Sink: cfg.Name, Err: sink.ErrClosed},
		backoff:   retryFirst,
		done:      make(chan struct{}),
	}
	s.fails = streak.New(s.log, "file write failed", 10*time.Second)
	if cfg.Compress {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(cfg.Level))
		if err != nil {
			return nil, &sink.Error{Sink: cfg.Name, Err: err}
		}
		s.enc = enc
	}
	s.reportCut()
	if err := s.openFile(time.Now()); err != nil {
		return nil, &sink.Error{Sink: cfg.Name, Err: err}
	}
	go s.run()
	return s, nil
}

// Write queues ev as one JSON line.
func (s *Sink) Write(ev *feed.Event) error {
	buf, err := s.q.Begin()
	if err != nil {
		if errors.Is(err, sink.ErrFull) {
			s.c.Dropped.Add(1)
			return s.errFull
		}
		return s.errClosed
	}
	buf = ev.AppendJSON(buf)
	buf = append(buf, '\n')
	s.c.Accepted.Add(1) // before End: the event is not delivered before it is counted
	s.q.End(buf)
	return nil
}

// Close writes every accepted event, finishes, syncs and closes the
// current file, and stops the writer goroutine. The error reports write
// errors met since Open, with the number of events they lost.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		s.q.Close()
		<-s.done
		switch n := s.c.Lost.Load(); {
		case n > 0:
			s.closeErr = &sink.Error{Sink: s.cfg.Name, Err: &sink.LostError{Events: n, Err: s.firstErr}}
		case s.firstErr != nil:
			s.closeErr = &sink.Error{Sink: s.cfg.Name, Err: s.firstErr}
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
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.arm(timer)
		closing, flush := false, false
		select {
		case <-s.q.Ready():
		case <-tick.C:
			flush = true
		case <-timer.C:
		case <-s.q.Done():
			closing = true
		}
		now := time.Now()
		if s.f != nil && s.cfg.Interval > 0 && !now.Before(s.rotateAt) {
			s.closeFile()
		}
		if s.f == nil && (closing || !now.Before(s.retryAt)) && s.q.Len() > 0 {
			if err := s.openFile(now); err != nil {
				s.fail(err)
			}
		}
		if s.f != nil && s.q.Take(&b) > 0 {
			s.add(&b, now)
		}
		if s.f != nil && (flush || closing) {
			if err := s.flush(); err != nil {
				s.fail(err)
			}
		}
		if closing {
			for s.q.Take(&b) > 0 {
				s.c.Lost.Add(int64(b.Len()))
			}
			if s.f != nil {
				s.closeFile()
			}
			return
		}
	}
}

// arm sets timer to the next rotation, or to the next attempt to create a
// file after a failure.
func (s *Sink) arm(timer *time.Timer) {
	var next time.Time
	switch {
	case s.f != nil && s.cfg.Interval > 0:
		next = s.rotateAt
	case s.f == nil:
		next = s.retryAt
	}
	if next.IsZero() {
		timer.Stop()
		return
	}
	timer.Reset(max(time.Until(next), 0))
}

// add appends the batch's lines to the current file, starting new files
// where MaxBytes says.
func (s *Sink) add(b *queue.Batch, now time.Time) {
	if s.cfg.MaxBytes < 0 || s.fileBytes+int64(len(b.Buf)) <= s.cfg.MaxBytes {
		s.append(b.Buf, int64(b.Len()))
		return
	}
	for i := range b.Len() {
		rec := b.Record(i)
		if s.fileBytes > 0 && s.fileBytes+int64(len(rec)) > s.cfg.MaxBytes {
			s.closeFile()
			if err := s.openFile(now); err != nil {
				s.fail(err)
				s.c.Lost.Add(int64(b.Len() - i))
				return
			}
		}
		s.append(rec, 1)
		if s.f == nil {
			s.c.Lost.Add(int64(b.Len() - i - 1))
			return
		}
	}
}

// append adds lines holding events to the current file.
func (s *Sink) append(lines []byte, events int64) {
	s.fileBytes += int64(len(lines))
	s.fileEvents += events
	if len(lines) >= flushSize {
		err := s.writePending()
		if err == nil {
			err = s.writeOut(lines, events)
		} else {
			s.pendEvents += events
		}
		if err != nil {
			s.fail(err)
		}
		return
	}
	s.pend = append(s.pend, lines...)
	s.pendEvents += events
	if len(s.pend) >= flushSize {
		if err := s.writePending(); err != nil {
			s.fail(err)
		}
	}
}

// writePending writes the pending lines out.
func (s *Sink) writePending() error {
	if len(s.pend) == 0 {
		return nil
	}
	events := s.pendEvents
	s.pendEvents = 0
	err := s.writeOut(s.pend, events)
	s.pend = s.pend[:0]
	return err
}

// writeOut writes lines holding events to the file, or to the encoder. On
// error, the events not written go back to pendEvents, for fail to count.
func (s *Sink) writeOut(lines []byte, events int64) error {
	if s.enc != nil {
		if _, err := s.enc.Write(lines); err != nil {
			s.pendEvents += events
			return err
		}
		s.staged += events
		s.stagedBytes += int64(len(lines))
		return nil
	}
	n, err := s.f.Write(lines)
	if err == nil && n < len(lines) {
		err = io.ErrShortWrite
	}
	written := events
	s.dirty = s.dirty || n > 0
	if err != nil {
		written = int64(bytes.Count(lines[:n], []byte{'\n'}))
		s.pendEvents += events - written
	}
	s.c.Delivered.Add(written)
	s.c.Bytes.Add(int64(n))
	return err
}

// flush writes everything pending into the file.
func (s *Sink) flush() error {
	if err := s.writePending(); err != nil {
		return err
	}
	if s.enc != nil && s.staged > 0 {
		if err := s.enc.Flush(); err != nil {
			return err
		}
		s.c.Delivered.Add(s.staged)
		s.c.Bytes.Add(s.stagedBytes)
		s.staged, s.stagedBytes = 0, 0
		s.dirty = true
	}
	if s.cfg.Sync && s.dirty {
		if err := s.f.Sync(); err != nil {
			return err
		}
	}
	s.dirty = false
	s.fails.OK()
	return nil
}

// reportCut logs the files an earlier run of a sink left cut short in the
// directory: only the last file of a run can be.
func (s *Sink) reportCut() {
	paths, err := List(s.cfg.Dir, s.cfg.Prefix)
	if err != nil {
		s.log.Warn("cannot look for files cut short by a crash", "err", err)
		return
	}
	for i, p := range paths {
		if i+1 < len(paths) {
			seq, ok := fileSeq(p)
			next, nextOK := fileSeq(paths[i+1])
			if ok && nextOK && next > seq {
				continue // the same run went on to the next file
			}
		}
		why, err := checkEnd(p)
		switch {
		case err != nil:
			s.log.Warn("file damaged", "path", p, "err", err)
		case why != "":
			s.log.Warn("file cut short by a crash: the events it had not flushed are lost, the others are intact (read them with feedkeeper cat)",
				"path", p, "reason", why)
		}
	}
}

// openFile creates the next file.
func (s *Sink) openFile(now time.Time) error {
	for tries := 0; ; tries++ {
		s.seq++
		path := filepath.Join(s.cfg.Dir, fileName(s.cfg.Prefix, now, s.seq, s.cfg.Compress))
		f, err := s.create(path)
		if errors.Is(err, fs.ErrExist) && tries < 100 {
			continue
		}
		if err != nil {
			return err
		}
		s.f, s.path = f, path
		break
	}
	s.fileBytes, s.fileEvents = 0, 0
	if s.enc != nil {
		s.enc.Reset(s.f)
	}
	if s.cfg.Interval > 0 {
		s.rotateAt = now.Truncate(s.cfg.Interval).Add(s.cfg.Interval)
	}
	s.retryAt, s.backoff = time.Time{}, retryFirst
	s.c.Files.Add(1)
	s.log.Debug("file opened", "path", s.path)
	return nil
}

// closeFile flushes, finishes, syncs and closes the current file; a file
// that received no event is removed.
func (s *Sink) closeFile() {
	if err := s.flush(); err != nil {
		s.fail(err)
		return
	}
	var err error
	if s.enc != nil {
		err = s.enc.Close()
	}
	if err == nil {
		err = s.f.Sync()
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if err == nil && s.fileEvents == 0 {
		err = os.Remove(s.path)
	}
	if err != nil {
		s.c.Errors.Add(1)
		if s.firstErr == nil {
			s.firstErr = err
		}
		s.fails.Fail(err, "path", s.path)
	}
	s.f = nil
}

// fail counts err and what it lost, and drops the current file, if any:
// the next events go to a new one, after a backoff.
func (s *Sink) fail(err error) {
	lost := s.pendEvents + s.staged
	s.c.Lost.Add(lost)
	s.c.Errors.Add(1)
	if s.firstErr == nil {
		s.firstErr = err
	}
	s.fails.Fail(err, "path", s.path, "events", lost)
	s.pend, s.pendEvents, s.staged, s.stagedBytes = s.pend[:0], 0, 0, 0
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	if s.enc != nil {
		s.enc.Reset(io.Discard)
	}
	s.retryAt = time.Now().Add(s.backoff)
	s.backoff = min(2*s.backoff, retryLatest)
}
