package book

import "strconv"

// Side is one side of the book. Methods that take a Side panic when given
// anything but Bid or Ask.
type Side uint8

const (
	// Bid is the buy side: its best level has the highest price.
	Bid Side = iota
	// Ask is the sell side: its best level has the lowest price.
	Ask
)

// String returns "bid" or "ask".
func (s Side) String() string {
	switch s {
	case Bid:
		return "bid"
	case Ask:
		return "ask"
	}
	return "Side(" + strconv.Itoa(int(s)) + ")"
}

// mask maps a price to its sort key on side s and back (key = price ^ mask).
// Bids keep their prices; asks use the bitwise complement, which reverses the
// order of every int64 without overflow. Both sides are then stored in
// ascending key order, best at the end, by the same code.
func (s Side) mask() int64 { return -int64(s) }

// ladder is one side of a book: levels by ascending key in buf[lo:hi], the
// best at hi-1. Free slots on both ends let an insert or removal move
// whichever part of the ladder is shorter.
type ladder struct {
	buf    []Level // Price holds the key, not the price
	lo, hi int
}

func (l *ladder) len() int         { return l.hi - l.lo }
func (l *ladder) levels() []Level  { return l.buf[l.lo:l.hi] }
func (l *ladder) reset()           { l.lo, l.hi = 0, 0 }
func spare(n int) int              { return n/8 + 16 }
func capLimit(maxLevels int) int   { return maxLevels + spare(maxLevels) }
func wantCap(n, maxLevels int) int { return min(n+spare(n), capLimit(maxLevels)) }

// search returns the index of the first level whose key is not below key, and
// whether that level has the key. It gallops down from the best end, where
// most updates land, then bisects the bracket it found: O(log d) for a level
// d places from the top.
func search(lv []Level, key int64) (int, bool) {
	lo, hi := 0, len(lv)
	for step := 1; ; step <<= 1 {
		j := hi - step
		if j < lo {
			break
		}
		if lv[j].Price < key {
			lo = j + 1
			break
		}
		hi = j
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if lv[m].Price < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(lv) && lv[lo].Price == key
}

func (l *ladder) set(key, qty int64, maxLevels int) {
	lv := l.buf[l.lo:l.hi]
	p, found := search(lv, key)
	if found {
		if qty > 0 {
			lv[p].Qty = qty
		} else {
			l.remove(p)
		}
		return
	}
	if qty <= 0 {
		return
	}
	if len(lv) >= maxLevels {
		if p == 0 {
			return // farther than every level held, and no room
		}
		l.lo++ // drop the farthest level
		p--
	}
	l.insert(p, Level{Price: key, Qty: qty}, maxLevels)
}

// insert puts v at position p of the live levels, shifting the shorter part.
func (l *ladder) insert(p int, v Level, maxLevels int) {
	n := l.hi - l.lo
	if n-p <= p {
		if l.hi == len(l.buf) {
			l.makeRoom(maxLevels)
		}
		a := l.lo + p
		copy(l.buf[a+1:l.hi+1], l.buf[a:l.hi])
		l.buf[a] = v
		l.hi++
		return
	}
	if l.lo == 0 {
		l.makeRoom(maxLevels)
	}
	a := l.lo + p
	copy(l.buf[l.lo-1:a-1], l.buf[l.lo:a])
	l.buf[a-1] = v
	l.lo--
}

// remove deletes the level at position p of the live levels, shifting the
// shorter part.
func (l *ladder) remove(p int) {
	a := l.lo + p
	if l.hi-1-a <= p {
		copy(l.buf[a:l.hi-1], l.buf[a+1:l.hi])
		l.hi--
		return
	}
	copy(l.buf[l.lo+1:a+1], l.buf[l.lo:a])
	l.lo++
}

// makeRoom leaves at least one free slot at each end of the live levels,
// growing buf while it is small for them and re-centring them otherwise.
func (l *ladder) makeRoom(maxLevels int) {
	n := l.hi - l.lo
	if want := wantCap(n, maxLevels); len(l.buf) < want || len(l.buf) < n+2 {
		size := min(max(2*len(l.buf), want, 32), capLimit(maxLevels))
		size = max(size, n+2)
		buf := make([]Level, size)
		lo := (size - n) / 2
		copy(buf[lo:], l.buf[l.lo:l.hi])
		l.buf, l.lo, l.hi = buf, lo, lo+n
		return
	}
	lo := (len(l.buf) - n) / 2
	copy(l.buf[lo:lo+n], l.buf[l.lo:l.hi])
	l.lo, l.hi = lo, lo+n
}

// load replaces the levels with the first maxLevels of src, given best first
// as prices.
func (l *ladder) load(src []Level, mask int64, maxLevels int) {
	n := min(len(src), maxLevels)
	if want := wantCap(n, maxLevels); len(l.buf) < want {
		l.buf = make([]Level, want)
	}
	l.lo = (len(l.buf) - n) / 2
	l.hi = l.lo + n
	dst := l.buf[l.lo:l.hi]
	for i, v := range src[:n] {
		dst[n-1-i] = Level{Price: v.Price ^ mask, Qty: v.Qty}
	}
}
