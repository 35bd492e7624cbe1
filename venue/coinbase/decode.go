package coinbase

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/venue/binance"
)

// Errors returned by Decode, wrapped with detail; test them with errors.Is.
var (
	// ErrMalformed: the frame is not valid JSON, lacks a key the event
	// needs, or has a value of the wrong type or out of range.
	ErrMalformed = errors.New("coinbase: malformed message")
	// ErrUnknownChannel: a well-formed frame of a channel this decoder
	// does not read. Also matches feed.ErrUnknown (as ErrUnknownSymbol
	// does): the gateway counts and skips them.
	ErrUnknownChannel = errors.New("coinbase: unknown channel")
	// ErrRefused is matched by the error of a {"type":"error"} message; its
	// text is Coinbase's message.
	ErrRefused = errors.New("coinbase: request refused")
)

// unknownErr is an error that also matches feed.ErrUnknown.
type unknownErr struct{ err error }

func (e *unknownErr) Error() string   { return e.err.Error() }
func (e *unknownErr) Unwrap() []error { return []error{e.err, feed.ErrUnknown} }

// dsym is a decoder's entry of a product: its scales may widen (a value
// with more decimals than the table says), and its book's numbering.
type dsym struct {
	Symbol
	wire   binance.Symbol
	stream string // PRODUCT@level2
	n      int64  // the ID of the book's last event; 0 before any
	seen   bool   // the book has had an event on this connection
	broken bool   // a message of the connection was lost since its last event
	status string // the product's status on the status channel; "" before any
}

// Decoder decodes the frames of one connection: l2_data, market_trades,
// ticker, heartbeats, subscriptions and error messages. It implements
// feed.Decoder and feed.BatchDecoder.
//
// A frame of several events (products, trades) is a batch: the first in
// the Event, the others from Next. Frames that carry no market data
// (heartbeats, the subscriptions reply, the recent trades sent on
// subscribing) are DecodedReply; an error message is DecodedReply with an
// ErrRefused error.
//
// A Decoder is used by one goroutine at a time.
type Decoder struct {
	tab     *venue.Table[Symbols] // the venue's table in force, shared by its decoders
	cur     *Symbols              // the table the scales of syms are from
	syms    map[string]*dsym
	count   int // this frame's events: the caller's, then pending
	pending []feed.Event
	next    int

	scope   SequenceScope
	streams map[string]bool // the products of the connection's streams; nil: every product
	seq     [nScopes]int64  // the last sequence_num: [0] of the connection, [1+channel] of each channel
	seqSeen [nScopes]bool
	hb      int64 // the last heartbeat_counter
	hbSeen  bool
	kbuf    [32]byte // escaped keys, decoded

	// Gaps counts the jumps of sequence_num and heartbeat_counter seen.
	Gaps    int64
	lostNow bool // the frame being decoded showed a jump

	order []int        // timeOrder's indices
	moved []feed.Event // timeOrder's copies
}

var (
	_ feed.Decoder      = (*Decoder)(nil)
	_ feed.BatchDecoder = (*Decoder)(nil)
	_ feed.LossReporter = (*Decoder)(nil)
)

// NewDecoder returns a decoder with the scales of t that reads sequence_num
// as counting the messages of scope.
func NewDecoder(t *Symbols, scope SequenceScope) *Decoder {
	tab := new(venue.Table[Symbols])
	tab.Store(t)
	return newDecoder(tab, scope)
}

// newDecoder returns a decoder of the table in force in tab: a scale it
// widens is widened in tab, for every decoder of the venue, and one widened
// by another decoder is taken up at its next frame.
func newDecoder(tab *venue.Table[Symbols], scope SequenceScope) *Decoder {
	t := tab.Load()
	d := &Decoder{tab: tab, cur: t, syms: map[string]*dsym{}, scope: scope}
	for name, s := range t.by {
		d.syms[name] = &dsym{Symbol: s, stream: name + "@" + ChannelLevel2,
			wire: binance.Symbol{Name: s.Name, PriceScale: s.PriceScale, QtyScale: s.QtyScale}}
	}
	return d
}

// top are the members of a frame's top-level object the decoder reads: the
// index of each value, 0 when absent.
type top struct {
	channel, ts, seq, events, typ, message int
}

// Decode decodes frame into ev.
func (d *Decoder) Decode(frame []byte, ev *feed.Event) (feed.Decoded, error) {
	if t := d.tab.Load(); t != d.cur {
		d.takeUp(t)
	}
	d.lostNow = false
	for range 4 { // a value that widens a scale decodes the frame again
		ev.Reset()
		d.pending, d.next, d.count = d.pending[:0], 0, 0
		kind, err := d.decode(frame, ev)
		if err == nil || !d.widenFor(err) {
			return kind, err
		}
	}
	return 0, fmt.Errorf("%w: scales keep widening", ErrMalformed)
}

// widenFor widens a scale when err is a value of more decimals than it.
func (d *Decoder) widenFor(err error) bool {
	var se *binance.ScaleError
	return errors.As(err, &se) && d.widen(se)
}

// widen raises the scale of the product se names to what its value needs,
// in the venue's table and in the decoder.
func (d *Decoder) widen(se *binance.ScaleError) bool {
	s := d.syms[se.Symbol]
	if s == nil || se.Scale > fixed.MaxScale {
		return false
	}
	if (se.Price && se.Scale <= s.wire.PriceScale) || (!se.Price && se.Scale <= s.wire.QtyScale) {
		return false
	}
	d.tab.Widen(func(old *Symbols) *Symbols {
		cur, ok := old.by[se.Symbol]
		if !ok || (se.Price && cur.PriceScale >= se.Scale) || (!se.Price && cur.QtyScale >= se.Scale) {
			return nil
		}
		n := &Symbols{by: make(map[string]Symbol, len(old.by))}
		for k, v := range old.by {
			n.by[k] = v
		}
		if se.Price {
			cur.PriceScale = se.Scale
		} else {
			cur.QtyScale = se.Scale
		}
		n.by[se.Symbol] = cur
		return n
	})
	if se.Price {
		s.wire.PriceScale = se.Scale
	} else {
		s.wire.QtyScale = se.Scale
	}
	return true
}

// takeUp raises the decoder's scales to those of t, the table now in
// force, and takes up the products listed since.
func (d *Decoder) takeUp(t *Symbols) {
	for name, s := range t.by {
		ds := d.syms[name]
		if ds == nil {
			d.syms[name] = &dsym{Symbol: s, stream: name + "@" + ChannelLevel2,
				wire: binance.Symbol{Name: s.Name, PriceScale: s.PriceScale, QtyScale: s.QtyScale}}
			continue
		}
		ds.wire.PriceScale = max(ds.wire.PriceScale, s.PriceScale)
		ds.wire.QtyScale = max(ds.wire.QtyScale, s.QtyScale)
	}
	d.cur = t
}

// Next copies the batch's next event into ev.
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

// add returns the frame's next event to fill: the caller's first, then
// pending ones, reset.
func (d *Decoder) add(ev *feed.Event) *feed.Event {
	if d.count++; d.count == 1 {
		return ev
	}
	if len(d.pending) < cap(d.pending) {
		d.pending = d.pending[:len(d.pending)+1]
	} else {
		d.pending = append(d.pending, feed.Event{})
	}
	t := &d.pending[len(d.pending)-1]
	t.Reset()
	return t
}

func malformed(key string, err error) error {
	if errors.Is(err, ErrMalformed) {
		return err
	}
	var se *binance.ScaleError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, key, se)
	}
	return fmt.Errorf("%w: %s: %w", ErrMalformed, key, err)
}

func (d *Decoder) decode(b []byte, ev *feed.Event) (feed.Decoded, error) {
	obj, err := binance.OpenObject(b, binance.SkipWS(b, 0))
	if err != nil {
		return 0, malformed("frame", err)
	}
	var t top
	var buf [32]byte
	for {
		key, done, err := obj.Next()
		if err != nil {
			return 0, malformed("frame", err)
		}
		if done {
			break
		}
		at := obj.Pos()
		switch string(keyText(b, key, &buf)) {
		case "channel":
			t.channel = at
		case "timestamp":
			t.ts = at
		case "sequence_num":
			t.seq = at
		case "events":
			t.events = at
		case "type":
			t.typ = at
		case "message":
			t.message = at
		}
		next, err := binance.SkipValue(b, at, 1)
		if err != nil {
			return 0, malformed("frame", err)
		}
		obj.SetPos(next)
	}
	if j := binance.SkipWS(b, obj.Pos()); j != len(b) {
		return 0, fmt.Errorf("%w: data after the object at offset %d", ErrMalformed, j)
	}
	if t.channel == 0 {
		if t.typ != 0 {
			typ, err := str(b, t.typ, "type")
			if err != nil {
				return 0, err
			}
			if string(typ) == "error" { // "WebSocket Overview": errors
				msg := []byte("no message")
				if t.message != 0 {
					if msg, err = str(b, t.message, "message"); err != nil {
						return 0, err
					}
				}
				return feed.DecodedReply, fmt.Errorf("%w: %s", ErrRefused, msg)
			}
		}
		return 0, fmt.Errorf("%w: no channel", ErrMalformed)
	}
	channel, err := str(b, t.channel, "channel")
	if err != nil {
		return 0, err
	}
	var sent int64
	if t.ts != 0 {
		if sent, err = timeAt(b, t.ts, "timestamp"); err != nil {
			return 0, err
		}
	}
	var seq int64
	if t.seq != 0 {
		if seq, _, err = binance.IntAt(b, t.seq); err != nil || seq < 0 {
			return 0, fmt.Errorf("%w: sequence_num: %v", ErrMalformed, err)
		}
	}
	if t.events == 0 && string(channel) != "subscriptions" {
		return 0, fmt.Errorf("%w: %s: no events", ErrMalformed, channel)
	}
	var hb int64 = -1
	slot := 0 // the connection's sequence_num, or the channel's
	switch string(channel) {
	case "l2_data":
		slot = 1
		err = d.events(b, t.events, sent, ev, d.bookEvent)
	case "market_trades":
		slot = 2
		if err = d.events(b, t.events, sent, ev, d.tradesEvent); err == nil {
			d.timeOrder(ev)
		}
	case "ticker", "ticker_batch":
		slot = 3
		err = d.events(b, t.events, sent, ev, d.tickerEvent)
	case "heartbeats":
		slot = 4
		err = d.events(b, t.events, sent, ev, func(b []byte, at int, _ int64, _ *feed.Event) error {
			var e error
			hb, e = d.heartbeat(b, at)
			return e
		})
	case "subscriptions":
		slot = 5
	case ChannelStatus:
		slot = 6
		err = d.events(b, t.events, sent, ev, d.statusEvent)
	default:
		return 0, &unknownErr{fmt.Errorf("%w %q", ErrUnknownChannel, channel)}
	}
	if err != nil {
		return 0, err
	}
	// the frame is read: now the connection's counters and the books'
	// numbering move
	if t.seq != 0 && d.scope != SequenceOff {
		if d.scope == SequencePerConnection {
			slot = 0
		}
		if d.seqSeen[slot] && seq > d.seq[slot]+1 {
			d.lost()
		}
		d.seq[slot], d.seqSeen[slot] = seq, true
	}
	if hb >= 0 {
		if d.hbSeen && hb > d.hb+1 {
			d.lost()
		}
		d.hb, d.hbSeen = hb, true
	}
	for i := range d.count {
		e := ev
		if i > 0 {
			e = &d.pending[i-1]
		}
		if e.Type != feed.TypeBookSnapshot && e.Type != feed.TypeBookDelta {
			continue
		}
		s := d.syms[e.Symbol]
		id := s.n + 1 // no sequence_num: the next of the book's own
		if t.seq != 0 {
			id = seq
		}
		e.ID, e.FirstID, e.PrevID = id, id, s.n
		if s.broken || !s.seen {
			e.PrevID = -1 // names no event: a break
		}
		s.n, s.seen, s.broken = id, true, false
	}
	switch d.count {
	case 0:
		return feed.DecodedReply, nil
	case 1:
		return feed.DecodedEvent, nil
	}
	return feed.DecodedBatch, nil
}

// SequenceScope is what Coinbase's sequence_num is read to count.
type SequenceScope uint8

// The readings of sequence_num (see the package comment).
const (
	// SequencePerConnection: one counter of all the connection's
	// messages, every channel's.
	SequencePerConnection SequenceScope = iota
	// SequencePerChannel: one counter of each channel's messages.
	SequencePerChannel
	// SequenceOff: sequence_num is not checked; only heartbeat_counter is.
	SequenceOff
)

// nScopes: the connection and the six channels read.
const nScopes = 7

// ParseSequenceScope reads "connection", "channel" or "off".
func ParseSequenceScope(s string) (SequenceScope, error) {
	switch s {
	case "connection":
		return SequencePerConnection, nil
	case "channel":
		return SequencePerChannel, nil
	case "off":
		return SequenceOff, nil
	}
	return 0, fmt.Errorf("sequence scope %q: want connection, channel or off", s)
}

// String returns the scope as ParseSequenceScope reads it.
func (s SequenceScope) String() string {
	switch s {
	case SequencePerConnection:
		return "connection"
	case SequencePerChannel:
		return "channel"
	case SequenceOff:
		return "off"
	}
	return fmt.Sprintf("SequenceScope(%d)", uint8(s))
}

// timeOrder puts the frame's events in the order of their exchange times,
// oldest first: a market_trades batch may list its trades newest first.
// A batch in order is left as it is; one newest first is reversed (its
// trades of one time come newest first too); any other is sorted stably
// and each event moved once. Linear but for the last case: a batch holds
// up to a thousand trades.
func (d *Decoder) timeOrder(ev *feed.Event) {
	n := d.count
	at := func(i int) *feed.Event {
		if i == 0 {
			return ev
		}
		return &d.pending[i-1]
	}
	asc, desc := true, true
	for i := 1; i < n && (asc || desc); i++ {
		switch prev, t := at(i-1).ExchangeTime, at(i).ExchangeTime; {
		case t < prev:
			asc = false
		case t > prev:
			desc = false
		}
	}
	switch {
	case asc:
		return
	case desc:
		for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
			a, b := at(i), at(j)
			*a, *b = *b, *a
		}
		return
	}
	d.order = d.order[:0]
	for i := range n {
		d.order = append(d.order, i)
	}
	slices.SortStableFunc(d.order, func(a, b int) int { return cmp.Compare(at(a).ExchangeTime, at(b).ExchangeTime) })
	// the events move once through a copy; a permutation leaves every
	// slot's buffers with exactly one slot
	d.moved = d.moved[:0]
	for _, i := range d.order {
		d.moved = append(d.moved, *at(i))
	}
	for i := range n {
		*at(i) = d.moved[i]
	}
	clear(d.moved) // no buffer kept twice
}

// lost marks every book of the connection broken: a message was lost.
func (d *Decoder) lost() {
	d.Gaps++
	d.lostNow = true
	for _, s := range d.syms {
		if s.seen {
			s.broken = true
		}
	}
}

// Lost reports whether the frame just decoded showed messages of its
// connection missing before it (sequence_num jumped, heartbeat_counter
// skipped): trades may have been among them (feed.LossReporter).
func (d *Decoder) Lost() bool { return d.lostNow }

// events calls each for every object of the events array at b[at].
func (d *Decoder) events(b []byte, at int, sent int64, ev *feed.Event, each func(b []byte, at int, sent int64, ev *feed.Event) error) error {
	return array(b, at, "events", func(i int) error { return each(b, i, sent, ev) })
}

// array calls each with the index of every value of the array at b[at];
// each must return nil having read the value, which array then skips.
func array(b []byte, at int, key string, each func(i int) error) error {
	i := binance.SkipWS(b, at)
	if i >= len(b) || b[i] != '[' {
		return fmt.Errorf("%w: %s: expected an array", ErrMalformed, key)
	}
	i = binance.SkipWS(b, i+1)
	for n := 0; ; n++ {
		if i < len(b) && b[i] == ']' {
			return nil
		}
		if n > 0 {
			if i >= len(b) || b[i] != ',' {
				return fmt.Errorf("%w: %s: expected ',' or ']' at offset %d", ErrMalformed, key, i)
			}
			i = binance.SkipWS(b, i+1)
		}
		if err := each(i); err != nil {
			return err
		}
		next, err := binance.SkipValue(b, i, 3)
		if err != nil {
			return malformed(key, err)
		}
		i = binance.SkipWS(b, next)
	}
}

// fields calls each with every key of the object at b[at] and its value's
// index; each returns nil having read or ignored the value. An escaped
// key is decoded into buf.
func fields(b []byte, at int, what string, buf *[32]byte, each func(key []byte, i int) error) error {
	obj, err := binance.OpenObject(b, at)
	if err != nil {
		return malformed(what, err)
	}
	for {
		key, done, err := obj.Next()
		if err != nil {
			return malformed(what, err)
		}
		if done {
			return nil
		}
		i := obj.Pos()
		if err := each(keyText(b, key, buf), i); err != nil {
			return err
		}
		next, err := binance.SkipValue(b, i, 4)
		if err != nil {
			return malformed(what, err)
		}
		obj.SetPos(next)
	}
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
func str(b []byte, at int, key string) ([]byte, error) {
	sp, _, err := binance.StringAt(b, at)
	if err != nil {
		return nil, malformed(key, err)
	}
	if sp.Esc {
		return sp.Text(b, nil), nil
	}
	return sp.Raw(b), nil
}

func timeAt(b []byte, at int, key string) (int64, error) {
	s, err := str(b, at, key)
	if err != nil {
		return 0, err
	}
	ns, err := ParseTime(s)
	if err != nil {
		return 0, malformed(key, err)
	}
	return ns, nil
}

// ParseTime reads an RFC 3339 UTC time with 0 to 9 fractional digits
// ("2023-02-09T20:32:50.714964855Z"; "WebSocket Channels" samples), exactly,
// as ns since the epoch; it does not allocate.
func ParseTime(s []byte) (int64, error) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len(s)-1] != 'Z' {
		return 0, fmt.Errorf("time %q: want YYYY-MM-DDTHH:MM:SS[.fraction]Z", s)
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range s[i : i+n] {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	y, mo, dd, h, mi, sec := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2)
	if y < 1970 || mo < 1 || mo > 12 || dd < 1 || dd > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 {
		return 0, fmt.Errorf("time %q: a field is out of range", s)
	}
	var frac int64
	if rest := s[19 : len(s)-1]; len(rest) > 0 {
		if rest[0] != '.' || len(rest) < 2 || len(rest) > 10 {
			return 0, fmt.Errorf("time %q: want 1 to 9 fractional digits", s)
		}
		f := num(20, len(rest)-1)
		if f < 0 {
			return 0, fmt.Errorf("time %q: fraction is not digits", s)
		}
		frac = int64(f)
		for range 10 - len(rest) {
			frac *= 10
		}
	}
	t := time.Date(y, time.Month(mo), dd, h, mi, sec, 0, time.UTC)
	if t.Day() != dd || t.Year() > 2262 {
		return 0, fmt.Errorf("time %q: no such date", s)
	}
	return t.Unix()*1e9 + frac, nil
}

// product reads a product_id and returns its entry; nil with no error when
// the table lacks it.
func (d *Decoder) product(b []byte, at int) (*dsym, []byte, error) {
	p, err := str(b, at, "product_id")
	if err != nil {
		return nil, nil, err
	}
	return d.syms[string(p)], p, nil
}

// bookEvent reads one l2_data event ("WebSocket Channels": Level2): a
// "snapshot" is a TypeBookSnapshot with Base set, an "update" a
// TypeBookDelta; each update's new_quantity is the level's new absolute
// size, "0" removing it; side "bid" or "offer". Stamped with the
// envelope's timestamp (per-level event_time is not monotonic, and
// epoch zero in snapshots).
func (d *Decoder) bookEvent(b []byte, at int, sent int64, ev *feed.Event) error {
	var typ, prod, upd int
	if err := fields(b, at, "event", &d.kbuf, func(k []byte, i int) error {
		switch string(k) {
		case "type":
			typ = i
		case "product_id":
			prod = i
		case "updates":
			upd = i
		}
		return nil
	}); err != nil {
		return err
	}
	if typ == 0 || prod == 0 || upd == 0 {
		return fmt.Errorf("%w: l2_data event lacks type, product_id or updates", ErrMalformed)
	}
	s, name, err := d.product(b, prod)
	if err != nil {
		return err
	}
	if s == nil {
		return &unknownErr{fmt.Errorf("%w: %q in l2_data", ErrUnknownSymbol, name)}
	}
	kind, err := str(b, typ, "type")
	if err != nil {
		return err
	}
	e := d.add(ev)
	switch string(kind) {
	case "snapshot":
		e.Type, e.Base = feed.TypeBookSnapshot, true
	case "update":
		e.Type = feed.TypeBookDelta
	default:
		return fmt.Errorf("%w: l2_data type %q", ErrMalformed, kind)
	}
	d.stamp(e, s, sent)
	e.Stream, e.ExchangeTime = s.stream, sent
	bids, asks := e.Bids[:0], e.Asks[:0]
	err = array(b, upd, "updates", func(i int) error {
		var side int8
		var lv feed.Level
		var have uint8
		err := fields(b, i, "updates", &d.kbuf, func(k []byte, j int) error {
			var sp binance.Span
			var err error
			switch string(k) {
			case "side":
				var v []byte
				if v, err = str(b, j, "side"); err == nil {
					switch string(v) {
					case "bid":
						side = 1
					case "offer":
						side = 2
					default:
						err = fmt.Errorf("%w: side %q", ErrMalformed, v)
					}
				}
				have |= 1
			case "price_level":
				if sp, _, err = binance.StringAt(b, j); err == nil {
					lv.Price, err = binance.Decimal(b, sp, s.wire, true)
				}
				have |= 2
			case "new_quantity":
				if sp, _, err = binance.StringAt(b, j); err == nil {
					lv.Qty, err = binance.Quantity(b, sp, s.wire, &e.Capped)
				}
				have |= 4
			}
			if err != nil {
				return malformed(string(k), err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if have != 7 {
			return fmt.Errorf("%w: an update lacks side, price_level or new_quantity", ErrMalformed)
		}
		if side == 1 {
			bids = append(bids, lv)
		} else {
			asks = append(asks, lv)
		}
		return nil
	})
	e.Bids, e.Asks = bids, asks
	return err
}

func (d *Decoder) stamp(e *feed.Event, s *dsym, sent int64) {
	e.Venue, e.Symbol, e.Instrument = Venue, s.Name, s.Name
	e.PriceScale, e.QtyScale = s.wire.PriceScale, s.wire.QtyScale
	e.EventTime = sent
}

// tradesEvent reads one market_trades event ("WebSocket Channels": Market
// Trades): each trade a TypeTrade; the "snapshot" event sent on
// subscribing holds recent trades already past and is left out. side is
// read as the taker's (BUY: a buyer lifted an offer); trade_id is an opaque
// string, so ID stays 0.
func (d *Decoder) tradesEvent(b []byte, at int, sent int64, ev *feed.Event) error {
	var typ, trades int
	if err := fields(b, at, "event", &d.kbuf, func(k []byte, i int) error {
		switch string(k) {
		case "type":
			typ = i
		case "trades":
			trades = i
		}
		return nil
	}); err != nil {
		return err
	}
	if typ == 0 || trades == 0 {
		return fmt.Errorf("%w: market_trades event lacks type or trades", ErrMalformed)
	}
	kind, err := str(b, typ, "type")
	if err != nil {
		return err
	}
	switch string(kind) {
	case "snapshot":
		return nil
	case "update":
	default:
		return fmt.Errorf("%w: market_trades type %q", ErrMalformed, kind)
	}
	return array(b, trades, "trades", func(i int) error {
		var prod, price, size, side, tm int
		if err := fields(b, i, "trade", &d.kbuf, func(k []byte, j int) error {
			switch string(k) {
			case "product_id":
				prod = j
			case "price":
				price = j
			case "size":
				size = j
			case "side":
				side = j
			case "time":
				tm = j
			}
			return nil
		}); err != nil {
			return err
		}
		if prod == 0 || price == 0 || size == 0 || side == 0 || tm == 0 {
			return fmt.Errorf("%w: a trade lacks product_id, price, size, side or time", ErrMalformed)
		}
		s, name, err := d.product(b, prod)
		if err != nil {
			return err
		}
		if s == nil {
			return &unknownErr{fmt.Errorf("%w: %q in market_trades", ErrUnknownSymbol, name)}
		}
		e := d.add(ev)
		e.Type = feed.TypeTrade
		d.stamp(e, s, sent)
		if e.ExchangeTime, err = timeAt(b, tm, "time"); err != nil {
			return err
		}
		v, err := str(b, side, "side")
		if err != nil {
			return err
		}
		switch string(v) {
		case "BUY":
			e.Side = feed.SideBuy
		case "SELL":
			e.Side = feed.SideSell
		default:
			return fmt.Errorf("%w: trade side %q", ErrMalformed, v)
		}
		sp, _, err := binance.StringAt(b, price)
		if err == nil {
			e.Price, err = binance.Decimal(b, sp, s.wire, true)
		}
		if err != nil {
			return malformed("price", err)
		}
		if sp, _, err = binance.StringAt(b, size); err == nil {
			e.Qty, err = binance.Quantity(b, sp, s.wire, &e.Capped)
		}
		if err != nil {
			return malformed("size", err)
		}
		return nil
	})
}

// tickerEvent reads one ticker event ("WebSocket Channels": Ticker): each
// ticker with best_bid, best_bid_quantity, best_ask and best_ask_quantity
// is a TypeTopOfBook whose ID is the message's timestamp in ns; one without
// them (ticker_batch) is left out.
func (d *Decoder) tickerEvent(b []byte, at int, sent int64, ev *feed.Event) error {
	var tickers int
	if err := fields(b, at, "event", &d.kbuf, func(k []byte, i int) error {
		if string(k) == "tickers" {
			tickers = i
		}
		return nil
	}); err != nil {
		return err
	}
	if tickers == 0 {
		return fmt.Errorf("%w: ticker event lacks tickers", ErrMalformed)
	}
	return array(b, tickers, "tickers", func(i int) error {
		var prod, bp, bq, ap, aq int
		if err := fields(b, i, "ticker", &d.kbuf, func(k []byte, j int) error {
			switch string(k) {
			case "product_id":
				prod = j
			case "best_bid":
				bp = j
			case "best_bid_quantity":
				bq = j
			case "best_ask":
				ap = j
			case "best_ask_quantity":
				aq = j
			}
			return nil
		}); err != nil {
			return err
		}
		if prod == 0 {
			return fmt.Errorf("%w: a ticker lacks product_id", ErrMalformed)
		}
		if bp == 0 || bq == 0 || ap == 0 || aq == 0 {
			return nil
		}
		s, name, err := d.product(b, prod)
		if err != nil {
			return err
		}
		if s == nil {
			return &unknownErr{fmt.Errorf("%w: %q in ticker", ErrUnknownSymbol, name)}
		}
		e := d.add(ev)
		e.Type = feed.TypeTopOfBook
		d.stamp(e, s, sent)
		// the ID orders them: the envelope's time, ns (sequence_num starts
		// again on each connection)
		e.ExchangeTime, e.ID, e.FirstID = sent, sent, sent
		for _, f := range [4]struct {
			at    int
			dst   *int64
			price bool
			key   string
		}{{bp, &e.Bid.Price, true, "best_bid"}, {bq, &e.Bid.Qty, false, "best_bid_quantity"}, {ap, &e.Ask.Price, true, "best_ask"}, {aq, &e.Ask.Qty, false, "best_ask_quantity"}} {
			sp, _, err := binance.StringAt(b, f.at)
			if err == nil {
				if f.price {
					*f.dst, err = binance.Decimal(b, sp, s.wire, true)
				} else {
					*f.dst, err = binance.Quantity(b, sp, s.wire, &e.Capped)
				}
			}
			if err != nil {
				return malformed(f.key, err)
			}
		}
		return nil
	})
}

// heartbeat reads a heartbeats event's heartbeat_counter, an integer (the
// AsyncAPI) or a string of one (older pages).
func (d *Decoder) heartbeat(b []byte, at int) (int64, error) {
	var n int64 = -1
	err := fields(b, at, "heartbeats", &d.kbuf, func(k []byte, i int) error {
		if string(k) != "heartbeat_counter" {
			return nil
		}
		v, _, err := binance.IntAt(b, i)
		if err != nil {
			s, serr := str(b, i, "heartbeat_counter")
			if serr != nil {
				return malformed("heartbeat_counter", err)
			}
			v = 0
			for _, c := range s {
				if c < '0' || c > '9' || v > 1e17 {
					return fmt.Errorf("%w: heartbeat_counter %q", ErrMalformed, s)
				}
				v = v*10 + int64(c-'0')
			}
			if len(s) == 0 {
				return fmt.Errorf("%w: heartbeat_counter is empty", ErrMalformed)
			}
		}
		if v < 0 {
			return fmt.Errorf("%w: heartbeat_counter %d", ErrMalformed, v)
		}
		n = v
		return nil
	})
	if err == nil && n < 0 {
		err = fmt.Errorf("%w: heartbeats event lacks heartbeat_counter", ErrMalformed)
	}
	return n, err
}

// Product statuses of the status channel that trade ("WebSocket
// Channels": Status channel; the products' status, as REST's).
const StatusOnline = "online"

// statusEvent reads an event of the status channel ({"type":"snapshot"|
// "update","products":[{"product_type":"SPOT","id":"BTC-USD",…,
// "status":"online","status_message":"",…}]}) and makes a TypeStatus
// event for each product of the connection whose status changed:
// StatusHalted when it leaves "online" (offline, delisted …: its streams
// fall silent, which is not a stall; the reason gives the status and its
// status_message), StatusTrading when it is "online" again. Its book is
// then marked broken: its next event names no previous one, and the
// gateway asks for the book again, since Coinbase does not say that
// level2 carried every change while the product was offline. A first
// status of "online" says nothing new and makes no event. The channel
// is rare: it is read with encoding/json.
func (d *Decoder) statusEvent(b []byte, at int, sent int64, ev *feed.Event) error {
	end, err := binance.SkipValue(b, at, 2)
	if err != nil {
		return malformed("status event", err)
	}
	var e struct {
		Type     string `json:"type"`
		Products []struct {
			ID            string  `json:"id"`
			Status        *string `json:"status"`
			StatusMessage string  `json:"status_message"`
		} `json:"products"`
	}
	if err := json.Unmarshal(b[at:end], &e); err != nil {
		return malformed("status event", err)
	}
	for _, p := range e.Products {
		s := d.syms[p.ID]
		if s == nil || (d.streams != nil && !d.streams[p.ID]) {
			continue // a product this connection does not stream
		}
		if p.Status == nil || *p.Status == "" {
			return fmt.Errorf("%w: status of %s: no status", ErrMalformed, p.ID)
		}
		was, now := s.status, *p.Status
		s.status = now
		if was == now || (was == "" && now == StatusOnline) {
			continue
		}
		out := d.add(ev)
		out.Type, out.Venue, out.Symbol, out.Instrument, out.ExchangeTime = feed.TypeStatus, Venue, s.Name, s.Name, sent
		if now == StatusOnline {
			out.Status = feed.StatusTrading
			out.Reason = "status online: the product trades again; its book is asked for again"
			s.broken = true
			continue
		}
		out.Status = feed.StatusHalted
		out.Reason = "status " + now
		if p.StatusMessage != "" {
			out.Reason += " (" + p.StatusMessage + ")"
		}
		out.Reason += ": the product does not trade; its streams are silent"
	}
	return nil
}
