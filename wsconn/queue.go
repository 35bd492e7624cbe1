package wsconn

import (
	"sync"
	"time"
)

// FrameKind says what a Frame carries.
type FrameKind uint8

const (
	// Data is a text or binary message from the server.
	Data FrameKind = iota
	// Gap says frames were lost before this point (Dropped of them, or an
	// unknown number after a connection ended): the consumer must check
	// its sequence numbers and recover.
	Gap
	// Connected says a connection is up and subscribed (Conn is its id).
	Connected
	// Disconnected says connection Conn ended (Err says why).
	Disconnected
)

func (k FrameKind) String() string {
	return [...]string{"data", "gap", "connected", "disconnected"}[k]
}

// Frame is one item delivered to the consumer. Data is only valid until
// the handler returns: the buffer is reused.
type Frame struct {
	Kind    FrameKind
	Data    []byte
	Binary  bool
	Recv    int64  // wall clock, ns since the Unix epoch, taken when the frame was read
	Conn    uint64 // the connection it came from
	Dropped int64  // Gap: frames discarded by the Drop policy (0: unknown)
	Err     error  // Disconnected: the reason

	buf *[]byte // the pooled buffer behind Data
}

// queue is the bounded frame queue between the readers and the consumer.
// Several readers push (during a rotation two connections are live); one
// dispatcher pops.
type queue struct {
	maxFrames, maxBytes int

	mu      sync.Mutex
	items   []Frame
	bytes   int
	dropped int64         // frames dropped since the last Gap was queued
	ready   chan struct{} // signalled when items arrive
	space   chan struct{} // signalled when items leave
	closed  bool
}

func newQueue(maxFrames, maxBytes int) *queue {
	return &queue{maxFrames: maxFrames, maxBytes: maxBytes, ready: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

// buffers holds frame buffers for every session of the process. A buffer
// travels as a *[]byte so that returning it allocates nothing.
var buffers sync.Pool

// getBuffer returns an empty pooled buffer.
func getBuffer() *[]byte {
	if p, ok := buffers.Get().(*[]byte); ok {
		*p = (*p)[:0]
		return p
	}
	b := make([]byte, 0, 4096)
	return &b
}

// putBuffer returns a buffer to the pool; very large ones are left to the GC.
func putBuffer(p *[]byte) {
	if p != nil && cap(*p) <= 1<<20 {
		buffers.Put(p)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// tryPush queues f unless the queue is full.
func (q *queue) tryPush(f Frame) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	if len(q.items)+1 > q.maxFrames || (q.bytes+len(f.Data) > q.maxBytes && len(q.items) > 0) {
		return false
	}
	q.items = append(q.items, f)
	q.bytes += len(f.Data)
	signal(q.ready)
	return true
}

// push queues a control frame (Gap, Connected, Disconnected) even when the
// queue is full: they carry no data and are few.
func (q *queue) push(f Frame) {
	q.mu.Lock()
	if !q.closed {
		q.items = append(q.items, f)
		signal(q.ready)
	}
	q.mu.Unlock()
}

// drop counts a discarded frame; the next popAll ends with a Gap frame.
func (q *queue) drop() {
	q.mu.Lock()
	q.dropped++
	q.mu.Unlock()
	signal(q.ready)
}

// pushWait queues f, waiting up to d for room. It returns false on timeout
// or when done is closed.
func (q *queue) pushWait(f Frame, d time.Duration, done <-chan struct{}) bool {
	if q.tryPush(f) {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-q.space:
			if q.tryPush(f) {
				return true
			}
		case <-t.C:
			return false
		case <-done:
			return false
		}
	}
}

// popAll moves every queued frame into dst and returns it, followed by a
// Gap frame when frames were dropped since the last call: the queue was
// full when they came, so they came after everything it held.
func (q *queue) popAll(dst []Frame) []Frame {
	q.mu.Lock()
	dst = append(dst, q.items...)
	if q.dropped > 0 {
		dst = append(dst, Frame{Kind: Gap, Dropped: q.dropped, Recv: time.Now().UnixNano()})
		q.dropped = 0
	}
	clear(q.items)
	q.items = q.items[:0]
	q.bytes = 0
	if cap(q.items) > 4*q.maxFrames/3+64 { // shrink after a burst
		q.items = nil
	}
	q.mu.Unlock()
	signal(q.space)
	return dst
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
}

// idle reports whether nothing waits to be delivered: no frame, no
// pending Gap.
func (q *queue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) == 0 && q.dropped == 0
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
