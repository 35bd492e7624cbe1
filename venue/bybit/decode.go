package bybit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/venue/binance"
)

// Errors returned by Decode, wrapped with detail; test them with errors.Is.
var (
	// ErrMalformed: the frame is not valid JSON, lacks a key the event
	// needs, or has a value of the wrong type or out of range.
	ErrMalformed = errors.New("bybit: malformed message")
	// ErrUnknownTopic: a well-formed frame of a topic this decoder does
	// not read. Also matches feed.ErrUnknown (as ErrUnknownSymbol does):
	// the gateway counts and skips them.
	ErrUnknownTopic = errors.New("bybit: unknown topic")
	// ErrRefused is matched by the error of a reply that says
	// "success":false; its message is Bybit's ret_msg.
	ErrRefused = errors.New("bybit: request refused")
)

// unknownErr is an error that also matches feed.ErrUnknown.
type unknownErr struct{ err error }

func (e *unknownErr) Error() string   { return e.err.Error() }
func (e *unknownErr) Unwrap() []error { return []error{e.err, feed.ErrUnknown} }

// dsym is a decoder's entry of a market: its scales may widen (a value
// with more decimals than the table says), per decoder.
type dsym struct {
	*symbol
	wire binance.Symbol // Name, PriceScale, QtyScale for the wire scanner
	// the last ticker figures: Bybit's linear ticker deltas leave out what
	// did not change ("Ticker": snapshot and delta)
	mark, index, rate, oi fixed.Dec
	nextFunding           int64
	tickerSeen            bool
	// the last depth 1 snapshot delivered, to know Bybit's repeats of it
	top1       bool
	top1U      int64
	top1Levels [2][]feed.Level
}

// Decoder decodes the frames of one connection of category Category:
// publicTrade, orderbook, tickers (linear) and allLiquidation (linear)
// pushes, and replies to requests. It implements feed.Decoder,
// feed.BatchDecoder and feed.ReplyParser.
//
// A frame of several trades or liquidations is a batch: the first in the
// Event, the others from Next. A linear ticker gives a TypeFunding event
// (the merged figures of the snapshot and the deltas since) and, when the
// frame has openInterest, a TypeOpenInterest event from Next.
//
// A depth 1 book (orderbook.1) is pushed as snapshots only, and "if 3
// seconds have elapsed without a change in the orderbook, a snapshot
// message will be pushed again, and the field u will be the same as that
// in the previous message" ("Orderbook"). Such a repeat, the same u and
// the same levels as the last snapshot of that book decoded since the last
// successful subscribe reply, is left out: Decode returns
// feed.DecodedReply, nothing to deliver (Repeats counts them). A snapshot
// with the same u and other levels is delivered: it replaces the book, as
// any snapshot does.
//
// A Decoder is used by one goroutine at a time. The Deriv of its events is
// its own, reused by the next frame (copy an event with CopyTo to keep it).
type Decoder struct {
	cat     Category
	syms    map[string]*dsym
	streams map[string]string // topic → stream name, as in plans
	pending []feed.Event      // the batch's events after the first
	next    int
	deriv   [2]feed.Deriv
	repeats int64 // depth 1 snapshots left out as repeats

	src   *venue.Table[Symbols] // the venue's table in force; nil: fixed
	table *Symbols              // the table syms was made from
}

var (
	_ feed.Decoder      = (*Decoder)(nil)
	_ feed.BatchDecoder = (*Decoder)(nil)
	_ feed.ReplyParser  = (*Decoder)(nil)
)

// NewDecoder returns a decoder of category c's frames with the scales of t.
func NewDecoder(t *Symbols, c Category) *Decoder {
	d := &Decoder{cat: c, syms: map[string]*dsym{}, streams: map[string]string{}}
	d.load(t)
	return d
}

// load takes the markets of t: new ones are added, known ones take t's
// scales where they are finer than the decoder's (which values may have
// widened), keeping their ticker and book state.
func (d *Decoder) load(t *Symbols) {
	d.table = t
	for name, s := range t.by[d.cat] {
		if ds := d.syms[name]; ds != nil {
			ds.symbol = s
			ds.wire.PriceScale, ds.wire.QtyScale = max(ds.wire.PriceScale, s.PriceScale), max(ds.wire.QtyScale, s.QtyScale)
			continue
		}
		d.syms[name] = &dsym{symbol: s, wire: binance.Symbol{Name: s.Name, PriceScale: s.PriceScale, QtyScale: s.QtyScale}}
	}
}

// top are the members of a frame's top-level object that the decoder reads:
// the index of each value, 0 when absent.
type top struct {
	topic, typ, ts, data, cts, success, retMsg, op int
}

// Decode decodes frame into ev. Replies return feed.DecodedReply (with an
// ErrRefused error for "success":false); pushes of several events return
// feed.DecodedBatch.
func (d *Decoder) Decode(frame []byte, ev *feed.Event) (feed.Decoded, error) {
	if d.src != nil {
		if t := d.src.Load(); t != d.table {
			d.load(t) // the venue read its instruments again
		}
	}
	ev.Reset()
	d.pending, d.next = d.pending[:0], 0
	for range 4 { // a value that widens a scale decodes the frame again
		kind, err := d.decode(frame, ev)
		if err == nil || !d.widenFor(err) {
			return kind, err
		}
		ev.Reset()
		d.pending = d.pending[:0]
	}
	return 0, fmt.Errorf("%w: scales keep widening", ErrMalformed)
}

// widenFor widens a scale when err is a value of more decimals than it.
func (d *Decoder) widenFor(err error) bool {
	var se *binance.ScaleError
	return errors.As(err, &se) && d.widen(se)
}

// widen raises the scale of the market se names to what its value needs.
func (d *Decoder) widen(se *binance.ScaleError) bool {
	s := d.syms[se.Symbol]
	if s == nil || se.Scale > fixed.MaxScale {
		return false
	}
	if se.Price && se.Scale > s.wire.PriceScale {
		s.wire.PriceScale = se.Scale
		return true
	}
	if !se.Price && se.Scale > s.wire.QtyScale {
		s.wire.QtyScale = se.Scale
		return true
	}
	return false
}

func (d *Decoder) decode(b []byte, ev *feed.Event) (feed.Decoded, error) {
	i := binance.SkipWS(b, 0)
	obj, err := binance.OpenObject(b, i)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var t top
	var buf [32]byte
	for {
		key, done, err := obj.Next()
		if err != nil {
			return 0, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if done {
			break
		}
		at := obj.Pos()
		switch string(keyText(b, key, &buf)) {
		case "topic":
			t.topic = at
		case "type":
			t.typ = at
		case "ts":
			t.ts = at
		case "data":
			t.data = at
		case "cts":
			t.cts = at
		case "success":
			t.success = at
		case "ret_msg":
			t.retMsg = at
		case "op":
			t.op = at
		}
		next, err := binance.SkipValue(b, at, 1)
		if err != nil {
			return 0, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		obj.SetPos(next)
	}
	if j := binance.SkipWS(b, obj.Pos()); j != len(b) {
		return 0, fmt.Errorf("%w: data after the object at offset %d", ErrMalformed, j)
	}
	if t.topic == 0 {
		if t.success != 0 || t.op != 0 {
			return d.reply(b, t)
		}
		return 0, fmt.Errorf("%w: no topic and not a reply", ErrMalformed)
	}
	topic, err := d.str(b, t.topic, "topic")
	if err != nil {
		return 0, err
	}
	kindEnd := bytes.IndexByte(topic, '.')
	symStart := bytes.LastIndexByte(topic, '.')
	if kindEnd < 0 {
		return 0, &unknownErr{fmt.Errorf("%w %q", ErrUnknownTopic, topic)}
	}
	s := d.syms[string(topic[symStart+1:])]
	if s == nil {
		return 0, &unknownErr{fmt.Errorf("%w: %s %q (topic %q)", ErrUnknownSymbol, d.cat, topic[symStart+1:], topic)}
	}
	ev.Venue, ev.Symbol, ev.Instrument = Venue, s.event, s.instrument
	ev.PriceScale, ev.QtyScale = s.wire.PriceScale, s.wire.QtyScale
	if t.ts == 0 {
		return 0, fmt.Errorf("%w: %s: no ts", ErrMalformed, topic)
	}
	if ev.EventTime, err = d.millis(b, t.ts, "ts"); err != nil {
		return 0, err
	}
	if t.data == 0 {
		return 0, fmt.Errorf("%w: %s: no data", ErrMalformed, topic)
	}
	switch string(topic[:kindEnd]) {
	case "publicTrade":
		return d.fills(b, t.data, s, ev, feed.TypeTrade)
	case "allLiquidation":
		if d.cat != Linear {
			break
		}
		return d.fills(b, t.data, s, ev, feed.TypeLiquidation)
	case "orderbook":
		return d.book(b, t, topic, s, ev)
	case "tickers":
		if d.cat != Linear {
			break
		}
		return d.ticker(b, t, s, ev)
	}
	return 0, &unknownErr{fmt.Errorf("%w %q on %s", ErrUnknownTopic, topic, d.cat)}
}

// keyText returns a key's text, escapes decoded (an escaped key longer than
// buf reads as no known key).
func keyText(b []byte, key binance.Span, buf *[32]byte) []byte {
	if !key.Esc {
		return key.Raw(b)
	}
	if key.End-key.Start > len(buf) {
		return nil
	}
	return key.Text(b, buf[:0])
}

// str reads the JSON string at b[at]; an escaped string is decoded into a
// fresh slice (only malformed or hostile frames escape).
func (d *Decoder) str(b []byte, at int, key string) ([]byte, error) {
	sp, _, err := binance.StringAt(b, at)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, key, err)
	}
	if sp.Esc {
		return sp.Text(b, nil), nil
	}
	return sp.Raw(b), nil
}

// millis reads the integer of ms at b[at] as ns.
func (d *Decoder) millis(b []byte, at int, key string) (int64, error) {
	v, _, err := binance.IntAt(b, at)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %w", ErrMalformed, key, err)
	}
	return msToNs(v, key)
}

func msToNs(v int64, key string) (int64, error) {
	if v < 0 || v > math.MaxInt64/1_000_000 {
		return 0, fmt.Errorf("%w: %s %d ms is out of range", ErrMalformed, key, v)
	}
	return v * 1_000_000, nil
}

// book reads an orderbook push ("Orderbook"): "snapshot" is a TypeBookSnapshot
// with Base set, which replaces the book (as the u=1 snapshot after a
// service restart does); "delta" a TypeBookDelta whose size "0" deletes a
// level. Both have ID = FirstID = u.
func (d *Decoder) book(b []byte, t top, topic []byte, s *dsym, ev *feed.Event) (feed.Decoded, error) {
	if t.typ == 0 {
		return 0, fmt.Errorf("%w: %s: no type", ErrMalformed, topic)
	}
	typ, err := d.str(b, t.typ, "type")
	if err != nil {
		return 0, err
	}
	switch string(typ) {
	case "snapshot":
		ev.Type, ev.Base = feed.TypeBookSnapshot, true
	case "delta":
		ev.Type = feed.TypeBookDelta
	default:
		return 0, fmt.Errorf("%w: %s: type %q", ErrMalformed, topic, typ)
	}
	name, ok := d.streams[string(topic)]
	if !ok {
		name = string(d.cat) + "/" + string(topic)
		d.streams[name[len(d.cat)+1:]] = name
	}
	ev.Stream = name
	ev.ExchangeTime = ev.EventTime
	if t.cts != 0 {
		if ev.ExchangeTime, err = d.millis(b, t.cts, "cts"); err != nil {
			return 0, err
		}
	}
	obj, err := binance.OpenObject(b, t.data)
	if err != nil {
		return 0, fmt.Errorf("%w: data: %w", ErrMalformed, err)
	}
	var haveU, haveB, haveA bool
	for {
		key, done, err := obj.Next()
		if err != nil {
			return 0, fmt.Errorf("%w: data: %w", ErrMalformed, err)
		}
		if done {
			break
		}
		at := obj.Pos()
		var next int
		var buf [32]byte
		switch string(keyText(b, key, &buf)) {
		case "u":
			ev.ID, next, err = binance.IntAt(b, at)
			haveU = true
		case "b":
			ev.Bids, next, err = binance.Levels(b, at, s.wire, ev.Bids[:0], 2, &ev.Capped)
			haveB = true
		case "a":
			ev.Asks, next, err = binance.Levels(b, at, s.wire, ev.Asks[:0], 2, &ev.Capped)
			haveA = true
		case "s":
			var sym []byte
			if sym, err = d.str(b, at, "s"); err == nil && string(sym) != s.Name {
				err = fmt.Errorf("symbol %q under topic %q", sym, topic)
			}
			if err == nil {
				next, err = binance.SkipValue(b, at, 2)
			}
		default:
			next, err = binance.SkipValue(b, at, 2)
		}
		if err != nil {
			return 0, binance.FieldError(string(key.Raw(b)), wrapMalformed(err))
		}
		obj.SetPos(next)
	}
	if !haveU || !haveB || !haveA {
		return 0, fmt.Errorf("%w: %s: data lacks u, b or a", ErrMalformed, topic)
	}
	if ev.ID < 1 {
		return 0, fmt.Errorf("%w: %s: u %d", ErrMalformed, topic, ev.ID)
	}
	ev.FirstID = ev.ID
	if ev.Base && bytes.HasPrefix(topic, depth1Prefix) {
		if s.top1 && s.top1U == ev.ID && slices.Equal(s.top1Levels[0], ev.Bids) && slices.Equal(s.top1Levels[1], ev.Asks) {
			d.repeats++
			return feed.DecodedReply, nil
		}
		s.top1, s.top1U = true, ev.ID
		s.top1Levels[0] = append(s.top1Levels[0][:0], ev.Bids...)
		s.top1Levels[1] = append(s.top1Levels[1][:0], ev.Asks...)
	}
	return feed.DecodedEvent, nil
}

var depth1Prefix = []byte("orderbook.1.")

// Repeats returns how many depth 1 snapshots were left out as Bybit's
// repeats of the one before.
func (d *Decoder) Repeats() int64 { return d.repeats }

// forgetTops forgets the depth 1 snapshots decoded: after a subscribe
// reply the next snapshot of each book is delivered, whatever its u (a
// new connection, or a book asked for again).
func (d *Decoder) forgetTops() {
	for _, s := range d.syms {
		s.top1 = false
	}
}

// wrapMalformed makes err match ErrMalformed, keeping a *ScaleError
// reachable for widening.
func wrapMalformed(err error) error {
	if errors.Is(err, ErrMalformed) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// fills reads the array of a publicTrade or allLiquidation push ("Trade",
// "All Liquidation"): T time, S side, v size, p price. A trade's S is the
// taker's side; a liquidation's S "Buy" is a long liquidated, which the
// venue's Sell order closed (SideSell, as Event.Side says). Trade IDs (i)
// are opaque strings: ID stays 0.
func (d *Decoder) fills(b []byte, at int, s *dsym, ev *feed.Event, typ feed.Type) (feed.Decoded, error) {
	i := binance.SkipWS(b, at)
	if i >= len(b) || b[i] != '[' {
		return 0, fmt.Errorf("%w: data: expected an array", ErrMalformed)
	}
	i = binance.SkipWS(b, i+1)
	n := 0
	base := *ev
	for {
		if i < len(b) && b[i] == ']' {
			break
		}
		if n > 0 {
			if i >= len(b) || b[i] != ',' {
				return 0, fmt.Errorf("%w: data: expected ',' or ']' at offset %d", ErrMalformed, i)
			}
			i = binance.SkipWS(b, i+1)
		}
		target := ev
		if n > 0 {
			if len(d.pending) < cap(d.pending) {
				d.pending = d.pending[:len(d.pending)+1]
			} else {
				d.pending = append(d.pending, feed.Event{})
			}
			target = &d.pending[len(d.pending)-1]
			target.Reset()
			bids, asks := target.Bids, target.Asks
			*target = base
			target.Bids, target.Asks = bids, asks
		}
		next, err := d.fill(b, i, s, target, typ)
		if err != nil {
			return 0, err
		}
		i = binance.SkipWS(b, next)
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: data: no %s", ErrMalformed, typ)
	}
	if n > 1 {
		return feed.DecodedBatch, nil
	}
	return feed.DecodedEvent, nil
}

func (d *Decoder) fill(b []byte, i int, s *dsym, ev *feed.Event, typ feed.Type) (int, error) {
	obj, err := binance.OpenObject(b, i)
	if err != nil {
		return 0, fmt.Errorf("%w: data: %w", ErrMalformed, err)
	}
	ev.Type = typ
	var have uint8
	for {
		key, done, err := obj.Next()
		if err != nil {
			return 0, fmt.Errorf("%w: data: %w", ErrMalformed, err)
		}
		if done {
			break
		}
		at := obj.Pos()
		var next int
		var sp binance.Span
		var buf [32]byte
		switch string(keyText(b, key, &buf)) {
		case "T":
			var ms int64
			if ms, next, err = binance.IntAt(b, at); err == nil {
				ev.ExchangeTime, err = msToNs(ms, "T")
			}
			have |= 1
		case "S":
			var side []byte
			if side, err = d.str(b, at, "S"); err == nil {
				switch string(side) {
				case "Buy":
					ev.Side = feed.SideBuy
				case "Sell":
					ev.Side = feed.SideSell
				default:
					err = fmt.Errorf("side %q", side)
				}
				if typ == feed.TypeLiquidation && err == nil {
					// "Buy": a long liquidated, closed by the venue's sell
					if ev.Side == feed.SideBuy {
						ev.Side = feed.SideSell
					} else {
						ev.Side = feed.SideBuy
					}
				}
				next, _ = binance.SkipValue(b, at, 3)
			}
			have |= 2
		case "v":
			if sp, next, err = binance.StringAt(b, at); err == nil {
				ev.Qty, err = binance.Quantity(b, sp, s.wire, &ev.Capped)
			}
			have |= 4
		case "p":
			if sp, next, err = binance.StringAt(b, at); err == nil {
				ev.Price, err = binance.Decimal(b, sp, s.wire, true)
			}
			have |= 8
		case "s":
			var sym []byte
			if sym, err = d.str(b, at, "s"); err == nil && string(sym) != s.Name {
				err = fmt.Errorf("symbol %q under another's topic", sym)
			}
			if err == nil {
				next, err = binance.SkipValue(b, at, 3)
			}
		default:
			next, err = binance.SkipValue(b, at, 3)
		}
		if err != nil {
			return 0, binance.FieldError(string(key.Raw(b)), wrapMalformed(err))
		}
		obj.SetPos(next)
	}
	if have != 15 {
		return 0, fmt.Errorf("%w: %s lacks T, S, v or p", ErrMalformed, typ)
	}
	return obj.Pos(), nil
}

// ticker reads a linear tickers push ("Ticker"): a snapshot, then deltas
// that leave out what did not change. It gives a TypeFunding event of the
// figures so far (markPrice, indexPrice, fundingRate, nextFundingTime) and,
// when the frame has openInterest, a TypeOpenInterest event from Next.
func (d *Decoder) ticker(b []byte, t top, s *dsym, ev *feed.Event) (feed.Decoded, error) {
	if t.typ != 0 {
		typ, err := d.str(b, t.typ, "type")
		if err != nil {
			return 0, err
		}
		if string(typ) == "snapshot" {
			s.mark, s.index, s.rate, s.oi, s.nextFunding = fixed.Dec{}, fixed.Dec{}, fixed.Dec{}, fixed.Dec{}, 0
			s.tickerSeen = true
		}
	}
	if !s.tickerSeen {
		return 0, &unknownErr{fmt.Errorf("%w: tickers delta of %s before its snapshot", ErrUnknownTopic, s.Name)}
	}
	obj, err := binance.OpenObject(b, t.data)
	if err != nil {
		return 0, fmt.Errorf("%w: data: %w", ErrMalformed, err)
	}
	haveOI := false
	for {
		key, done, err := obj.Next()
		if err != nil {
			return 0, fmt.Errorf("%w: data: %w", ErrMalformed, err)
		}
		if done {
			break
		}
		at := obj.Pos()
		var buf [32]byte
		var dst *fixed.Dec
		var name string
		switch string(keyText(b, key, &buf)) {
		case "markPrice":
			dst, name = &s.mark, "markPrice"
		case "indexPrice":
			dst, name = &s.index, "indexPrice"
		case "fundingRate":
			dst, name = &s.rate, "fundingRate"
		case "openInterest":
			dst, name, haveOI = &s.oi, "openInterest", true
		case "nextFundingTime":
			var v []byte
			if v, err = d.str(b, at, "nextFundingTime"); err != nil {
				return 0, err
			}
			s.nextFunding = 0
			if len(v) > 0 {
				ms, perr := parseUint(v)
				if perr != nil {
					return 0, fmt.Errorf("%w: nextFundingTime %q", ErrMalformed, v)
				}
				if s.nextFunding, err = msToNs(ms, "nextFundingTime"); err != nil {
					return 0, err
				}
			}
		}
		if dst != nil {
			v, err := d.str(b, at, name)
			if err != nil {
				return 0, err
			}
			if *dst, err = parseDec(v); err != nil {
				return 0, fmt.Errorf("%w: %s %q: %w", ErrMalformed, name, v, err)
			}
		}
		next, err := binance.SkipValue(b, at, 2)
		if err != nil {
			return 0, fmt.Errorf("%w: data: %w", ErrMalformed, err)
		}
		obj.SetPos(next)
	}
	ev.Type = feed.TypeFunding
	ev.ExchangeTime = ev.EventTime
	d.deriv[0] = feed.Deriv{MarkPrice: s.mark, IndexPrice: s.index, FundingRate: s.rate, NextFunding: s.nextFunding}
	ev.Deriv = &d.deriv[0]
	if !haveOI {
		return feed.DecodedEvent, nil
	}
	d.pending = append(d.pending[:0], feed.Event{})
	oi := &d.pending[0]
	*oi = feed.Event{Type: feed.TypeOpenInterest, Venue: ev.Venue, Symbol: ev.Symbol, Instrument: ev.Instrument,
		PriceScale: ev.PriceScale, QtyScale: ev.QtyScale, ExchangeTime: ev.ExchangeTime, EventTime: ev.EventTime,
		Bids: oi.Bids[:0], Asks: oi.Asks[:0]}
	d.deriv[1] = feed.Deriv{OpenInterest: s.oi}
	oi.Deriv = &d.deriv[1]
	return feed.DecodedBatch, nil
}

// parseUint reads the decimal digits of v as an int64.
func parseUint(v []byte) (int64, error) {
	if len(v) == 0 || len(v) > 18 {
		return 0, strconv.ErrRange
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, strconv.ErrSyntax
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// parseDec reads a decimal at its own scale; "" is zero (a field Bybit
// leaves empty, such as the funding rate of a dated future).
func parseDec(v []byte) (fixed.Dec, error) {
	if len(v) == 0 {
		return fixed.Dec{}, nil
	}
	mag := v
	if mag[0] == '-' {
		mag = mag[1:] // ScaleOf reads non-negative text
	}
	scale, err := fixed.ScaleOf(mag)
	if err != nil {
		return fixed.Dec{}, err
	}
	m, err := fixed.Parse(v, scale)
	if err != nil {
		return fixed.Dec{}, err
	}
	return fixed.Dec{M: m, S: scale}, nil
}

// Next fills ev with the next event of the last batch. The Deriv of an
// open-interest event is the decoder's own, as the first event's.
func (d *Decoder) Next(ev *feed.Event) bool {
	if d.next >= len(d.pending) {
		return false
	}
	p := &d.pending[d.next]
	bids, asks, recv := ev.Bids[:0], ev.Asks[:0], ev.ReceiveTime
	*ev = *p
	ev.Bids, ev.Asks, ev.ReceiveTime = append(bids, p.Bids...), append(asks, p.Asks...), recv
	d.next++
	return true
}

// reply reads a reply to a request: DecodedReply, with an ErrRefused error
// when it says "success":false.
func (d *Decoder) reply(b []byte, t top) (feed.Decoded, error) {
	if t.success == 0 {
		return feed.DecodedReply, nil // {"op":"pong",…} of option streams
	}
	ok, _, err := binance.BoolAt(b, t.success)
	if err != nil {
		return 0, fmt.Errorf("%w: success: %w", ErrMalformed, err)
	}
	if ok {
		if t.op != 0 {
			if op, err := d.str(b, t.op, "op"); err == nil && string(op) == "subscribe" {
				d.forgetTops()
			}
		}
		return feed.DecodedReply, nil
	}
	r, err := d.ParseReply(b)
	if err != nil {
		return 0, err
	}
	return feed.DecodedReply, r.Err
}

// ParseReply reads a reply ("Connect": subscribe, unsubscribe and ping
// answers): its req_id (0 when absent or not a number) and, for
// "success":false, an error matching ErrRefused with Bybit's ret_msg
// ("args size >10", "error:handler not found,topic:…", "error:already
// subscribed,topic:…"). Public subscribe errors carry no numeric code.
func (d *Decoder) ParseReply(frame []byte) (feed.Reply, error) {
	if frameTopic(frame) != nil {
		return feed.Reply{}, nil // a push left out (a depth 1 repeat, a notice)
	}
	var r struct {
		Success *bool           `json:"success"`
		RetMsg  string          `json:"ret_msg"`
		ReqID   json.RawMessage `json:"req_id"`
		Op      string          `json:"op"`
	}
	if err := json.Unmarshal(frame, &r); err != nil {
		return feed.Reply{}, fmt.Errorf("%w: reply: %w", ErrMalformed, err)
	}
	var out feed.Reply
	var id string
	if json.Unmarshal(r.ReqID, &id) != nil {
		id = string(r.ReqID) // a number
	}
	out.ID, _ = strconv.ParseInt(id, 10, 64)
	if r.Success != nil && !*r.Success {
		out.IsErr = true
		out.Err = fmt.Errorf("%w: %s: %s", ErrRefused, r.Op, r.RetMsg)
	}
	return out, nil
}
