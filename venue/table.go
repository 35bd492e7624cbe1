package venue

import "sync/atomic"

// Table holds a venue's instrument table in force, a *S that is never
// changed once stored: a change (a scale widened by a value that did not
// fit, a refresh from the venue's REST API) builds a new table and
// replaces the old one whole, so that decoders load the table in force
// without a lock and without allocating. What a change does (which
// instrument, which scale) is the venue's; Table only makes the
// replacement atomic and counts the widenings. The zero value holds no
// table (Load returns nil) until Store; a Table must not be copied after
// first use. Safe for concurrent use.
type Table[S any] struct {
	cur     atomic.Pointer[S]
	widened atomic.Int64
}

// Store puts t in force, whatever is in force.
func (t *Table[S]) Store(table *S) { t.cur.Store(table) }

// Load returns the table in force.
func (t *Table[S]) Load() *S { return t.cur.Load() }

// Replace puts next(old) in force in place of the table old in force,
// unless next returns nil (nothing to change). When another change came
// first, next is called again with the newer table: it must not change
// old, and may be called more than once. Replace reports whether the
// table changed.
func (t *Table[S]) Replace(next func(old *S) *S) bool {
	for {
		old := t.cur.Load()
		n := next(old)
		if n == nil {
			return false
		}
		if t.cur.CompareAndSwap(old, n) {
			return true
		}
	}
}

// Widen is Replace for a scale widened by a value that did not fit it; a
// change counts in Widened.
func (t *Table[S]) Widen(next func(old *S) *S) bool {
	if !t.Replace(next) {
		return false
	}
	t.widened.Add(1)
	return true
}

// Widened counts the changes made by Widen.
func (t *Table[S]) Widened() int64 { return t.widened.Load() }
