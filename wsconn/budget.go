package wsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/feedkeeper/feedkeeper/internal/logthrottle"
)

// DialLimiter paces connection attempts: Wait returns nil when one more
// attempt may be made, or an error when ctx ends (or the limiter is closed)
// first. A *Budget is the limiter made for it; a *rate.Limiter also fits.
type DialLimiter interface {
	Wait(ctx context.Context) error
}

var _ DialLimiter = (*Budget)(nil)

// ErrBudgetClosed is returned by Budget.Wait once the budget is closed.
var ErrBudgetClosed = errors.New("wsconn: dial budget closed")

// Budget defaults: 80 % of Binance's documented limit of 300 connection
// attempts per 5 minutes per IP (web-socket-streams.md, "WebSocket Limits").
const (
	DefaultBudgetLimit    = 240
	DefaultBudgetWindow   = 5 * time.Minute
	DefaultBudgetBurst    = 10
	DefaultBudgetInterval = DefaultBudgetWindow / (2 * DefaultBudgetLimit) // 625ms
)

// BudgetConfig describes a dial budget. The zero value of every field is
// the default: 240 attempts in any 5 minutes, 10 back to back, then one
// every 625 ms.
type BudgetConfig struct {
	// Limit is the most attempts in any Window, a hard bound: no interval
	// of length Window ever holds more than Limit attempts. Default 240.
	Limit int
	// Window is the length of the sliding window. Default 5 minutes.
	Window time.Duration
	// Burst is how many attempts may follow one another without waiting
	// once the budget has been idle. Default 10 (at most Limit).
	Burst int
	// Interval is the steady spacing of attempts once the burst is spent,
	// so that a mass disconnect spreads its redials instead of spending
	// the whole window's budget in its first second. Default
	// Window/(2×Limit): at that pace the window's budget lasts half the
	// window, and the sliding window only binds in a long storm.
	Interval time.Duration
	// Logger receives a line when the window's budget is spent and
	// attempts must wait for old ones to leave it, at most once per
	// Window. Nil: slog.Default() at the time of the line.
	Logger *slog.Logger
}

func (c *BudgetConfig) fill() error {
	if c.Limit == 0 {
		c.Limit = DefaultBudgetLimit
	}
	if c.Window == 0 {
		c.Window = DefaultBudgetWindow
	}
	if c.Burst == 0 {
		c.Burst = min(DefaultBudgetBurst, c.Limit)
	}
	if c.Interval == 0 && c.Limit > 0 && c.Window > 0 {
		c.Interval = max(c.Window/time.Duration(2*c.Limit), time.Nanosecond)
	}
	switch {
	case c.Limit < 0 || c.Limit > 1<<20:
		return fmt.Errorf("wsconn: budget Limit %d is outside 1..%d", c.Limit, 1<<20)
	case c.Window < 0:
		return fmt.Errorf("wsconn: budget Window %v must be positive", c.Window)
	case c.Burst < 0 || c.Burst > c.Limit:
		return fmt.Errorf("wsconn: budget Burst %d is outside 1..Limit (%d)", c.Burst, c.Limit)
	case c.Interval < 0:
		return fmt.Errorf("wsconn: budget Interval %v must be positive", c.Interval)
	}
	return nil
}

// ParseBudget reads a budget written as LIMIT/WINDOW, e.g. "240/5m" (a
// Go duration after the slash), with the default burst and pace for that
// limit and window.
func ParseBudget(s string) (BudgetConfig, error) {
	ls, ws, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return BudgetConfig{}, fmt.Errorf("wsconn: dial budget %q: want LIMIT/WINDOW, e.g. 240/5m", s)
	}
	limit, err := strconv.Atoi(strings.TrimSpace(ls))
	if err != nil || limit < 1 {
		return BudgetConfig{}, fmt.Errorf("wsconn: dial budget %q: limit %q is not a positive integer", s, ls)
	}
	window, err := time.ParseDuration(strings.TrimSpace(ws))
	if err != nil || window <= 0 {
		return BudgetConfig{}, fmt.Errorf("wsconn: dial budget %q: window %q is not a positive duration (e.g. 5m)", s, ws)
	}
	cfg := BudgetConfig{Limit: limit, Window: window}
	if err := cfg.fill(); err != nil {
		return BudgetConfig{}, fmt.Errorf("dial budget %q: %w", s, err)
	}
	return cfg, nil
}

// Budget is a process-wide budget of connection attempts: at most Limit in
// any sliding Window (a ring of the last Limit attempt times), paced by a
// token bucket of Burst tokens refilled one per Interval. Share one Budget
// between every session that counts against the same limit (Binance: every
// connection and reconnect from the IP, rotations included).
//
// Waiters are served in order of arrival. Wait allocates nothing when it
// need not wait, and reuses its timer when it must. A Budget starts no
// goroutine; Close wakes its waiters. Safe for concurrent use.
type Budget struct {
	cfg   BudgetConfig
	epoch time.Time
	done  chan struct{}

	mu       sync.Mutex
	closed   bool
	ring     []int64 // times of the last attempts, ns since epoch; oldest at head
	head, n  int
	tokens   float64 // of the pacing bucket, as of tokenAt
	tokenAt  int64
	queue    waiterList          // waiters in arrival order; the first one owns the next slot
	spentLog logthrottle.Limiter // the line that the window's budget is spent: once per Window

	granted func(at int64) // test hook, called under mu

	attempts, waits, waitNanos, canceled atomic.Int64
}

// NewBudget validates cfg and returns an open budget.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	return &Budget{
		cfg:      cfg,
		epoch:    time.Now(),
		done:     make(chan struct{}),
		ring:     make([]int64, cfg.Limit),
		tokens:   float64(cfg.Burst),
		spentLog: logthrottle.Limiter{Every: cfg.Window},
	}, nil
}

var defaultBudget = sync.OnceValue(func() *Budget {
	b, err := NewBudget(BudgetConfig{})
	if err != nil {
		panic(err)
	}
	return b
})

// DefaultBudget returns the process-wide budget with the default
// BudgetConfig, used by every session (and feed gateway) whose Dials is
// nil: one budget for every connection the process opens. Never Close it.
func DefaultBudget() *Budget { return defaultBudget() }

// Config returns the budget's configuration, defaults filled in.
func (b *Budget) Config() BudgetConfig { return b.cfg }

// now returns the time since the budget's epoch, from the monotonic clock.
func (b *Budget) now() int64 { return int64(time.Since(b.epoch)) }

// next returns the earliest time at which one more attempt may be made.
// Called with mu held.
func (b *Budget) next(now int64) int64 {
	at := now
	if b.n == b.cfg.Limit {
		// the oldest attempt must be more than Window ago
		at = max(at, b.ring[b.head]+int64(b.cfg.Window)+1)
	}
	if tok := b.tokensAt(at); tok < 1 {
		at += int64((1 - tok) * float64(b.cfg.Interval))
		at++ // float rounding: never early
	}
	return at
}

// tokensAt returns the pacing bucket's tokens at t. Called with mu held.
func (b *Budget) tokensAt(t int64) float64 {
	if t <= b.tokenAt {
		return b.tokens
	}
	return min(float64(b.cfg.Burst), b.tokens+float64(t-b.tokenAt)/float64(b.cfg.Interval))
}

// take records an attempt at now. Called with mu held.
func (b *Budget) take(now int64) {
	b.tokens = max(b.tokensAt(now)-1, 0)
	b.tokenAt = now
	if b.n == b.cfg.Limit {
		b.ring[b.head] = now
		b.head = (b.head + 1) % b.cfg.Limit
	} else {
		b.ring[(b.head+b.n)%b.cfg.Limit] = now
		b.n++
	}
	b.attempts.Add(1)
	if b.granted != nil {
		b.granted(now)
	}
}

// Wait blocks until one more attempt may be made, and counts it: the
// caller must then make the attempt. It returns ctx's error if ctx ends
// first, or ErrBudgetClosed once the budget is closed; nothing is counted
// then. Callers are served in order of arrival.
func (b *Budget) Wait(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrBudgetClosed
	}
	if err := ctx.Err(); err != nil {
		b.mu.Unlock()
		return err
	}
	now := b.now()
	if b.queue.first == nil && b.next(now) <= now {
		b.take(now)
		b.mu.Unlock()
		return nil
	}
	w := getWaiter()
	b.queue.push(w)
	first := b.queue.first == w
	b.mu.Unlock()
	b.waits.Add(1)
	start := now
	defer func() {
		b.waitNanos.Add(b.now() - start)
		putWaiter(w)
	}()

	for {
		if !first {
			// wait for the waiters ahead to be served
			select {
			case <-w.turn:
			case <-ctx.Done():
				b.leave(w)
				return ctx.Err()
			case <-b.done:
				b.leave(w)
				return ErrBudgetClosed
			}
			first = true
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			b.leave(w)
			return ErrBudgetClosed
		}
		now := b.now()
		at := b.next(now)
		if at <= now {
			b.take(now)
			b.queue.remove(w)
			if nx := b.queue.first; nx != nil {
				nx.signal()
			}
			b.mu.Unlock()
			return nil
		}
		b.logSpent(now, at)
		b.mu.Unlock()
		w.timer.Reset(time.Duration(at - now))
		select {
		case <-w.timer.C:
		case <-ctx.Done():
			w.timer.Stop()
			b.leave(w)
			return ctx.Err()
		case <-b.done:
			w.timer.Stop()
			b.leave(w)
			return ErrBudgetClosed
		}
	}
}

// logSpent logs, at most once per Window, that the window's budget is
// spent: the next attempt, at at, waits for the oldest to leave the window.
// Called with mu held.
func (b *Budget) logSpent(now, at int64) {
	if b.n < b.cfg.Limit || b.ring[b.head]+int64(b.cfg.Window) < now {
		return // the pace, not the window, makes it wait
	}
	if ok, _ := b.spentLog.AllowAt(now); !ok {
		return
	}
	log := b.cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Warn("dial budget spent: connection attempts wait", "limit", b.cfg.Limit, "window", b.cfg.Window,
		"next_in", time.Duration(at-now).Round(time.Millisecond), "waiting", b.queue.len)
}

// leave takes w out of the queue without an attempt; when w was first, the
// next waiter takes its place.
func (b *Budget) leave(w *waiter) {
	b.canceled.Add(1)
	b.mu.Lock()
	wasFirst := b.queue.first == w
	b.queue.remove(w)
	if nx := b.queue.first; wasFirst && nx != nil {
		nx.signal()
	}
	b.mu.Unlock()
}

// Close wakes every waiter with ErrBudgetClosed; later Waits fail at once.
// Safe to call more than once. A Budget holds no goroutine or descriptor:
// Close is only needed to release waiters.
func (b *Budget) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.done)
	}
	return nil
}

// BudgetStats is a snapshot of a budget.
type BudgetStats struct {
	Limit    int           // attempts allowed in any Window
	Window   time.Duration // length of the sliding window
	Used     int           // attempts in the last Window
	Attempts int64         // attempts granted since NewBudget
	Waits    int64         // calls of Wait that had to wait
	WaitTime time.Duration // time spent waiting, over all calls
	Waiting  int           // calls waiting now
	Canceled int64         // waits that ended without an attempt (context ended, Close)
}

// Stats returns the budget's counters and its use of the current window.
func (b *Budget) Stats() BudgetStats {
	b.mu.Lock()
	now := b.now()
	used := 0
	for i := range b.n {
		if now-b.ring[(b.head+i)%b.cfg.Limit] <= int64(b.cfg.Window) {
			used++
		}
	}
	waiting := b.queue.len
	b.mu.Unlock()
	return BudgetStats{
		Limit:    b.cfg.Limit,
		Window:   b.cfg.Window,
		Used:     used,
		Attempts: b.attempts.Load(),
		Waits:    b.waits.Load(),
		WaitTime: time.Duration(b.waitNanos.Load()),
		Waiting:  waiting,
		Canceled: b.canceled.Load(),
	}
}

// waiter is one call of Wait in the queue.
type waiter struct {
	turn       chan struct{} // signalled when the waiter becomes first
	timer      *time.Timer
	prev, next *waiter
}

func (w *waiter) signal() {
	select {
	case w.turn <- struct{}{}:
	default:
	}
}

var waiters = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &waiter{turn: make(chan struct{}, 1), timer: t}
}}

func getWaiter() *waiter { return waiters.Get().(*waiter) }

func putWaiter(w *waiter) {
	w.timer.Stop()
	select {
	case <-w.turn:
	default:
	}
	w.prev, w.next = nil, nil
	waiters.Put(w)
}

// waiterList is a doubly linked FIFO of waiters.
type waiterList struct {
	first, last *waiter
	len         int
}

func (l *waiterList) push(w *waiter) {
	w.prev, w.next = l.last, nil
	if l.last != nil {
		l.last.next = w
	} else {
		l.first = w
	}
	l.last = w
	l.len++
}

// remove takes w out; removing a waiter that is not in the list (already
// removed) does nothing.
func (l *waiterList) remove(w *waiter) {
	if w.prev == nil && l.first != w {
		return
	}
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		l.first = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		l.last = w.prev
	}
	w.prev, w.next = nil, nil
	l.len--
}
