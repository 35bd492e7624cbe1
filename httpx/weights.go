package httpx

import (
	"fmt"
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
	wins        []winUse // the windows requests may still be counted in, oldest first
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
}

func (w *weights) index(t time.Time) int64 { return t.UnixNano() / int64(w.window) }

// win returns window k's use, creating it; windows before lo are
// forgotten.
func (w *weights) win(k, lo int64) *winUse {
	i := 0
	for i < len(w.wins) && w.wins[i].k < lo {
		i++
	}
	if i > 0 {
		w.wins = append(w.wins[:0], w.wins[i:]...)
	}
	for i := range w.wins {
		if w.wins[i].k == k {
			return &w.wins[i]
		}
	}
	w.wins = append(w.wins, winUse{k: k})
	return &w.wins[len(w.wins)-1]
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
	return ticket{lo: lo, hi: hi, weight: weight}, 0, nil
}

// done records the answer to an admitted request: reported is the weight
// the venue says it has counted in the request's window (-1: not reported).
func (w *weights) done(t ticket, reported int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if reported > w.maxUsed {
		w.maxUsed = reported
	}
	for k := t.lo; k <= t.hi; k++ {
		if u := w.find(k); u != nil && u.inflight > 0 {
			u.inflight--
		}
	}
	if reported < 0 || t.lo != t.hi {
		return // no report, or no telling which window it is about
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

// setLimit changes the limit and the window.
func (w *weights) setLimit(limit int, window time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if window != w.window {
		w.window, w.wins = window, nil
		w.skew = min(w.skew, window/10)
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
