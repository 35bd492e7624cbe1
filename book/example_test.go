package book_test

import (
	"errors"
	"fmt"

	"github.com/feedkeeper/feedkeeper/book"
)

// A book is loaded from a snapshot, then kept current with diff updates.
// Prices and quantities are mantissas: here the symbol's price scale is 2
// (10012 is 100.12) and its quantity scale is 3.
func Example() {
	b := book.New(5000)
	err := b.Load(1000,
		[]book.Level{{Price: 10012, Qty: 1500}, {Price: 10011, Qty: 250}}, // bids, best first
		[]book.Level{{Price: 10014, Qty: 700}, {Price: 10015, Qty: 3000}}, // asks, best first
	)
	if err != nil {
		panic(err)
	}

	updates := []book.Update{
		{FirstID: 990, LastID: 1000}, // already in the snapshot
		{FirstID: 995, LastID: 1003, Asks: []book.Level{{Price: 10014, Qty: 0}, {Price: 10013, Qty: 100}}},
		{FirstID: 1010, LastID: 1012}, // 1004 to 1009 never arrived
	}
	for _, u := range updates {
		applied, err := b.Apply(u)
		var gap *book.GapError
		switch {
		case errors.As(err, &gap):
			fmt.Printf("gap: expected %d, got %d: resync from a new snapshot\n", gap.Expected, gap.Got)
		case err != nil:
			fmt.Println("bad update:", err)
		case !applied:
			fmt.Println("stale, skipped")
		default:
			bid, _ := b.BestBid()
			ask, _ := b.BestAsk()
			fmt.Printf("book at %d: %d x %d\n", b.LastUpdateID(), bid.Price, ask.Price)
		}
	}
	fmt.Println("top asks:", b.Top(book.Ask, 2, nil))
	// Output:
	// stale, skipped
	// book at 1003: 10012 x 10013
	// gap: expected 1004, got 1010: resync from a new snapshot
	// top asks: [{10013 100} {10015 3000}]
}
