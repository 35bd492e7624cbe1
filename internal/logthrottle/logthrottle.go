// Package logthrottle limits how often a repeated log line is written: at
// most Burst lines in each window of Every, the rest counted.
package logthrottle

import (
	"sync"
	"time"
)

// Limiter lets through at most Burst lines in each window of Every: a
// window starts with the first line let through after the previous one
// ended, so a first line always passes. The lines held back are counted
// and reported with the next line let through. Safe for concurrent use;
// the zero value (Burst 0 counts as 1) lets one line through per Every.
type Limiter struct {
	// Every is the length of a window.
	Every time.Duration
	// Burst is the number of lines let through in one window; 0 means 1.
	Burst int

	mu      sync.Mutex
	started bool
	window  int64 // ns: start of the current window
	n       int   // lines let through in the window
	held    int64 // lines held back since the last one let through
}

// Allow reports whether a line may be written now and, when it may, how
// many lines were held back since the last one let through.
func (l *Limiter) Allow() (ok bool, suppressed int64) {
	return l.AllowAt(time.Now().UnixNano())
}

// AllowAt is Allow at now, in nanoseconds on any clock that only moves
// forward (the same clock at every call).
func (l *Limiter) AllowAt(now int64) (ok bool, suppressed int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.started || now-l.window >= int64(l.Every) {
		l.started, l.window, l.n = true, now, 0
	}
	if l.n >= max(l.Burst, 1) {
		l.held++
		return false, 0
	}
	l.n++
	suppressed, l.held = l.held, 0
	return true, suppressed
}
