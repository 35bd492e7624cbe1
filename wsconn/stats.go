package wsconn

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

type counters struct {
	connects, reconnects, dialErrors, resumed               atomic.Int64
	limitedDials                                            atomic.Int64
	frames, bytes, direct, pings, pongs, appPings, appPongs atomic.Int64
	dropped, slowDisconnects, stale, rotations, shutdowns   atomic.Int64
	dialWait                                                atomic.Int64 // ns

	mu          sync.Mutex
	closeCodes  map[int]int64
	disconnects map[string]int64
}

// Disconnect reasons counted in Stats.Disconnects.
const (
	ReasonCloseFrame = "close_frame" // the server sent a close frame (see CloseCodes)
	ReasonStale      = "stale"       // no frame within the stale timeout
	ReasonTooLarge   = "too_large"   // a frame above the read limit
	ReasonTooSlow    = "too_slow"    // the Block policy gave up
	ReasonRotated    = "rotated"     // replaced before the server's lifetime limit
	ReasonShutdown   = "shutdown"    // replaced after a shutdown announcement
	ReasonReplaced   = "replaced"    // replaced on the consumer's request (Session.Replace)
	ReasonNetwork    = "network"     // TCP reset, EOF without a close frame, write errors
	ReasonClosed     = "closed"      // Close was called
)

// reasonOf classifies why a connection ended.
func reasonOf(err error) string {
	var ce *CloseError
	switch {
	case errors.As(err, &ce):
		return ReasonCloseFrame
	case errors.Is(err, ErrStale):
		return ReasonStale
	case errors.Is(err, ErrFrameTooLarge):
		return ReasonTooLarge
	case errors.Is(err, ErrTooSlow):
		return ReasonTooSlow
	case errors.Is(err, ErrRotated):
		return ReasonRotated
	case errors.Is(err, ErrServerShutdown):
		return ReasonShutdown
	case errors.Is(err, ErrReplaced):
		return ReasonReplaced
	case errors.Is(err, ErrClosed):
		return ReasonClosed
	}
	return ReasonNetwork
}

func (c *counters) disconnect(err error) {
	c.mu.Lock()
	c.disconnects[reasonOf(err)]++
	c.mu.Unlock()
}

func (c *counters) closeCode(code int) {
	c.mu.Lock()
	c.closeCodes[code]++
	c.mu.Unlock()
}

// Stats is a snapshot of a session's counters since Open.
type Stats struct {
	Status          Status
	Connects        int64            // connections made (subscribed)
	Reconnects      int64            // connections that ended and were replaced
	DialErrors      int64            // failed connection attempts
	LimitedDials    int64            // attempts refused for too many attempts (HTTP 429/418)
	Resumed         int64            // connections whose TLS session was resumed
	Frames, Bytes   int64            // data frames and their bytes read
	Direct          int64            // data frames a reader handed to the handler itself, nothing waiting (Block policy)
	Pings, Pongs    int64            // pings from the server, pongs to ours
	AppPings        int64            // application-level pings sent (Config.Keepalive)
	AppPongs        int64            // … and their answers received
	Dropped         int64            // frames discarded by the Drop policy
	SlowDisconnects int64            // connections dropped by the Block policy
	Stale           int64            // connections declared stale
	Rotations       int64            // replacements done: planned (lifetime, shutdown) and asked for by Session.Replace
	Shutdowns       int64            // shutdown announcements seen
	CloseCodes      map[int]int64    // close frames received, by code
	Disconnects     map[string]int64 // connections ended, by reason (Reason* constants)
	Queued          int              // frames waiting for the handler now
	DialWait        time.Duration    // time spent waiting for the Dials budget
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	st := Stats{
		Status:          s.Status(),
		Connects:        s.stats.connects.Load(),
		Reconnects:      s.stats.reconnects.Load(),
		DialErrors:      s.stats.dialErrors.Load(),
		LimitedDials:    s.stats.limitedDials.Load(),
		Resumed:         s.stats.resumed.Load(),
		Frames:          s.stats.frames.Load(),
		Bytes:           s.stats.bytes.Load(),
		Direct:          s.stats.direct.Load(),
		Pings:           s.stats.pings.Load(),
		Pongs:           s.stats.pongs.Load(),
		AppPings:        s.stats.appPings.Load(),
		AppPongs:        s.stats.appPongs.Load(),
		Dropped:         s.stats.dropped.Load(),
		SlowDisconnects: s.stats.slowDisconnects.Load(),
		Stale:           s.stats.stale.Load(),
		Rotations:       s.stats.rotations.Load(),
		Shutdowns:       s.stats.shutdowns.Load(),
		CloseCodes:      map[int]int64{},
		Disconnects:     map[string]int64{},
		Queued:          s.q.len(),
		DialWait:        time.Duration(s.stats.dialWait.Load()),
	}
	s.stats.mu.Lock()
	for k, v := range s.stats.closeCodes {
		st.CloseCodes[k] = v
	}
	for k, v := range s.stats.disconnects {
		st.Disconnects[k] = v
	}
	s.stats.mu.Unlock()
	return st
}
