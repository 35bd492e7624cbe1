package sim

import "sync"

// hub routes market messages to the connections subscribed to their streams.
type hub struct {
	mu      sync.RWMutex
	streams map[string]*subscribers
	conns   map[uint64]*wsConn
}

type subscribers struct {
	conns  []*wsConn
	micros int // how many of conns want times in microseconds
}

func newHub() *hub {
	return &hub{streams: make(map[string]*subscribers), conns: make(map[uint64]*wsConn)}
}

var _ marketSink = (*hub)(nil)

func (h *hub) wants(stream string) (bool, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	s := h.streams[stream]
	if s == nil {
		return false, false
	}
	return len(s.conns) > 0, s.micros > 0
}

func (h *hub) publish(m *Message) {
	h.mu.RLock()
	if s := h.streams[m.Stream]; s != nil {
		for _, c := range s.conns {
			c.enqueue(m)
		}
	}
	h.mu.RUnlock()
}

// broadcast sends m to every connection, subscribed or not (serverShutdown).
func (h *hub) broadcast(m *Message) {
	h.mu.RLock()
	for _, c := range h.conns {
		c.enqueue(m)
	}
	h.mu.RUnlock()
}

func (h *hub) add(c *wsConn) {
	h.mu.Lock()
	h.conns[c.id] = c
	h.mu.Unlock()
}

// remove drops c and all its subscriptions.
func (h *hub) remove(c *wsConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.conns, c.id)
	for _, st := range c.subs {
		h.unsubscribeLocked(c, st)
	}
	c.subs = nil
}

// subscribe adds streams to c, in order, skipping those it already has. It
// fails with errTooManyStreams, adding none, when c would exceed max.
func (h *hub) subscribe(c *wsConn, streams []string, max int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(c.subs)
	for i, st := range streams {
		if !c.has(st) && !contains(streams[:i], st) {
			n++
		}
	}
	if n > max {
		return errTooManyStreams
	}
	for _, st := range streams {
		if c.has(st) {
			continue
		}
		c.subs = append(c.subs, st)
		s := h.streams[st]
		if s == nil {
			s = &subscribers{}
			h.streams[st] = s
		}
		s.conns = append(s.conns, c)
		if c.micros {
			s.micros++
		}
	}
	return nil
}

func (h *hub) unsubscribe(c *wsConn, streams []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, st := range streams {
		for i, have := range c.subs {
			if have == st {
				c.subs = append(c.subs[:i], c.subs[i+1:]...)
				h.unsubscribeLocked(c, st)
				break
			}
		}
	}
}

func (h *hub) unsubscribeLocked(c *wsConn, st string) {
	s := h.streams[st]
	if s == nil {
		return
	}
	for i, x := range s.conns {
		if x == c {
			s.conns = append(s.conns[:i], s.conns[i+1:]...)
			if c.micros {
				s.micros--
			}
			break
		}
	}
	if len(s.conns) == 0 {
		delete(h.streams, st)
	}
}

// list returns c's subscriptions in the order they were made.
func (h *hub) list(c *wsConn) []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return append([]string{}, c.subs...)
}

func (h *hub) snapshot() []*wsConn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*wsConn, 0, len(h.conns))
	for _, c := range h.conns {
		out = append(out, c)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
