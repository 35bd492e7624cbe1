// Package wsconn keeps one WebSocket-over-TLS session alive for weeks: it
// dials with a shared TLS configuration (session resumption on reconnect),
// answers pings, sends its own, declares a silent connection stale,
// reconnects with capped exponential backoff and full jitter, resubscribes,
// rotates to a fresh connection before the server's lifetime limit
// (make-before-break), and hands frames to one consumer through a bounded
// queue with an explicit policy for a slow consumer.
//
// It knows nothing of any venue: subscribe messages and the shutdown
// announcement are given by the caller.
package wsconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/feedkeeper/feedkeeper/internal/backoff"
	"github.com/feedkeeper/feedkeeper/internal/clienttls"
)

// Status is the state of a session.
type Status int32

const (
	StatusConnecting Status = iota // no connection yet, or waiting to reconnect
	StatusConnected                // a connection is up and subscribed
	StatusRotating                 // a replacement connection is being opened
	StatusClosed                   // Close was called
)

func (s Status) String() string {
	return [...]string{"connecting", "connected", "rotating", "closed"}[s]
}

// Session is one resilient WebSocket session. Open starts it; Close stops
// it. Frames reach the handler one at a time, in order per connection.
//
// With the Block policy a frame that finds nothing waiting before it is
// handed to the handler by the connection's reader itself, without a
// goroutine switch (the dispatcher wakes, and the runtime with it, only
// when frames wait: while the handler is busy, or during a rotation).
// While the handler runs that connection is not read: when the handler
// took over half of the reader's time (over 100 ms or more), it cannot keep
// up, and the reader's frames of the next second are queued, the reader
// reading ahead and the queue's bounds and Slow policy applying; a call
// longer than BlockTimeout ends the connection as a queue full that long
// would.
type Session struct {
	cfg     Config
	dialer  *websocket.Dialer
	q       *queue
	handler func(*Frame)
	log     *slog.Logger
	// deliverMu is held while a frame is in the handler: by the dispatcher
	// for a batch, by a reader for a frame it delivers itself
	deliverMu sync.Mutex

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup // supervisor and dispatcher
	connWG    sync.WaitGroup // every connection's goroutines
	rotateNow chan struct{}
	replace   chan error    // a replacement asked for by Replace
	replacing atomic.Bool   // from Replace until the replacement is done or moot
	superDone chan struct{} // closed when supervise has returned, its connections gone
	closeOnce sync.Once

	status atomic.Int32
	connID atomic.Uint64
	live   atomic.Pointer[conn] // the connection Send writes to; nil while down
	urlIdx atomic.Int32         // 0: Config.URL; i: Config.AltURLs[i-1]
	stats  counters
}

// Open validates cfg and starts the session: it connects in the background
// and calls handler for every frame until Close. The handler must not keep
// Frame.Data after it returns, and must not call Close.
func Open(cfg Config, handler func(*Frame)) (*Session, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if handler == nil {
		return nil, errors.New("wsconn: nil handler")
	}
	tlsCfg := cfg.TLS
	if tlsCfg == nil {
		tlsCfg = DefaultTLS()
	}
	s := &Session{
		cfg: cfg,
		dialer: &websocket.Dialer{
			Proxy:            cfg.Proxy,
			TLSClientConfig:  tlsCfg,
			HandshakeTimeout: cfg.HandshakeTimeout,
			ReadBufferSize:   4096,
			WriteBufferPool:  writeBuffers,
		},
		q:         newQueue(cfg.QueueFrames, cfg.QueueBytes),
		handler:   handler,
		log:       cfg.Logger.With("session", cfg.Name),
		rotateNow: make(chan struct{}, 1),
		replace:   make(chan error, 1),
		superDone: make(chan struct{}),
	}
	s.stats.closeCodes = make(map[int]int64)
	s.stats.disconnects = make(map[string]int64)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		defer close(s.superDone)
		s.supervise()
	}()
	go func() {
		defer s.wg.Done()
		s.dispatch()
	}()
	return s, nil
}

var writeBuffers = &sync.Pool{}

// DefaultTLS is the TLS configuration used when Config.TLS is nil: the
// process-wide one, also httpx's default (system roots, TLS 1.2 or newer,
// one session cache). Do not modify it; Clone it for a variant.
func DefaultTLS() *tls.Config { return clienttls.Default() }

// Close stops the session: every connection is closed, the frames already
// queued are handed to the handler, and every goroutine has ended when it
// returns. It is safe to call more than once.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.status.Store(int32(StatusClosed))
		s.cancel()
	})
	s.wg.Wait()
	return nil
}

// Send writes one text message on the live connection, within the
// connection's message rate (shared with pings and subscriptions) and the
// Subscribes limiter: a request such as a SUBSCRIBE sent again after the
// server refused it. It fails with ErrNotConnected while no connection is
// up (every connect sends Config.Subscribe anyway), and returns when ctx
// or the session ends.
func (s *Session) Send(ctx context.Context, msg []byte) error {
	c := s.live.Load()
	if c == nil {
		return ErrNotConnected
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	if err := c.msgs.Wait(ctx); err != nil {
		return err
	}
	if s.cfg.Subscribes != nil {
		if err := s.cfg.Subscribes.Wait(ctx); err != nil {
			return err
		}
	}
	select {
	case <-c.stop:
		return ErrNotConnected
	default:
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, msg); err != nil {
		c.fail(err)
		return err
	}
	return nil
}

// Replace asks for the live connection to be replaced by a fresh one, as a
// rotation does (make-before-break: the new connection subscribes, and the
// old one is closed once the new one delivers data; the consumer gets the
// old connection's frames, then the new one's, which may repeat some).
// Use it for a connection that is up but not good enough, such as one
// whose data arrives later and later: what the server had not yet sent on
// the old one when it closes is not sent again, so the consumer's sequence
// checks find it missing and recover it. It does not
// block: it returns false, and does nothing, when no connection is up or a
// replacement is already asked for or under way. The old connection's end
// counts as ReasonReplaced, with reason in the log line.
func (s *Session) Replace(reason string) bool {
	if s.live.Load() == nil || s.Status() != StatusConnected || !s.replacing.CompareAndSwap(false, true) {
		return false
	}
	s.replace <- fmt.Errorf("%w: %s", ErrReplaced, reason) // room: one request at a time
	return true
}

// Status returns the session's state.
func (s *Session) Status() Status { return Status(s.status.Load()) }

// supervise keeps one connection up: connect, wait for it to end or for a
// rotation, reconnect with backoff.
func (s *Session) supervise() {
	defer func() {
		s.connWG.Wait()
		s.q.close()
	}()
	var cur *conn
	defer func() {
		if cur != nil {
			cur.fail(ErrClosed)
		}
	}()
	attempt := 0
	for s.ctx.Err() == nil {
		if cur == nil {
			s.setStatus(StatusConnecting)
			c, err := s.connect(false)
			if err != nil {
				if s.ctx.Err() != nil {
					return
				}
				s.stats.dialErrors.Add(1)
				d := s.backoff(attempt)
				attempt++
				if de := (*DialError)(nil); errors.As(err, &de) && de.Limited() {
					// too many attempts from this IP: wait what the server
					// says, and never less than the longest backoff
					s.stats.limitedDials.Add(1)
					d = max(d, de.RetryAfter, s.cfg.BackoffMax)
					attempt = max(attempt, 30)
				}
				s.log.Warn("connect failed", "err", err, "retry_in", d.Round(time.Millisecond))
				if !s.sleep(d) {
					return
				}
				continue
			}
			cur = c
			s.live.Store(cur)
			s.setStatus(StatusConnected)
		}

		var rotate <-chan time.Time
		if s.cfg.Lifetime > 0 {
			rotate = time.After(time.Until(cur.opened.Add(s.cfg.Lifetime - s.cfg.RotateBefore)))
		}
		select {
		case <-s.ctx.Done():
			return
		case <-cur.done:
			lived := time.Since(cur.opened)
			err := cur.err
			cur = nil
			s.live.Store(nil)
			select {
			case <-s.replace: // the connection it was for is gone already
				s.replacing.Store(false)
			default:
			}
			if lived >= s.cfg.StableAfter {
				attempt = 0
			}
			d := s.backoff(attempt)
			attempt++
			var ce *CloseError
			if errors.As(err, &ce) && ce.Policy() {
				// the server asked us to slow down: at once, and from now on
				attempt++
				d = max(d, s.backoff(attempt), s.cfg.PolicyBackoff)
			} else if errors.As(err, &ce) && (ce.Code == CloseNormal || ce.Code == CloseGoingAway) && lived >= s.cfg.StableAfter {
				d = backoff.Full(s.cfg.BackoffMin) // planned close of a healthy connection: back at once
			}
			s.stats.reconnects.Add(1)
			s.log.Info("reconnecting", "reason", err, "lived", lived.Round(time.Millisecond), "retry_in", d.Round(time.Millisecond))
			if !s.sleep(d) {
				return
			}
		case <-rotate:
			cur = s.rotate(cur, ErrRotated)
			s.live.Store(cur)
		case <-s.rotateNow:
			s.stats.shutdowns.Add(1)
			cur = s.rotate(cur, ErrServerShutdown)
			s.live.Store(cur)
		case why := <-s.replace:
			if n := len(s.cfg.AltURLs); n > 0 {
				next := (s.urlIdx.Load() + 1) % int32(n+1)
				s.urlIdx.Store(next)
				s.log.Info("replacing the connection on another endpoint", "url", s.url())
			}
			cur = s.rotate(cur, why)
			s.live.Store(cur)
			s.replacing.Store(false)
		}
	}
}

// rotate opens a replacement for old (make), waits until it delivers data
// or Overlap passes, then closes old (break). On failure old is kept while
// it lives.
func (s *Session) rotate(old *conn, why error) *conn {
	s.setStatus(StatusRotating)
	s.log.Info("rotating", "conn", old.id, "reason", why)
	next, err := s.connect(true)
	if err != nil {
		s.stats.dialErrors.Add(1)
		s.log.Warn("rotation: connect failed, keeping the old connection", "conn", old.id, "err", err)
		s.setStatus(StatusConnected)
		s.sleep(s.backoff(1))
		return old
	}
	t := time.NewTimer(s.cfg.Overlap)
	defer t.Stop()
	select {
	case <-next.firstData:
		// what the new connection got first may still be on its way to the
		// old one: give it a moment
		g := min(time.Second, s.cfg.Overlap/5)
		if s.cfg.RotateBefore > 0 {
			g = min(g, s.cfg.RotateBefore/4)
		}
		grace := time.NewTimer(g)
		select {
		case <-grace.C:
		case <-old.done:
		case <-s.ctx.Done():
		}
		grace.Stop()
	case <-t.C:
	case <-old.done:
	case <-next.done:
	case <-s.ctx.Done():
	}
	old.fail(why)
	<-old.done
	next.release()
	s.stats.rotations.Add(1)
	s.setStatus(StatusConnected)
	return next
}

func (s *Session) setStatus(st Status) {
	if s.ctx.Err() == nil {
		s.status.Store(int32(st))
	}
}

// backoff is the delay before attempt n: full jitter over a capped
// exponential.
func (s *Session) backoff(n int) time.Duration {
	return backoff.Full(backoff.Exp(s.cfg.BackoffMin, s.cfg.BackoffMax, n))
}

// sleep waits d or until the session closes; false means it closed.
func (s *Session) sleep(d time.Duration) bool { return backoff.Sleep(s.ctx, d) }

// dispatch hands queued frames to the handler until the queue closes and
// is empty.
func (s *Session) dispatch() {
	var batch []Frame
	for {
		select {
		case <-s.q.ready:
		case <-s.ctx.Done():
			// deliver what is queued once the connections are gone
			<-s.superDone
			for {
				s.deliverMu.Lock()
				batch = s.q.popAll(batch[:0])
				s.deliver(batch)
				s.deliverMu.Unlock()
				if len(batch) == 0 {
					return
				}
			}
		}
		s.deliverMu.Lock()
		batch = s.q.popAll(batch[:0])
		s.deliver(batch)
		s.deliverMu.Unlock()
	}
}

// deliverInline hands f to the handler on the calling reader's goroutine
// of connection c when no frame is waiting and nobody is delivering; it
// reports whether it did (otherwise f is for the queue). Frames queued
// before f, of any connection, have been delivered when it runs: the
// dispatcher pops and delivers under deliverMu.
func (s *Session) deliverInline(c *conn, f Frame) bool {
	if !s.deliverMu.TryLock() {
		return false
	}
	if !s.q.idle() {
		s.deliverMu.Unlock()
		return false
	}
	s.stats.direct.Add(1)
	c.inlineSince.Store(f.Recv)
	c.inline = f // a field, not a local: the handler's pointer would move it to the heap
	s.handler(&c.inline)
	c.inline = Frame{}
	c.inlineSince.Store(0)
	s.deliverMu.Unlock()
	putBuffer(f.buf)
	done := time.Now().UnixNano()
	c.inlineBusy += done - f.Recv
	if span := done - c.inlineFrom; span >= int64(inlineWindow) {
		if 2*c.inlineBusy > span {
			c.queueUntil = done + int64(inlineRest)
		}
		c.inlineFrom, c.inlineBusy = done, 0
	}
	return true
}

func (s *Session) deliver(batch []Frame) {
	for i := range batch {
		f := &batch[i]
		s.handler(f)
		if f.Kind == Data {
			putBuffer(f.buf)
		}
		*f = Frame{}
	}
}

// url is the endpoint connections dial now.
func (s *Session) url() string {
	if i := s.urlIdx.Load(); i > 0 && int(i) <= len(s.cfg.AltURLs) {
		return s.cfg.AltURLs[i-1]
	}
	return s.cfg.URL
}
