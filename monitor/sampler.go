package monitor

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/feedkeeper/feedkeeper/fixed"
)

// maxQuotes bounds the symbols whose top of book a snapshot carries.
const maxQuotes = 500

// snapshot is what the dashboard shows, taken once every SampleInterval.
type snapshot struct {
	Time     int64       `json:"t"` // unix ms
	Started  int64       `json:"started"`
	Venue    string      `json:"venue,omitempty"`
	Ready    bool        `json:"ready"`
	NotReady []Problem   `json:"not_ready,omitempty"`
	Clock    clockView   `json:"clock"`
	Totals   totals      `json:"totals"`
	Rates    rates       `json:"rates"`
	Latency  latency     `json:"latency"`
	Process  process     `json:"process"`
	Conns    []connView  `json:"conns"`
	Quotes   []quoteView `json:"quotes"`
	Books    []bookView  `json:"books"`
	Sinks    []sinkView  `json:"sinks"`
	Venues   []venueView `json:"venues,omitempty"` // with Config.Venues: each venue's own figures
	NQuotes  int         `json:"quotes_total"`     // symbols seen; Quotes holds the first maxQuotes
	Notices  []notice    `json:"notices"`
	Point    point       `json:"point"`
}

type clockView struct {
	OffsetMS float64 `json:"offset_ms"`
	RTTMS    float64 `json:"rtt_ms"`
	At       int64   `json:"at"` // unix ms; 0: never estimated
}

type totals struct {
	Events      int64 `json:"events"`
	Frames      int64 `json:"frames"`
	Bytes       int64 `json:"bytes"`
	Duplicates  int64 `json:"duplicates"`
	Gaps        int64 `json:"gaps"`
	Missing     int64 `json:"missing"`
	Malformed   int64 `json:"malformed"`
	Unknown     int64 `json:"unknown"`
	Binary      int64 `json:"binary"`
	Dropped     int64 `json:"dropped"`
	Connects    int64 `json:"connects"`
	Reconnects  int64 `json:"reconnects"`
	Stale       int64 `json:"stale"`
	Rotations   int64 `json:"rotations"`
	Backfilled  int64 `json:"backfilled"`
	Unfilled    int64 `json:"unfilled"`
	Resyncs     int64 `json:"resyncs"`
	BooksInSync int64 `json:"books_in_sync"`
	Books       int   `json:"books"`
	ConnsUp     int   `json:"conns_up"`
	Conns       int   `json:"conns"`
}

type rates struct {
	Events float64 `json:"events"`
	Frames float64 `json:"frames"`
	Bytes  float64 `json:"bytes"`
}

// latency holds quantiles over the last interval, in ms; nil: no events.
type latency struct {
	ExchP50 *float64 `json:"exch_p50"`
	ExchP99 *float64 `json:"exch_p99"`
	SinkP50 *float64 `json:"sink_p50"`
	SinkP99 *float64 `json:"sink_p99"`
}

type process struct {
	RSS        int64 `json:"rss"`
	Heap       int64 `json:"heap"`
	GoMemory   int64 `json:"go_memory"`
	Goroutines int64 `json:"goroutines"`
	FDs        int64 `json:"fds"`
}

type connView struct {
	Name       string           `json:"name"`
	State      string           `json:"state"`
	Up         bool             `json:"up"`
	UptimeS    float64          `json:"uptime_s"`
	Connects   int64            `json:"connects"`
	Reconnects int64            `json:"reconnects"`
	DialErrors int64            `json:"dial_errors"`
	Frames     int64            `json:"frames"`
	Rate       float64          `json:"rate"`
	Bytes      int64            `json:"bytes"`
	Queue      int              `json:"queue"`
	Stale      int64            `json:"stale"`
	Rotations  int64            `json:"rotations"`
	Dropped    int64            `json:"dropped"`
	CloseCodes map[string]int64 `json:"close_codes,omitempty"`
	Lagging    bool             `json:"lagging,omitempty"` // behind the venue past the gateway's bound
	LagS       float64          `json:"lag_s"`             // how far behind the venue its events arrive
}

type quoteView struct {
	Venue      string `json:"venue"`
	Symbol     string `json:"symbol"`
	Bid        string `json:"bid,omitempty"`
	BidQty     string `json:"bid_qty,omitempty"`
	Ask        string `json:"ask,omitempty"`
	AskQty     string `json:"ask_qty,omitempty"`
	Spread     string `json:"spread,omitempty"`
	Last       string `json:"last,omitempty"`
	LastQty    string `json:"last_qty,omitempty"`
	Side       string `json:"side,omitempty"`
	Trades     int64  `json:"trades"`
	QuoteAgeMS int64  `json:"quote_age_ms"` // -1: no quote
	TradeAgeMS int64  `json:"trade_age_ms"` // -1: no trade
}

// point is one sample of the charts' series.
type point struct {
	T          int64    `json:"t"`
	Events     float64  `json:"ev"`
	Frames     float64  `json:"fr"`
	Bytes      float64  `json:"by"`
	ExchP50    *float64 `json:"x50"`
	ExchP99    *float64 `json:"x99"`
	SinkP99    *float64 `json:"s99"`
	Reconnects int64    `json:"rc"`
	Gaps       int64    `json:"gp"`
	Missing    int64    `json:"mi"`
	Heap       int64    `json:"hp"`
	RSS        int64    `json:"rss"`
	Goroutines int64    `json:"gr"`
	// Venues are the events per second of each venue of Config.Venues, in
	// its order; none without them.
	Venues []float64 `json:"vev,omitempty"`
}

// sampler takes a snapshot every interval, keeps the charts' history and
// hands each snapshot to the dashboard streams.
type sampler struct {
	m *Monitor

	// state of the previous tick, used by the sampler goroutine only
	prevT              time.Time
	prevEvents         int64
	prevFrames         int64
	prevBytes          int64
	prevConnFrames     []int64
	prevExch, prevSink []uint64
	prevVenue          []venuePrev // in the order of Config.Venues
	mem                []metrics.Sample

	mu     sync.Mutex
	closed bool
	hist   history
	last   []byte // the last snapshot's JSON
	subs   map[chan []byte]struct{}
}

func newSampler(m *Monitor) *sampler {
	return &sampler{
		m:    m,
		subs: map[chan []byte]struct{}{},
		hist: newHistory(m.cfg.History),
		mem: []metrics.Sample{
			{Name: "/memory/classes/heap/objects:bytes"},
			{Name: "/memory/classes/total:bytes"},
			{Name: "/sched/goroutines:goroutines"},
		},
	}
}

func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(s.m.cfg.SampleInterval)
	defer t.Stop()
	s.tick(time.Now())
	for {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			s.closed = true
			for ch := range s.subs {
				close(ch)
				delete(s.subs, ch)
			}
			s.mu.Unlock()
			return
		case now := <-t.C:
			s.tick(now)
		}
	}
}

func (s *sampler) tick(now time.Time) {
	m := s.m
	snap := s.take(now)
	b, err := json.Marshal(snap)
	if err != nil {
		m.log.Error("dashboard snapshot", "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last != nil { // the first sample has no rates yet
		s.hist.add(snap.Point)
	}
	s.last = b
	for ch := range s.subs {
		select {
		case <-ch: // a slow reader gets the newest snapshot only
		default:
		}
		ch <- b
	}
}

func (s *sampler) take(now time.Time) *snapshot {
	m := s.m
	snap := &snapshot{Time: now.UnixMilli(), Started: m.started.UnixMilli(), Venue: m.cfg.Venue}
	dt := now.Sub(s.prevT).Seconds()
	first := s.prevT.IsZero()
	s.prevT = now
	rate := func(cur int64, prev *int64) float64 {
		d := cur - *prev
		*prev = cur
		if first || dt <= 0 || d < 0 {
			return 0
		}
		return float64(d) / dt
	}

	rd := m.read()
	st := rd.st
	tt := &snap.Totals
	tt.Events, tt.Duplicates, tt.Gaps, tt.Missing = st.Events, st.Duplicates, st.Gaps, st.Missing
	tt.Malformed, tt.Unknown, tt.Binary = st.Malformed, st.Unknown, st.Binary
	tt.Backfilled, tt.Unfilled, tt.Resyncs, tt.BooksInSync, tt.Books = st.Backfilled, st.Unfilled, st.BookResyncs, st.BooksInSync, m.cfg.Books
	up := m.conns.update(st.Sessions, now)
	if len(s.prevConnFrames) < len(st.Sessions) {
		s.prevConnFrames = append(s.prevConnFrames, make([]int64, len(st.Sessions)-len(s.prevConnFrames))...)
	}
	snap.Conns = make([]connView, len(st.Sessions))
	names := m.connNames(&rd)
	for i := range st.Sessions {
		cs := &st.Sessions[i]
		tt.Frames += cs.Frames
		tt.Bytes += cs.Bytes
		tt.Dropped += cs.Dropped
		tt.Connects += cs.Connects
		tt.Reconnects += cs.Reconnects
		tt.Stale += cs.Stale
		tt.Rotations += cs.Rotations
		tt.Conns++
		if connUp(cs.Status) {
			tt.ConnsUp++
		}
		cv := connView{
			Name: names[i], State: cs.Status.String(), Up: connUp(cs.Status), UptimeS: up[i].Seconds(),
			Connects: cs.Connects, Reconnects: cs.Reconnects, DialErrors: cs.DialErrors, Frames: cs.Frames,
			Rate: rate(cs.Frames, &s.prevConnFrames[i]), Bytes: cs.Bytes, Queue: cs.Queued, Stale: cs.Stale,
			Rotations: cs.Rotations, Dropped: cs.Dropped,
		}
		if len(cs.CloseCodes) > 0 {
			cv.CloseCodes = make(map[string]int64, len(cs.CloseCodes))
			for code, n := range cs.CloseCodes {
				cv.CloseCodes[strconv.Itoa(code)] = n
			}
		}
		if i < len(st.Lag) {
			cv.Lagging, cv.LagS = st.Lag[i].Lagging, st.Lag[i].Lag.Seconds()
		}
		snap.Conns[i] = cv
	}
	snap.Rates = rates{Events: rate(st.Events, &s.prevEvents), Frames: rate(tt.Frames, &s.prevFrames), Bytes: rate(tt.Bytes, &s.prevBytes)}
	qs := m.obs.quotes()
	ready := m.ready(&rd, qs, now)
	if ready.Venues != nil {
		m.venuesReady.Store(&ready.Venues)
	}

	var exch, sink []uint64
	exch, s.prevExch = interval(m.obs.exch.cumulative(), s.prevExch)
	sink, s.prevSink = interval(m.obs.sink.cumulative(), s.prevSink)
	snap.Latency = latency{
		ExchP50: quantileMS(exch, exchangeBuckets, 0.5), ExchP99: quantileMS(exch, exchangeBuckets, 0.99),
		SinkP50: quantileMS(sink, sinkBuckets, 0.5), SinkP99: quantileMS(sink, sinkBuckets, 0.99),
	}

	metrics.Read(s.mem)
	snap.Process = process{
		Heap:       int64(s.mem[0].Value.Uint64()),
		GoMemory:   int64(s.mem[1].Value.Uint64()),
		Goroutines: int64(s.mem[2].Value.Uint64()),
		RSS:        rss(),
		FDs:        openFDs(),
	}

	if o := m.clock.Load(); o != nil {
		snap.Clock = clockView{OffsetMS: float64(o.Offset) / 1e6, RTTMS: float64(o.RTT) / 1e6}
		if !o.At.IsZero() {
			snap.Clock.At = o.At.UnixMilli()
		}
	}

	snap.Books = m.books(qs, &rd, now)
	snap.Venues = s.venueViews(&rd, ready, snap.Books, rate)
	if len(snap.Books) > maxQuotes {
		snap.Books = snap.Books[:maxQuotes]
	}
	snap.Ready, snap.NotReady = ready.Ready, ready.NotReady
	snap.Sinks = sinkViews(m.cfg.Sinks, ready.NotReady)
	snap.NQuotes = len(qs)
	for _, q := range qs[:min(len(qs), maxQuotes)] {
		snap.Quotes = append(snap.Quotes, quoteOf(q, now))
	}
	snap.Notices = m.obs.notices.snapshot()
	snap.Point = point{
		T: snap.Time, Events: snap.Rates.Events, Frames: snap.Rates.Frames, Bytes: snap.Rates.Bytes,
		ExchP50: snap.Latency.ExchP50, ExchP99: snap.Latency.ExchP99, SinkP99: snap.Latency.SinkP99,
		Reconnects: tt.Reconnects, Gaps: tt.Gaps, Missing: tt.Missing,
		Heap: snap.Process.Heap, RSS: snap.Process.RSS, Goroutines: snap.Process.Goroutines,
	}
	for _, v := range snap.Venues {
		snap.Point.Venues = append(snap.Point.Venues, v.EventsRate)
	}
	return snap
}

func quoteOf(q symbolQuote, now time.Time) quoteView {
	v := quoteView{Venue: q.key.venue, Symbol: q.key.symbol, Trades: q.trades, QuoteAgeMS: -1, TradeAgeMS: -1}
	dec := func(m int64, s uint8) string { return string(fixed.Append(nil, m, s)) }
	if q.quoteTime != 0 {
		v.Bid, v.BidQty = dec(q.bid.Price, q.priceScale), dec(q.bid.Qty, q.qtyScale)
		v.Ask, v.AskQty = dec(q.ask.Price, q.priceScale), dec(q.ask.Qty, q.qtyScale)
		v.Spread = dec(q.ask.Price-q.bid.Price, q.priceScale)
		v.QuoteAgeMS = max(0, now.UnixMilli()-q.quoteTime/1e6)
	}
	if q.tradeTime != 0 {
		v.Last, v.LastQty, v.Side = dec(q.price, q.priceScale), dec(q.qty, q.qtyScale), q.side.String()
		v.TradeAgeMS = max(0, now.UnixMilli()-q.tradeTime/1e6)
	}
	return v
}

func sortQuotes(qs []symbolQuote) {
	slices.SortFunc(qs, func(a, b symbolQuote) int {
		if c := strings.Compare(a.key.venue, b.key.venue); c != 0 {
			return c
		}
		return strings.Compare(a.key.symbol, b.key.symbol)
	})
}

// interval returns the counts since prev of cumulative bucket counts.
func interval(cum, prev []uint64) (since, next []uint64) {
	since = make([]uint64, len(cum))
	for i := range cum {
		since[i] = cum[i]
		if i < len(prev) && prev[i] <= cum[i] {
			since[i] -= prev[i]
		}
	}
	return since, cum
}

// quantileMS estimates quantile q, in ms, from cumulative bucket counts
// (the last one is the total) by linear interpolation within a bucket.
func quantileMS(cum []uint64, bounds []float64, q float64) *float64 {
	total := cum[len(cum)-1]
	if total == 0 {
		return nil
	}
	rank := q * float64(total)
	var v float64
	found := false
	for i, b := range bounds {
		if float64(cum[i]) >= rank {
			lo, below := 0.0, 0.0
			if i > 0 {
				lo, below = bounds[i-1], float64(cum[i-1])
			}
			in := float64(cum[i]) - below
			v = b
			if in > 0 {
				v = lo + (b-lo)*(rank-below)/in
			}
			found = true
			break
		}
	}
	if !found {
		v = bounds[len(bounds)-1]
	}
	v = math.Round(v*1e6) / 1e3 // ms, to the µs
	return &v
}

// rss returns the resident set size, from /proc (0 where there is none).
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// openFDs counts the open file descriptors, from /proc (0 where there is none).
func openFDs() int64 {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0
	}
	defer d.Close()
	var n int64
	for {
		names, err := d.Readdirnames(256)
		n += int64(len(names))
		if err != nil {
			break
		}
	}
	return n - 1 // the directory itself
}

// subscribe returns a channel of snapshots and the first message for a new
// stream: the charts' history and the last snapshot. The channel is closed
// when the Monitor closes.
func (s *sampler) subscribe() (chan []byte, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan []byte, 1)
	if s.closed {
		close(ch)
	} else {
		s.subs[ch] = struct{}{}
	}
	iv := s.m.cfg.SampleInterval.Milliseconds()
	init, _ := json.Marshal(struct {
		History []point         `json:"history"`
		Last    json.RawMessage `json:"last,omitempty"`
		Ranges  []rangeView     `json:"ranges"`
	}{s.hist.raw.points(), s.last, []rangeView{
		{ID: "5m", SpanMS: int64(s.m.cfg.History) * iv, StepMS: iv},
		{ID: "1h", SpanMS: midFactor * midPoints * iv, StepMS: midFactor * iv},
		{ID: "all", StepMS: int64(s.hist.all.per) * iv},
	}})
	return ch, init
}

func (s *sampler) unsubscribe(ch chan []byte) {
	s.mu.Lock()
	delete(s.subs, ch)
	s.mu.Unlock()
}

func (s *sampler) lastSnapshot() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}
