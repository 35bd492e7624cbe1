// Package queue is the bounded buffer of encoded events between a sink's
// Write and the goroutine that delivers them.
package queue

import (
	"sync"
	"time"

	"github.com/feedkeeper/feedkeeper/sink"
)

// Queue is a bounded FIFO of byte records for one producer and one
// consumer. The producer encodes each record straight into the queue's
// buffer (Begin, append, End), so nothing is allocated in the steady state;
// the consumer takes every queued record at once (Take, Hold) in exchange
// for the storage of the batch it finished with.
type Queue struct {
	maxEvents, maxBytes int
	wakeBytes           int
	policy              sink.Policy
	timeout             time.Duration

	mu                    sync.Mutex
	buf                   []byte
	ends                  []int
	heldEvents, heldBytes int // taken by Hold, not yet released
	closed                bool
	room                  chan struct{} // closed when room is freed for a waiting producer

	ready chan struct{} // holds a signal for the consumer
	done  chan struct{} // closed by Close
}

// New returns an empty queue bounded as b says (defaults filled in). Ready
// signals the first record queued if wakeBytes is 0, else when the queued
// records reach wakeBytes; and always when the queue becomes full.
func New(b sink.Buffer, wakeBytes int) *Queue {
	b = b.WithDefaults()
	return &Queue{
		maxEvents: b.Events,
		maxBytes:  b.Bytes,
		wakeBytes: wakeBytes,
		policy:    b.Policy,
		timeout:   b.Timeout,
		ready:     make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
}

func (q *Queue) full() bool {
	return len(q.ends)+q.heldEvents >= q.maxEvents || len(q.buf)+q.heldBytes >= q.maxBytes
}

// Begin waits for room as the policy says and returns the buffer to append
// one record to. The queue stays locked until End. On error (sink.ErrFull,
// sink.ErrClosed) the queue is not locked.
func (q *Queue) Begin() ([]byte, error) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil, sink.ErrClosed
	}
	if !q.full() {
		return q.buf, nil
	}
	if q.policy == sink.Drop || q.timeout <= 0 {
		q.mu.Unlock()
		return nil, sink.ErrFull
	}
	t := time.NewTimer(q.timeout)
	defer t.Stop()
	for {
		if q.room == nil {
			q.room = make(chan struct{})
		}
		room := q.room
		q.mu.Unlock()
		timedOut := false
		select {
		case <-room:
		case <-t.C:
			timedOut = true
		case <-q.done:
		}
		q.mu.Lock()
		switch {
		case q.closed:
			q.mu.Unlock()
			return nil, sink.ErrClosed
		case !q.full():
			return q.buf, nil
		case timedOut:
			q.mu.Unlock()
			return nil, sink.ErrFull
		}
	}
}

// End queues the record appended to the buffer Begin returned, and unlocks.
func (q *Queue) End(buf []byte) {
	before := len(q.buf)
	q.buf = buf
	q.ends = append(q.ends, len(buf))
	var wake bool
	if q.wakeBytes == 0 {
		wake = len(q.ends) == 1
	} else {
		wake = before < q.wakeBytes && len(buf) >= q.wakeBytes
	}
	wake = wake || q.full()
	q.mu.Unlock()
	if wake {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
}

// Batch is what Take hands the consumer: records laid end to end in Buf,
// record i ending at Ends[i].
type Batch struct {
	Buf  []byte
	Ends []int
}

// Len returns the number of records.
func (b *Batch) Len() int { return len(b.Ends) }

// Record returns record i; it is valid until the batch goes back to Take.
func (b *Batch) Record(i int) []byte {
	start := 0
	if i > 0 {
		start = b.Ends[i-1]
	}
	return b.Buf[start:b.Ends[i]]
}

// Take moves every queued record into b, gives b's storage back to the
// queue for reuse, and returns the number of records taken.
func (q *Queue) Take(b *Batch) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.swap(b)
	q.freed()
	return len(b.Ends)
}

// Hold is Take for a consumer that gives records up one by one: the
// records taken still count against the bound until Release.
func (q *Queue) Hold(b *Batch) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.swap(b)
	q.heldEvents += len(b.Ends)
	q.heldBytes += len(b.Buf)
	return len(b.Ends)
}

// Release frees the room of records taken by Hold and done with.
func (q *Queue) Release(events, bytes int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.heldEvents -= events
	q.heldBytes -= bytes
	q.freed()
}

func (q *Queue) swap(b *Batch) {
	b.Buf, q.buf = q.buf, b.Buf[:0]
	b.Ends, q.ends = q.ends, b.Ends[:0]
}

// freed wakes a producer waiting for room.
func (q *Queue) freed() {
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
}

// Len returns the number of queued records.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ends)
}

// Ready receives a signal after records are queued into an empty queue.
func (q *Queue) Ready() <-chan struct{} { return q.ready }

// Done is closed by Close: no record comes after those queued by then.
func (q *Queue) Done() <-chan struct{} { return q.done }

// Close refuses further records (sink.ErrClosed) and wakes a producer
// waiting for room. The queued records stay for Take. Safe to call more
// than once.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
}
