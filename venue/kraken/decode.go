package kraken

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/feedkeeper/feedkeeper/book"
	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/venue/binance"
)

// Errors of Decode, wrapped with detail; test them with errors.Is.
var (
	// ErrMalformed: the frame is not valid JSON, lacks a key the event
	// needs, or has a value of the wrong type or out of range (a price
	// with more decimals than the pair's precision also matches
	// fixed.ErrPrecision: the table is out of date).
	ErrMalformed = errors.New("kraken: malformed message")
	// ErrUnknownChannel: a push of a channel this package does not decode.
	// It matches feed.ErrUnknown.
	ErrUnknownChannel = fmt.Errorf("kraken: unknown channel: %w", feed.ErrUnknown)
	// ErrRefused is matched by *Error, Kraken's answer success:false.
	ErrRefused = errors.New("kraken: request refused")
)

// Error is Kraken's refusal of a request: {"error":"Currency pair not
// supported XBT/USD","method":"subscribe","success":false,"symbol":…}.
type Error struct {
	Method, Symbol, Msg string
	ReqID               int64
}

func (e *Error) Error() string {
	if e.Symbol != "" {
		return "kraken: " + e.Method + " " + e.Symbol + ": " + e.Msg
	}
	return "kraken: " + e.Method + ": " + e.Msg
}

// Is matches ErrRefused.
func (e *Error) Is(target error) bool { return target == ErrRefused }

const (
	chBook = iota
	chTrade
	chTicker
	chStatus
	chHeartbeat
	chInstrument
)

// Decoder decodes the frames of one Kraken v2 connection: pushes
// {"channel":…,"type":"snapshot"|"update","data":[…]} of book, trade and
// ticker, status (maintenance is DecodedShutdown), heartbeat, instrument
// (its precisions are put in force in the Instruments the decoder reads
// its table from; nothing to deliver), and the answers to requests
// (subscribe, unsubscribe, pong). It implements feed.Decoder,
// feed.BatchDecoder (a push whose data holds several items, e.g. trades)
// and feed.ReplyParser. It does not allocate in the steady state.
//
// Book events carry no update ID on Kraken: the decoder numbers them (see
// bookSeq). It also keeps each pair's book at the subscribed depth, as
// "Book (Level 2)" asks of a client, and ends an update whose inserts
// push levels out of scope with their removal (qty 0): Kraken sends no
// delete for them, and a consumer of the events, which keeps no depth,
// would otherwise hold them. A pair's precisions changed while its book
// is kept (an instrument update, a refresh) break the book: the next
// update is delivered as a break in the chain (FirstID past the last ID
// + 1), so that the book is asked for again and rebuilt at the new
// precisions. A Decoder is used by one goroutine at a time; its Stats
// are reused by the next frame.
type Decoder struct {
	// Symbols gives each pair's precisions; pushes of others return
	// ErrUnknownSymbol. It is the table in force of the decoder's
	// Instruments, loaded again at every frame.
	Symbols *Symbols
	inst    *Instruments

	// Depth is the subscribed book depth (default DefaultBookDepth): each
	// side is cut to it after every message.
	Depth int

	pairs map[string]*dpair // by name: a pair's book numbering and the book at depth
	lv    []book.Level
	stats feed.Stats
	kbuf  [32]byte
	buf   [64]byte

	frame    []byte
	next     int
	ch       int
	snapshot bool
	changes  []Change // of an instrument push, announced: the ones after the first
}

var (
	_ feed.Decoder      = (*Decoder)(nil)
	_ feed.BatchDecoder = (*Decoder)(nil)
	_ feed.ReplyParser  = (*Decoder)(nil)
)

// NewDecoder returns a decoder of pairs of t, whose precisions the
// instrument channel's pushes to it may change (for this decoder only).
func NewDecoder(t *Symbols) *Decoder {
	names := make([]string, 0, t.Len())
	if t != nil {
		for name := range t.byName {
			names = append(names, name)
		}
	}
	return newDecoder(NewInstruments(t, nil), names)
}

// newDecoder returns a decoder of the table in force in inst, shared with
// the venue's other decoders, ready for the books of the pairs names
// without allocating.
func newDecoder(inst *Instruments, names []string) *Decoder {
	t := inst.Table()
	d := &Decoder{Symbols: t, inst: inst, Depth: DefaultBookDepth, pairs: make(map[string]*dpair, len(names))}
	for _, name := range names {
		d.pairs[name] = &dpair{}
	}
	return d
}

// dpair is a decoder's state of one pair's book.
type dpair struct {
	seq  bookSeq
	book *book.Book // at the subscribed depth; nil before the first message
}

// Decode decodes frame into ev (all fields but ReceiveTime).
func (d *Decoder) Decode(frame []byte, ev *feed.Event) (feed.Decoded, error) {
	d.frame, d.changes = nil, nil
	if d.pairs == nil {
		depth := d.Depth
		*d = *NewDecoder(d.Symbols)
		d.Depth = cmp.Or(depth, DefaultBookDepth)
	}
	d.Symbols = d.inst.Table()
	o, err := binance.OpenObject(frame, binance.SkipWS(frame, 0))
	if err != nil {
		return 0, malformed(err)
	}
	dataAt := -1
	var channel, typ, method binance.Span
	var hasCh, hasType, hasMethod bool
	for {
		key, done, err := o.Next()
		if err != nil {
			return 0, malformed(err)
		}
		if done {
			break
		}
		i := o.Pos()
		switch string(key.Text(frame, d.kbuf[:0])) {
		case "channel":
			channel, i, err = binance.StringAt(frame, i)
			hasCh = true
		case "type":
			typ, i, err = binance.StringAt(frame, i)
			hasType = true
		case "method":
			method, i, err = binance.StringAt(frame, i)
			hasMethod = true
		case "data":
			dataAt = i
			i, err = binance.SkipValue(frame, i, 1)
		default:
			i, err = binance.SkipValue(frame, i, 1)
		}
		if err != nil {
			return 0, malformed(err)
		}
		o.SetPos(i)
	}
	if i := binance.SkipWS(frame, o.Pos()); i != len(frame) {
		return 0, fmt.Errorf("%w: data after the object at offset %d", ErrMalformed, i)
	}
	if hasMethod {
		return d.reply(frame, method.Raw(frame))
	}
	if !hasCh {
		return 0, fmt.Errorf("%w: neither a reply (method) nor a push (channel)", ErrMalformed)
	}
	switch string(channel.Raw(frame)) {
	case "heartbeat":
		return feed.DecodedReply, nil
	case ChannelInstrument:
		changes, err := d.inst.ApplyInstrumentMessage(frame)
		if err != nil {
			return 0, err
		}
		return d.announce(changes, ev), nil
	case "status":
		if isShutdown(frame) {
			return feed.DecodedShutdown, nil
		}
		return feed.DecodedReply, nil
	case ChannelBook:
		d.ch = chBook
	case ChannelTrade:
		d.ch = chTrade
	case ChannelTicker:
		d.ch = chTicker
	default:
		return 0, fmt.Errorf("%w %q", ErrUnknownChannel, channel.Raw(frame))
	}
	if !hasType || dataAt < 0 {
		return 0, fmt.Errorf("%w: %s push without type or data", ErrMalformed, channel.Raw(frame))
	}
	switch string(typ.Raw(frame)) {
	case "snapshot":
		d.snapshot = true
	case "update":
		d.snapshot = false
	default:
		return 0, fmt.Errorf("%w: type %q", ErrMalformed, typ.Raw(frame))
	}
	if frame[dataAt] != '[' {
		return 0, fmt.Errorf("%w: data is not an array", ErrMalformed)
	}
	i := binance.SkipWS(frame, dataAt+1)
	if i < len(frame) && frame[i] == ']' {
		return feed.DecodedReply, nil // nothing to deliver (a trade snapshot of a quiet pair)
	}
	if i, err = d.item(frame, i, ev); err != nil {
		return 0, err
	}
	if i, err = d.after(frame, i); err != nil {
		return 0, err
	}
	if i < 0 {
		return feed.DecodedEvent, nil
	}
	d.frame, d.next = frame, i
	return feed.DecodedBatch, nil
}

// Next decodes the next item of the data array of the frame Decode
// returned DecodedBatch for; false when none is left (or one did not
// decode: the rest of the frame is dropped).
func (d *Decoder) Next(ev *feed.Event) bool {
	if len(d.changes) > 0 {
		changeEvent(d.changes[0], ev)
		d.changes = d.changes[1:]
		return true
	}
	if d.frame == nil {
		return false
	}
	i, err := d.item(d.frame, d.next, ev)
	if err == nil {
		i, err = d.after(d.frame, i)
	}
	if err != nil || i < 0 {
		d.frame = nil
		return err == nil
	}
	d.next = i
	return true
}

func (d *Decoder) after(frame []byte, i int) (int, error) {
	i = binance.SkipWS(frame, i)
	switch {
	case i < len(frame) && frame[i] == ']':
		return -1, nil
	case i < len(frame) && frame[i] == ',':
		return binance.SkipWS(frame, i+1), nil
	}
	return 0, fmt.Errorf("%w: expected ',' or ']' in data at offset %d", ErrMalformed, i)
}

// item decodes one data item: its symbol is looked up first (a second
// pass: keys come in any order).
func (d *Decoder) item(frame []byte, at int, ev *feed.Event) (int, error) {
	*ev = feed.Event{ReceiveTime: ev.ReceiveTime, Bids: ev.Bids[:0], Asks: ev.Asks[:0]}
	o, err := binance.OpenObject(frame, at)
	if err != nil {
		return 0, malformed(err)
	}
	var sym *Symbol
	for {
		key, done, err := o.Next()
		if err != nil {
			return 0, malformed(err)
		}
		if done {
			break
		}
		i := o.Pos()
		if string(key.Text(frame, d.kbuf[:0])) == "symbol" {
			var sp binance.Span
			if sp, i, err = binance.StringAt(frame, i); err != nil {
				return 0, field("symbol", err)
			}
			s, ok := d.Symbols.lookupBytes(sp.Text(frame, d.buf[:0]))
			if !ok {
				return 0, fmt.Errorf("%w %q", ErrUnknownSymbol, sp.Raw(frame))
			}
			sym = s
		} else if i, err = binance.SkipValue(frame, i, 2); err != nil {
			return 0, malformed(err)
		}
		o.SetPos(i)
	}
	end := o.Pos()
	if sym == nil {
		return 0, fmt.Errorf("%w: data item without symbol", ErrMalformed)
	}
	ev.Venue, ev.Symbol, ev.Instrument = Venue, sym.Name, sym.Instrument
	ev.PriceScale, ev.QtyScale = sym.PriceScale, sym.QtyScale
	switch d.ch {
	case chBook:
		err = d.book(frame, at, sym, ev)
	case chTrade:
		err = d.trade(frame, at, sym, ev)
	default:
		err = d.ticker(frame, at, sym, ev)
	}
	return end, err
}

// number reads the JSON number at frame[i] at scale.
func number(frame []byte, i int, scale uint8) (int64, int, error) {
	end, err := binance.SkipValue(frame, i, 3)
	if err != nil {
		return 0, 0, err
	}
	m, err := ParseNumber(frame[i:end], scale)
	return m, end, err
}

// book reads a book item ("Book (Level 2)"): bids and asks as
// [{"price":…,"qty":…}], qty the level's total (0 removes it), checksum,
// timestamp (absent from some snapshots).
func (d *Decoder) book(frame []byte, at int, sym *Symbol, ev *feed.Event) error {
	o, _ := binance.OpenObject(frame, at)
	var have uint8
	for {
		key, done, err := o.Next()
		if err != nil {
			return malformed(err)
		}
		if done {
			break
		}
		i := o.Pos()
		k := key.Text(frame, d.kbuf[:0])
		switch string(k) {
		case "bids":
			ev.Bids, i, err = d.levels(frame, i, sym, ev.Bids[:0])
			have |= 1
		case "asks":
			ev.Asks, i, err = d.levels(frame, i, sym, ev.Asks[:0])
			have |= 2
		case "checksum":
			var sum int64
			sum, i, err = binance.IntAt(frame, i)
			if err == nil && (sum < 0 || sum >= 1<<32) {
				err = errors.New("outside 0..2^32-1")
			}
			ev.Checksum = uint32(sum)
			have |= 4
		case "timestamp":
			ev.ExchangeTime, i, err = d.time(frame, i)
		default:
			i, err = binance.SkipValue(frame, i, 2)
		}
		if err != nil {
			return field(string(k), err)
		}
		o.SetPos(i)
	}
	if have != 7 {
		return missing(have, "bids", "asks", "checksum")
	}
	p := d.pairs[sym.Name]
	if p == nil { // a pair of no stream of the plan
		p = &dpair{}
		d.pairs[sym.Name] = p
	}
	q := &p.seq
	last := q.last
	ev.FirstID, ev.ID = q.number(ev.ExchangeTime/1e3, ev.Checksum)
	scales := [2]uint8{sym.PriceScale, sym.QtyScale}
	if d.snapshot {
		q.scales, q.scaled = scales, true
	} else if q.scaled && q.scales != scales && ev.ID > last {
		// the book in hand is at other precisions: a break in the
		// chain, so that it is asked for again
		ev.FirstID = last + 2
		p.book = nil
	}
	ev.Stream = sym.streams[chBook]
	ev.Checksummed = true
	if d.snapshot {
		ev.Type, ev.Base = feed.TypeBookSnapshot, true
	} else {
		ev.Type = feed.TypeBookDelta
	}
	if ev.ID > last { // not a repeat or a late message, which the sequencer drops
		return d.keep(p, ev)
	}
	return nil
}

// keep applies a book event to the pair's book at the subscribed depth,
// and appends to a delta the removal of the levels it pushed out.
func (d *Decoder) keep(p *dpair, ev *feed.Event) error {
	depth := cmp.Or(d.Depth, DefaultBookDepth)
	b := p.book
	if b == nil {
		b = book.New(2*depth + 64)
		p.book = b
	}
	if ev.Base {
		d.lv = d.lv[:0]
		for _, l := range ev.Bids {
			d.lv = append(d.lv, book.Level{Price: l.Price, Qty: l.Qty})
		}
		n := len(d.lv)
		for _, l := range ev.Asks {
			d.lv = append(d.lv, book.Level{Price: l.Price, Qty: l.Qty})
		}
		if err := b.Load(ev.ID, d.lv[:n], d.lv[n:]); err != nil {
			return fmt.Errorf("%w: snapshot: %w", ErrMalformed, err)
		}
		d.cut(b, book.Bid, depth, nil, false)
		d.cut(b, book.Ask, depth, nil, false)
		return nil
	}
	for _, l := range ev.Bids {
		b.Set(book.Bid, l.Price, l.Qty)
	}
	for _, l := range ev.Asks {
		b.Set(book.Ask, l.Price, l.Qty)
	}
	ev.Bids = d.cut(b, book.Bid, depth, ev.Bids, true)
	ev.Asks = d.cut(b, book.Ask, depth, ev.Asks, true)
	return nil
}

// cut removes the levels of side beyond depth, appending their removal
// to dst when tell is set.
func (d *Decoder) cut(b *book.Book, side book.Side, depth int, dst []feed.Level, tell bool) []feed.Level {
	if b.Depth(side) <= depth {
		return dst
	}
	d.lv = b.Levels(side, d.lv[:0])
	for _, l := range d.lv[depth:] {
		b.Set(side, l.Price, 0)
		if tell {
			dst = append(dst, feed.Level{Price: l.Price})
		}
	}
	return dst
}

// bookSeq numbers the book messages of one pair. Kraken's book carries
// no update ID; its timestamp (µs) is the ID where it moves forward, so
// that an event names the moment of the book it leaves. FirstID is the
// last ID + 1: the chain is never broken by the numbering, and the
// checksum of every message is the check. A message with the last one's
// timestamp and checksum is a repeat and keeps its ID (the sequencer
// drops it); one with the same timestamp but another checksum is a new
// message in the same microsecond and takes the last ID + 1; one older
// than the last keeps its own timestamp, below the last ID: it came late
// and is dropped, and the next checksum asks for the book again. A
// message without a timestamp takes the last ID + 1.
type bookSeq struct {
	last, lastTS int64
	lastSum      uint32
	scales       [2]uint8 // the precisions of the last snapshot
	scaled       bool     // scales is set
}

func (q *bookSeq) number(ts int64, sum uint32) (first, id int64) {
	first = q.last + 1
	switch {
	case ts > q.last:
		id = ts
	case ts == q.lastTS && ts != 0 && sum == q.lastSum:
		return first, q.last
	case ts != 0 && ts < q.lastTS:
		return first, ts
	default:
		id = q.last + 1
	}
	q.last, q.lastTS, q.lastSum = id, ts, sum
	return first, id
}

// levels reads [{"price":…,"qty":…},…] in order (one update may name a
// level twice: "apply strictly in array order").
func (d *Decoder) levels(frame []byte, i int, sym *Symbol, dst []feed.Level) ([]feed.Level, int, error) {
	if i >= len(frame) || frame[i] != '[' {
		return dst, 0, errors.New("not an array")
	}
	i = binance.SkipWS(frame, i+1)
	if i < len(frame) && frame[i] == ']' {
		return dst, i + 1, nil
	}
	for {
		o, err := binance.OpenObject(frame, i)
		if err != nil {
			return dst, 0, err
		}
		var lv feed.Level
		var have uint8
		for {
			key, done, err := o.Next()
			if err != nil {
				return dst, 0, err
			}
			if done {
				break
			}
			j := o.Pos()
			switch string(key.Text(frame, d.kbuf[:0])) {
			case "price":
				lv.Price, j, err = number(frame, j, sym.PriceScale)
				have |= 1
			case "qty":
				lv.Qty, j, err = number(frame, j, sym.QtyScale)
				have |= 2
			default:
				j, err = binance.SkipValue(frame, j, 4)
			}
			if err != nil {
				return dst, 0, err
			}
			o.SetPos(j)
		}
		if have != 3 {
			return dst, 0, errors.New("a level without price or qty")
		}
		if lv.Price <= 0 || lv.Qty < 0 {
			return dst, 0, errors.New("a level with a price not above 0 or a negative qty")
		}
		dst = append(dst, lv)
		i = binance.SkipWS(frame, o.Pos())
		if i < len(frame) && frame[i] == ']' {
			return dst, i + 1, nil
		}
		if i >= len(frame) || frame[i] != ',' {
			return dst, 0, errors.New("expected ',' or ']'")
		}
		i = binance.SkipWS(frame, i+1)
	}
}

// trade reads a trade item ("Trades"): side (the taker's), price, qty,
// trade_id (a sequence per book), timestamp.
func (d *Decoder) trade(frame []byte, at int, sym *Symbol, ev *feed.Event) error {
	o, _ := binance.OpenObject(frame, at)
	var have uint8
	for {
		key, done, err := o.Next()
		if err != nil {
			return malformed(err)
		}
		if done {
			break
		}
		i := o.Pos()
		k := key.Text(frame, d.kbuf[:0])
		switch string(k) {
		case "price":
			ev.Price, i, err = number(frame, i, sym.PriceScale)
			have |= 1
		case "qty":
			ev.Qty, i, err = number(frame, i, sym.QtyScale)
			have |= 2
		case "trade_id":
			ev.ID, i, err = binance.IntAt(frame, i)
			if err == nil && ev.ID < 0 {
				err = errors.New("negative")
			}
			have |= 4
		case "side":
			var sp binance.Span
			if sp, i, err = binance.StringAt(frame, i); err == nil {
				switch string(sp.Raw(frame)) {
				case "buy":
					ev.Side = feed.SideBuy
				case "sell":
					ev.Side = feed.SideSell
				default:
					err = errors.New("want buy or sell")
				}
			}
			have |= 8
		case "timestamp":
			ev.ExchangeTime, i, err = d.time(frame, i)
			have |= 16
		default:
			i, err = binance.SkipValue(frame, i, 2)
		}
		if err != nil {
			return field(string(k), err)
		}
		o.SetPos(i)
	}
	if have != 31 {
		return missing(have, "price", "qty", "trade_id", "side", "timestamp")
	}
	ev.Type, ev.FirstID = feed.TypeTrade, ev.ID
	ev.FirstTradeID, ev.LastTradeID = ev.ID, ev.ID
	sym.noteTrade(ev.ID, ev.ExchangeTime)
	return nil
}

// ticker reads a ticker item ("Ticker (Level 1)"): bid, bid_qty, ask,
// ask_qty, last, volume (base, 24 h), vwap, low, high, change; timestamp
// when sent.
func (d *Decoder) ticker(frame []byte, at int, sym *Symbol, ev *feed.Event) error {
	o, _ := binance.OpenObject(frame, at)
	st := &d.stats
	*st = feed.Stats{Window: "24h"}
	var have uint8
	var change int64
	for {
		key, done, err := o.Next()
		if err != nil {
			return malformed(err)
		}
		if done {
			break
		}
		i := o.Pos()
		k := key.Text(frame, d.kbuf[:0])
		switch string(k) {
		case "bid":
			ev.Bid.Price, i, err = number(frame, i, sym.PriceScale)
		case "bid_qty":
			ev.Bid.Qty, i, err = number(frame, i, sym.QtyScale)
		case "ask":
			ev.Ask.Price, i, err = number(frame, i, sym.PriceScale)
		case "ask_qty":
			ev.Ask.Qty, i, err = number(frame, i, sym.QtyScale)
		case "last":
			st.Close, i, err = number(frame, i, sym.PriceScale)
			have |= 1
		case "high":
			st.High, i, err = number(frame, i, sym.PriceScale)
		case "low":
			st.Low, i, err = number(frame, i, sym.PriceScale)
		case "change":
			change, i, err = number(frame, i, sym.PriceScale)
		case "volume":
			st.Volume, i, err = number(frame, i, sym.QtyScale)
		case "vwap":
			end, e := binance.SkipValue(frame, i, 3)
			if err = e; err == nil {
				st.Avg, err = decimalOf(frame[i:end])
				i = end
			}
		case "timestamp":
			ev.ExchangeTime, i, err = d.time(frame, i)
		default:
			i, err = binance.SkipValue(frame, i, 2)
		}
		if err != nil {
			return field(string(k), err)
		}
		o.SetPos(i)
	}
	if have != 1 {
		return missing(have, "last")
	}
	st.Open = st.Close - change
	st.CloseTime, st.OpenTime = ev.ExchangeTime, ev.ExchangeTime-int64(24*time.Hour)
	ev.Type, ev.Stats = feed.TypeTicker, st
	ev.ID, ev.FirstID = ev.ExchangeTime/1e3, ev.ExchangeTime/1e3
	return nil
}

// decimalOf reads a JSON number at the scale of its own digits (capped at
// fixed.MaxScale: a vwap's later digits are dropped).
func decimalOf(b []byte) (fixed.Dec, error) {
	for s := uint8(0); s <= fixed.MaxScale; s++ {
		m, err := ParseNumber(b, s)
		if err == nil {
			return fixed.Dec{M: m, S: s}, nil
		}
		if !errors.Is(err, fixed.ErrPrecision) {
			return fixed.Dec{}, err
		}
	}
	if m, err := ParseNumber(truncated(b), fixed.MaxScale); err == nil {
		return fixed.Dec{M: m, S: fixed.MaxScale}, nil
	}
	return fixed.Dec{}, fixed.ErrPrecision
}

// truncated cuts plain decimal text after fixed.MaxScale decimals.
func truncated(b []byte) []byte {
	if p := bytes.IndexByte(b, '.'); p >= 0 && bytes.IndexAny(b, "eE") < 0 && len(b) > p+1+fixed.MaxScale {
		return b[:p+1+fixed.MaxScale]
	}
	return b
}

// time reads an RFC 3339 timestamp ("2023-10-06T17:35:55.440295Z") as ns.
func (d *Decoder) time(frame []byte, i int) (int64, int, error) {
	sp, i, err := binance.StringAt(frame, i)
	if err != nil {
		return 0, 0, err
	}
	ns, err := parseTime(sp.Raw(frame))
	return ns, i, err
}

var errTime = errors.New("want an RFC 3339 UTC time, e.g. 2023-10-06T17:35:55.440295Z")

// parseTime reads YYYY-MM-DDTHH:MM:SS[.fraction]Z without allocating.
func parseTime(b []byte) (int64, error) {
	if len(b) < 20 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, errTime
	}
	num := func(s []byte) int {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, dd, h, mi, s := num(b[0:4]), num(b[5:7]), num(b[8:10]), num(b[11:13]), num(b[14:16]), num(b[17:19])
	if y < 0 || mo < 1 || mo > 12 || dd < 1 || dd > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60 {
		return 0, errTime
	}
	frac := int64(0)
	rest := b[19 : len(b)-1]
	if len(rest) > 0 {
		if rest[0] != '.' || len(rest) < 2 || len(rest) > 10 {
			return 0, errTime
		}
		f := num(rest[1:])
		if f < 0 {
			return 0, errTime
		}
		frac = int64(f)
		for range 9 - (len(rest) - 1) {
			frac *= 10
		}
	}
	t := time.Date(y, time.Month(mo), dd, h, mi, s, int(frac), time.UTC)
	return t.UnixNano(), nil
}

func malformed(err error) error {
	if errors.Is(err, ErrMalformed) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

func field(key string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrMalformed, key, err)
}

func missing(have uint8, keys ...string) error {
	for n, k := range keys {
		if have&(1<<n) == 0 {
			return fmt.Errorf("%w: no %s", ErrMalformed, k)
		}
	}
	return fmt.Errorf("%w: a required key is missing", ErrMalformed)
}

// reply handles a frame with a method: pong, and the answers to
// subscribe and unsubscribe (an error one returned as *Error).
func (d *Decoder) reply(frame, method []byte) (feed.Decoded, error) {
	if string(method) == "pong" {
		return feed.DecodedReply, nil
	}
	r, err := d.ParseReply(frame)
	if err != nil {
		return 0, err
	}
	return feed.DecodedReply, r.Err
}

// ParseReply reads an answer: its req_id (0 when absent) and, for
// success:false, an *Error.
func (d *Decoder) ParseReply(frame []byte) (feed.Reply, error) {
	var r struct {
		Method  string `json:"method"`
		Success *bool  `json:"success"`
		Error   string `json:"error"`
		Symbol  string `json:"symbol"`
		ReqID   int64  `json:"req_id"`
	}
	if err := json.Unmarshal(frame, &r); err != nil {
		return feed.Reply{}, fmt.Errorf("%w: reply: %w", ErrMalformed, err)
	}
	if r.Method == "" {
		return feed.Reply{}, fmt.Errorf("%w: reply without method", ErrMalformed)
	}
	rep := feed.Reply{ID: max(r.ReqID, 0)}
	if (r.Success != nil && !*r.Success) || r.Error != "" {
		rep.Err, rep.IsErr = &Error{Method: r.Method, Symbol: r.Symbol, Msg: r.Error, ReqID: r.ReqID}, true
	}
	return rep, nil
}

// isShutdown reports whether frame is a status message whose system is
// "maintenance" ("Status": the engine stops; the server will drop the
// connection). Status messages are short: a longer frame is not searched.
// cancel_only and post_only leave market data flowing: they are not.
func isShutdown(frame []byte) bool {
	return len(frame) < 1024 && bytes.Contains(frame, []byte(`"status"`)) &&
		(bytes.Contains(frame, []byte(`"system":"maintenance"`)) || bytes.Contains(frame, []byte(`"system": "maintenance"`)))
}

// isPong reports whether frame answers a ping: {"method":"pong",…}.
func isPong(frame []byte) bool {
	return len(frame) < 512 && (bytes.Contains(frame, []byte(`"method":"pong"`)) || bytes.Contains(frame, []byte(`"method": "pong"`)))
}

// announce makes a TypeStatus event of each change of a streamed pair's
// precisions (StatusInstrument): the first in ev, the others from Next.
func (d *Decoder) announce(changes []Change, ev *feed.Event) feed.Decoded {
	switch len(changes) {
	case 0:
		return feed.DecodedReply
	case 1:
		changeEvent(changes[0], ev)
		return feed.DecodedEvent
	}
	changeEvent(changes[0], ev)
	d.changes = changes[1:]
	return feed.DecodedBatch
}

// changeEvent fills ev with the status event of c: StatusInstrument for
// new precisions, StatusHalted or StatusTrading for a pair that stopped or
// started trading.
func changeEvent(c Change, ev *feed.Event) {
	*ev = feed.Event{Type: feed.TypeStatus, Status: feed.StatusInstrument, Venue: Venue, Symbol: c.New.Name, Instrument: c.New.Instrument,
		PriceScale: c.New.PriceScale, QtyScale: c.New.QtyScale, ReceiveTime: ev.ReceiveTime, Bids: ev.Bids[:0], Asks: ev.Asks[:0]}
	switch {
	case c.Status != "" && TradingStatus(c.Status):
		ev.Status, ev.Reason = feed.StatusTrading, "status "+c.Status+": the pair trades again"
	case c.Status != "":
		ev.Status, ev.Reason = feed.StatusHalted, "status "+c.Status+": the pair does not trade; its trades stop and its book moves only by cancels, if at all"
	default:
		ev.Reason = fmt.Sprintf("instrument channel: price precision %d→%d, quantity precision %d→%d; the events after carry the new ones, and the book is rebuilt",
			c.Old.PriceScale, c.New.PriceScale, c.Old.QtyScale, c.New.QtyScale)
	}
}
