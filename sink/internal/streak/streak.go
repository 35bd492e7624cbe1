// Package streak logs a run of repeated failures as a few lines: the first
// failure at once, then at most one line per interval with the count since
// the previous line, and one line when the run ends.
package streak

import (
	"log/slog"
	"sync"
	"time"
)

// Log logs one kind of failure. It is safe for concurrent use.
type Log struct {
	log   *slog.Logger
	msg   string
	every time.Duration

	mu       sync.Mutex
	failures int64 // in the current streak
	unlogged int64 // since the last line
	start    time.Time
	last     time.Time
}

// New returns a Log writing msg to log at most every interval while
// failures go on.
func New(log *slog.Logger, msg string, every time.Duration) *Log {
	return &Log{log: log, msg: msg, every: every}
}

// Fail records one failure, logged with err and attrs unless a line was
// written less than an interval ago.
func (l *Log) Fail(err error, attrs ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.failures == 0 {
		l.start = now
	}
	l.failures++
	l.unlogged++
	if l.failures > 1 && now.Sub(l.last) < l.every {
		return
	}
	l.log.Warn(l.msg, append([]any{"reason", err.Error(), "failures", l.unlogged}, attrs...)...)
	l.unlogged = 0
	l.last = now
}

// OK ends a streak of failures, if any, with a "recovered" line.
func (l *Log) OK() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failures == 0 {
		return
	}
	l.log.Info(l.msg+": recovered", "failures", l.failures, "after", time.Since(l.start).Round(time.Millisecond).String())
	l.failures, l.unlogged = 0, 0
}
