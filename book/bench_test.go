package book

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchMix says where updates land: topShare of them among the best 50
// levels, skewed towards the very top, the rest spread evenly over the rest of
// the side.
type benchMix struct {
	name     string
	topShare float64
}

var benchMixes = []benchMix{
	{"realistic", 0.9},
	{"top50", 1},
	{"deep", 0},
}

type benchOp struct {
	side       Side
	price, qty int64
}

// benchSnapshot returns n levels a side around a mid price, best first, one to
// three ticks apart so that there is room to insert between them.
func benchSnapshot(r *rand.Rand, n int) (bids, asks []Level) {
	const mid = 10_000_000
	bid, ask := int64(mid-1), int64(mid+1)
	for range n {
		bids = append(bids, Level{bid, 1 + r.Int64N(1_000_000)})
		asks = append(asks, Level{ask, 1 + r.Int64N(1_000_000)})
		bid -= 1 + r.Int64N(3)
		ask += 1 + r.Int64N(3)
	}
	return bids, asks
}

// benchOps returns count price-level updates for a book loaded with bids and
// asks and bounded at len(bids) levels a side: about 55 % quantity changes,
// 22 % removals and 23 % new levels (removals turn into new levels while a side
// holds less than 90 % of the bound), at depths drawn from mix. It runs them on
// a scratch book as it goes so that every update refers to the book as it is
// then; replaying them from the same snapshot repeats the same states.
func benchOps(r *rand.Rand, bids, asks []Level, mix benchMix, count int) []benchOp {
	b := New(len(bids))
	if err := b.Load(1, bids, asks); err != nil {
		panic(err)
	}
	target := len(bids) * 9 / 10 // removals pause below it
	ops := make([]benchOp, 0, count)
	for len(ops) < count {
		side := Side(r.IntN(2))
		mask := side.mask()
		lv := b.sides[side].levels()
		n := len(lv)
		var depth int
		if r.Float64() < mix.topShare || n <= 50 {
			depth = r.IntN(r.IntN(50) + 1)
		} else {
			depth = 50 + r.IntN(n-50)
		}
		depth = min(depth, n-1)
		at := n - 1 - depth
		price := lv[at].Price ^ mask
		o := benchOp{side: side, price: price, qty: 1 + r.Int64N(1_000_000)}
		switch k := r.IntN(100); {
		case k < 55:
		case k < 77 && n > target:
			o.qty = 0
		default:
			// A new level one tick better than this one if that is free and
			// does not cross the book, else one tick worse if that is free.
			better := (lv[at].Price + 1) ^ mask
			var limit int64
			if at < n-1 {
				limit = lv[at+1].Price ^ mask
			} else if opp, ok := b.Best(1 - side); ok {
				limit = opp.Price
			} else {
				limit = better + 1 - 2*int64(side)
			}
			switch {
			case better != limit && (side == Bid) == (better < limit):
				o.price = better
			case at == 0 || (lv[at].Price-1) > lv[at-1].Price:
				o.price = (lv[at].Price - 1) ^ mask
			}
		}
		b.Set(o.side, o.price, o.qty)
		ops = append(ops, o)
	}
	return ops
}

// BenchmarkSet measures one price-level update on a book of 100, 1000 and
// 5000 levels a side (its bound, as after a full snapshot).
func BenchmarkSet(b *testing.B) {
	for _, levels := range []int{100, 1000, 5000} {
		for _, mix := range benchMixes {
			b.Run(fmt.Sprintf("levels=%d/mix=%s", levels, mix.name), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, uint64(levels)))
				bids, asks := benchSnapshot(r, levels)
				ops := benchOps(r, bids, asks, mix, 1<<18)
				bk := New(levels)
				if err := bk.Load(1, bids, asks); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if i == len(ops) {
						b.StopTimer()
						if err := bk.Load(1, bids, asks); err != nil {
							b.Fatal(err)
						}
						i = 0
						b.StartTimer()
					}
					o := ops[i]
					bk.Set(o.side, o.price, o.qty)
					i++
				}
			})
		}
	}
}

// BenchmarkApply measures Apply with 8 levels per update, the realistic mix,
// and reports the cost per level as ns/level.
func BenchmarkApply(b *testing.B) {
	const perUpdate = 8
	for _, levels := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("levels=%d", levels), func(b *testing.B) {
			r := rand.New(rand.NewPCG(2, uint64(levels)))
			bids, asks := benchSnapshot(r, levels)
			ops := benchOps(r, bids, asks, benchMixes[0], 1<<18)
			var updates []Update
			for i := 0; i+perUpdate <= len(ops); i += perUpdate {
				id := int64(len(updates)) + 2
				u := Update{FirstID: id, LastID: id}
				for _, o := range ops[i : i+perUpdate] {
					if o.side == Bid {
						u.Bids = append(u.Bids, Level{o.price, o.qty})
					} else {
						u.Asks = append(u.Asks, Level{o.price, o.qty})
					}
				}
				updates = append(updates, u)
			}
			bk := New(levels)
			if err := bk.Load(1, bids, asks); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i == len(updates) {
					b.StopTimer()
					if err := bk.Load(1, bids, asks); err != nil {
						b.Fatal(err)
					}
					i = 0
					b.StartTimer()
				}
				if _, err := bk.Apply(updates[i]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/perUpdate, "ns/level")
		})
	}
}

// BenchmarkTop measures copying out the best 20 levels of one side.
func BenchmarkTop(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 0))
	bids, asks := benchSnapshot(r, 1000)
	bk := New(1000)
	if err := bk.Load(1, bids, asks); err != nil {
		b.Fatal(err)
	}
	dst := make([]Level, 0, 20)
	b.ReportAllocs()
	for b.Loop() {
		dst = bk.Top(Bid, 20, dst[:0])
	}
}
