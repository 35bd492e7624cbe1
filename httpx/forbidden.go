package httpx

import (
	"log/slog"
	"sync"
	"time"

	"github.com/feedkeeper/feedkeeper/internal/backoff"
)

// forbidden is the block that follows a 403 (a firewall rule of the
// venue): every call fails at once until it ends. Its length doubles with
// each 403 in a row, from min up to max, and is at least the answer's
// Retry-After; an answer that passes the firewall ends the streak.
type forbidden struct {
	min, max time.Duration

	mu     sync.Mutex
	streak int       // 403s in a row that lengthened the block
	count  int       // 403s in the streak, all of them
	from   time.Time // when the streak began
	at     time.Time // when the block was last set
	end    time.Time
}

// check returns a *ForbiddenError while the block lasts.
func (f *forbidden) check(now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.Before(f.end) {
		return &ForbiddenError{Until: f.end}
	}
	return nil
}

// forbid records a 403 to a request sent at sent and seen at now. A 403 to
// a request sent before the block was last set belongs to the same burst
// and does not lengthen it. It returns the block's end and whether this
// 403 began a streak (the one to log).
func (f *forbidden) forbid(sent, now time.Time, retryAfter time.Duration) (until time.Time, first bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count++
	if f.streak > 0 && sent.Before(f.at) {
		return f.end, false
	}
	f.streak++
	if f.streak == 1 {
		f.from = now
	}
	d := max(backoff.Exp(f.min, f.max, f.streak-1), retryAfter)
	f.at = now
	if end := now.Add(d); end.After(f.end) {
		f.end = end
	}
	return f.end, f.streak == 1
}

// answered ends a streak of 403s: an answer passed the firewall.
func (f *forbidden) answered(log *slog.Logger) {
	f.mu.Lock()
	if f.streak == 0 {
		f.mu.Unlock()
		return
	}
	count, from := f.count, f.from
	f.streak, f.count = 0, 0
	f.mu.Unlock()
	log.Info("firewall block over: REST calls answered again", "forbidden", count, "since", from.UTC().Format(time.RFC3339))
}

// until returns the end of the block in force, zero when none.
func (f *forbidden) until(now time.Time) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.Before(f.end) {
		return f.end
	}
	return time.Time{}
}
