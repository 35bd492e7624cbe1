package sim

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

var errTooManyStreams = errors.New("too many streams")

// outFrame is a control frame or a response waiting for the writer.
type outFrame struct {
	op      ws.OpCode
	payload []byte
}

// wsConn is one client WebSocket connection. The reader runs in the
// goroutine of the HTTP handler that upgraded it; the writer is the only
// goroutine that writes to the socket; the watch keeps the connection's
// clock and decides its faults (watchLoop). All three stop when ctx ends.
type wsConn struct {
	id     uint64
	srv    *Server
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	remote string
	path   string
	micros bool
	opened time.Time

	combined atomic.Bool
	subs     []string // guarded by srv.hub.mu

	ctx    context.Context
	cancel context.CancelFunc

	mu           sync.Mutex
	pending      []*Message
	ctrl         []outFrame
	closeCode    int // a close frame to send, then end the connection
	closeReason  string
	closeAsked   time.Time // when a close frame was asked for
	pingPayload  []byte
	pingSent     time.Time
	stallUntil   time.Time
	noPongUntil  time.Time
	shutdownAt   time.Time
	throttle     throttleState
	endReason    string
	closeSent    bool          // the writer has sent its close frame
	closeWritten chan struct{} // closed when it has
	notify       chan struct{}
	overflowOnce sync.Once

	stats connStats

	// closeAfterReply: the request being answered named a malformed
	// stream; the connection ends after the reply. Read goroutine only.
	closeAfterReply bool

	// fe is the front-end on a listener of its own the connection came
	// to (nil on spot): its limits and hub apply.
	fe *frontend
	// usdm is the front-end of a USD-M connection (nil on spot), route
	// the route it connected to.
	usdm  *USDM
	route usdmRoute

	// bybit is the front-end of a Bybit connection (nil otherwise), by
	// its state there.
	bybit *Bybit
	by    *bybitConn
	// okx is the OKX side of an OKX connection (nil on the others).
	okx *okxConn
	// cb is the Coinbase side of a Coinbase connection (nil on the others).
	cb *cbConn
}

// connStats counts what happened on one connection. Per-stream figures are
// kept by the writer and read under statsMu.
type connStats struct {
	sent, bytes, faultSkipped, faultDuplicated, faultReordered atomic.Int64
	stallDiscarded, pingsSent, pongsReceived, requests         atomic.Int64
	throttled                                                  atomic.Int64
	statsMu                                                    sync.Mutex
	streams                                                    map[string]*StreamStats
}

// StreamStats is what one connection was sent of one stream.
type StreamStats struct {
	Sent    int64 `json:"sent"`
	FirstID int64 `json:"firstId"`
	LastID  int64 `json:"lastId"`
	Skipped int64 `json:"skipped"` // left out by a fault (depth-drop, trade-gap)
}

// ConnStats describes one open connection (ground truth for tests).
type ConnStats struct {
	ID              uint64                 `json:"id"`
	Remote          string                 `json:"remote"`
	Path            string                 `json:"path"`
	Opened          time.Time              `json:"opened"`
	Combined        bool                   `json:"combined"`
	Subscriptions   []string               `json:"subscriptions"`
	Sent            int64                  `json:"sent"`
	Bytes           int64                  `json:"bytes"`
	FaultSkipped    int64                  `json:"faultSkipped"`
	FaultDuplicated int64                  `json:"faultDuplicated"`
	FaultReordered  int64                  `json:"faultReordered"`
	StallDiscarded  int64                  `json:"stallDiscarded"`
	Throttled       int64                  `json:"throttled"` // bytes written under the throttle fault
	PingsSent       int64                  `json:"pingsSent"`
	PongsReceived   int64                  `json:"pongsReceived"`
	Requests        int64                  `json:"requests"`
	Streams         map[string]StreamStats `json:"streams"`
}

func (c *wsConn) has(stream string) bool { return contains(c.subs, stream) }

// enqueue queues m for the writer. A connection whose queue is full is too
// slow: it is closed, as the real service does with clients that cannot
// keep up.
func (c *wsConn) enqueue(m *Message) {
	c.mu.Lock()
	if len(c.pending) >= c.srv.cfg.SendQueue {
		c.mu.Unlock()
		c.overflowOnce.Do(func() { c.end(1008, "Client too slow", "send queue full") })
		return
	}
	c.pending = append(c.pending, m)
	wake := len(c.pending) == 1
	c.mu.Unlock()
	if wake {
		c.wake()
	}
}

func (c *wsConn) wake() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *wsConn) sendFrame(op ws.OpCode, payload []byte) {
	c.mu.Lock()
	c.ctrl = append(c.ctrl, outFrame{op: op, payload: payload})
	c.mu.Unlock()
	c.wake()
}

// end asks the writer to send a close frame with code and reason and then
// to close the connection; code 0 closes the TCP connection at once with
// no close frame, from the calling goroutine, whatever the writer is
// doing. Only the first call counts.
func (c *wsConn) end(code int, reason, why string) {
	c.mu.Lock()
	first := c.endReason == ""
	if first {
		c.endReason = why
		if code != 0 {
			c.closeCode, c.closeReason = code, reason
			c.closeAsked = time.Now()
		}
	}
	c.mu.Unlock()
	if first && code == 0 {
		c.abort()
		return
	}
	c.wake()
}

// abort closes the TCP connection with a reset and no close frame. Any
// goroutine may call it: a write blocked on the socket returns.
func (c *wsConn) abort() {
	nc := c.nc
	if tc, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = tc.NetConn()
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	nc.Close()
	c.cancel()
}

// serve runs the connection until it ends: the writer and the watch in
// goroutines of their own, the reader in the caller's.
func (c *wsConn) serve() {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		c.writeLoop()
		c.nc.Close() // unblocks the reader
	}()
	go func() {
		defer wg.Done()
		c.watchLoop()
	}()
	c.readLoop()
	c.cancel()
	wg.Wait()
}

// closeWriteTimeout is how long a close frame may wait for the writer (a
// socket that does not drain) before the connection is dropped instead.
const closeWriteTimeout = 10 * time.Second

// closeGrace is how long the connection waits for the client's close frame
// after sending its own, before it hangs up.
const closeGrace = time.Second

// watchLoop keeps the connection's clock: pings, the pong timeout, the
// lifetime, the serverShutdown delay, the close handshake's deadlines and
// the connection faults. It never writes to the socket, so it keeps time
// while the writer is blocked in a write to a client that does not read
// (a blackholed or half-open link, a full TCP window): what needs a frame
// is queued for the writer, and what ends the connection abruptly closes
// the socket from here, which also ends a blocked write.
//
// When the writer decided the connection faults itself, a blocked writer
// decided none until its write returned, and under a blackhole it
// returned only with the error of the client's reset: the time a link
// was impaired, up to minutes per connection, had no faults at all, and
// a drop, a lifetime or a pong timeout did not end the connection. Two
// 4-minute soaks through 10 s and 70 s blackholes, with the send buffer
// a lossy link leaves (16 KiB), counted 72 connection faults (17 stalls)
// where p times the connection-seconds expected 121 (23); with the watch,
// 109 (21 stalls) of 116 (22).
func (c *wsConn) watchLoop() {
	cfg := c.conf()
	ping := time.NewTicker(cfg.PingInterval)
	defer ping.Stop()
	check := time.NewTicker(connCheckEvery)
	defer check.Stop()
	lifetime := time.NewTimer(cfg.MaxLifetime)
	defer lifetime.Stop()
	sched := &connSchedule{start: c.opened, next: make(map[uint64]time.Time), rng: c.srv.faults.rng(c.id), venue: c.venue()}
	closeWritten := c.closeWritten
	var hangUp <-chan time.Time
	for {
		select {
		case <-c.ctx.Done():
			return
		case now := <-ping.C:
			c.mu.Lock()
			stalled := now.Before(c.stallUntil)
			sent := !stalled && c.pingPayload == nil
			if sent {
				c.pingPayload = strconv.AppendInt(nil, now.UnixMilli(), 10)
				c.pingSent = now
				c.ctrl = append(c.ctrl, outFrame{op: ws.OpPing, payload: c.pingPayload})
				c.stats.pingsSent.Add(1)
			}
			c.mu.Unlock()
			if sent {
				c.wake()
			}
		case now := <-check.C:
			c.mu.Lock()
			late := c.pingPayload != nil && now.Sub(c.pingSent) > cfg.PongTimeout
			shut := !c.shutdownAt.IsZero() && !now.Before(c.shutdownAt)
			stuck := closeWritten != nil && !c.closeAsked.IsZero() && now.Sub(c.closeAsked) > closeWriteTimeout
			c.mu.Unlock()
			if late {
				c.end(0, "", "no pong in time")
			}
			if shut {
				c.end(1001, "Server shutdown", "serverShutdown fault")
			}
			if stuck {
				c.abort()
			}
			for _, f := range c.srv.faults.connHits(sched, now) {
				c.applyFault(f, now)
			}
		case <-lifetime.C:
			c.end(1001, "Connection lifetime expired", "lifetime")
		case <-closeWritten:
			// wait a little for the client's close frame, then hang up
			closeWritten = nil
			hangUp = time.After(closeGrace)
		case <-hangUp:
			c.abort()
			return
		}
	}
}

// writeLoop owns the write side of the socket: data, pings, control frames
// and the close frame, as watchLoop and the reader asked for them.
func (c *wsConn) writeLoop() {
	msgRng := c.srv.faults.rng(c.id | 1<<63)
	var batch []*Message
	var held *Message // a depth update held back by depth-reorder
	var heldAt time.Time
	heldTimer := time.NewTimer(time.Hour)
	heldTimer.Stop()
	defer heldTimer.Stop()
	// every write to the socket goes through the throttle (nothing is
	// buffered yet: this goroutine is the only writer)
	c.bw.Reset(&throttledWriter{c: c})

	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.notify:
		case now := <-heldTimer.C:
			if held == nil {
				break
			}
			if wait := time.Second - now.Sub(heldAt); wait > 0 {
				heldTimer.Reset(wait)
				break
			}
			// a reordered update is not held back for ever when its stream goes quiet
			batch = append(batch[:0], held)
			held = nil
			if err := c.writeMessages(batch, msgRng, &held, false); err != nil {
				c.cancel()
				return
			}
		}

		c.mu.Lock()
		ctrl := c.ctrl
		c.ctrl = nil
		batch, c.pending = c.pending, batch[:0]
		stalled := time.Now().Before(c.stallUntil)
		closeCode, closeReason := c.closeCode, c.closeReason
		if closeCode > 0 {
			c.closeCode = 0
			c.closeSent = true
		}
		c.mu.Unlock()

		if stalled && closeCode == 0 {
			c.stats.stallDiscarded.Add(int64(len(batch)))
			clear(batch)
			continue
		}
		for _, f := range ctrl {
			if err := ws.WriteFrame(c.bw, ws.NewFrame(f.op, true, f.payload)); err != nil {
				c.cancel()
				return
			}
		}
		hadHeld := held != nil
		if err := c.writeMessages(batch, msgRng, &held, true); err != nil {
			c.cancel()
			return
		}
		if !hadHeld && held != nil {
			heldAt = time.Now()
			heldTimer.Reset(time.Second)
		}
		clear(batch)
		if closeCode > 0 {
			body := ws.NewCloseFrameBody(ws.StatusCode(closeCode), closeReason)
			_ = ws.WriteFrame(c.bw, ws.NewCloseFrame(body))
			_ = c.bw.Flush()
			close(c.closeWritten)
			c.discardUntilDone()
			return
		}
		if err := c.bw.Flush(); err != nil {
			c.cancel()
			return
		}
	}
}

// discardUntilDone drops what is queued after the close frame until the
// connection ends (the client's close frame, or watchLoop hangs up).
func (c *wsConn) discardUntilDone() {
	for {
		c.mu.Lock()
		clear(c.pending)
		c.pending = c.pending[:0]
		c.ctrl = nil
		c.mu.Unlock()
		select {
		case <-c.ctx.Done():
			return
		case <-c.notify:
		}
	}
}

// writeMessages writes a batch of stream messages, applying the message
// faults when any is active.
func (c *wsConn) writeMessages(batch []*Message, rng *rand.Rand, held **Message, faultsOn bool) error {
	fs := c.srv.faults
	checkFaults := faultsOn && fs.active[classMessage].Load()
	now := time.Now()
	for _, m := range batch {
		if checkFaults && (m.Kind == KindDepth || m.Kind == KindAggTrade || m.Kind == KindTrade) {
			kind := m.Kind
			f, hit := fs.hitAt(c.venue(), classMessage, rng, now, func(k FaultKind) bool {
				if kind == KindDepth {
					return k == FaultDepthDrop || k == FaultDepthDup || k == FaultDepthReorder
				}
				return k == FaultTradeGap
			})
			if hit {
				switch f.Kind {
				case FaultDepthDrop, FaultTradeGap:
					if c.cb != nil {
						c.cb.skip()
					}
					c.stats.faultSkipped.Add(1)
					c.countStream(m, true)
					continue
				case FaultDepthDup:
					c.stats.faultDuplicated.Add(1)
					if err := c.writeMessage(m); err != nil {
						return err
					}
				case FaultDepthReorder:
					if *held == nil {
						c.stats.faultReordered.Add(1)
						*held = m
						continue
					}
				}
			}
		}
		if err := c.writeMessage(m); err != nil {
			return err
		}
		if h := *held; h != nil && h != m && h.Stream == m.Stream {
			*held = nil
			if err := c.writeMessage(h); err != nil {
				return err
			}
		}
	}
	return nil
}

var (
	combinedPrefix = []byte(`{"stream":"`)
	combinedMiddle = []byte(`","data":`)
	combinedSuffix = []byte(`}`)
)

// writeMessage writes one stream message as a text frame, wrapped when the
// connection is combined.
func (c *wsConn) writeMessage(m *Message) error {
	payload := m.Ms
	if c.cb != nil {
		payload = c.cb.stamp(c, m)
	}
	if c.micros && m.Us != nil {
		payload = m.Us
	}
	combined := c.combined.Load()
	n := len(payload)
	if combined {
		n += len(combinedPrefix) + len(m.Stream) + len(combinedMiddle) + len(combinedSuffix)
	}
	if err := ws.WriteHeader(c.bw, ws.Header{Fin: true, OpCode: ws.OpText, Length: int64(n)}); err != nil {
		return err
	}
	if combined {
		c.bw.Write(combinedPrefix)
		c.bw.WriteString(m.Stream)
		c.bw.Write(combinedMiddle)
	}
	c.bw.Write(payload)
	if combined {
		c.bw.Write(combinedSuffix)
	}
	c.stats.sent.Add(1)
	c.stats.bytes.Add(int64(n))
	c.countStream(m, false)
	return nil
}

func (c *wsConn) countStream(m *Message, skipped bool) {
	if m.Kind == KindControl {
		return
	}
	c.stats.statsMu.Lock()
	st := c.stats.streams[m.Stream]
	if st == nil {
		st = &StreamStats{FirstID: m.ID}
		c.stats.streams[m.Stream] = st
	}
	if skipped {
		st.Skipped++
	} else {
		st.Sent++
		st.LastID = m.ID
	}
	c.stats.statsMu.Unlock()
}

// applyFault carries out a connection fault on this connection.
func (c *wsConn) applyFault(f Fault, now time.Time) {
	if c.okx != nil && c.okx.applyFault(c, f, now) {
		return
	}
	forever := now.Add(100 * 365 * 24 * time.Hour)
	switch f.Kind {
	case FaultDrop:
		c.end(0, "", "drop fault")
	case FaultClose:
		code := f.Code
		if code == 0 {
			code = 1001
		}
		c.end(code, f.Reason, "close fault")
	case FaultStall:
		c.mu.Lock()
		c.stallUntil = forever
		if f.Duration > 0 {
			c.stallUntil = now.Add(f.Duration)
		}
		c.pingPayload = nil // a stalled server forgets its ping
		c.mu.Unlock()
	case FaultNoPong:
		c.mu.Lock()
		c.noPongUntil = forever
		if f.Duration > 0 {
			c.noPongUntil = now.Add(f.Duration)
		}
		c.mu.Unlock()
	case FaultMalformed:
		variant := f.Variant
		if variant == "" {
			variant = [...]string{"json", "truncated", "utf8", "binary"}[c.srv.malformedTurn.Add(1)%4]
		}
		op, body := malformedFrame(variant, now)
		c.sendFrame(op, body)
	case FaultOversize:
		size := f.Size
		if size == 0 {
			size = 1 << 20
		}
		c.sendFrame(ws.OpText, oversizeFrame(size))
	case FaultThrottle:
		until := forever
		if f.Duration > 0 {
			until = now.Add(f.Duration)
		}
		c.throttle.until.Store(until.UnixNano())
		c.throttle.rate.Store(int64(f.Rate))
	case FaultShutdown:
		d := f.Duration
		if d == 0 {
			d = time.Second
		}
		c.enqueue(shutdownMessage(now))
		c.mu.Lock()
		if c.shutdownAt.IsZero() {
			c.shutdownAt = now.Add(d)
		}
		c.mu.Unlock()
	}
}

func shutdownMessage(now time.Time) *Message {
	body := strconv.AppendInt([]byte(`{"e":"serverShutdown","E":`), now.UnixMilli(), 10)
	body = append(body, '}')
	us := strconv.AppendInt([]byte(`{"e":"serverShutdown","E":`), now.UnixMicro(), 10)
	us = append(us, '}')
	return &Message{Stream: "!serverShutdown", Kind: KindControl, Ms: body, Us: us}
}

func malformedFrame(variant string, now time.Time) (ws.OpCode, []byte) {
	ms := strconv.FormatInt(now.UnixMilli(), 10)
	switch variant {
	case "truncated":
		return ws.OpText, []byte(`{"e":"aggTrade","E":` + ms + `,"s":"BTCUSDT","a":`)
	case "utf8":
		return ws.OpText, []byte("{\"e\":\"aggTrade\",\"E\":" + ms + ",\"s\":\"BTC\xff\xfeUSDT\"}")
	case "binary":
		return ws.OpBinary, []byte{0x00, 0x01, 0xfe, 0xff, '{', '}'}
	default:
		return ws.OpText, []byte(`{"e":"aggTrade",,"E":` + ms + `}`)
	}
}

func oversizeFrame(size int) []byte {
	const head, tail = `{"e":"aggTrade","pad":"`, `"}`
	if size < len(head)+len(tail) {
		size = len(head) + len(tail)
	}
	b := make([]byte, size)
	copy(b, head)
	for i := len(head); i < size-len(tail); i++ {
		b[i] = 'x'
	}
	copy(b[size-len(tail):], tail)
	return b
}

// readLoop reads client frames until the connection ends: pongs to the
// server's pings, pings, requests, close. After a protocol violation it asks
// the writer to close and keeps reading (and discarding) until the client
// answers the close or the writer hangs up.
func (c *wsConn) readLoop() {
	cfg := c.conf()
	window := make([]time.Time, 0, cfg.MaxIncoming)
	var msg []byte // a fragmented text message being assembled
	closing := false
	violation := func(code int, reason, why string) {
		c.end(code, reason, why)
		closing = true
		msg = nil
	}
	for {
		hdr, err := ws.ReadHeader(c.br)
		if err != nil {
			return
		}
		if hdr.Length > int64(cfg.MaxFrame) || int64(len(msg))+hdr.Length > int64(cfg.MaxFrame) {
			if _, err := io.CopyN(io.Discard, c.br, hdr.Length); err != nil {
				return
			}
			if !closing {
				violation(1009, "Message too big", "oversized client frame")
			}
			continue
		}
		payload := make([]byte, hdr.Length)
		if _, err := io.ReadFull(c.br, payload); err != nil {
			return
		}
		if hdr.Masked {
			ws.Cipher(payload, hdr.Mask, 0)
		}
		if hdr.OpCode == ws.OpClose {
			code, reason := ws.ParseCloseFrameData(payload)
			c.mu.Lock()
			sent := c.closeSent
			c.mu.Unlock()
			if !sent {
				if code == 0 {
					code = ws.StatusNormalClosure
				}
				c.end(int(code), reason, "client closed")
				// give the writer a moment to answer, then hang up
				t := time.NewTimer(time.Second)
				select {
				case <-c.ctx.Done():
				case <-c.closeWritten:
				case <-t.C:
				}
				t.Stop()
			}
			c.abortQuiet()
			return
		}
		if closing {
			continue
		}
		switch {
		case !hdr.Masked:
			violation(1002, "Client frames must be masked", "unmasked frame")
			continue
		case hdr.OpCode.IsControl() && (!hdr.Fin || hdr.Length > 125):
			violation(1002, "Invalid control frame", "bad control frame")
			continue
		}
		now := time.Now()
		if hdr.OpCode != ws.OpContinuation {
			if len(window) == cap(window) {
				if now.Sub(window[0]) < time.Second {
					violation(1008, "Too many requests", "more than "+strconv.Itoa(cfg.MaxIncoming)+" incoming messages a second")
					continue
				}
				copy(window, window[1:])
				window = window[:len(window)-1]
			}
			window = append(window, now)
		}
		switch hdr.OpCode {
		case ws.OpPing:
			c.mu.Lock()
			ignore := now.Before(c.noPongUntil)
			c.mu.Unlock()
			if !ignore {
				c.sendFrame(ws.OpPong, payload)
			}
		case ws.OpPong:
			c.mu.Lock()
			if c.pingPayload != nil && string(payload) == string(c.pingPayload) {
				c.pingPayload = nil
				c.stats.pongsReceived.Add(1)
			}
			c.mu.Unlock()
		case ws.OpText, ws.OpBinary:
			if !hdr.Fin {
				msg = append(msg[:0], payload...)
				continue
			}
			c.handleRequest(payload)
		case ws.OpContinuation:
			msg = append(msg, payload...)
			if hdr.Fin {
				c.handleRequest(msg)
				msg = msg[:0]
			}
		default:
			violation(1002, "Unknown opcode", "unknown opcode")
		}
	}
}

// abortQuiet closes the socket without a reset once the close handshake is done.
func (c *wsConn) abortQuiet() {
	c.nc.Close()
	c.cancel()
}

func (c *wsConn) snapshotStats() ConnStats {
	s := ConnStats{
		ID: c.id, Remote: c.remote, Path: c.path, Opened: c.opened, Combined: c.combined.Load(),
		Subscriptions:   c.hub().list(c),
		Sent:            c.stats.sent.Load(),
		Bytes:           c.stats.bytes.Load(),
		FaultSkipped:    c.stats.faultSkipped.Load(),
		FaultDuplicated: c.stats.faultDuplicated.Load(),
		FaultReordered:  c.stats.faultReordered.Load(),
		StallDiscarded:  c.stats.stallDiscarded.Load(),
		Throttled:       c.stats.throttled.Load(),
		PingsSent:       c.stats.pingsSent.Load(),
		PongsReceived:   c.stats.pongsReceived.Load(),
		Requests:        c.stats.requests.Load(),
		Streams:         map[string]StreamStats{},
	}
	c.stats.statsMu.Lock()
	for k, v := range c.stats.streams {
		s.Streams[k] = *v
	}
	c.stats.statsMu.Unlock()
	return s
}

// throttleState is the throttle fault of one connection: writes are paced
// to rate bytes a second until until (ns). Set by applyFault from any
// goroutine; next is the writer's own.
type throttleState struct {
	rate, until atomic.Int64
	next        time.Time // when the next byte may go
}

// throttledWriter is the socket as the writer sees it: straight through,
// or paced in small chunks while the throttle fault holds.
type throttledWriter struct{ c *wsConn }

func (t *throttledWriter) Write(p []byte) (int, error) {
	c := t.c
	th := &c.throttle
	written := 0
	for len(p) > 0 {
		now := time.Now()
		rate := th.rate.Load()
		if rate <= 0 || now.UnixNano() >= th.until.Load() {
			n, err := c.nc.Write(p)
			return written + n, err
		}
		chunk := min(len(p), int(max(rate/20, 1))) // about 20 writes a second
		if th.next.After(now) {
			tm := time.NewTimer(th.next.Sub(now))
			select {
			case <-tm.C:
			case <-c.ctx.Done():
				tm.Stop()
				return written, c.ctx.Err()
			}
		} else {
			th.next = now
		}
		n, err := c.nc.Write(p[:chunk])
		written += n
		c.stats.throttled.Add(int64(n))
		th.next = th.next.Add(time.Duration(n) * time.Second / time.Duration(rate))
		if err != nil {
			return written, err
		}
		p = p[chunk:]
	}
	return written, nil
}
