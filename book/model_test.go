package book

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// model is the obviously correct book the real one is checked against: a map
// per side, sorted on demand, with the same bound rule.
type model struct {
	max    int
	sides  [2]map[int64]int64
	lastID int64
}

func newModel(maxLevels int) *model {
	if maxLevels <= 0 {
		maxLevels = DefaultMaxLevels
	}
	return &model{max: maxLevels, sides: [2]map[int64]int64{{}, {}}}
}

// better reports whether price a is better than price b on side.
func better(side Side, a, b int64) bool {
	if side == Bid {
		return a > b
	}
	return a < b
}

func (m *model) set(side Side, price, qty int64) {
	lv := m.sides[side]
	if qty <= 0 {
		delete(lv, price)
		return
	}
	if _, ok := lv[price]; ok || len(lv) < m.max {
		lv[price] = qty
		return
	}
	worst, first := int64(0), true
	for p := range lv {
		if first || better(side, worst, p) {
			worst, first = p, false
		}
	}
	if better(side, worst, price) {
		return
	}
	delete(lv, worst)
	lv[price] = qty
}

func (m *model) levels(side Side) []Level {
	prices := slices.Collect(maps.Keys(m.sides[side]))
	slices.SortFunc(prices, func(a, b int64) int {
		if side == Bid {
			return cmp.Compare(b, a)
		}
		return cmp.Compare(a, b)
	})
	out := make([]Level, 0, len(prices))
	for _, p := range prices {
		out = append(out, Level{Price: p, Qty: m.sides[side][p]})
	}
	return out
}

func (m *model) load(id int64, bids, asks []Level) {
	m.sides = [2]map[int64]int64{{}, {}}
	for _, v := range bids[:min(len(bids), m.max)] {
		m.sides[Bid][v.Price] = v.Qty
	}
	for _, v := range asks[:min(len(asks), m.max)] {
		m.sides[Ask][v.Price] = v.Qty
	}
	m.lastID = id
}

func (m *model) reset() {
	m.sides = [2]map[int64]int64{{}, {}}
	m.lastID = 0
}

func (m *model) apply(u Update) (bool, error) {
	if u.LastID < u.FirstID {
		return false, ErrInvalidUpdate
	}
	if u.LastID <= m.lastID {
		return false, nil
	}
	if u.FirstID > m.lastID+1 {
		return false, &GapError{Expected: m.lastID + 1, Got: u.FirstID}
	}
	for _, v := range slices.Concat(u.Bids, u.Asks) {
		if v.Qty < 0 {
			return false, ErrInvalidUpdate
		}
	}
	for _, v := range u.Bids {
		m.set(Bid, v.Price, v.Qty)
	}
	for _, v := range u.Asks {
		m.set(Ask, v.Price, v.Qty)
	}
	m.lastID = u.LastID
	return true, nil
}

// check compares b with m through the public API and checks b's internal
// invariants.
func check(b *Book, m *model) error {
	if b.LastUpdateID() != m.lastID {
		return fmt.Errorf("LastUpdateID = %d, model %d", b.LastUpdateID(), m.lastID)
	}
	var best [2]Level
	var has [2]bool
	for _, side := range []Side{Bid, Ask} {
		l := &b.sides[side]
		if l.lo < 0 || l.lo > l.hi || l.hi > len(l.buf) {
			return fmt.Errorf("%s: bad window lo=%d hi=%d len=%d", side, l.lo, l.hi, len(l.buf))
		}
		if len(l.buf) > capLimit(b.MaxLevels()) {
			return fmt.Errorf("%s: buffer of %d levels exceeds %d", side, len(l.buf), capLimit(b.MaxLevels()))
		}
		lv := l.levels()
		for i, v := range lv {
			if v.Qty <= 0 {
				return fmt.Errorf("%s: level %d has quantity %d", side, i, v.Qty)
			}
			if i > 0 && lv[i-1].Price >= v.Price {
				return fmt.Errorf("%s: keys not strictly ascending at %d", side, i)
			}
		}
		want := m.levels(side)
		if len(want) > b.MaxLevels() {
			return fmt.Errorf("%s: model holds %d levels, bound %d", side, len(want), b.MaxLevels())
		}
		if got := b.Levels(side, nil); !slices.Equal(got, want) {
			return fmt.Errorf("%s levels:\n got %v\nwant %v", side, got, want)
		}
		if b.Depth(side) != len(want) {
			return fmt.Errorf("%s: Depth = %d, want %d", side, b.Depth(side), len(want))
		}
		for _, n := range []int{-1, 0, 1, 3, len(want), len(want) + 5} {
			prefix := []Level{{7, 7}}
			got := b.Top(side, n, prefix)
			w := append([]Level{{7, 7}}, want[:max(0, min(n, len(want)))]...)
			if !slices.Equal(got, w) {
				return fmt.Errorf("%s: Top(%d) = %v, want %v", side, n, got, w)
			}
		}
		best[side], has[side] = b.Best(side)
		if has[side] != (len(want) > 0) || (has[side] && best[side] != want[0]) {
			return fmt.Errorf("%s: Best = %v, %v; levels %v", side, best[side], has[side], want)
		}
		for _, v := range want {
			if q := b.Qty(side, v.Price); q != v.Qty {
				return fmt.Errorf("%s: Qty(%d) = %d, want %d", side, v.Price, q, v.Qty)
			}
		}
	}
	wantCrossed := has[Bid] && has[Ask] && best[Bid].Price >= best[Ask].Price
	if b.Crossed() != wantCrossed {
		return fmt.Errorf("Crossed = %v, want %v (best bid %v, best ask %v)", b.Crossed(), wantCrossed, best[Bid], best[Ask])
	}
	return nil
}

// opSource yields the numbers that drive one random run: a PRNG for the
// property test, the fuzzer's bytes for the fuzz test.
type opSource interface {
	next() uint64 // 0 when exhausted
	done() bool
}

type rngSource struct {
	r    *rand.Rand
	left int
}

func (s *rngSource) next() uint64 { s.left--; return s.r.Uint64() }
func (s *rngSource) done() bool   { return s.left <= 0 }

type byteSource struct{ data []byte }

func (s *byteSource) next() uint64 {
	if len(s.data) == 0 {
		return 0
	}
	v := uint64(s.data[0])
	s.data = s.data[1:]
	return v
}
func (s *byteSource) done() bool { return len(s.data) == 0 }

// run drives b and m through the same random operations, with prices drawn
// from [base, base+span), and checks them against each other after each one.
func run(t *testing.T, b *Book, m *model, src opSource, base, span int64) {
	t.Helper()
	price := func() int64 {
		switch v := int64(src.next() % uint64(span+2)); v {
		case span:
			return math.MinInt64
		case span + 1:
			return math.MaxInt64
		default:
			return base + v
		}
	}
	qty := func() int64 {
		v := src.next()
		if v%4 == 0 {
			return 0
		}
		return int64(v%1000) + 1
	}
	snapshot := func(side Side) []Level {
		n := int(src.next() % uint64(span+2))
		set := map[int64]int64{}
		for range n {
			if q := qty(); q > 0 {
				set[price()] = q
			}
		}
		var out []Level
		for p, q := range set {
			out = append(out, Level{p, q})
		}
		slices.SortFunc(out, func(a, c Level) int {
			if better(side, a.Price, c.Price) {
				return -1
			}
			return 1
		})
		return out
	}
	levels := func() []Level {
		var lv []Level
		for range src.next() % 6 {
			lv = append(lv, Level{price(), qty()})
		}
		return lv
	}
	for step := 0; !src.done(); step++ {
		op := src.next() % 100
		side := Side(src.next() % 2)
		var desc string
		switch {
		case op < 80:
			p, q := price(), qty()
			b.Set(side, p, q)
			m.set(side, p, q)
			desc = fmt.Sprintf("Set(%s, %d, %d)", side, p, q)
		case op < 84:
			bids, asks := snapshot(Bid), snapshot(Ask)
			id := int64(src.next() % 50)
			if err := b.Load(id, bids, asks); err != nil {
				t.Fatalf("step %d: Load: %v", step, err)
			}
			m.load(id, bids, asks)
			desc = fmt.Sprintf("Load(%d, %d bids, %d asks)", id, len(bids), len(asks))
		case op < 85:
			b.Reset()
			m.reset()
			desc = "Reset"
		default:
			first := m.lastID + int64(src.next()%5) - 2
			u := Update{FirstID: first, LastID: first + int64(src.next()%4) - 1, Bids: levels(), Asks: levels()}
			if src.next()%8 == 0 && len(u.Bids) > 0 {
				u.Bids[0].Qty = -1
			}
			got, gerr := b.Apply(u)
			want, werr := m.apply(u)
			if got != want || (gerr == nil) != (werr == nil) {
				t.Fatalf("step %d: Apply(%+v) = %v, %v; model %v, %v", step, u, got, gerr, want, werr)
			}
			if werr != nil && !errorsMatch(gerr, werr) {
				t.Fatalf("step %d: Apply(%+v) error %v, model %v", step, u, gerr, werr)
			}
			desc = fmt.Sprintf("Apply(%+v)", u)
		}
		if err := check(b, m); err != nil {
			t.Fatalf("step %d after %s: %v", step, desc, err)
		}
		if step%16 == 0 {
			other := New(b.MaxLevels())
			if err := other.Load(0, m.levels(Bid), m.levels(Ask)); err != nil {
				t.Fatalf("step %d: Load of the model's levels: %v", step, err)
			}
			if !b.Equal(other) || !other.Equal(b) {
				t.Fatalf("step %d: Equal is false for a book loaded with the same levels", step)
			}
		}
	}
}

func TestModel(t *testing.T) {
	cases := []struct {
		maxLevels int
		base      int64
		span      int64
		ops       int
	}{
		{1, 0, 8, 3000},
		{2, -4, 8, 3000},
		{5, 100, 20, 5000},
		{16, 1000, 64, 10000},
		{50, 1 << 40, 200, 20000},
		{300, -50, 1000, 40000},
		{0, 0, 64, 5000},
	}
	for _, c := range cases {
		for seed := range uint64(8) {
			t.Run(fmt.Sprintf("max=%d/span=%d/seed=%d", c.maxLevels, c.span, seed), func(t *testing.T) {
				t.Parallel()
				src := &rngSource{r: rand.New(rand.NewPCG(seed, uint64(c.maxLevels))), left: c.ops}
				var b *Book
				if c.maxLevels == 0 {
					b = new(Book)
				} else {
					b = New(c.maxLevels)
				}
				run(t, b, newModel(c.maxLevels), src, c.base, c.span)
			})
		}
	}
}

func FuzzBook(f *testing.F) {
	f.Add(byte(3), []byte{0, 0, 5, 7, 0, 1, 5, 9, 0, 0, 6, 3})
	f.Add(byte(1), []byte{90, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add(byte(8), []byte{81, 1, 9, 3, 4, 5, 6, 7, 8, 9, 10, 50, 0, 3, 3, 3})
	f.Fuzz(func(t *testing.T, maxLevels byte, data []byte) {
		// Long inputs add little but slow every execution down.
		data = data[:min(len(data), 600)]
		n := int(maxLevels%32) + 1
		run(t, New(n), newModel(n), &byteSource{data: data}, -8, 48)
	})
}

func errorsMatch(got, want error) bool {
	if g, ok := want.(*GapError); ok {
		ge, ok := got.(*GapError)
		return ok && *ge == *g
	}
	return errors.Is(got, want)
}
