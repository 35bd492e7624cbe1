package book

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

type op struct {
	side       Side
	price, qty int64
}

func TestSet(t *testing.T) {
	tests := []struct {
		name       string
		maxLevels  int
		ops        []op
		bids, asks []Level // best first
	}{
		{
			name: "insert keeps best first",
			ops:  []op{{Bid, 100, 1}, {Bid, 102, 2}, {Bid, 101, 3}, {Ask, 105, 1}, {Ask, 103, 2}, {Ask, 104, 3}},
			bids: []Level{{102, 2}, {101, 3}, {100, 1}},
			asks: []Level{{103, 2}, {104, 3}, {105, 1}},
		},
		{
			name: "quantity is absolute",
			ops:  []op{{Bid, 100, 5}, {Bid, 100, 3}, {Ask, 101, 1}, {Ask, 101, 9}},
			bids: []Level{{100, 3}},
			asks: []Level{{101, 9}},
		},
		{
			name: "zero removes",
			ops:  []op{{Bid, 100, 1}, {Bid, 99, 1}, {Bid, 100, 0}, {Ask, 101, 1}, {Ask, 101, 0}},
			bids: []Level{{99, 1}},
		},
		{
			name: "negative removes",
			ops:  []op{{Bid, 100, 1}, {Bid, 100, -3}},
		},
		{
			name: "removing an absent level does nothing",
			ops:  []op{{Bid, 100, 1}, {Bid, 101, 0}, {Ask, 100, 0}},
			bids: []Level{{100, 1}},
		},
		{
			name: "sides are independent",
			ops:  []op{{Bid, 100, 1}, {Ask, 100, 2}},
			bids: []Level{{100, 1}},
			asks: []Level{{100, 2}},
		},
		{
			name:      "full side drops its farthest level",
			maxLevels: 2,
			ops:       []op{{Bid, 100, 1}, {Bid, 101, 1}, {Bid, 102, 1}, {Ask, 110, 1}, {Ask, 109, 1}, {Ask, 108, 1}},
			bids:      []Level{{102, 1}, {101, 1}},
			asks:      []Level{{108, 1}, {109, 1}},
		},
		{
			name:      "full side ignores a new farthest level",
			maxLevels: 2,
			ops:       []op{{Bid, 100, 1}, {Bid, 101, 1}, {Bid, 99, 1}, {Ask, 108, 1}, {Ask, 109, 1}, {Ask, 110, 1}},
			bids:      []Level{{101, 1}, {100, 1}},
			asks:      []Level{{108, 1}, {109, 1}},
		},
		{
			name:      "full side still updates its levels",
			maxLevels: 2,
			ops:       []op{{Bid, 100, 1}, {Bid, 101, 1}, {Bid, 100, 7}},
			bids:      []Level{{101, 1}, {100, 7}},
		},
		{
			name: "negative and extreme prices",
			ops:  []op{{Bid, -5, 1}, {Bid, -9223372036854775808, 1}, {Bid, 9223372036854775807, 1}, {Ask, -5, 1}, {Ask, 9223372036854775807, 1}, {Ask, -9223372036854775808, 1}},
			bids: []Level{{9223372036854775807, 1}, {-5, 1}, {-9223372036854775808, 1}},
			asks: []Level{{-9223372036854775808, 1}, {-5, 1}, {9223372036854775807, 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(tt.maxLevels)
			for _, o := range tt.ops {
				b.Set(o.side, o.price, o.qty)
			}
			if got := b.Levels(Bid, nil); !slices.Equal(got, tt.bids) {
				t.Errorf("bids = %v, want %v", got, tt.bids)
			}
			if got := b.Levels(Ask, nil); !slices.Equal(got, tt.asks) {
				t.Errorf("asks = %v, want %v", got, tt.asks)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name       string
		maxLevels  int
		bids, asks []Level
		wantErr    string // "" for success
		wantBids   []Level
		wantAsks   []Level
	}{
		{
			name:     "best first",
			bids:     []Level{{100, 1}, {99, 2}, {97, 3}},
			asks:     []Level{{101, 4}, {103, 5}},
			wantBids: []Level{{100, 1}, {99, 2}, {97, 3}},
			wantAsks: []Level{{101, 4}, {103, 5}},
		},
		{
			name: "empty",
		},
		{
			name:      "cut to the bound",
			maxLevels: 2,
			bids:      []Level{{100, 1}, {99, 2}, {97, 3}},
			asks:      []Level{{101, 4}, {103, 5}, {104, 6}},
			wantBids:  []Level{{100, 1}, {99, 2}},
			wantAsks:  []Level{{101, 4}, {103, 5}},
		},
		{
			name:    "bids rising",
			bids:    []Level{{99, 1}, {100, 1}},
			wantErr: "bid 1 (price 100) is not worse than bid 0 (price 99)",
		},
		{
			name:    "asks falling",
			asks:    []Level{{101, 1}, {100, 1}},
			wantErr: "ask 1 (price 100) is not worse than ask 0 (price 101)",
		},
		{
			name:    "duplicate price",
			asks:    []Level{{101, 1}, {101, 2}},
			wantErr: "ask 1 (price 101) is not worse",
		},
		{
			name:    "zero quantity",
			bids:    []Level{{100, 1}, {99, 0}},
			wantErr: "bid 1 (price 99) has quantity 0",
		},
		{
			name:    "error past the bound still counts",
			bids:    []Level{{100, 1}, {99, 1}, {98, -1}},
			wantErr: "bid 2 (price 98) has quantity -1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			maxLevels := tt.maxLevels
			if maxLevels == 0 {
				maxLevels = 10
			}
			b := New(maxLevels)
			b.Set(Bid, 50, 1)
			b.Set(Ask, 60, 1)
			b.SetLastUpdateID(7)
			before := New(maxLevels)
			before.Set(Bid, 50, 1)
			before.Set(Ask, 60, 1)

			err := b.Load(42, tt.bids, tt.asks)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalidSnapshot) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v, want ErrInvalidSnapshot containing %q", err, tt.wantErr)
				}
				if !b.Equal(before) || b.LastUpdateID() != 7 {
					t.Fatalf("failed Load changed the book")
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if b.LastUpdateID() != 42 {
				t.Errorf("LastUpdateID = %d, want 42", b.LastUpdateID())
			}
			if got := b.Levels(Bid, nil); !slices.Equal(got, tt.wantBids) {
				t.Errorf("bids = %v, want %v", got, tt.wantBids)
			}
			if got := b.Levels(Ask, nil); !slices.Equal(got, tt.wantAsks) {
				t.Errorf("asks = %v, want %v", got, tt.wantAsks)
			}
		})
	}
}

func TestLoadCopiesInput(t *testing.T) {
	bids := []Level{{100, 1}}
	b := New(0)
	if err := b.Load(1, bids, nil); err != nil {
		t.Fatal(err)
	}
	bids[0].Qty = 99
	if lv, _ := b.BestBid(); lv.Qty != 1 {
		t.Fatalf("book follows the caller's slice: best bid %v", lv)
	}
}

func TestApply(t *testing.T) {
	snapshot := func() *Book {
		b := New(0)
		if err := b.Load(100, []Level{{10, 1}, {9, 1}}, []Level{{11, 1}, {12, 1}}); err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name        string
		u           Update
		wantApplied bool
		wantGap     *GapError
		wantInvalid bool
		wantLastID  int64
		wantBids    []Level
		wantAsks    []Level
	}{
		{
			name:        "next in sequence",
			u:           Update{FirstID: 101, LastID: 105, Bids: []Level{{10, 0}, {8, 4}}, Asks: []Level{{11, 3}}},
			wantApplied: true,
			wantLastID:  105,
			wantBids:    []Level{{9, 1}, {8, 4}},
			wantAsks:    []Level{{11, 3}, {12, 1}},
		},
		{
			name:        "straddles the snapshot",
			u:           Update{FirstID: 95, LastID: 101, Asks: []Level{{12, 0}}},
			wantApplied: true,
			wantLastID:  101,
			wantBids:    []Level{{10, 1}, {9, 1}},
			wantAsks:    []Level{{11, 1}},
		},
		{
			name:        "single id",
			u:           Update{FirstID: 101, LastID: 101},
			wantApplied: true,
			wantLastID:  101,
			wantBids:    []Level{{10, 1}, {9, 1}},
			wantAsks:    []Level{{11, 1}, {12, 1}},
		},
		{
			name:       "stale: ends at the book",
			u:          Update{FirstID: 90, LastID: 100, Bids: []Level{{10, 0}}},
			wantLastID: 100,
			wantBids:   []Level{{10, 1}, {9, 1}},
			wantAsks:   []Level{{11, 1}, {12, 1}},
		},
		{
			name:       "stale: before the book",
			u:          Update{FirstID: 50, LastID: 60, Bids: []Level{{10, 0}}},
			wantLastID: 100,
			wantBids:   []Level{{10, 1}, {9, 1}},
			wantAsks:   []Level{{11, 1}, {12, 1}},
		},
		{
			name:       "gap",
			u:          Update{FirstID: 103, LastID: 110, Bids: []Level{{10, 0}}},
			wantGap:    &GapError{Expected: 101, Got: 103},
			wantLastID: 100,
			wantBids:   []Level{{10, 1}, {9, 1}},
			wantAsks:   []Level{{11, 1}, {12, 1}},
		},
		{
			name:        "ids reversed",
			u:           Update{FirstID: 105, LastID: 101},
			wantInvalid: true,
			wantLastID:  100,
			wantBids:    []Level{{10, 1}, {9, 1}},
			wantAsks:    []Level{{11, 1}, {12, 1}},
		},
		{
			name:        "negative quantity leaves the book whole",
			u:           Update{FirstID: 101, LastID: 102, Bids: []Level{{10, 0}}, Asks: []Level{{11, 2}, {13, -1}}},
			wantInvalid: true,
			wantLastID:  100,
			wantBids:    []Level{{10, 1}, {9, 1}},
			wantAsks:    []Level{{11, 1}, {12, 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := snapshot()
			applied, err := b.Apply(tt.u)
			if applied != tt.wantApplied {
				t.Errorf("applied = %v, want %v", applied, tt.wantApplied)
			}
			switch {
			case tt.wantGap != nil:
				var gap *GapError
				if !errors.As(err, &gap) || *gap != *tt.wantGap || !errors.Is(err, ErrGap) {
					t.Errorf("err = %v, want %v", err, tt.wantGap)
				}
			case tt.wantInvalid:
				if !errors.Is(err, ErrInvalidUpdate) || errors.Is(err, ErrGap) {
					t.Errorf("err = %v, want ErrInvalidUpdate", err)
				}
			case err != nil:
				t.Errorf("err = %v, want nil", err)
			}
			if b.LastUpdateID() != tt.wantLastID {
				t.Errorf("LastUpdateID = %d, want %d", b.LastUpdateID(), tt.wantLastID)
			}
			if got := b.Levels(Bid, nil); !slices.Equal(got, tt.wantBids) {
				t.Errorf("bids = %v, want %v", got, tt.wantBids)
			}
			if got := b.Levels(Ask, nil); !slices.Equal(got, tt.wantAsks) {
				t.Errorf("asks = %v, want %v", got, tt.wantAsks)
			}
		})
	}
}

func TestGapError(t *testing.T) {
	err := error(&GapError{Expected: 11, Got: 15})
	if got, want := err.Error(), "book: update gap: expected first update id 11, got 15 (4 missed)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	wrapped := errors.Join(errors.New("BTCUSDT"), err)
	if !errors.Is(wrapped, ErrGap) {
		t.Error("errors.Is(wrapped, ErrGap) = false")
	}
	if errors.Is(err, ErrInvalidUpdate) {
		t.Error("a gap is not an invalid update")
	}
}

func TestApplyOnEmptyBook(t *testing.T) {
	var b Book
	_, err := b.Apply(Update{FirstID: 5000, LastID: 5001})
	var gap *GapError
	if !errors.As(err, &gap) || gap.Expected != 1 || gap.Got != 5000 {
		t.Fatalf("Apply on an unloaded book: err = %v, want a gap expecting 1", err)
	}
}

func TestCrossed(t *testing.T) {
	tests := []struct {
		name string
		ops  []op
		want bool
	}{
		{"empty", nil, false},
		{"bids only", []op{{Bid, 100, 1}}, false},
		{"asks only", []op{{Ask, 100, 1}}, false},
		{"spread", []op{{Bid, 100, 1}, {Ask, 101, 1}}, false},
		{"locked", []op{{Bid, 100, 1}, {Ask, 100, 1}}, true},
		{"crossed", []op{{Bid, 102, 1}, {Ask, 101, 1}}, true},
		{"uncrossed by removal", []op{{Bid, 100, 1}, {Bid, 102, 1}, {Ask, 101, 1}, {Bid, 102, 0}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(0)
			for _, o := range tt.ops {
				b.Set(o.side, o.price, o.qty)
			}
			if got := b.Crossed(); got != tt.want {
				t.Errorf("Crossed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTopAppendsWithoutAllocating(t *testing.T) {
	b := New(0)
	for p := int64(1); p <= 100; p++ {
		b.Set(Bid, p, p)
		b.Set(Ask, 1000+p, p)
	}
	dst := make([]Level, 0, 10)
	allocs := testing.AllocsPerRun(100, func() {
		dst = b.Top(Bid, 5, dst[:0])
		dst = b.Top(Ask, 5, dst)
	})
	if allocs != 0 {
		t.Errorf("Top allocated %.0f times with room in dst", allocs)
	}
	want := []Level{{100, 100}, {99, 99}, {98, 98}, {97, 97}, {96, 96}, {1001, 1}, {1002, 2}, {1003, 3}, {1004, 4}, {1005, 5}}
	if !slices.Equal(dst, want) {
		t.Errorf("Top = %v, want %v", dst, want)
	}
}

func TestSetDoesNotAllocateAtWorkingSize(t *testing.T) {
	b := New(1000)
	for p := int64(1); p <= 1000; p++ {
		b.Set(Bid, 2*p, 1)
	}
	i := int64(0)
	allocs := testing.AllocsPerRun(10000, func() {
		i++
		b.Set(Bid, 2000-2*(i%40)+1, i%3) // inserts, updates and removes near the top of a full side
	})
	if allocs != 0 {
		t.Errorf("Set allocated %.2f times per call", allocs)
	}
}

func TestResetKeepsBound(t *testing.T) {
	b := New(2)
	for p := int64(1); p <= 5; p++ {
		b.Set(Ask, p, 1)
	}
	b.SetLastUpdateID(9)
	b.Reset()
	if b.Depth(Bid) != 0 || b.Depth(Ask) != 0 || b.LastUpdateID() != 0 {
		t.Fatalf("after Reset: depths %d/%d, last id %d", b.Depth(Bid), b.Depth(Ask), b.LastUpdateID())
	}
	if _, ok := b.BestAsk(); ok {
		t.Fatal("BestAsk reports a level after Reset")
	}
	for p := int64(1); p <= 5; p++ {
		b.Set(Ask, p, 1)
	}
	if got, want := b.Levels(Ask, nil), []Level{{1, 1}, {2, 1}}; !slices.Equal(got, want) {
		t.Fatalf("asks = %v, want %v", got, want)
	}
}

func TestZeroBook(t *testing.T) {
	var b Book
	if b.MaxLevels() != DefaultMaxLevels {
		t.Fatalf("MaxLevels = %d, want %d", b.MaxLevels(), DefaultMaxLevels)
	}
	b.Set(Ask, 5, 1)
	b.Set(Ask, 3, 1)
	b.Set(Bid, 1, 1)
	b.Set(Bid, 2, 1)
	if got, want := b.Levels(Ask, nil), []Level{{3, 1}, {5, 1}}; !slices.Equal(got, want) {
		t.Errorf("asks = %v, want %v", got, want)
	}
	if got, want := b.Levels(Bid, nil), []Level{{2, 1}, {1, 1}}; !slices.Equal(got, want) {
		t.Errorf("bids = %v, want %v", got, want)
	}
	if q := b.Qty(Ask, 4); q != 0 {
		t.Errorf("Qty of an absent level = %d", q)
	}
}

func TestEqual(t *testing.T) {
	a, b := New(0), New(3)
	if !a.Equal(b) {
		t.Fatal("empty books differ")
	}
	a.Set(Bid, 1, 1)
	if a.Equal(b) || b.Equal(a) {
		t.Fatal("books with different bids are equal")
	}
	b.Set(Bid, 1, 1)
	b.SetLastUpdateID(5)
	if !a.Equal(b) {
		t.Fatal("Equal looks at the last update id")
	}
	b.Set(Bid, 1, 2)
	if a.Equal(b) {
		t.Fatal("books with different quantities are equal")
	}
	x, y := New(0), New(0)
	x.Set(Bid, 1, 1)
	y.Set(Ask, 1, 1)
	if x.Equal(y) {
		t.Fatal("a bid and an ask at the same price are equal")
	}
}

func TestSideString(t *testing.T) {
	for s, want := range map[Side]string{Bid: "bid", Ask: "ask", 7: "Side(7)"} {
		if got := s.String(); got != want {
			t.Errorf("Side(%d).String() = %q, want %q", s, got, want)
		}
	}
}

func TestApplyChained(t *testing.T) {
	load := func() *Book {
		b := New(0)
		if err := b.Load(100, []Level{{10, 1}, {9, 1}}, []Level{{11, 1}, {12, 1}}); err != nil {
			t.Fatal(err)
		}
		return b
	}
	// IDs jump between updates: only PrevID chains them
	b := load()
	if ok, err := b.ApplyChained(Update{FirstID: 120, LastID: 130, PrevID: 100, Bids: []Level{{10, 0}}}); !ok || err != nil {
		t.Fatalf("chained update after a jump: applied %v, err %v", ok, err)
	}
	if b.LastUpdateID() != 130 || b.Qty(Bid, 10) != 0 {
		t.Fatalf("after the update: last id %d, bid 10 qty %d", b.LastUpdateID(), b.Qty(Bid, 10))
	}
	// stale
	if ok, err := b.ApplyChained(Update{FirstID: 125, LastID: 130, PrevID: 110, Asks: []Level{{11, 7}}}); ok || err != nil || b.Qty(Ask, 11) != 1 {
		t.Fatalf("stale update: applied %v, err %v, ask 11 qty %d", ok, err, b.Qty(Ask, 11))
	}
	// the chain names another previous update: a gap, the book unchanged
	_, err := b.ApplyChained(Update{FirstID: 131, LastID: 140, PrevID: 135, Asks: []Level{{11, 7}}})
	var gap *GapError
	if !errors.As(err, &gap) || !errors.Is(err, ErrGap) || gap.Expected != 130 || gap.Got != 135 || !gap.Chained {
		t.Fatalf("broken chain: err = %v", err)
	}
	if b.LastUpdateID() != 130 || b.Qty(Ask, 11) != 1 {
		t.Fatal("a refused update changed the book")
	}
	// FirstID == last+1 does not make an update continue: PrevID does
	if _, err := b.ApplyChained(Update{FirstID: 131, LastID: 132, PrevID: 129}); !errors.Is(err, ErrGap) {
		t.Fatalf("contiguous IDs with a wrong PrevID: err = %v, want a gap", err)
	}
	if _, err := b.ApplyChained(Update{FirstID: 150, LastID: 140, PrevID: 131}); !errors.Is(err, ErrInvalidUpdate) {
		t.Fatalf("last below first: err = %v", err)
	}
	if _, err := b.ApplyChained(Update{FirstID: 131, LastID: 140, PrevID: 130, Bids: []Level{{9, -1}}}); !errors.Is(err, ErrInvalidUpdate) || b.LastUpdateID() != 130 {
		t.Fatalf("negative quantity: err = %v, last id %d", err, b.LastUpdateID())
	}
	// a keep-alive names itself; IDs that restart lower still chain
	if ok, err := b.ApplyChained(Update{FirstID: 130, LastID: 130, PrevID: 130}); !ok || err != nil || b.LastUpdateID() != 130 {
		t.Fatalf("keep-alive: applied %v, err %v, last id %d", ok, err, b.LastUpdateID())
	}
	if ok, err := b.ApplyChained(Update{FirstID: 3, LastID: 3, PrevID: 130, Asks: []Level{{11, 9}}}); !ok || err != nil || b.LastUpdateID() != 3 || b.Qty(Ask, 11) != 9 {
		t.Fatalf("IDs restarting lower: applied %v, err %v, last id %d", ok, err, b.LastUpdateID())
	}
	if ok, err := b.ApplyChained(Update{FirstID: 5, LastID: 5, PrevID: 3}); !ok || err != nil || b.LastUpdateID() != 5 {
		t.Fatalf("after the restart: applied %v, err %v, last id %d", ok, err, b.LastUpdateID())
	}
}
