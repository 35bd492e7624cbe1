package httpx

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"time"
)

// weights is a venue's request-weight budget and the pauses it imposes.
//
// The venue counts weight in fixed windows aligned on its clock (Binance:
// per minute). The client's clock may differ from the venue's by up to
// skew, so a request sent within skew of a window boundary may be counted
// in either window: it is counted in both. Each answer's used weight, as
// the venue reports it, then corrects the count of the request's window
// when that window is certain. A request that would take the count of one
// of its windows past the limit waits until that window can no longer be
// the venue's. A 429 pauses every call for its Retry-After; a 418 fails
// every call until its Retry-After has passed.
type weights struct {
	limit  int
	window time.Duration
	skew   time.Duration

	mu          sync.Mutex
	header      string   // the answer header reporting the venue's count
	gen         int      // incremented when the window size changes
	wins        []winUse // the windows requests may still be counted in, in order
	maxUsed     int      // the highest count the venue reported
	pausedUntil time.Time
	bannedUntil time.Time
}

// winUse is the weight counted in window k.
type winUse struct {
	k        int64
	used     int // weight counted, as sent or as the venue reported it
	inflight int // requests counted in it and not answered yet
	reported int // the highest count the venue reported for it
}

// ticket is one admitted request: the windows it is counted in.
type ticket struct {
	lo, hi int64
	weight int
	gen    int // the window size generation it was counted under
}

func (w *weights) index(t time.Time) int64 { return t.UnixNano() / int64(w.window) }

// win returns window k's use, creating it in order; windows before lo are
// forgotten.
func (w *weights) win(k, lo int64) *winUse {
	i := 0
	for i < len(w.wins) && w.wins[i].k < lo {
		i++
	}
	if i > 0 {
		w.wins = append(w.wins[:0], w.wins[i:]...)
	}
	i, found := slices.BinarySearchFunc(w.wins, k, func(u winUse, k int64) int { return cmp.Compare(u.k, k) })
	if !found {
		w.wins = slices.Insert(w.wins, i, winUse{k: k})
	}
	return &w.wins[i]
}

func (w *weights) find(k int64) *winUse {
	for i := range w.wins {
		if w.wins[i].k == k {
			return &w.wins[i]
		}
	}
	return nil
}

// admit reserves weight for a request sent now. It returns a ticket, or how
// long to wait before asking again, or a *BanError.
func (w *weights) admit(now time.Time, weight int) (ticket, time.Duration, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.Before(w.bannedUntil) {
		return ticket{}, 0, &BanError{Until: w.bannedUntil}
	}
	if now.Before(w.pausedUntil) {
		return ticket{}, w.pausedUntil.Sub(now), nil
	}
	lo, hi := w.index(now.Add(-w.skew)), w.index(now.Add(w.skew))
	if w.limit > 0 {
		if weight > w.limit {
			return ticket{}, 0, fmt.Errorf("%w: a request of weight %d can never fit the limit of %d", ErrRateLimited, weight, w.limit)
		}
		for k := lo; k <= hi; k++ {
			if w.win(k, lo).used+weight > w.limit {
				// wait until window k can no longer be the venue's
				end := time.Unix(0, (k+1)*int64(w.window)).Add(w.skew)
				return ticket{}, max(end.Sub(now), time.Millisecond), nil
			}
		}
	}
	for k := lo; k <= hi; k++ {
		u := w.win(k, lo)
		u.used += weight
		u.inflight++
	}
	return ticket{lo: lo, hi: hi, weight: weight, gen: w.gen}, 0, nil
}

// done records the answer, received at now, to an admitted request:
// reported is the weight the venue says it has counted in the request's
// window (-1: not reported).
//
// The venue counted the request at some moment between its admission and
// now, by a clock that may differ by skew: every window of that span may
// be the one. Windows the admission did not count it in (the answer was
// slow) count it now. Only when the span is one window is the report
// known to be about it, and may lower the count; otherwise it can only
// raise the count of each window of the span.
func (w *weights) done(t ticket, reported int, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if reported > w.maxUsed {
		w.maxUsed = reported
	}
	if t.gen != w.gen {
		return // counted in windows of another size, since replaced
	}
	for k := t.lo; k <= t.hi; k++ {
		if u := w.find(k); u != nil && u.inflight > 0 {
			u.inflight--
		}
	}
	last := max(w.index(now.Add(w.skew)), t.hi)
	for k := t.hi + 1; k <= last; k++ {
		w.win(k, t.lo).used += t.weight
	}
	if reported < 0 {
		return
	}
	if t.lo != last {
		for k := t.lo; k <= last; k++ {
			if u := w.find(k); u != nil {
				u.used = max(u.used, reported)
			}
		}
		return
	}
	u := w.find(t.lo)
	if u == nil {
		return
	}
	// answers may come back in another order than the venue counted the
	// requests: its count is at least the highest it reported
	u.reported = max(u.reported, reported)
	if u.inflight == 0 {
		// nothing of ours is unaccounted for: the venue's count is the truth
		u.used = u.reported
	} else {
		u.used = max(u.used, u.reported)
	}
}

// usedHeader returns the name of the header reporting the venue's count.
func (w *weights) usedHeader() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.header
}

// setLimit changes the limit and the window.
func (w *weights) setLimit(limit int, window time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if window != w.window {
		// each new window starts with the weight counted in the old
		// windows it overlaps: the venue's count does not restart. (A
		// longer window may have counted more than the windows still
		// remembered: the first answer's report corrects that.)
		var wins []winUse // in order, as w.wins
		for _, o := range w.wins {
			if o.used == 0 {
				continue
			}
			from := o.k * int64(w.window) / int64(window)
			to := ((o.k+1)*int64(w.window) - 1) / int64(window)
			for k := from; k <= to; k++ {
				if n := len(wins); n > 0 && wins[n-1].k == k {
					wins[n-1].used += o.used // old windows shorter than the new
				} else {
					wins = append(wins, winUse{k: k, used: o.used})
				}
			}
		}
		w.window, w.wins = window, wins
		w.skew = min(w.skew, window/10)
		w.gen++ // tickets in flight name windows of the old size
	}
	w.limit = limit
}

// pause holds every call until the given time (a 429's Retry-After).
func (w *weights) pause(until time.Time) {
	w.mu.Lock()
	if until.After(w.pausedUntil) {
		w.pausedUntil = until
	}
	w.mu.Unlock()
}

// ban fails every call until the given time (a 418's Retry-After).
func (w *weights) ban(until time.Time) {
	w.mu.Lock()
	if until.After(w.bannedUntil) {
		w.bannedUntil = until
	}
	w.mu.Unlock()
}

// snapshot returns the weight used in the window of now as known (the
// most of the windows a request sent now would count in), the highest
// count the venue reported, the limit, and the end of a ban in force.
func (w *weights) snapshot(now time.Time) (used, maxUsed, limit int, bannedUntil time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	lo, hi := w.index(now.Add(-w.skew)), w.index(now.Add(w.skew))
	for k := lo; k <= hi; k++ {
		if u := w.find(k); u != nil {
			used = max(used, u.used)
		}
	}
	if now.Before(w.bannedUntil) {
		bannedUntil = w.bannedUntil
	}
	return used, w.maxUsed, w.limit, bannedUntil
}
