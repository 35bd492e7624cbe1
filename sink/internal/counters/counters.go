// Package counters holds the counters every sink keeps, and turns them
// into sink.Stats.
package counters

import (
	"sync/atomic"

	"github.com/feedkeeper/feedkeeper/sink"
)

// Set is safe for concurrent use; its zero value is ready.
type Set struct {
	Accepted, Delivered, Dropped, Lost, Bytes, Errors atomic.Int64
	Files, Retries, Duplicates                        atomic.Int64 // where the sink has them
}

// Stats returns the counters; Pending is what was accepted and is neither
// delivered nor lost yet.
func (c *Set) Stats() sink.Stats {
	delivered, lost := c.Delivered.Load(), c.Lost.Load() // before accepted, which only grows
	st := sink.Stats{
		Accepted:   c.Accepted.Load(),
		Delivered:  delivered,
		Dropped:    c.Dropped.Load(),
		Lost:       lost,
		Bytes:      c.Bytes.Load(),
		Errors:     c.Errors.Load(),
		Files:      c.Files.Load(),
		Retries:    c.Retries.Load(),
		Duplicates: c.Duplicates.Load(),
	}
	st.Pending = st.Accepted - st.Delivered - st.Lost
	return st
}
