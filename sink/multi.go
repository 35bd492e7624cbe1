package sink

import (
	"errors"
	"sync"

	"github.com/feedkeeper/feedkeeper/feed"
)

// Multi writes every event to each of its sinks, in order.
type Multi struct {
	sinks []Sink
}

var _ Sink = (*Multi)(nil)

// NewMulti returns a Multi over sinks; it owns them from then on.
func NewMulti(sinks ...Sink) *Multi {
	return &Multi{sinks: append([]Sink(nil), sinks...)}
}

// Sinks returns the sinks, for their own Stats.
func (m *Multi) Sinks() []Sink { return m.sinks }

// Write writes ev to every sink, even when one refuses it. It returns the
// error of the one that failed, or all of them joined.
func (m *Multi) Write(ev *feed.Event) error {
	var first error
	var more []error
	for _, s := range m.sinks {
		if err := s.Write(ev); err != nil {
			if first == nil {
				first = err
			} else {
				more = append(more, err)
			}
		}
	}
	if more != nil {
		return errors.Join(append([]error{first}, more...)...)
	}
	return first
}

// Close closes every sink at once and waits for them all; it returns their
// errors joined.
func (m *Multi) Close() error {
	return m.each(func(s Sink) error { return s.Close() })
}

// CloseNow stops every sink that can stop at once (a CloseNow method, as
// the NATS sink has) without waiting for what they hold, and closes the
// others; for a second interrupt.
func (m *Multi) CloseNow() error {
	return m.each(func(s Sink) error {
		if n, ok := s.(interface{ CloseNow() error }); ok {
			return n.CloseNow()
		}
		return s.Close()
	})
}

func (m *Multi) each(f func(Sink) error) error {
	errs := make([]error, len(m.sinks))
	var wg sync.WaitGroup
	for i, s := range m.sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(s)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Stats returns the sum of the sinks' counters: an event written to two
// sinks counts twice.
func (m *Multi) Stats() Stats {
	var st Stats
	for _, s := range m.sinks {
		st = st.Add(s.Stats())
	}
	return st
}
