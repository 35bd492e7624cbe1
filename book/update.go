package book

import "fmt"

// Update is one batch of level changes from a venue's diff stream, covering
// the venue's update IDs FirstID to LastID inclusive (Binance spot: U and u).
// Quantities are absolute; 0 removes the level. IDs count the venue's internal
// updates, not levels, so LastID-FirstID+1 need not equal the number of levels.
type Update struct {
	FirstID, LastID int64
	// PrevID is, for venues whose updates name the one before them (Binance
	// USD-M pu, OKX prevSeqId), the LastID of the previous update; 0 when the
	// venue gives none. Only [Book.ApplyChained] reads it.
	PrevID     int64
	Bids, Asks []Level
}

// Apply applies u if it continues the book, using the chaining rule of
// Binance spot and venues like it. With last the book's [Book.LastUpdateID]:
//
//   - u.LastID <= last: u is stale (every change in it is already in the
//     book). Apply leaves the book unchanged and returns false, nil.
//   - u.FirstID > last+1: updates were missed. Apply leaves the book unchanged
//     and returns a *[GapError] (errors.Is(err, ErrGap)). The caller must
//     rebuild the book from a new snapshot. A new or reset book has last ID 0,
//     so with real venue IDs it reports a gap until [Book.Load] is called.
//   - otherwise (u.FirstID <= last+1 <= u.LastID) Apply sets every bid, then
//     every ask, as [Book.Set] does, then sets the last update ID to u.LastID,
//     and returns true, nil. The first update after a snapshot usually
//     straddles it (FirstID <= last); its changes are absolute, so replaying
//     the part already in the snapshot is harmless.
//
// An update with LastID < FirstID or a negative quantity returns an error
// wrapping [ErrInvalidUpdate] and leaves the book unchanged.
//
// Apply does not check the result for a crossed book; callers that want that
// check call [Book.Crossed] afterwards. Venues whose updates name the one
// before them (Binance USD-M futures: pu == previous u) use
// [Book.ApplyChained].
func (b *Book) Apply(u Update) (applied bool, err error) {
	if u.LastID < u.FirstID {
		return false, fmt.Errorf("%w: last id %d below first id %d", ErrInvalidUpdate, u.LastID, u.FirstID)
	}
	if u.LastID <= b.lastID {
		return false, nil
	}
	if u.FirstID > b.lastID+1 {
		return false, &GapError{Expected: b.lastID + 1, Got: u.FirstID}
	}
	return b.set(u)
}

// ApplyChained applies u if it continues the book by the rule of venues whose
// updates name the one before them (Binance USD-M futures: pu == previous
// u; OKX: prevSeqId == previous seqId). With last the book's
// [Book.LastUpdateID]:
//
//   - u.PrevID == last: u continues the book. Its levels are set as
//     [Book.Apply] sets them and the last update ID becomes u.LastID, even
//     when that is not above last (OKX's IDs restart lower after a
//     maintenance, the chain unbroken; a keep-alive names itself); true, nil.
//   - u.LastID <= last: u is stale. The book is unchanged; false, nil.
//   - otherwise updates were missed (or the venue's chain broke). The book
//     is unchanged and a *[GapError] is returned.
//
// The first update after a snapshot does not name the snapshot: its caller
// checks the venue's bridging rule (USD-M: FirstID <= snapshot <= LastID)
// and passes it with PrevID set to the snapshot's ID.
func (b *Book) ApplyChained(u Update) (applied bool, err error) {
	if u.LastID < u.FirstID && u.PrevID != b.lastID {
		return false, fmt.Errorf("%w: last id %d below first id %d", ErrInvalidUpdate, u.LastID, u.FirstID)
	}
	if u.PrevID == b.lastID {
		return b.set(u)
	}
	if u.LastID <= b.lastID {
		return false, nil
	}
	return false, &GapError{Expected: b.lastID, Got: u.PrevID, Chained: true}
}

func (b *Book) set(u Update) (bool, error) {
	if err := checkUpdate(Bid, u.Bids); err != nil {
		return false, err
	}
	if err := checkUpdate(Ask, u.Asks); err != nil {
		return false, err
	}
	limit := b.MaxLevels()
	bids, asks := &b.sides[Bid], &b.sides[Ask]
	for _, v := range u.Bids {
		bids.set(v.Price^Bid.mask(), v.Qty, limit)
	}
	for _, v := range u.Asks {
		asks.set(v.Price^Ask.mask(), v.Qty, limit)
	}
	b.lastID = u.LastID
	return true, nil
}

func checkUpdate(side Side, lv []Level) error {
	for i, v := range lv {
		if v.Qty < 0 {
			return fmt.Errorf("%w: %s %d (price %d) has quantity %d", ErrInvalidUpdate, side, i, v.Price, v.Qty)
		}
	}
	return nil
}
