package sim

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// Errors of the ground-truth queries (Server.BookAt, Server.AggTrades,
// Server.LastIDs). They come wrapped with the symbol and the bounds that
// were in force: test them with errors.Is.
var (
	// ErrUnknownSymbol means the simulator does not trade the symbol.
	ErrUnknownSymbol = errors.New("sim: unknown symbol")
	// ErrHistoryGone means the update or trade asked for is older than the
	// history kept (Config.History).
	ErrHistoryGone = errors.New("sim: no longer in history")
	// ErrNotYet means the update asked for has not happened yet.
	ErrNotYet = errors.New("sim: not happened yet")
)

// Level is one price level of a book as Binance writes it: decimal strings
// with eight decimals ("60000.01000000", "0.00120000").
type Level struct{ Price, Qty string }

// BookState is a full order book at one update ID. Bids and asks are both
// best first.
type BookState struct {
	Symbol       string  `json:"symbol"`
	LastUpdateID int64   `json:"lastUpdateId"`
	Bids         []Level `json:"bids"`
	Asks         []Level `json:"asks"`
}

// AggTrade is one aggregate trade: the fills FirstTradeID..LastTradeID of
// one taker order at one price. Time is in milliseconds. Its JSON form is
// Binance's REST form, {"a":…,"p":…,"q":…,"f":…,"l":…,"T":…,"m":…,"M":true}.
type AggTrade struct {
	ID                        int64
	Price, Qty                string
	FirstTradeID, LastTradeID int64
	Time                      int64
	BuyerMaker                bool
}

// SymbolState says where one symbol's market stands and how much of its
// past can still be asked for: BookAt answers for update IDs
// OldestUpdateID..LastUpdateID, AggTrades for OldestAggTradeID..LastAggTradeID
// (an empty range, oldest = last+1, before the first trade).
type SymbolState struct {
	Symbol           string `json:"symbol"`
	LastUpdateID     int64  `json:"lastUpdateId"`
	OldestUpdateID   int64  `json:"oldestUpdateId"`
	LastAggTradeID   int64  `json:"lastAggTradeId"`
	OldestAggTradeID int64  `json:"oldestAggTradeId"`
	LastTradeID      int64  `json:"lastTradeId"`
	OldestTradeID    int64  `json:"oldestTradeId"`

	// Status is the symbol's trading status as exchangeInfo gives it
	// (TRADING, HALT, …); TickSize and StepSize its PRICE_FILTER tickSize
	// and LOT_SIZE stepSize in force.
	Status   string `json:"status"`
	TickSize string `json:"tickSize"`
	StepSize string `json:"stepSize"`
}

// Sides of a book.
const (
	bidSide = 0
	askSide = 1
)

// Streams of one symbol, in the order of symState.names.
const (
	stAggTrade = iota
	stTrade
	stBookTicker
	stDepth      // diff depth, 1000 ms
	stDepth100   // diff depth, 100 ms
	stPartial    // depth5, depth10, depth20 (1000 ms)
	stPartial100 = stPartial + len(partialDepths)
	numStreams   = stPartial100 + len(partialDepths)
	// advanceStreams are the streams advance produces (aggTrade, trade, bookTicker).
	advanceStreams = 3
)

var (
	partialDepths = [...]int{5, 10, 20}
	// depthEvery is the interval of the 1000 ms and the 100 ms variant of
	// the diff and the partial depth streams.
	depthEvery = [2]time.Duration{time.Second, 100 * time.Millisecond}
)

// advanceChunk is how many updates advance makes under the lock before it
// releases it to publish: it bounds how long a REST snapshot waits.
const advanceChunk = 256

// market is the simulated matching engine of every symbol: order books
// that evolve by a seeded random process, trades, and the history that REST
// backfill and ground truth read. It is safe for concurrent use.
//
// Two locks: pubMu serializes advance and tick (the only writers), so that
// messages leave in ID order; mu guards the state against the readers
// (REST, ground truth) and is held only while the state changes or is
// copied. State that only advance and tick touch (diff depth accumulation,
// publishing buffers) is guarded by pubMu alone, and tick reads the books
// under pubMu alone, since no writer can run beside it.
type market struct {
	pubMu sync.Mutex
	mu    sync.Mutex

	syms       []*symState
	index      map[string]int // upper-case symbol → position in syms
	rng        *rand.Rand
	tradeShare float64
	levels     int
	maxLevels  int
	history    int   // aggregate trades kept per symbol
	ring       int   // book changes kept per symbol
	cpEvery    int64 // update IDs between two checkpoints of a book
	lastUs     int64 // time of the latest update (µs); times never go back

	// guarded by pubMu
	faultRng   *rand.Rand // picks the symbol and level of market faults
	evs        []rawEvent
	pub        publisher
	wantEpoch  uint64
	wantCache  []wantEntry
	bids, asks []level

	// the streams computed from the trades (stats.go), guarded by pubMu
	stats statsStreams
}

// symState is one symbol's market.
type symState struct {
	spec  symbolSpec
	sc    scale
	names [numStreams]string
	book  [2]side

	firstUpdate int64 // update ID of the initial book
	lastUpdate  int64
	changes     []change     // ring of changeCap, see putChange
	changeCap   int64        // book changes kept
	cps         []checkpoint // ring: checkpoint at id at (id/cpEvery) % len

	aggs      []aggRec // ring of aggCap, see putAgg
	aggCap    int64    // aggregate trades kept
	firstAgg  int64
	nextAgg   int64
	nextTrade int64

	ticker [4]int64 // best bid price and qty, best ask price and qty last reported
	span   float64  // mean depth, in ticks, at which levels are added to refill a side

	// Individual trades, kept for GET /api/v3/trades and historicalTrades:
	// a ring of tradeCap (three per aggregate trade kept, the most fills
	// one can have), so every fill of a kept aggregate trade is kept.
	trades     []tradeRec
	tradeCap   int64
	firstTrade int64

	// Run-time changes (SetSymbolStatus, SetSymbolFilters, the halt and
	// filters faults), written under pubMu and mu, so either lock reads
	// them. status is exchangeInfo's status; the market moves only a
	// TRADING symbol. resumeAt, when set, ends a halt. infoVer counts the
	// changes exchangeInfo must show. baseTick/baseStep are the filters the
	// symbol started with (the filters fault returns to them).
	status             string
	resumeAt           time.Time
	infoVer            uint64
	baseTick, baseStep int

	diff        [2]diffStream // guarded by pubMu
	partialNext [2]time.Time  // guarded by pubMu
}

// level is a price level in integer ticks and lots.
type level struct{ price, qty int64 }

// side is one side of a book, sorted from the worst price to the best: the
// top of the book, where nearly all changes happen, is at the end.
type side struct {
	ask bool
	lv  []level
}

// change is one level change in the history, in 1e-8 units: price is
// negative for asks.
type change struct{ price, qty int64 }

// checkpoint is a copy of a book right after update id, in 1e-8 units.
type checkpoint struct {
	id int64
	lv [2][]level
}

// History is kept in units of 1e-8 (prices and quantities as Binance
// writes them), not in the symbol's ticks and lots: a tick or step size
// that changes at run time leaves the past readable. unitScale formats it.
var unitScale = scale{tick: 1, step: 1}

// tradeRec is an individual trade (one fill) in the history, in 1e-8 units.
type tradeRec struct {
	price, qty int64
	us         int64
	maker      bool
}

// aggRec is an aggregate trade in the history, in 1e-8 units.
type aggRec struct {
	price, qty  int64
	first, last int64
	us          int64
	maker       bool
}

// diffStream accumulates the level changes of one diff depth stream
// between two of its events, while someone subscribes to it.
type diffStream struct {
	active bool
	from   int64           // U of the next event; 0 while nothing is pending
	pend   map[int64]int64 // price (negative for asks) → quantity, in 1e-8 units
	next   time.Time
}

// rawEvent is something advance produced, kept unencoded until the lock is
// released.
type rawEvent struct {
	kind   Kind
	maker  bool
	sym    int32
	id     int64 // a, t or u
	first  int64 // f
	last   int64 // l
	price  int64 // trade price, or best bid price
	qty    int64 // trade quantity, or best bid quantity
	price2 int64 // best ask price
	qty2   int64 // best ask quantity
	us     int64 // event and trade time
}

type wantEntry struct {
	epoch       uint64
	any, micros bool
}

// newMarket builds the market of cfg (defaults applied): one book of
// cfg.Levels levels a side per symbol, seeded from cfg.Seed.
func newMarket(cfg Config) (*market, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if len(cfg.Symbols) == 0 {
		return nil, errors.New("sim: market: no symbols")
	}
	m := &market{
		index:      make(map[string]int, len(cfg.Symbols)),
		rng:        rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6d61726b6574)),
		tradeShare: cfg.TradeShare,
		levels:     cfg.Levels,
		maxLevels:  cfg.Levels + cfg.Levels/8 + 2,
		history:    cfg.History,
		faultRng:   rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6661756c74)),
	}
	m.cpEvery = int64(min(max(cfg.History/8, 64), 4096))
	m.ring = int((int64(cfg.History)+m.cpEvery-1)/m.cpEvery*m.cpEvery + m.cpEvery)
	for i, v := range cfg.Symbols {
		e, err := parseSymbolEntry(v)
		if err != nil {
			return nil, err
		}
		m.index[e.name] = i
		m.syms = append(m.syms, m.newSymbol(e, cfg.Seed))
	}
	m.wantCache = make([]wantEntry, len(m.syms)*advanceStreams)
	m.stats = newStatsStreams(cfg, m.syms)
	return m, nil
}

func (m *market) newSymbol(e symbolEntry, seed int64) *symState {
	name := e.name
	spec := specFor(name)
	if e.custom {
		spec = spec.withFilters(e.tickExp, e.stepExp)
	}
	r := rand.New(rand.NewPCG(uint64(seed), nameHash(name)))
	// the start price moves with the seed, within ±1 %
	spec.price = max(1, spec.price+int64(float64(spec.price)*(r.Float64()-0.5)*0.02))
	s := &symState{
		spec:      spec,
		sc:        scale{tick: pow10(spec.tickExp + 8), step: pow10(spec.stepExp + 8)},
		book:      [2]side{{}, {ask: true}},
		changeCap: int64(m.ring),
		cps:       make([]checkpoint, int64(m.ring)/m.cpEvery+2),
		aggCap:    int64(m.history),
		tradeCap:  3 * int64(m.history),
		status:    StatusTrading,
		baseTick:  spec.tickExp,
		baseStep:  spec.stepExp,
	}
	lower := strings.ToLower(name)
	s.names[stAggTrade] = lower + "@aggTrade"
	s.names[stTrade] = lower + "@trade"
	s.names[stBookTicker] = lower + "@bookTicker"
	s.names[stDepth] = lower + "@depth"
	s.names[stDepth100] = lower + "@depth@100ms"
	for i, n := range partialDepths {
		s.names[stPartial+i] = fmt.Sprintf("%s@depth%d", lower, n)
		s.names[stPartial100+i] = fmt.Sprintf("%s@depth%d@100ms", lower, n)
	}
	for i := range s.diff {
		s.diff[i].pend = make(map[int64]int64)
	}

	// IDs start at large seeded values, as on a venue that has traded for years
	first := 10_000_000_000 + r.Int64N(50_000_000_000)
	s.firstUpdate = first - first%m.cpEvery
	s.lastUpdate = s.firstUpdate
	s.firstAgg = 1_000_000_000 + r.Int64N(2_000_000_000)
	s.nextAgg = s.firstAgg
	s.nextTrade = s.firstAgg + 500_000_000 + r.Int64N(2_000_000_000)
	s.firstTrade = s.nextTrade

	// the initial book: gaps between levels grow with depth
	bid, ask := spec.price-1-r.Int64N(2), spec.price
	for i := 0; i < m.levels; i++ {
		if bid >= 1 {
			s.book[bidSide].lv = append(s.book[bidSide].lv, level{bid, sampleQty(r, spec.typQty)})
		}
		s.book[askSide].lv = append(s.book[askSide].lv, level{ask, sampleQty(r, spec.typQty)})
		gap := 1 + r.Int64N(2+int64(i)/100)
		bid -= gap
		ask += gap
	}
	slices.Reverse(s.book[bidSide].lv) // worst first
	slices.Reverse(s.book[askSide].lv)
	s.span = max(4, float64(ask-spec.price)/3)
	s.checkpoint(s.firstUpdate, m.cpEvery)
	s.ticker = s.top()
	return s
}

// status returns the trading status of s.
func (m *market) status(s *symState) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return s.status
}

// symbols returns the traded symbols, upper case, in configuration order.
func (m *market) symbols() []string {
	out := make([]string, len(m.syms))
	for i, s := range m.syms {
		out[i] = s.spec.name
	}
	return out
}

// lookup finds a symbol, in upper or lower case.
func (m *market) lookup(symbol string) (*symState, error) {
	i, ok := m.index[symbol]
	if !ok {
		i, ok = m.index[strings.ToUpper(symbol)]
	}
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownSymbol, symbol)
	}
	return m.syms[i], nil
}

// advance performs n market updates at wall time now and publishes the
// aggTrade, trade and bookTicker messages they produce to out, in ID order.
// Streams out does not want are not encoded. The lock readers wait for is
// released every advanceChunk updates and while publishing.
func (m *market) advance(now time.Time, n int, out marketSink) {
	m.pubMu.Lock()
	defer m.pubMu.Unlock()
	us := now.UnixMicro()
	for n > 0 {
		c := min(n, advanceChunk)
		n -= c
		evs := m.evs[:0]
		m.mu.Lock()
		us = max(us, m.lastUs)
		m.lastUs = us
		for range c {
			evs = m.step(us, evs)
		}
		m.mu.Unlock()
		m.evs = evs
		m.publishEvents(evs, out)
	}
}

// step performs one update on a symbol chosen at random.
func (m *market) step(us int64, evs []rawEvent) []rawEvent {
	si := m.rng.IntN(len(m.syms))
	s := m.syms[si]
	if s.status != StatusTrading {
		return evs // a halted symbol trades nothing and its book does not move
	}
	prev := s.ticker
	if m.rng.Float64() < m.tradeShare {
		evs = m.trade(s, int32(si), us, evs)
	} else {
		m.quote(s)
	}
	m.maintain(s, prev)
	if t := s.top(); t != s.ticker {
		s.ticker = t
		evs = append(evs, rawEvent{kind: KindBookTicker, sym: int32(si), id: s.lastUpdate,
			price: t[0], qty: t[1], price2: t[2], qty2: t[3], us: us})
	}
	return evs
}

// trade sends a taker order into one side: it takes liquidity from the best
// level, and from the next ones when it empties them (at most three). Each
// level it trades with is one aggregate trade of one to three fills.
func (m *market) trade(s *symState, si int32, us int64, evs []rawEvent) []rawEvent {
	r := m.rng
	// takers lean against a move away from the start price
	mid := float64(s.ticker[0]+s.ticker[2]) / 2
	bias := math.Max(-0.4, math.Min(0.4, 5*(mid-float64(s.spec.price))/float64(s.spec.price)))
	takerBuy := r.Float64() >= 0.5+bias
	sd := bidSide
	if takerBuy {
		sd = askSide
	}
	book := &s.book[sd]
	want := sampleQty(r, s.spec.typQty)
	if r.IntN(6) == 0 && len(book.lv) > 0 && !s.sc.capped(book.lv[len(book.lv)-1].qty) {
		want += book.lv[len(book.lv)-1].qty // sweep the best level
	}
	for range 3 {
		if want <= 0 || len(book.lv) < 2 {
			break
		}
		best := book.lv[len(book.lv)-1]
		fill := min(want, best.qty)
		k := min(int64(1+r.IntN(3)), fill)
		first, left := s.nextTrade, fill
		for j := int64(0); j < k; j++ {
			part := left
			if j < k-1 {
				part = 1 + r.Int64N(left-(k-1-j))
			}
			evs = append(evs, rawEvent{kind: KindTrade, maker: !takerBuy, sym: si, id: s.nextTrade,
				price: best.price, qty: part, us: us})
			s.putTrade(s.nextTrade, tradeRec{price: s.sc.priceE8(best.price), qty: s.sc.qtyE8(part), us: us, maker: !takerBuy})
			s.nextTrade++
			left -= part
		}
		a := s.nextAgg
		s.nextAgg++
		s.putAgg(a, aggRec{price: s.sc.priceE8(best.price), qty: s.sc.qtyE8(fill), first: first, last: s.nextTrade - 1, us: us, maker: !takerBuy})
		evs = append(evs, rawEvent{kind: KindAggTrade, maker: !takerBuy, sym: si, id: a,
			first: first, last: s.nextTrade - 1, price: best.price, qty: fill, us: us})
		if !s.sc.capped(best.qty) { // a capped level is at the cap "or more": it stays capped
			m.setLevel(s, sd, best.price, best.qty-fill)
		}
		want -= fill
	}
	return evs
}

// quote adds to or cancels from a level near the top of one side.
func (m *market) quote(s *symState) {
	r := m.rng
	sd := r.IntN(2)
	book, opp := &s.book[sd], &s.book[1-sd]
	if len(book.lv) == 0 || len(opp.lv) == 0 {
		return
	}
	best, other := book.lv[len(book.lv)-1].price, opp.lv[len(opp.lv)-1].price
	dir := int64(1) // toward the other side
	if book.ask {
		dir = -1
	}
	if r.Float64() < 0.55 {
		spread := (other - best) * dir
		var price int64
		if spread > 1 && r.IntN(5) == 0 {
			price = best + dir*(1+r.Int64N(spread-1)) // inside the spread
		} else {
			price = best - dir*int64(r.ExpFloat64()*4)
		}
		if price < 1 {
			return
		}
		q := book.qtyAt(price)
		if add := sampleQty(r, s.spec.typQty); q < s.spec.typQty*10_000 {
			m.setLevel(s, sd, price, q+add)
		}
		return
	}
	n := len(book.lv)
	l := book.lv[n-1-min(int(r.ExpFloat64()*5), n-1)]
	var q int64 // cancel the whole level, or part of it
	if l.qty > 1 && r.IntN(3) != 0 {
		q = l.qty - 1 - r.Int64N(l.qty-1)
		if s.sc.capped(l.qty) { // a capped level comes back to a normal size
			q = sampleQty(r, s.spec.typQty)
		}
	}
	m.setLevel(s, sd, l.price, q)
}

// maxSpread is the widest spread, in ticks, that market makers leave open.
const maxSpread = 5

// maintain keeps the book deep and the spread narrow after an update.
// Market makers quote into a spread wider than maxSpread, on the side that
// moved away from the mid price before the update (prev is the top of the
// book then), so that a trade moves the price by a few ticks, not by the
// gap it left. A side with fewer than cfg.Levels levels gets new ones at a
// random depth, mostly near the top, so the book follows the price; a side
// with more than maxLevels loses its worst levels.
func (m *market) maintain(s *symState, prev [4]int64) {
	r := m.rng
	for range 4 {
		b, a := s.book[bidSide].lv, s.book[askSide].lv
		if len(b) == 0 || len(a) == 0 {
			break
		}
		bb, ba := b[len(b)-1].price, a[len(a)-1].price
		if ba-bb <= maxSpread {
			break
		}
		mid2 := bb + ba // twice the mid price, which may lie between two ticks
		if prev[0] > 0 && prev[2] > 0 {
			mid2 = prev[0] + prev[2]
		}
		d := r.Int64N(2)
		if mid2-2*bb >= 2*ba-mid2 {
			m.setLevel(s, bidSide, min(ba-1, max(bb+1, mid2/2-d)), sampleQty(r, s.spec.typQty))
		} else {
			m.setLevel(s, askSide, max(bb+1, min(ba-1, (mid2+1)/2+d)), sampleQty(r, s.spec.typQty))
		}
	}
	for sd := range s.book {
		book, opp := &s.book[sd], &s.book[1-sd]
		dir := int64(-1) // away from the other side
		if book.ask {
			dir = 1
		}
		for try := 0; len(book.lv) < m.levels && try < 16; try++ {
			var p int64
			switch {
			case len(book.lv) > 0 && try < 8:
				p = book.lv[len(book.lv)-1].price + dir*(1+int64(r.ExpFloat64()*s.span))
			case len(book.lv) > 0:
				p = book.lv[0].price + dir*(1+r.Int64N(5))
			case len(opp.lv) > 0:
				p = opp.lv[len(opp.lv)-1].price + dir*(1+r.Int64N(5))
			default:
				p = s.spec.price
			}
			if p >= 1 && book.qtyAt(p) == 0 {
				m.setLevel(s, sd, p, sampleQty(r, s.spec.typQty))
			}
		}
		for len(book.lv) > m.maxLevels {
			m.setLevel(s, sd, book.lv[0].price, 0)
		}
	}
}

// setLevel sets one level's quantity (0 removes it). A change takes the
// symbol's next update ID and goes into the history, the active diff depth
// streams, and every cpEvery IDs a checkpoint.
func (m *market) setLevel(s *symState, sd int, price, qty int64) {
	if !s.book[sd].set(price, qty) {
		return
	}
	s.lastUpdate++
	id := s.lastUpdate
	key, q := s.sc.priceE8(price), s.sc.qtyE8(qty)
	if sd == askSide {
		key = -key
	}
	s.putChange(id, change{key, q})
	for i := range s.diff {
		if d := &s.diff[i]; d.active {
			if d.from == 0 {
				d.from = id
			}
			d.pend[key] = q
		}
	}
	if id%m.cpEvery == 0 {
		s.checkpoint(id, m.cpEvery)
	}
}

// The history rings grow as the market makes history, up to their
// capacity, then wrap: a symbol that trades little costs little memory.

// putChange records the change of update id, the one after the last.
func (s *symState) putChange(id int64, c change) {
	if i := (id - s.firstUpdate - 1) % s.changeCap; i < int64(len(s.changes)) {
		s.changes[i] = c
	} else {
		s.changes = append(s.changes, c)
	}
}

// changeAt returns the change of update id, which must still be kept.
func (s *symState) changeAt(id int64) change {
	return s.changes[(id-s.firstUpdate-1)%s.changeCap]
}

// putAgg records aggregate trade id, the one after the last.
func (s *symState) putAgg(id int64, r aggRec) {
	if i := (id - s.firstAgg) % s.aggCap; i < int64(len(s.aggs)) {
		s.aggs[i] = r
	} else {
		s.aggs = append(s.aggs, r)
	}
}

// aggAt returns aggregate trade id, which must still be kept.
func (s *symState) aggAt(id int64) *aggRec {
	return &s.aggs[(id-s.firstAgg)%s.aggCap]
}

// putTrade records individual trade id, the one after the last.
func (s *symState) putTrade(id int64, r tradeRec) {
	if i := (id - s.firstTrade) % s.tradeCap; i < int64(len(s.trades)) {
		s.trades[i] = r
	} else {
		s.trades = append(s.trades, r)
	}
}

// tradeAt returns individual trade id, which must still be kept.
func (s *symState) tradeAt(id int64) *tradeRec {
	return &s.trades[(id-s.firstTrade)%s.tradeCap]
}

func (s *symState) checkpoint(id, every int64) {
	cp := &s.cps[(id/every)%int64(len(s.cps))]
	cp.id = id
	for sd := range cp.lv {
		cp.lv[sd] = s.sc.appendE8Levels(cp.lv[sd][:0], s.book[sd].lv)
	}
}

// appendE8Levels appends lv converted from ticks and lots to 1e-8 units.
func (sc scale) appendE8Levels(dst, lv []level) []level {
	for _, l := range lv {
		dst = append(dst, level{sc.priceE8(l.price), sc.qtyE8(l.qty)})
	}
	return dst
}

// top returns the best bid price and quantity and the best ask price and
// quantity (zeros for an empty side).
func (s *symState) top() [4]int64 {
	var t [4]int64
	if b := s.book[bidSide].lv; len(b) > 0 {
		t[0], t[1] = b[len(b)-1].price, b[len(b)-1].qty
	}
	if a := s.book[askSide].lv; len(a) > 0 {
		t[2], t[3] = a[len(a)-1].price, a[len(a)-1].qty
	}
	return t
}

// oldestUpdate is the oldest update ID whose book can be rebuilt: the
// oldest checkpoint all of whose later changes are still in the ring.
func (m *market) oldestUpdate(s *symState) int64 {
	lo := max(s.firstUpdate, s.lastUpdate-s.changeCap)
	c := (lo + m.cpEvery - 1) / m.cpEvery * m.cpEvery
	return min(c, s.lastUpdate)
}

func (m *market) oldestAgg(s *symState) int64 {
	return max(s.firstAgg, s.nextAgg-s.aggCap)
}

// rebuild returns the full book of s right after update id, worst first per
// side, in 1e-8 units, from the latest checkpoint before it and the changes since. With
// clip, an id older than the history is moved up to the oldest one kept.
// The lock is held only to copy.
func (m *market) rebuild(s *symState, id int64, clip bool) (int64, [2][]level, error) {
	var book [2][]level
	m.mu.Lock()
	last, oldest := s.lastUpdate, m.oldestUpdate(s)
	if clip {
		id = max(id, oldest)
	}
	switch {
	case id > last:
		m.mu.Unlock()
		return 0, book, fmt.Errorf("book %s at %d: %w (last update %d)", s.spec.name, id, ErrNotYet, last)
	case id < oldest:
		m.mu.Unlock()
		return 0, book, fmt.Errorf("book %s at %d: %w (oldest update kept %d)", s.spec.name, id, ErrHistoryGone, oldest)
	case id == last:
		for sd := range book {
			book[sd] = s.sc.appendE8Levels(nil, s.book[sd].lv)
		}
		m.mu.Unlock()
		return id, book, nil
	}
	c := id / m.cpEvery * m.cpEvery
	cp := &s.cps[(c/m.cpEvery)%int64(len(s.cps))]
	if cp.id != c {
		m.mu.Unlock()
		return 0, book, fmt.Errorf("book %s at %d: checkpoint %d lost: %w", s.spec.name, id, c, ErrHistoryGone)
	}
	for sd := range book {
		book[sd] = slices.Clone(cp.lv[sd])
	}
	chs := make([]change, 0, id-c)
	for u := c + 1; u <= id; u++ {
		chs = append(chs, s.changeAt(u))
	}
	m.mu.Unlock()

	sides := [2]side{{lv: book[bidSide]}, {ask: true, lv: book[askSide]}}
	for _, ch := range chs {
		if ch.price < 0 {
			sides[askSide].set(-ch.price, ch.qty)
		} else {
			sides[bidSide].set(ch.price, ch.qty)
		}
	}
	return id, [2][]level{sides[bidSide].lv, sides[askSide].lv}, nil
}

// bookAt returns the full book of symbol right after update updateID, which
// may be any ID from the oldest kept (SymbolState.OldestUpdateID) to the
// current one. Rebuilding an old book costs up to a few milliseconds.
func (m *market) bookAt(symbol string, updateID int64) (BookState, error) {
	s, err := m.lookup(symbol)
	if err != nil {
		return BookState{}, err
	}
	id, book, err := m.rebuild(s, updateID, false)
	if err != nil {
		return BookState{}, err
	}
	return BookState{
		Symbol:       s.spec.name,
		LastUpdateID: id,
		Bids:         unitScale.levels(book[bidSide], len(book[bidSide])),
		Asks:         unitScale.levels(book[askSide], len(book[askSide])),
	}, nil
}

// snapshot returns the best limit levels of each side, best first, the
// update ID they are as of and the scale to write them with: the current
// book, or with back > 0 the book as it was back updates ago (clipped to
// the history kept).
func (m *market) snapshot(s *symState, limit int, back int64) (int64, []level, []level, scale, error) {
	m.mu.Lock()
	if back <= 0 {
		defer m.mu.Unlock()
		return s.lastUpdate, s.book[bidSide].top(nil, limit), s.book[askSide].top(nil, limit), s.sc, nil
	}
	target := s.lastUpdate - back
	m.mu.Unlock()
	id, book, err := m.rebuild(s, target, true)
	if err != nil {
		return 0, nil, nil, scale{}, err
	}
	b, a := side{lv: book[bidSide]}, side{ask: true, lv: book[askSide]}
	return id, b.top(nil, limit), a.top(nil, limit), unitScale, nil
}

// aggTrades returns the aggregate trades of symbol with IDs from..to
// inclusive, oldest first. A range reaching past the last trade is cut
// there (and may come out empty); one that starts before the oldest trade
// kept fails with ErrHistoryGone.
func (m *market) aggTrades(symbol string, from, to int64) ([]AggTrade, error) {
	s, err := m.lookup(symbol)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	oldest := m.oldestAgg(s)
	if from < oldest {
		m.mu.Unlock()
		return nil, fmt.Errorf("aggTrades %s from %d: %w (oldest kept %d)", s.spec.name, from, ErrHistoryGone, oldest)
	}
	recs := s.aggRange(from, min(to, s.nextAgg-1))
	m.mu.Unlock()
	out := make([]AggTrade, len(recs))
	for i, r := range recs {
		out[i] = unitScale.aggTrade(from+int64(i), r)
	}
	return out, nil
}

// aggRange copies the kept aggregate trades from..to; the caller holds mu
// and has checked the bounds.
func (s *symState) aggRange(from, to int64) []aggRec {
	if to < from {
		return nil
	}
	out := make([]aggRec, 0, to-from+1)
	for id := from; id <= to; id++ {
		out = append(out, *s.aggAt(id))
	}
	return out
}

// lastIDs returns the last update ID, aggregate trade ID and trade ID of
// symbol. Before the first trade the trade IDs are one below the first ones
// the symbol will use.
func (m *market) lastIDs(symbol string) (lastUpdateID, lastAggTradeID, lastTradeID int64, err error) {
	s, err := m.lookup(symbol)
	if err != nil {
		return 0, 0, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return s.lastUpdate, s.nextAgg - 1, s.nextTrade - 1, nil
}

// states returns every symbol's state, in configuration order.
func (m *market) states() []SymbolState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]SymbolState, len(m.syms))
	for i, s := range m.syms {
		st := SymbolState{
			Symbol:           s.spec.name,
			LastUpdateID:     s.lastUpdate,
			OldestUpdateID:   m.oldestUpdate(s),
			LastAggTradeID:   s.nextAgg - 1,
			OldestAggTradeID: m.oldestAgg(s),
			LastTradeID:      s.nextTrade - 1,
			OldestTradeID:    s.nextTrade,
			Status:           s.status,
			TickSize:         s.sc.priceString(1),
			StepSize:         s.sc.qtyString(1),
		}
		if st.OldestAggTradeID <= st.LastAggTradeID {
			st.OldestTradeID = s.aggAt(st.OldestAggTradeID).first
		}
		out[i] = st
	}
	return out
}

// aggQuery selects aggregate trades as GET /api/v3/aggTrades does. Times
// are in microseconds, both ends inclusive.
type aggQuery struct {
	fromID           int64
	start, end       int64
	hasFrom          bool
	hasStart, hasEnd bool
	limit            int
	edge             int64 // as tradeQuery.edge
}

// queryAggs answers q from the history: with fromId, from that ID (or the
// oldest kept) on; with startTime, the oldest trades from then on; with only
// endTime, the newest up to then; with none, the newest. It returns the
// first ID and the trades, oldest first.
func (m *market) queryAggs(s *symState, q aggQuery) (int64, []aggRec) {
	m.mu.Lock()
	defer m.mu.Unlock()
	lo, hi := m.oldestAgg(s), s.nextAgg-1
	if hi < lo || q.limit <= 0 {
		return lo, nil
	}
	at := func(id int64) int64 { return s.aggAt(id).us }
	// firstAt returns the first ID in lo..hi+1 whose time is >= us
	firstAt := func(us int64) int64 {
		a, b := lo, hi+1
		for a < b {
			h := a + (b-a)/2
			if at(h) < us {
				a = h + 1
			} else {
				b = h
			}
		}
		return a
	}
	// lastAt returns the last ID in lo-1..hi whose time is <= us
	lastAt := func(us int64) int64 {
		if us == math.MaxInt64 {
			return hi
		}
		return firstAt(us+1) - 1
	}
	if q.edge > 0 {
		hi = visibleUpTo(lo, hi, q.edge, at)
		if hi < lo {
			return max(lo, q.fromID), nil
		}
	}
	limit := int64(q.limit)
	var a, b int64
	switch {
	case q.hasFrom:
		if q.fromID > hi {
			return q.fromID, nil
		}
		a = max(q.fromID, lo)
		b = min(a+limit-1, hi)
	case q.hasStart:
		a = firstAt(q.start)
		b = min(a+limit-1, hi)
		if q.hasEnd {
			b = min(b, lastAt(q.end))
		}
	case q.hasEnd:
		b = lastAt(q.end)
		a = max(b-limit+1, lo)
	default:
		b = hi
		a = max(b-limit+1, lo)
	}
	return a, s.aggRange(a, b)
}

// publishEvents encodes the events someone wants and publishes them, in
// order. The sink is asked once per stream per call.
func (m *market) publishEvents(evs []rawEvent, out marketSink) {
	m.wantEpoch++
	for i := range evs {
		ev := &evs[i]
		s := m.syms[ev.sym]
		st := stBookTicker
		switch ev.kind {
		case KindAggTrade:
			st = stAggTrade
		case KindTrade:
			st = stTrade
		}
		w := &m.wantCache[int(ev.sym)*advanceStreams+st]
		if w.epoch != m.wantEpoch {
			w.any, w.micros = out.wants(s.names[st])
			w.epoch = m.wantEpoch
		}
		if !w.any {
			continue
		}
		msg := m.pub.message()
		msg.Stream, msg.Symbol, msg.Kind, msg.ID = s.names[st], s.spec.name, ev.kind, ev.id
		msg.Ms = m.pub.keep(s.appendEvent(m.pub.room(), ev, false))
		if w.micros {
			if ev.kind == KindBookTicker {
				msg.Us = msg.Ms
			} else {
				msg.Us = m.pub.keep(s.appendEvent(m.pub.room(), ev, true))
			}
		}
		out.publish(msg)
	}
}

func (s *symState) appendEvent(b []byte, ev *rawEvent, micros bool) []byte {
	switch ev.kind {
	case KindAggTrade:
		return appendAggTrade(b, s.sc, s.spec.name, ev, micros)
	case KindTrade:
		return appendTrade(b, s.sc, s.spec.name, ev, micros)
	default:
		return appendBookTicker(b, s.sc, s.spec.name, ev)
	}
}

// tick publishes the time-driven streams due at now: the diff depth events
// of <sym>@depth (every second) and <sym>@depth@100ms (every 100 ms), and
// the partial books <sym>@depth5|10|20 (every second) and their @100ms
// variants. A diff depth stream accumulates changes only while someone
// subscribes to it; its first event after that starts with the first change
// after the subscription was seen, and each next event starts where the
// previous one ended (U = previous u + 1). Intervals without a change send
// nothing.
func (m *market) tick(now time.Time, out marketSink) {
	m.pubMu.Lock()
	defer m.pubMu.Unlock()
	m.tickStats(now, out)
	us := max(now.UnixMicro(), m.lastUs)
	for _, s := range m.syms {
		m.resume(s, now)
		for j := range s.diff {
			d := &s.diff[j]
			any, micros := out.wants(s.names[stDepth+j])
			due := d.due(now, depthEvery[j])
			switch {
			case !any:
				d.active, d.from = false, 0
				clear(d.pend)
			case !d.active:
				d.active, d.from = true, 0
				clear(d.pend)
			case due && d.from != 0:
				out.publish(m.depthEvent(s, j, us, micros))
				d.from = 0
				clear(d.pend)
			}
		}
		for j := range s.partialNext {
			if !dueAt(&s.partialNext[j], now, depthEvery[j]) || s.status != StatusTrading {
				continue // a halted symbol's streams are silent
			}
			base := stPartial
			if j == 1 {
				base = stPartial100
			}
			for k, n := range partialDepths {
				name := s.names[base+k]
				if any, micros := out.wants(name); any {
					m.bids = s.book[bidSide].top(m.bids[:0], n)
					m.asks = s.book[askSide].top(m.asks[:0], n)
					body := appendPartial(make([]byte, 0, 64+(len(m.bids)+len(m.asks))*48), s.sc, s.lastUpdate, m.bids, m.asks)
					msg := &Message{Stream: name, Symbol: s.spec.name, Kind: KindPartial, ID: s.lastUpdate, Ms: body}
					if micros {
						msg.Us = body
					}
					out.publish(msg)
				}
			}
		}
	}
}

// depthEvent encodes the changes pending on diff stream j of s.
func (m *market) depthEvent(s *symState, j int, us int64, micros bool) *Message {
	d := &s.diff[j]
	bids, asks := m.bids[:0], m.asks[:0]
	for k, q := range d.pend {
		if k < 0 {
			asks = append(asks, level{-k, q})
		} else {
			bids = append(bids, level{k, q})
		}
	}
	slices.SortFunc(bids, func(a, b level) int { return cmp.Compare(b.price, a.price) })
	slices.SortFunc(asks, func(a, b level) int { return cmp.Compare(a.price, b.price) })
	m.bids, m.asks = bids, asks
	size := 96 + len(s.spec.name) + (len(bids)+len(asks))*48
	msg := &Message{Stream: s.names[stDepth+j], Symbol: s.spec.name, Kind: KindDepth, ID: s.lastUpdate}
	msg.Ms = appendDepthUpdate(make([]byte, 0, size), unitScale, s.spec.name, us/1000, d.from, s.lastUpdate, bids, asks)
	if micros {
		msg.Us = appendDepthUpdate(make([]byte, 0, size+3), unitScale, s.spec.name, us, d.from, s.lastUpdate, bids, asks)
	}
	return msg
}

func (d *diffStream) due(now time.Time, every time.Duration) bool {
	return dueAt(&d.next, now, every)
}

// dueAt reports whether the schedule *next has come at now, and moves it
// to the next interval boundary. A schedule starts at the first boundary
// after the first call.
func dueAt(next *time.Time, now time.Time, every time.Duration) bool {
	if next.IsZero() {
		*next = now.Truncate(every).Add(every)
		return false
	}
	if now.Before(*next) {
		return false
	}
	*next = next.Add(every)
	if !next.After(now) {
		*next = now.Truncate(every).Add(every)
	}
	return true
}

// publisher hands out Messages and payload bytes in slabs, so that a
// message costs no allocation of its own. Slabs are never reused: a
// published message stays valid for as long as anyone holds it.
type publisher struct {
	msgs  []Message
	arena []byte
}

// maxSmall is the room made for one aggTrade, trade or bookTicker payload.
const maxSmall = 512

func (p *publisher) message() *Message {
	if len(p.msgs) == cap(p.msgs) {
		p.msgs = make([]Message, 0, 256)
	}
	p.msgs = append(p.msgs, Message{})
	return &p.msgs[len(p.msgs)-1]
}

// room returns an empty slice to append one small payload to.
func (p *publisher) room() []byte {
	if cap(p.arena)-len(p.arena) < maxSmall {
		p.arena = make([]byte, 0, 64<<10)
	}
	return p.arena[len(p.arena):]
}

// keep claims b, appended to what room returned, and caps it so that
// nobody can append into the bytes after it.
func (p *publisher) keep(b []byte) []byte {
	n := len(p.arena)
	if len(b) > cap(p.arena)-n { // outgrew the arena: b has its own array
		return b[:len(b):len(b)]
	}
	p.arena = p.arena[:n+len(b)]
	return p.arena[n : n+len(b) : n+len(b)]
}

// worse reports whether price a is a worse price than b on this side.
func (sd *side) worse(a, b int64) bool {
	if sd.ask {
		return a > b
	}
	return a < b
}

// index returns the position of price, or where it would be inserted.
func (sd *side) index(price int64) int {
	lo, hi := 0, len(sd.lv)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if sd.worse(sd.lv[h].price, price) {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo
}

func (sd *side) qtyAt(price int64) int64 {
	if i := sd.index(price); i < len(sd.lv) && sd.lv[i].price == price {
		return sd.lv[i].qty
	}
	return 0
}

// set sets the quantity at price (0 removes the level) and reports whether
// the book changed.
func (sd *side) set(price, qty int64) bool {
	i := sd.index(price)
	found := i < len(sd.lv) && sd.lv[i].price == price
	switch {
	case found && qty == 0:
		sd.lv = slices.Delete(sd.lv, i, i+1)
	case found && sd.lv[i].qty != qty:
		sd.lv[i].qty = qty
	case !found && qty != 0:
		sd.lv = slices.Insert(sd.lv, i, level{price, qty})
	default:
		return false
	}
	return true
}

// top appends the best n levels to dst, best first.
func (sd *side) top(dst []level, n int) []level {
	for i := len(sd.lv) - 1; i >= 0 && n > 0; i, n = i-1, n-1 {
		dst = append(dst, sd.lv[i])
	}
	return dst
}

// symbolSpec is what a symbol trades like: its assets, tick size and lot
// step (powers of ten), start price and usual order size.
type symbolSpec struct {
	name, base, quote string
	tickExp, stepExp  int   // tick size 10^tickExp, lot step 10^stepExp
	price             int64 // start price, in ticks
	typQty            int64 // usual order size, in lots
}

// knownSymbols trade at about their real price with their real filters.
var knownSymbols = map[string]struct {
	price            float64
	tickExp, stepExp int
}{
	"BTCUSDT": {60000, -2, -5},
	"ETHUSDT": {3000, -2, -4},
	"BNBUSDT": {600, -2, -3},
	"SOLUSDT": {150, -2, -3},
	"ETHBTC":  {0.05, -5, -4},
}

// quoteAssets are the quote suffixes recognised in symbol names, longest
// first where one ends another.
var quoteAssets = []string{"FDUSD", "USDT", "BUSD", "BTC", "ETH"}

// quoteScale gives, per quote asset, the range prices of unknown symbols
// are drawn from, the value of one lot step and the usual order value.
func quoteScale(quote string) (lo, hi, stepValue, orderValue float64) {
	switch quote {
	case "BTC":
		return 1e-6, 0.05, 2e-7, 0.02
	case "ETH":
		return 1e-5, 1, 4e-6, 0.3
	default:
		return 0.01, 2000, 0.01, 1000
	}
}

// specFor describes a symbol: the known ones as they really trade; any
// other with a price, tick size and lot step derived from its name (so the
// same name always trades alike), and base and quote assets split off a
// known quote suffix (none: the whole name is the base asset, quoted in
// USDT).
func specFor(name string) symbolSpec {
	spec := symbolSpec{name: name, base: name, quote: "USDT"}
	for _, q := range quoteAssets {
		if len(name) > len(q) && strings.HasSuffix(name, q) {
			spec.base, spec.quote = name[:len(name)-len(q)], q
			break
		}
	}
	lo, hi, stepValue, orderValue := quoteScale(spec.quote)
	var price float64
	if k, ok := knownSymbols[name]; ok {
		price, spec.tickExp, spec.stepExp = k.price, k.tickExp, k.stepExp
	} else {
		u := float64(nameHash(name)>>11) / (1 << 53)
		price = lo * math.Pow(hi/lo, u)
		spec.tickExp = max(-8, int(math.Floor(math.Log10(price)))-4)
		spec.stepExp = min(0, max(-8, int(math.Ceil(math.Log10(stepValue/price)))))
	}
	tick, step := math.Pow10(spec.tickExp), math.Pow10(spec.stepExp)
	spec.price = max(100, int64(math.Round(price/tick)))
	spec.typQty = max(1, int64(math.Round(orderValue/(price*step))))
	return spec
}

// withFilters gives the spec other tick and step sizes, at the same price
// and order value.
func (spec symbolSpec) withFilters(tickExp, stepExp int) symbolSpec {
	price := float64(spec.price) * math.Pow10(spec.tickExp)
	value := price * float64(spec.typQty) * math.Pow10(spec.stepExp)
	spec.tickExp, spec.stepExp = tickExp, stepExp
	spec.price = max(100, int64(math.Round(price/math.Pow10(tickExp))))
	spec.typQty = max(1, int64(math.Round(value/(price*math.Pow10(stepExp)))))
	return spec
}

func nameHash(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// sampleQty draws an order size around typ lots, now and then ten times
// larger.
func sampleQty(r *rand.Rand, typ int64) int64 {
	q := 1 + r.Int64N(2*typ)
	if r.IntN(10) == 0 {
		q *= 2 + r.Int64N(9)
	}
	return q
}

func pow10(e int) int64 {
	v := int64(1)
	for range e {
		v *= 10
	}
	return v
}

// Individual trades and the lag of the REST history.

// oldestTrade is the oldest individual trade served: the first fill of the
// oldest aggregate trade kept (the ring holds every fill of those).
func (m *market) oldestTrade(s *symState) int64 {
	if a := m.oldestAgg(s); a < s.nextAgg {
		return s.aggAt(a).first
	}
	return s.nextTrade
}

// visibleUpTo returns the last ID in lo..hi whose time is at most us (lo-1
// when there is none); times never decrease with IDs. The caller holds mu.
func visibleUpTo(lo, hi, us int64, at func(int64) int64) int64 {
	a, b := lo, hi+1 // the first ID whose time is above us
	for a < b {
		h := a + (b-a)/2
		if at(h) <= us {
			a = h + 1
		} else {
			b = h
		}
	}
	return a - 1
}

// tradeQuery selects individual trades as GET /api/v3/trades and
// historicalTrades do: with fromId, from that ID (or the oldest kept) on;
// without, the newest. Trades after edge (µs) are left out, as a
// database that has not caught up with the matching engine leaves them out;
// edge 0 means no edge.
type tradeQuery struct {
	fromID  int64
	hasFrom bool
	limit   int
	edge    int64
}

// queryTrades answers q from the history: the first ID and the trades,
// oldest first, in 1e-8 units.
func (m *market) queryTrades(s *symState, q tradeQuery) (int64, []tradeRec) {
	m.mu.Lock()
	defer m.mu.Unlock()
	lo, hi := m.oldestTrade(s), s.nextTrade-1
	if q.edge > 0 && hi >= lo {
		hi = visibleUpTo(lo, hi, q.edge, func(id int64) int64 { return s.tradeAt(id).us })
	}
	if hi < lo || q.limit <= 0 {
		return max(lo, q.fromID), nil
	}
	limit := int64(q.limit)
	var a, b int64
	if q.hasFrom {
		if q.fromID > hi {
			return q.fromID, nil
		}
		a = max(q.fromID, lo)
		b = min(a+limit-1, hi)
	} else {
		b = hi
		a = max(b-limit+1, lo)
	}
	out := make([]tradeRec, 0, b-a+1)
	for id := a; id <= b; id++ {
		out = append(out, *s.tradeAt(id))
	}
	return a, out
}

// tradesRange returns the individual trades of symbol with IDs from..to
// inclusive, oldest first. A range reaching past the last trade is cut
// there; one that starts before the oldest trade kept fails with
// ErrHistoryGone.
func (m *market) tradesRange(symbol string, from, to int64) ([]Trade, error) {
	s, err := m.lookup(symbol)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	oldest := m.oldestTrade(s)
	if from < oldest {
		m.mu.Unlock()
		return nil, fmt.Errorf("trades %s from %d: %w (oldest kept %d)", s.spec.name, from, ErrHistoryGone, oldest)
	}
	to = min(to, s.nextTrade-1)
	var recs []tradeRec
	for id := from; id <= to; id++ {
		recs = append(recs, *s.tradeAt(id))
	}
	m.mu.Unlock()
	out := make([]Trade, len(recs))
	for i, r := range recs {
		out[i] = r.trade(from + int64(i))
	}
	return out, nil
}

// changesSince collects the book changes of s after update from up to
// last: the new quantity by price (asks negated, as changeAt gives them).
// The caller holds the market's lock.
func (s *symState) changesSince(from, last int64) map[int64]int64 {
	pend := make(map[int64]int64, min(last-from, 1024))
	for id := from + 1; id <= last; id++ {
		ch := s.changeAt(id)
		pend[ch.price] = ch.qty
	}
	return pend
}

// sidesOf splits changes (see changesSince) into bids, best (highest)
// first, and asks, best (lowest) first.
func sidesOf(changes map[int64]int64) (bids, asks []level) {
	for p, q := range changes {
		if p < 0 {
			asks = append(asks, level{-p, q})
		} else {
			bids = append(bids, level{p, q})
		}
	}
	slices.SortFunc(bids, func(a, b level) int { return cmp.Compare(b.price, a.price) })
	slices.SortFunc(asks, func(a, b level) int { return cmp.Compare(a.price, b.price) })
	return bids, asks
}
