package sim

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// cbClosedKept is how many closed connections' l2_data histories the
// Coinbase front-end remembers.
const cbClosedKept = 64

// cbClosed remembers the l2_data messages of the front-end's last closed
// connections, so that a book a client held on a connection that has since
// ended can still be checked.
type cbClosed struct {
	mu    sync.Mutex
	conns []cbClosedConn // oldest first
}

type cbClosedConn struct {
	id     uint64
	points []cbSeqPoint
}

// keep remembers c's l2_data messages as it closes.
func (h *cbClosed) keep(c *wsConn) {
	if c.cb == nil {
		return
	}
	c.cb.mu.Lock()
	pts := slices.Clone(c.cb.l2seq)
	c.cb.mu.Unlock()
	if len(pts) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.conns) >= cbClosedKept {
		h.conns = slices.Delete(h.conns, 0, len(h.conns)-cbClosedKept+1)
	}
	h.conns = append(h.conns, cbClosedConn{id: c.id, points: pts})
}

// BookAtMessage returns productID's book as a client holds it after
// applying the l2_data message with sequence_num seq that was sent
// nearest the time sent (the message's timestamp, as the client read
// it), on whichever connection got it, open or closed. sequence_num counts
// per connection, so one number names a message of each connection; the
// time tells them apart. The last 4096 l2_data messages of each open
// connection and of the last 64 closed ones are remembered; a message
// more than a minute from sent is not taken for it (ErrNoSuchSequence).
func (cb *Coinbase) BookAtMessage(productID string, seq int64, sent time.Time) (CoinbaseBook, error) {
	upd, found := cb.nearestL2(productID, sent, func(p cbSeqPoint) bool { return p.seq == seq })
	if !found {
		return CoinbaseBook{}, fmt.Errorf("%s sequence_num %d sent at %s: %w", productID, seq, sent.UTC().Format(time.RFC3339Nano), ErrNoSuchSequence)
	}
	return cb.BookAt(productID, upd)
}

// BookSentAt returns productID's book as a client holds it after applying
// the l2_data message of productID whose timestamp is sent, to the
// nanosecond (what a client that does not keep sequence_num can name),
// on whichever connection got it, open or closed (ErrNoSuchSequence: no
// such message remembered).
func (cb *Coinbase) BookSentAt(productID string, sent time.Time) (CoinbaseBook, error) {
	upd, found := cb.nearestL2(productID, sent, func(p cbSeqPoint) bool { return p.stamp == sent.UnixNano() })
	if !found {
		return CoinbaseBook{}, fmt.Errorf("%s l2_data sent at %s: %w", productID, sent.UTC().Format(time.RFC3339Nano), ErrNoSuchSequence)
	}
	return cb.BookAt(productID, upd)
}

// nearestL2 finds, among the remembered l2_data messages of productID that
// match, the one sent nearest sent (within a minute), and returns the
// market update its book is at.
func (cb *Coinbase) nearestL2(productID string, sent time.Time, match func(cbSeqPoint) bool) (upd int64, found bool) {
	const far = int64(time.Minute)
	best, bestGap := int64(0), far
	look := func(pts []cbSeqPoint) {
		for _, p := range pts {
			if p.product != productID || !match(p) {
				continue
			}
			gap := p.at - sent.UnixNano()
			if gap < 0 {
				gap = -gap
			}
			if gap < bestGap {
				best, bestGap, found = p.upd, gap, true
			}
		}
	}
	for _, c := range cb.hub.snapshot() {
		if c.cb == nil {
			continue
		}
		c.cb.mu.Lock()
		look(c.cb.l2seq)
		c.cb.mu.Unlock()
	}
	cb.closed.mu.Lock()
	for _, c := range cb.closed.conns {
		look(c.points)
	}
	cb.closed.mu.Unlock()
	return best, found
}
