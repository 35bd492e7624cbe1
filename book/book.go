// Package book is a local limit order book for one symbol: price levels with
// their total quantity on each side, kept in fixed point.
//
// Prices and quantities are int64 mantissas at the symbol's scale; the caller
// converts from the venue's decimals (package fixed) and back. The book never
// sees floats or strings, and it does not know the scale.
//
// The book is a data structure, not a protocol: it stores what it is told.
// Keeping it in step with a venue (buffering, snapshots, resync) belongs to the
// venue package, which can use [Book.Apply] for the common "first ID / last ID"
// chaining rule or [Book.Set] and [Book.SetLastUpdateID] for its own rule.
//
// Each side is a sorted slice with the best price at the end, so the frequent
// changes near the top of the book move little memory: updating one level
// costs tens of nanoseconds and allocates nothing once the book has grown to
// its working size (see the benchmarks in this package).
package book

// DefaultMaxLevels is the per-side bound used when [New] is given 0 or less,
// and by a zero [Book]. It matches the deepest snapshot Binance serves.
const DefaultMaxLevels = 5000

// Level is one price level: the total quantity resting at a price. Both are
// mantissas at the symbol's scale. Levels held by a Book always have Qty > 0.
type Level struct {
	Price, Qty int64
}

// Book is the order book of one symbol.
//
// Each side holds at most a fixed number of levels (see [New]). When a new
// level would exceed the bound, the level farthest from the top of that side
// is dropped, or the new level itself is ignored if it is the farthest. Near
// the top the book is exact; in its depths it may miss levels, as any book
// built from a depth-limited snapshot does.
//
// A Book is not safe for concurrent use: one goroutine owns it. To hand its
// contents to others, copy them out with [Book.Top] or [Book.Levels].
//
// The zero Book is empty, has last update ID 0 and bound [DefaultMaxLevels].
type Book struct {
	sides     [2]ladder
	maxLevels int
	lastID    int64
}

// New returns an empty book holding at most maxLevels levels per side; 0 or
// less selects [DefaultMaxLevels]. Memory grows with the levels actually held,
// up to about maxLevels × 18 bytes per side, and is kept across [Book.Reset]
// and [Book.Load].
func New(maxLevels int) *Book {
	if maxLevels <= 0 {
		maxLevels = DefaultMaxLevels
	}
	return &Book{maxLevels: maxLevels}
}

// MaxLevels returns the per-side bound.
func (b *Book) MaxLevels() int {
	if b.maxLevels <= 0 {
		return DefaultMaxLevels
	}
	return b.maxLevels
}

// LastUpdateID returns the ID of the last update the book reflects: the
// snapshot's ID after [Book.Load], the update's last ID after [Book.Apply],
// or what [Book.SetLastUpdateID] stored. It is 0 for a new or reset book.
func (b *Book) LastUpdateID() int64 { return b.lastID }

// SetLastUpdateID stores id as the last update ID. Venues whose updates chain
// by another rule than [Book.Apply]'s use it together with [Book.Set].
func (b *Book) SetLastUpdateID(id int64) { b.lastID = id }

// Set sets the total quantity at price on side, as venues send it (absolute,
// not a delta). qty 0 or less removes the level; removing a level the book does
// not hold does nothing. A new level beyond the per-side bound either drops the
// farthest level or, if it is itself the farthest, is ignored.
func (b *Book) Set(side Side, price, qty int64) {
	b.sides[side].set(price^side.mask(), qty, b.MaxLevels())
}

// Load replaces the whole book with a snapshot and sets the last update ID.
// bids and asks are best first, as venues publish them: bids by strictly
// falling price, asks by strictly rising price, every quantity above 0.
// Levels past the per-side bound are left out. The slices are copied, not
// kept.
//
// A snapshot that breaks these rules returns an error wrapping
// [ErrInvalidSnapshot] and leaves the book unchanged. Load does not check that
// the snapshot is uncrossed; see [Book.Crossed].
func (b *Book) Load(lastUpdateID int64, bids, asks []Level) error {
	if err := checkSnapshot(Bid, bids); err != nil {
		return err
	}
	if err := checkSnapshot(Ask, asks); err != nil {
		return err
	}
	limit := b.MaxLevels()
	b.sides[Bid].load(bids, Bid.mask(), limit)
	b.sides[Ask].load(asks, Ask.mask(), limit)
	b.lastID = lastUpdateID
	return nil
}

// Reset empties both sides and sets the last update ID to 0. It keeps the
// memory for reuse: loading a snapshot no deeper than the last one loaded
// allocates nothing.
func (b *Book) Reset() {
	b.sides[Bid].reset()
	b.sides[Ask].reset()
	b.lastID = 0
}

// Depth returns the number of levels on side.
func (b *Book) Depth(side Side) int { return b.sides[side].len() }

// Qty returns the quantity at price on side, or 0 if the book holds no level
// there.
func (b *Book) Qty(side Side, price int64) int64 {
	l := &b.sides[side]
	lv := l.levels()
	if i, ok := search(lv, price^side.mask()); ok {
		return lv[i].Qty
	}
	return 0
}

// Best returns the best level of side: the highest bid or the lowest ask.
// ok is false when the side is empty.
func (b *Book) Best(side Side) (lv Level, ok bool) {
	l := &b.sides[side]
	if l.hi == l.lo {
		return Level{}, false
	}
	top := l.buf[l.hi-1]
	return Level{Price: top.Price ^ side.mask(), Qty: top.Qty}, true
}

// BestBid returns the highest bid; ok is false when there are no bids.
func (b *Book) BestBid() (Level, bool) { return b.Best(Bid) }

// BestAsk returns the lowest ask; ok is false when there are no asks.
func (b *Book) BestAsk() (Level, bool) { return b.Best(Ask) }

// Crossed reports whether both sides are non-empty and the best bid is at or
// above the best ask. A venue's book is never crossed between updates, so a
// crossed local book means it is out of sync and should be rebuilt.
func (b *Book) Crossed() bool {
	bid, okb := b.BestBid()
	ask, oka := b.BestAsk()
	return okb && oka && bid.Price >= ask.Price
}

// Top appends the best n levels of side to dst, best first, and returns the
// extended slice. It appends fewer when the side holds fewer, and nothing when
// n is 0 or less. It allocates only when dst lacks the capacity.
func (b *Book) Top(side Side, n int, dst []Level) []Level {
	l := &b.sides[side]
	n = min(n, l.len())
	if n <= 0 {
		return dst
	}
	mask := side.mask()
	lv := l.buf[l.hi-n : l.hi]
	for i := len(lv) - 1; i >= 0; i-- {
		dst = append(dst, Level{Price: lv[i].Price ^ mask, Qty: lv[i].Qty})
	}
	return dst
}

// Levels appends every level of side to dst, best first, and returns the
// extended slice. It allocates only when dst lacks the capacity.
func (b *Book) Levels(side Side, dst []Level) []Level {
	return b.Top(side, b.Depth(side), dst)
}

// Equal reports whether b and other hold the same levels on both sides. It
// ignores the last update IDs and the bounds.
func (b *Book) Equal(other *Book) bool {
	for s := range b.sides {
		x, y := b.sides[s].levels(), other.sides[s].levels()
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
	}
	return true
}
