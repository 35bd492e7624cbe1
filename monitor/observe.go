package monitor

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedkeeper/feedkeeper/feed"
)

// numTypes bounds the event types kept apart; later types count as unknown.
const numTypes = int(feed.TypeOpenInterest) + 1

// Latency buckets, in seconds: exchange to receive spans a network (tens
// of microseconds on a LAN to seconds), receive to sink spans a queue.
var (
	exchangeBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
	sinkBuckets     = []float64{0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1}
)

// observer keeps what Observe learns: per-symbol counters and top of book,
// the latency histograms, recent notable events.
type observer struct {
	events  *prometheus.CounterVec // venue, symbol, type
	exch    *histogramVec          // venue, type
	sink    *histogramVec          // venue, type
	offset  atomic.Int64           // venue clock minus local clock, ns
	symbols atomic.Pointer[map[symKey]*symbol]
	mu      sync.Mutex // serializes adding symbols

	notices notices
}

type symKey struct{ venue, symbol string }

// symbol is what is kept per symbol: its metric children, resolved on the
// first event of each type, and its top of book.
type symbol struct {
	key   symKey
	types [numTypes]atomic.Pointer[typed]

	mu  sync.Mutex
	top quote
}

// typed holds the metric children of one symbol and event type.
type typed struct {
	events     prometheus.Counter
	exch, sink *histogram // nil for types without latency
}

// quote is a symbol's last top of book and last trade, as mantissas.
type quote struct {
	priceScale, qtyScale uint8
	bid, ask             feed.Level
	quoteTime            int64 // receive time, ns; 0: no quote yet
	price, qty           int64
	side                 feed.Side
	tradeTime            int64 // receive time, ns; 0: no trade yet
	trades               int64
	bookSyncs            int64 // books loaded from a snapshot (derived book_snapshot events)
	syncedAt             int64 // receive time of the last one, ns
	bookTime             int64 // receive time of the last book event, ns
}

func newObserver() *observer {
	o := &observer{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "symbol_events_total",
			Help: "Events handed to the sink, by symbol and type."}, []string{"venue", "symbol", "type"}),
		exch: newHistogramVec("exchange_latency_seconds",
			"From the exchange's event time to local receive, corrected by the estimated clock offset (live events only).", exchangeBuckets),
		sink: newHistogramVec("sink_latency_seconds",
			"From local receive until the sink took the event (live events only).", sinkBuckets),
	}
	m := map[symKey]*symbol{}
	o.symbols.Store(&m)
	o.notices.max = 50
	return o
}

// typedOf returns the children of symbol s and type t, resolving them on
// first use.
func (o *observer) typedOf(s *symbol, t int) *typed {
	if c := s.types[t].Load(); c != nil {
		return c
	}
	tn := feed.Type(t).String()
	c := &typed{events: o.events.WithLabelValues(s.key.venue, s.key.symbol, tn)}
	switch feed.Type(t) {
	case feed.TypeTrade, feed.TypeBookDelta, feed.TypeBookSnapshot, feed.TypeTopOfBook:
		c.exch = o.exch.with(s.key.venue, tn)
		c.sink = o.sink.with(s.key.venue, tn)
	}
	if s.types[t].CompareAndSwap(nil, c) {
		return c
	}
	return s.types[t].Load()
}

// symbolOf returns the state of a symbol, creating it on first sight.
func (o *observer) symbolOf(venue, sym string) *symbol {
	if s := (*o.symbols.Load())[symKey{venue, sym}]; s != nil {
		return s
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	old := *o.symbols.Load()
	k := symKey{venue, sym}
	if s := old[k]; s != nil {
		return s
	}
	s := &symbol{key: k}
	m := make(map[symKey]*symbol, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[k] = s
	o.symbols.Store(&m)
	return s
}

// Observe records one event: call it from the gateway's Handler once the
// sink has taken the event. It counts the event for its symbol and type,
// keeps the symbol's top of book and last trade for the dashboard, and
// observes the latency from the exchange's event time to receive
// (corrected by the clock offset) and from receive to now. It does not keep
// ev. Safe for concurrent use; it allocates only the first time a symbol
// and type are seen, and costs about 60 ns.
func (m *Monitor) Observe(ev *feed.Event) { m.ObserveAt(ev, time.Now()) }

// ObserveAt is Observe with the time the sink took the event, for a caller
// that has read the clock already.
func (m *Monitor) ObserveAt(ev *feed.Event, handed time.Time) {
	o := m.obs
	if ev.Symbol == "" {
		if ev.Type == feed.TypeStatus {
			o.notices.add(ev.ReceiveTime, "status", ev.Venue, ev.Status.String()+": "+ev.Reason)
		}
		return
	}
	s := o.symbolOf(ev.Venue, ev.Symbol)
	t := int(ev.Type)
	if t >= numTypes {
		t = int(feed.TypeUnknown)
	}
	c := o.typedOf(s, t)
	c.events.Inc()
	switch ev.Type {
	case feed.TypeTrade:
		s.mu.Lock()
		q := &s.top
		q.price, q.qty, q.side, q.tradeTime = ev.Price, ev.Qty, ev.Side, ev.ReceiveTime
		q.priceScale, q.qtyScale = ev.PriceScale, ev.QtyScale
		q.trades++
		s.mu.Unlock()
	case feed.TypeTopOfBook:
		s.mu.Lock()
		q := &s.top
		q.bid, q.ask, q.quoteTime = ev.Bid, ev.Ask, ev.ReceiveTime
		q.priceScale, q.qtyScale = ev.PriceScale, ev.QtyScale
		s.mu.Unlock()
	case feed.TypeBookSnapshot:
		if ev.Derived { // the gateway loaded its book: in sync from here
			s.mu.Lock()
			s.top.bookSyncs++
			s.top.syncedAt, s.top.bookTime = ev.ReceiveTime, ev.ReceiveTime
			s.mu.Unlock()
		}
	case feed.TypeBookDelta:
		s.mu.Lock()
		s.top.bookTime = ev.ReceiveTime
		s.mu.Unlock()
	case feed.TypeGap:
		o.notices.add(ev.ReceiveTime, "gap", ev.Venue, gapText(ev))
	}
	if c.sink == nil || ev.Recovered || ev.ReceiveTime == 0 {
		return
	}
	if ev.ExchangeTime != 0 {
		c.exch.observe(ev.ReceiveTime - ev.ExchangeTime + o.offset.Load())
	}
	c.sink.observe(handed.UnixNano() - ev.ReceiveTime)
}

// gapText is a gap event as the dashboard's recent events say it: the IDs
// missing and how many, or the time window in which trades may be missing,
// or the IDs a gap of unknown size lies between.
func gapText(ev *feed.Event) string {
	var s string
	switch {
	case ev.GapTo != 0:
		at := func(ns int64) string { return time.Unix(0, ns).UTC().Format("15:04:05.000") }
		s = ev.Symbol + " " + ev.Missing.String() + ": may be missing from " + at(ev.GapFrom) + " to " + at(ev.GapTo) + " UTC"
	case ev.Reason == feed.ReasonUncounted:
		return ev.Symbol + " " + ev.Missing.String() + ": " + ev.Reason + ", between IDs " +
			strconv.FormatInt(ev.FirstID, 10) + " and " + strconv.FormatInt(ev.ID, 10)
	default:
		s = ev.Symbol + " " + ev.Missing.String() + ": " + strconv.FormatInt(ev.ID-ev.FirstID+1, 10) + " missing (" +
			strconv.FormatInt(ev.FirstID, 10) + "–" + strconv.FormatInt(ev.ID, 10) + ")"
	}
	if ev.Reason != "" {
		s += ": " + ev.Reason
	}
	return s
}

// quotes returns every symbol's top of book, sorted by venue and symbol.
func (o *observer) quotes() []symbolQuote {
	m := *o.symbols.Load()
	out := make([]symbolQuote, 0, len(m))
	for _, s := range m {
		s.mu.Lock()
		q := s.top
		s.mu.Unlock()
		out = append(out, symbolQuote{key: s.key, quote: q})
	}
	sortQuotes(out)
	return out
}

type symbolQuote struct {
	key symKey
	quote
}

// notices keeps the last few notable events (status changes, gaps).
type notices struct {
	mu   sync.Mutex
	max  int
	list []notice
	seq  int64
}

type notice struct {
	Seq   int64  `json:"seq"`
	Time  int64  `json:"t"` // unix ms
	Kind  string `json:"kind"`
	Venue string `json:"venue,omitempty"` // the event's venue
	Text  string `json:"text"`
}

func (n *notices) add(recv int64, kind, venue, text string) {
	if recv == 0 {
		recv = time.Now().UnixNano()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.seq++
	if len(n.list) == n.max {
		copy(n.list, n.list[1:])
		n.list = n.list[:n.max-1]
	}
	n.list = append(n.list, notice{Seq: n.seq, Time: recv / 1e6, Kind: kind, Venue: venue, Text: text})
}

func (n *notices) snapshot() []notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]notice(nil), n.list...)
}
