package wsconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
)

// conn is one WebSocket connection of a session: a reader goroutine and a
// keepalive goroutine, both ended by fail.
type conn struct {
	s         *Session
	id        uint64
	ws        *websocket.Conn
	opened    time.Time
	msgs      *rate.Limiter // messages we send: subscriptions and pings
	lastFrame atomic.Int64  // ns, wall clock
	appPing   atomic.Int64  // ns: the oldest application-level ping not answered; 0: none
	firstData chan struct{} // closed on the first data frame
	gotData   bool          // reader only
	// inline is the frame the reader is delivering itself (reader only);
	// inlineSince is when that began (ns, wall clock), 0 when none, for
	// keepalive's watch
	inline      Frame
	inlineSince atomic.Int64
	// reader only: inlineBusy is the time (ns) its frames spent in the
	// handler since inlineFrom; frames it reads before queueUntil go
	// through the queue, the handler having been found slow
	inlineBusy, inlineFrom, queueUntil int64
	done                               chan struct{} // closed when both goroutines have ended
	err                                error         // why it ended; read after done

	wmu sync.Mutex // serializes data messages written after connect (Session.Send)

	failOnce sync.Once
	reason   error // set by fail before the socket is closed
	stop     chan struct{}

	// A replacement connection holds its frames back until the connection
	// it replaces has delivered its last one, so the consumer sees one
	// ordered sequence: the old connection's, then the new one's (whose
	// first frames may repeat the old one's last: dedupe on event IDs).
	holdMu  sync.Mutex
	holding bool
	held    []Frame
}

// connect waits for the dial budget, dials, starts the connection's
// goroutines and sends the subscribe messages, paced. With hold, frames are
// held back until release.
func (s *Session) connect(hold bool) (*conn, error) {
	waitFrom := time.Now()
	err := s.cfg.Dials.Wait(s.ctx)
	s.stats.dialWait.Add(int64(time.Since(waitFrom)))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	target := s.url()
	ws, resp, err := s.dialer.DialContext(ctx, target, s.cfg.Header)
	if err != nil {
		de := &DialError{URL: target, Err: err}
		if resp != nil {
			de.Status = resp.StatusCode
			if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
				de.RetryAfter = time.Duration(secs) * time.Second
			}
			resp.Body.Close()
		}
		var certErr *tls.CertificateVerificationError
		var unknownCA x509.UnknownAuthorityError
		var hostErr x509.HostnameError
		var alert tls.AlertError
		var recErr tls.RecordHeaderError
		de.TLS = errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) ||
			errors.As(err, &alert) || errors.As(err, &recErr)
		return nil, de
	}
	ws.SetReadLimit(s.cfg.ReadLimit)
	c := &conn{
		s:         s,
		id:        s.connID.Add(1),
		ws:        ws,
		opened:    time.Now(),
		msgs:      rate.NewLimiter(rate.Limit(s.cfg.MessageRate), 1),
		firstData: make(chan struct{}),
		done:      make(chan struct{}),
		stop:      make(chan struct{}),
		holding:   hold,
	}
	c.lastFrame.Store(c.opened.UnixNano())
	ws.SetPingHandler(func(payload string) error {
		c.lastFrame.Store(time.Now().UnixNano())
		s.stats.pings.Add(1)
		// answer at once, from the reader, whatever the consumer is doing
		err := ws.WriteControl(websocket.PongMessage, []byte(payload), time.Now().Add(5*time.Second))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			return err
		}
		return nil
	})
	ws.SetPongHandler(func(string) error {
		c.lastFrame.Store(time.Now().UnixNano())
		s.stats.pongs.Add(1)
		return nil
	})
	var wg sync.WaitGroup
	wg.Add(2)
	s.connWG.Add(1)
	go func() {
		defer wg.Done()
		c.read()
	}()
	go func() {
		defer wg.Done()
		c.keepalive()
	}()
	go func() {
		defer s.connWG.Done()
		wg.Wait()
		close(c.done)
	}()

	c.wmu.Lock() // Send waits for the subscriptions to be sent
	defer c.wmu.Unlock()
	if !hold {
		s.live.Store(c)
	}
	if s.cfg.Subscribe != nil {
		for _, m := range s.cfg.Subscribe() {
			err := c.msgs.Wait(s.ctx)
			if err == nil && s.cfg.Subscribes != nil {
				err = s.cfg.Subscribes.Wait(s.ctx)
			}
			if err != nil {
				c.fail(ErrClosed)
				<-c.done
				return nil, err
			}
			if err := ws.WriteMessage(websocket.TextMessage, m); err != nil {
				c.fail(err)
				<-c.done
				return nil, &DialError{URL: target, Err: err}
			}
		}
	}
	s.stats.connects.Add(1)
	if !hold {
		s.q.push(Frame{Kind: Connected, Conn: c.id, Recv: time.Now().UnixNano()})
	}
	resumed := false
	if tc, ok := ws.NetConn().(*tls.Conn); ok {
		resumed = tc.ConnectionState().DidResume
		if resumed {
			s.stats.resumed.Add(1)
		}
	}
	s.log.Info("connected", "conn", c.id, "resumed", resumed)
	return c, nil
}

// fail ends the connection for reason: the socket is closed, which ends
// the reader; the keepalive goroutine stops on c.stop.
func (c *conn) fail(reason error) {
	c.failOnce.Do(func() {
		c.reason = reason
		close(c.stop)
		if errors.Is(reason, ErrRotated) || errors.Is(reason, ErrServerShutdown) || errors.Is(reason, ErrClosed) {
			// a planned close: say goodbye properly
			_ = c.ws.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(CloseNormal, ""), time.Now().Add(time.Second))
		}
		c.ws.Close()
	})
}

// A reader that delivers frames itself counts the time they spend in the
// handler: when that was over half of the time since it last looked (it
// looks once inlineWindow has passed, after a call), the handler cannot
// keep up with the frames as they come (or one call was long), and the
// frames the reader reads in the next inlineRest go through the queue:
// the reader reads ahead, answering the server's pings, and the queue's
// bound and the Slow policy apply as they do to any consumer falling
// behind.
const (
	inlineWindow = 100 * time.Millisecond
	inlineRest   = time.Second
)

// keepalive sends our pings and watches for silence.
func (c *conn) keepalive() {
	cfg := &c.s.cfg
	ping := time.NewTicker(cfg.PingInterval)
	defer ping.Stop()
	every := min(cfg.StaleTimeout/5, time.Second)
	if cfg.Slow == Block {
		every = min(every, cfg.BlockTimeout/5)
	}
	watch := time.NewTicker(every)
	defer watch.Stop()
	var appPing <-chan time.Time
	if ka := cfg.Keepalive; ka.Interval > 0 {
		t := time.NewTicker(ka.Interval)
		defer t.Stop()
		appPing = t.C
		if ka.Timeout > 0 {
			watch.Reset(min(every, ka.Timeout/5))
		}
	}
	var seq int64
	for {
		select {
		case <-c.stop:
			return
		case now := <-appPing:
			if err := c.sendAppPing(now); err != nil {
				c.fail(err)
				return
			}
		case <-ping.C:
			if !c.msgs.Allow() {
				continue // the message budget is spent: skip this ping
			}
			seq++
			if err := c.ws.WriteControl(websocket.PingMessage, strconv.AppendInt(nil, seq, 10), time.Now().Add(5*time.Second)); err != nil {
				c.fail(err)
				return
			}
		case now := <-watch.C:
			if since := c.inlineSince.Load(); since != 0 {
				// the reader is in the handler: the silence is ours
				if now.UnixNano()-since > int64(cfg.BlockTimeout) {
					c.s.stats.slowDisconnects.Add(1)
					c.fail(ErrTooSlow)
					return
				}
				continue
			}
			if silent := now.UnixNano() - c.lastFrame.Load(); silent > int64(cfg.StaleTimeout) {
				c.s.stats.stale.Add(1)
				c.fail(ErrStale)
				return
			}
			if t := cfg.Keepalive.Timeout; t > 0 {
				if sent := c.appPing.Load(); sent != 0 && now.UnixNano()-sent > int64(t) {
					c.s.stats.stale.Add(1)
					c.fail(fmt.Errorf("%w: no answer to the application-level ping in %v", ErrStale, t))
					return
				}
			}
		}
	}
}

// sendAppPing sends the venue's application-level ping, as a data message
// after the subscriptions (it waits for them) and within the message rate:
// a ping the rate has no room for is skipped.
func (c *conn) sendAppPing(now time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.stop:
		return nil
	default:
	}
	if !c.msgs.Allow() {
		return nil
	}
	// outstanding before it is written: an answer may be read before the
	// write returns
	c.appPing.CompareAndSwap(0, now.UnixNano())
	if err := c.ws.WriteMessage(websocket.TextMessage, c.s.cfg.Keepalive.Message()); err != nil {
		return err
	}
	c.s.stats.appPings.Add(1)
	return nil
}

// read reads frames into pooled buffers and queues them for the consumer.
func (c *conn) read() {
	s := c.s
	var err error
	defer func() {
		c.fail(err)
		<-c.stop
		if c.reason != nil {
			err = c.reason
		}
		c.err = err
		s.stats.disconnect(err)
		s.q.push(Frame{Kind: Disconnected, Conn: c.id, Err: err, Recv: time.Now().UnixNano()})
		lived := time.Since(c.opened).Round(time.Millisecond)
		var ce *CloseError
		if errors.As(err, &ce) {
			s.stats.closeCode(ce.Code)
			s.log.Info("disconnected", "conn", c.id, "reason", "close frame", "code", ce.Code, "text", ce.Text, "lived", lived)
		} else {
			s.log.Info("disconnected", "conn", c.id, "reason", err, "lived", lived)
		}
	}()
	for {
		var typ int
		var r io.Reader
		typ, r, err = c.ws.NextReader()
		if err != nil {
			err = classify(err)
			return
		}
		now := time.Now().UnixNano()
		c.lastFrame.Store(now)
		bp := getBuffer()
		buf := *bp
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			var n int
			n, err = r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				err = nil
				break
			}
			if err != nil {
				putBuffer(bp)
				err = classify(err)
				return
			}
		}
		*bp = buf
		if s.cfg.Keepalive.IsReply != nil && typ == websocket.TextMessage && s.cfg.Keepalive.IsReply(buf) {
			// the answer to our application-level ping: no data
			s.stats.appPongs.Add(1)
			c.appPing.Store(0)
			putBuffer(bp)
			continue
		}
		s.stats.frames.Add(1)
		s.stats.bytes.Add(int64(len(buf)))
		if !c.gotData {
			c.gotData = true
			close(c.firstData)
		}
		if s.cfg.IsShutdown != nil && s.cfg.IsShutdown(buf) {
			signal(s.rotateNow)
		}
		f := Frame{Kind: Data, Data: buf, Binary: typ == websocket.BinaryMessage, Recv: now, Conn: c.id, buf: bp}
		if c.hold(f) {
			continue
		}
		if s.cfg.Slow == Block && now > c.queueUntil && s.deliverInline(c, f) {
			continue
		}
		if s.q.tryPush(f) {
			continue
		}
		if s.cfg.Slow == Drop {
			s.stats.dropped.Add(1)
			s.q.drop()
			putBuffer(bp)
			continue
		}
		if !s.q.pushWait(f, s.cfg.BlockTimeout, c.stop) {
			s.stats.slowDisconnects.Add(1)
			putBuffer(bp)
			err = ErrTooSlow
			return
		}
	}
}

// classify turns gorilla's errors into this package's.
func classify(err error) error {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce) && ce.Code != CloseAbnormal:
		return &CloseError{Code: ce.Code, Text: ce.Text}
	case errors.Is(err, websocket.ErrReadLimit):
		return ErrFrameTooLarge
	}
	return err
}

// hold keeps f back while the connection is a replacement waiting for its
// turn. It reports whether it took f.
func (c *conn) hold(f Frame) bool {
	c.holdMu.Lock()
	defer c.holdMu.Unlock()
	if !c.holding {
		return false
	}
	if len(c.held) >= c.s.cfg.QueueFrames {
		c.s.stats.dropped.Add(1)
		c.s.q.drop()
		putBuffer(f.buf)
		return true
	}
	c.held = append(c.held, f)
	return true
}

// release hands the held frames to the queue, after a Connected frame, and
// lets later frames through directly.
func (c *conn) release() {
	c.holdMu.Lock()
	defer c.holdMu.Unlock()
	c.s.q.push(Frame{Kind: Connected, Conn: c.id, Recv: time.Now().UnixNano()})
	for _, f := range c.held {
		if !c.s.q.pushWait(f, c.s.cfg.BlockTimeout, c.stop) {
			c.s.stats.dropped.Add(1)
			c.s.q.drop()
			putBuffer(f.buf)
		}
	}
	c.held = nil
	c.holding = false
}
