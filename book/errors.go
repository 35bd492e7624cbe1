package book

import (
	"errors"
	"fmt"
)

var (
	// ErrGap reports that updates were missed: an update's first ID is past
	// the book's last update ID + 1. The book no longer matches the venue and
	// must be rebuilt from a snapshot. Errors returned for it are *GapError.
	ErrGap = errors.New("book: update gap")

	// ErrInvalidSnapshot reports a snapshot that is not sorted best first
	// with distinct prices, or that has a level with quantity 0 or less.
	ErrInvalidSnapshot = errors.New("book: invalid snapshot")

	// ErrInvalidUpdate reports an update whose last ID is below its first
	// ID, or that has a level with a negative quantity.
	ErrInvalidUpdate = errors.New("book: invalid update")
)

// GapError is the error [Book.Apply] and [Book.ApplyChained] return for a
// gap in the update IDs. errors.Is(err, ErrGap) holds for it.
type GapError struct {
	// Expected is the first ID that would have continued the book (its
	// last update ID + 1); for ApplyChained, the previous ID it expected
	// (its last update ID).
	Expected int64
	// Got is the first ID of the update that arrived; for ApplyChained,
	// the previous ID that update named.
	Got     int64
	Chained bool // returned by ApplyChained
}

func (e *GapError) Error() string {
	if e.Chained {
		return fmt.Sprintf("book: update chain broken: expected previous update id %d, got %d", e.Expected, e.Got)
	}
	return fmt.Sprintf("book: update gap: expected first update id %d, got %d (%d missed)",
		e.Expected, e.Got, e.Got-e.Expected)
}

// Is reports whether target is [ErrGap].
func (e *GapError) Is(target error) bool { return target == ErrGap }

func checkSnapshot(side Side, lv []Level) error {
	mask := side.mask()
	for i, v := range lv {
		if v.Qty <= 0 {
			return fmt.Errorf("%w: %s %d (price %d) has quantity %d", ErrInvalidSnapshot, side, i, v.Price, v.Qty)
		}
		if i > 0 && v.Price^mask >= lv[i-1].Price^mask {
			return fmt.Errorf("%w: %s %d (price %d) is not worse than %s %d (price %d)",
				ErrInvalidSnapshot, side, i, v.Price, side, i-1, lv[i-1].Price)
		}
	}
	return nil
}
