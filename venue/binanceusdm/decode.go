package binanceusdm

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/venue/binance"
)

// Errors returned by Decode, wrapped with detail; test them with errors.Is.
// They are Binance's wire-format errors (the same values as venue/binance's).
var (
	// ErrMalformed: the frame is not valid JSON, lacks a key the event
	// needs, has a value of the wrong type or out of range, or repeats a
	// key the decoder reads. A price with more decimals than the symbol's
	// scale also matches fixed.ErrPrecision (the symbol table is out of
	// date).
	ErrMalformed = binance.ErrMalformed
	// ErrUnknownSymbol: the symbol is not in the decoder's table. Such
	// errors also match feed.ErrUnknown: the gateway counts and skips them.
	ErrUnknownSymbol = binance.ErrUnknownSymbol
	// ErrUnknownEvent: a well-formed event whose "e" the decoder does not
	// handle. Also matches feed.ErrUnknown.
	ErrUnknownEvent = binance.ErrUnknownEvent
)

// Decoder decodes the frames of one USD-M connection: aggTrade,
// depthUpdate, bookTicker, markPriceUpdate, forceOrder, each raw or in the
// combined stream's {"stream":…,"data":…} envelope, and replies to
// requests. It implements feed.Decoder and feed.ReplyParser.
//
// A Decoder is used by one goroutine at a time: the Deriv of a funding
// event it fills is its own, reused by the next one (copy the event with
// CopyTo to keep it).
type Decoder struct {
	// Symbols gives each contract's scales; frames of others return
	// ErrUnknownSymbol.
	Symbols *Symbols

	deriv feed.Deriv
}

var (
	_ feed.Decoder     = (*Decoder)(nil)
	_ feed.ReplyParser = (*Decoder)(nil)
)

// shape is what an object holds.
type shape uint8

const (
	shapeNone shape = iota
	shapeAggTrade
	shapeDepth
	shapeBookTicker
	shapeMarkPrice
	shapeForceOrder
	shapeUnknownEvent
	shapeCombined
	shapeReply
)

// Keys the decoder knows, in every object it reads.
const (
	kUnknown uint8 = iota
	ke
	kE
	kT
	ks
	ka
	kp
	kq
	kf
	kl
	km
	kU
	ku
	kpu
	kb
	kB
	kA
	ki
	kP
	kr
	ko
	kS
	kStream
	kData
	kResult
	kError
	kID
	kCode
	numKeys
)

var keyNames = [numKeys]string{ke: "e", kE: "E", kT: "T", ks: "s", ka: "a", kp: "p", kq: "q", kf: "f", kl: "l",
	km: "m", kU: "U", ku: "u", kpu: "pu", kb: "b", kB: "B", kA: "A", ki: "i", kP: "P", kr: "r", ko: "o", kS: "S",
	kStream: "stream", kData: "data", kResult: "result", kError: "error", kID: "id", kCode: "code"}

// oneCharKeys gives the key number of each one-letter key.
var oneCharKeys = binance.OneCharKeys(keyNames[:])

func keyOf(k []byte) uint8 {
	if len(k) == 1 {
		return oneCharKeys[k[0]]
	}
	switch string(k) {
	case "pu":
		return kpu
	case "stream":
		return kStream
	case "data":
		return kData
	case "result":
		return kResult
	case "error":
		return kError
	case "id":
		return kID
	case "code":
		return kCode
	}
	return kUnknown
}

func bit(k uint8) uint32 { return 1 << k }

// Every key has a bit of a uint32: this fails to compile past 32 keys.
const _ uint32 = 1 << (numKeys - 1)

// reads[shape] is the set of keys an event of that shape reads; each is
// required, and may appear once. orderReads is that of forceOrder's "o".
var (
	reads = [...]uint32{
		shapeAggTrade: bit(ke) | bit(kE) | bit(ks) | bit(ka) | bit(kp) | bit(kq) | bit(kf) | bit(kl) | bit(kT) | bit(km),
		// Diff. Book Depth Streams: e, E, T, s, U, u, pu, b, a
		shapeDepth: bit(ke) | bit(kE) | bit(kT) | bit(ks) | bit(kU) | bit(ku) | bit(kpu) | bit(kb) | bit(ka),
		// Individual Symbol Book Ticker Streams: e, u, E, T, s, b, B, a, A
		shapeBookTicker: bit(ke) | bit(ku) | bit(kE) | bit(kT) | bit(ks) | bit(kb) | bit(kB) | bit(ka) | bit(kA),
		// Mark Price Stream: e, E, s, p, i, P, r, T
		shapeMarkPrice: bit(ke) | bit(kE) | bit(ks) | bit(kp) | bit(ki) | bit(kP) | bit(kr) | bit(kT),
		// Liquidation Order Streams: e, E, o
		shapeForceOrder: bit(ke) | bit(kE) | bit(ko),
	}
	orderReads = bit(ks) | bit(kS) | bit(kq) | bit(kp) | bit(kT)
)

// fields are the keys met in one object: where each value is, and which
// came twice.
type fields struct {
	pos       [numKeys]int
	seen, dup uint32
}

func (f *fields) has(k uint8) bool { return f.seen&bit(k) != 0 }

// walk records the keys of the object at b[i] and returns the index after
// it, skipping their values, which the caller reads from f.pos once it
// knows the shape. With early set, two values are decoded where they are,
// so that the common frames are read once: the levels of a depth update
// whose "e" comes first and "s" before them (early.parsed says which), and
// the "data" of the combined envelope (early.data).
func (d *Decoder) walk(b []byte, i, depth int, f *fields, ev *feed.Event, early *ahead) (int, error) {
	obj, err := binance.OpenObject(b, i)
	if err != nil {
		return 0, err
	}
	for n := 0; ; n++ {
		key, done, err := obj.Next()
		if err != nil {
			return 0, err
		}
		if done {
			return obj.Pos(), nil
		}
		var k uint8
		if raw := key.Raw(b); !key.Esc {
			k = keyOf(raw)
		} else if len(raw) <= 32 {
			var buf [32]byte
			k = keyOf(key.Text(b, buf[:]))
		}
		at := obj.Pos()
		if k != kUnknown {
			if f.seen&bit(k) != 0 {
				f.dup |= bit(k)
			}
			f.seen |= bit(k)
			f.pos[k] = at
		}
		if early != nil && n == 0 && k == ke {
			early.sh, err = eventShape(b, at)
			if err != nil {
				return 0, err
			}
		}
		if early != nil && early.sh == shapeAggTrade && k != kUnknown && f.dup&bit(k) == 0 && reads[shapeAggTrade]&bit(k) != 0 {
			// the common order, "e" first: each value decoded where it
			// is (prices and quantities once "s" has been read)
			next, ok, err := d.aggTradeValue(b, at, k, early, ev)
			if err != nil {
				return 0, err
			}
			if ok {
				early.parsed |= bit(k)
				obj.SetPos(next)
				continue
			}
		}
		if early != nil && early.sh == shapeDepth && (k == kb || k == ka) && f.dup&bit(k) == 0 && f.dup&bit(ks) == 0 && f.has(ks) {
			// the common order: "e" first, "s" before the levels
			if !early.symOK {
				if early.sym, err = d.symbolAt(b, f.pos[ks]); err != nil {
					return 0, err
				}
				early.symOK = true
			}
			var next int
			if k == kb {
				ev.Bids, next, err = binance.Levels(b, at, early.sym.wire, ev.Bids, depth, &ev.Capped)
			} else {
				ev.Asks, next, err = binance.Levels(b, at, early.sym.wire, ev.Asks, depth, &ev.Capped)
			}
			if err != nil {
				return 0, binance.FieldError(keyNames[k], err)
			}
			early.parsed |= bit(k)
			obj.SetPos(next)
			continue
		}
		if early != nil && k == kData && depth == 1 && !f.has(ke) && f.dup&bit(kData) == 0 && at < len(b) && b[at] == '{' {
			// the combined envelope: its data decoded where it is
			var next int
			early.dataKind, next, early.dataErr = d.object(b, at, 2, ev)
			early.data = true
			if early.dataErr == nil {
				obj.SetPos(next)
				continue
			}
		}
		next, err := binance.SkipValue(b, at, depth)
		if err != nil {
			return 0, err
		}
		obj.SetPos(next)
	}
}

// aggTradeValue decodes the value of key k of an aggTrade at b[i] into ev
// and returns the index after it; ok is false for a price or quantity met
// before the symbol, left for event.
func (d *Decoder) aggTradeValue(b []byte, i int, k uint8, early *ahead, ev *feed.Event) (next int, ok bool, err error) {
	switch k {
	case ke:
		_, next, err = binance.StringAt(b, i) // read by eventShape
	case kE:
		ev.EventTime, next, err = timeNext(b, i, "E")
	case kT:
		ev.ExchangeTime, next, err = timeNext(b, i, "T")
	case ka:
		ev.ID, next, err = intNext(b, i, "a")
	case kf:
		ev.FirstTradeID, next, err = intNext(b, i, "f")
	case kl:
		ev.LastTradeID, next, err = intNext(b, i, "l")
	case km:
		var maker bool
		if maker, next, err = binance.BoolAt(b, i); err != nil {
			return 0, false, binance.FieldError("m", err)
		}
		ev.Side = feed.SideBuy
		if maker { // the buyer was the maker, so the seller took
			ev.Side = feed.SideSell
		}
	case ks:
		if early.sym, next, err = d.symbolNext(b, i); err == nil {
			early.symOK = true
		}
	case kp:
		if !early.symOK {
			return 0, false, nil
		}
		ev.Price, next, err = priceNext(b, i, early.sym, "p")
	case kq:
		if !early.symOK {
			return 0, false, nil
		}
		ev.Qty, next, err = qtyNext(b, i, early.sym, "q", &ev.Capped)
	default:
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return next, true, nil
}

// ahead is what walk learnt of an object before its end.
type ahead struct {
	sh     shape
	sym    Symbol
	symOK  bool
	parsed uint32 // keys already decoded into the event: depth levels, aggTrade values

	data     bool // the envelope's data was decoded into the event
	dataKind feed.Decoded
	dataErr  error
}

// Decode decodes one complete text frame into ev: every field but
// ReceiveTime. It keeps no reference to frame; ev's strings come from the
// symbol table. Keys are matched exactly, unknown keys are skipped, and the
// frame must be one valid JSON object with nothing after it but
// whitespace. A reply to a request returns DecodedReply, with the
// request's error when it was refused.
func (d *Decoder) Decode(frame []byte, ev *feed.Event) (feed.Decoded, error) {
	ev.Reset()
	i := binance.SkipWS(frame, 0)
	if i >= len(frame) || frame[i] != '{' {
		return 0, binance.Malformed(i, "expected an object")
	}
	kind, end, err := d.object(frame, i, 1, ev)
	if err != nil {
		return 0, err
	}
	if end = binance.SkipWS(frame, end); end != len(frame) {
		return 0, binance.Malformed(end, "data after the object")
	}
	if kind == feed.DecodedReply {
		rep, err := d.ParseReply(frame)
		if err != nil {
			return kind, err
		}
		return kind, rep.Err
	}
	return kind, nil
}

// object decodes the object at b[i]: an event, the combined envelope (at
// depth 1 only) or a reply (at depth 1 only).
func (d *Decoder) object(b []byte, i, depth int, ev *feed.Event) (feed.Decoded, int, error) {
	var f fields
	early := ahead{}
	end, err := d.walk(b, i, depth, &f, ev, &early)
	if err != nil {
		return 0, 0, err
	}
	switch {
	case f.has(ke):
		sh := early.sh
		if sh == shapeNone {
			if sh, err = eventShape(b, f.pos[ke]); err != nil {
				return 0, 0, err
			}
		}
		if sh == shapeUnknownEvent {
			return 0, 0, fmt.Errorf("%w: %w at offset %d", feed.ErrUnknown, ErrUnknownEvent, i)
		}
		if early.data {
			ev.Reset() // a "data" key of an event, decoded as an envelope's
		}
		return feed.DecodedEvent, end, d.event(b, i, depth, sh, &f, &early, ev)
	case f.has(kStream) || f.has(kData):
		if depth > 1 {
			return 0, 0, binance.Malformed(i, "combined stream envelope inside data")
		}
		kind, err := d.combined(b, i, &f, &early, ev)
		return kind, end, err
	case f.has(kResult) || f.has(kError) || f.has(kID) || f.has(kCode):
		if depth > 1 {
			return 0, 0, binance.Malformed(i, "reply inside data")
		}
		return feed.DecodedReply, end, nil
	}
	return 0, 0, binance.Malformed(i, "unrecognized message")
}

// combined decodes {"stream":"<name>","data":{…}}.
func (d *Decoder) combined(b []byte, i int, f *fields, early *ahead, ev *feed.Event) (feed.Decoded, error) {
	switch {
	case !f.has(kStream) || !f.has(kData):
		return 0, binance.Malformed(i, `combined stream envelope without "stream" and "data"`)
	case f.dup&(bit(kStream)|bit(kData)) != 0:
		return 0, binance.Malformed(i, `duplicate key "stream" or "data"`)
	}
	if _, _, err := binance.StringAt(b, f.pos[kStream]); err != nil {
		return 0, binance.FieldError("stream", err)
	}
	if early.data {
		return early.dataKind, early.dataErr
	}
	at := f.pos[kData]
	if b[at] != '{' {
		return 0, binance.Malformed(at, `"data" is not an object`)
	}
	kind, _, err := d.object(b, at, 2, ev)
	return kind, err
}

// eventShape reads the value of "e" at b[i].
func eventShape(b []byte, i int) (shape, error) {
	sp, _, err := binance.StringAt(b, i)
	if err != nil {
		return shapeNone, binance.FieldError("e", err)
	}
	var buf [32]byte
	v := sp.Raw(b)
	if sp.Esc {
		if len(v) > 64 {
			return shapeUnknownEvent, nil
		}
		v = sp.Text(b, buf[:])
	}
	switch string(v) {
	case "aggTrade":
		return shapeAggTrade, nil
	case "depthUpdate":
		return shapeDepth, nil
	case "bookTicker":
		return shapeBookTicker, nil
	case "markPriceUpdate":
		return shapeMarkPrice, nil
	case "forceOrder":
		return shapeForceOrder, nil
	}
	return shapeUnknownEvent, nil
}

// check reports a key of want missing from f, or met twice.
func check(b []byte, i int, f *fields, want uint32) error {
	if dup := f.dup & want; dup != 0 {
		for k := range numKeys {
			if dup&bit(k) != 0 {
				return binance.Malformed(f.pos[k], "duplicate key "+strconv.Quote(keyNames[k]))
			}
		}
	}
	if missing := want &^ f.seen; missing != 0 {
		for k := range numKeys {
			if missing&bit(k) != 0 {
				return binance.Malformed(i, "missing key "+strconv.Quote(keyNames[k]))
			}
		}
	}
	return nil
}

// event fills ev from the keys of an event of shape sh.
func (d *Decoder) event(b []byte, i, depth int, sh shape, f *fields, early *ahead, ev *feed.Event) error {
	if err := check(b, i, f, reads[sh]); err != nil {
		return err
	}
	var err error
	if early.parsed&bit(kE) == 0 {
		if ev.EventTime, err = timeAt(b, f.pos[kE], "E"); err != nil {
			return err
		}
	}
	ev.Venue = Venue
	if sh == shapeForceOrder {
		return d.forceOrder(b, f.pos[ko], depth, ev)
	}
	sym := early.sym
	if !early.symOK {
		if sym, err = d.symbolAt(b, f.pos[ks]); err != nil {
			return err
		}
	}
	ev.Symbol, ev.Instrument = sym.Name, sym.Instrument
	ev.PriceScale, ev.QtyScale = sym.PriceScale, sym.QtyScale
	switch sh {
	case shapeAggTrade:
		// Aggregate Trade Streams: a is the aggregate trade ID, f and l
		// the first and last trade IDs, m "is the buyer the market maker?"
		ev.Type, ev.Aggregated = feed.TypeTrade, true
		// walk has decoded the keys of early.parsed already
		todo := reads[shapeAggTrade] &^ early.parsed
		if todo&bit(ka) != 0 {
			if ev.ID, err = intAt(b, f.pos[ka], "a"); err != nil {
				return err
			}
		}
		ev.FirstID = ev.ID
		if todo&bit(kf) != 0 {
			if ev.FirstTradeID, err = intAt(b, f.pos[kf], "f"); err != nil {
				return err
			}
		}
		if todo&bit(kl) != 0 {
			if ev.LastTradeID, err = intAt(b, f.pos[kl], "l"); err != nil {
				return err
			}
		}
		if todo&bit(kT) != 0 {
			if ev.ExchangeTime, err = timeAt(b, f.pos[kT], "T"); err != nil {
				return err
			}
		}
		if todo&bit(km) != 0 {
			maker, _, err := binance.BoolAt(b, f.pos[km])
			if err != nil {
				return binance.FieldError("m", err)
			}
			ev.Side = feed.SideBuy
			if maker { // the buyer was the maker, so the seller took
				ev.Side = feed.SideSell
			}
		}
		if todo&bit(kp) != 0 {
			if ev.Price, err = price(b, f.pos[kp], sym, "p"); err != nil {
				return err
			}
		}
		// q counts the trades against RPI orders too (nq does not): it
		// is what traded.
		if todo&bit(kq) != 0 {
			ev.Qty, err = qty(b, f.pos[kq], sym, "q", &ev.Capped)
		}
		return err
	case shapeDepth:
		// Diff. Book Depth Streams: U first and u final update ID of the
		// event, pu the final update ID of the previous one; T the
		// transaction time.
		ev.Type = feed.TypeBookDelta
		if ev.FirstID, err = intAt(b, f.pos[kU], "U"); err != nil {
			return err
		}
		if ev.ID, err = intAt(b, f.pos[ku], "u"); err != nil {
			return err
		}
		if ev.PrevID, err = intAt(b, f.pos[kpu], "pu"); err != nil {
			return err
		}
		if ev.ExchangeTime, err = timeAt(b, f.pos[kT], "T"); err != nil {
			return err
		}
		if early.parsed&bit(kb) == 0 {
			if ev.Bids, _, err = binance.Levels(b, f.pos[kb], sym.wire, ev.Bids, depth, &ev.Capped); err != nil {
				return binance.FieldError("b", err)
			}
		}
		if early.parsed&bit(ka) == 0 {
			if ev.Asks, _, err = binance.Levels(b, f.pos[ka], sym.wire, ev.Asks, depth, &ev.Capped); err != nil {
				return binance.FieldError("a", err)
			}
		}
		return nil
	case shapeBookTicker:
		// Individual Symbol Book Ticker Streams: u the order book update
		// ID, b/B best bid, a/A best ask, T the transaction time.
		ev.Type = feed.TypeTopOfBook
		if ev.ID, err = intAt(b, f.pos[ku], "u"); err != nil {
			return err
		}
		ev.FirstID = ev.ID
		if ev.ExchangeTime, err = timeAt(b, f.pos[kT], "T"); err != nil {
			return err
		}
		if ev.Bid.Price, err = price(b, f.pos[kb], sym, "b"); err != nil {
			return err
		}
		if ev.Bid.Qty, err = qty(b, f.pos[kB], sym, "B", &ev.Capped); err != nil {
			return err
		}
		if ev.Ask.Price, err = price(b, f.pos[ka], sym, "a"); err != nil {
			return err
		}
		ev.Ask.Qty, err = qty(b, f.pos[kA], sym, "A", &ev.Capped)
		return err
	case shapeMarkPrice:
		return d.markPrice(b, f, ev)
	}
	return binance.Malformed(i, "unrecognized event")
}

// markPrice fills a TypeFunding event. Mark Price Stream: p mark price, i
// index price, P estimated settle price ("only useful in the last hour
// before the settlement starts"), r funding rate, T next funding time.
// An empty r or P (contracts without funding) gives zero.
func (d *Decoder) markPrice(b []byte, f *fields, ev *feed.Event) error {
	ev.Type = feed.TypeFunding
	ev.ExchangeTime = ev.EventTime
	d.deriv = feed.Deriv{}
	var err error
	if d.deriv.MarkPrice, err = ownDecimal(b, f.pos[kp], "p", false); err != nil {
		return err
	}
	if d.deriv.IndexPrice, err = ownDecimal(b, f.pos[ki], "i", false); err != nil {
		return err
	}
	if d.deriv.SettlePrice, err = ownDecimal(b, f.pos[kP], "P", true); err != nil {
		return err
	}
	if d.deriv.FundingRate, err = ownDecimal(b, f.pos[kr], "r", true); err != nil {
		return err
	}
	if d.deriv.NextFunding, err = timeAt(b, f.pos[kT], "T"); err != nil {
		return err
	}
	ev.Deriv = &d.deriv
	return nil
}

// forceOrder fills a TypeLiquidation event from the order object at b[i].
// Liquidation Order Streams: o.s symbol, o.S side, o.q original quantity,
// o.p price, o.T order trade time. Binance pushes at most the latest
// liquidation of a symbol in each 1000 ms: a sample, not every one.
func (d *Decoder) forceOrder(b []byte, i, depth int, ev *feed.Event) error {
	if i >= len(b) || b[i] != '{' {
		return binance.Malformed(i, `"o" is not an object`)
	}
	var f fields
	if _, err := d.walk(b, i, depth+1, &f, ev, nil); err != nil {
		return err
	}
	if err := check(b, i, &f, orderReads); err != nil {
		return err
	}
	sym, err := d.symbolAt(b, f.pos[ks])
	if err != nil {
		return err
	}
	ev.Type = feed.TypeLiquidation
	ev.Symbol, ev.Instrument = sym.Name, sym.Instrument
	ev.PriceScale, ev.QtyScale = sym.PriceScale, sym.QtyScale
	sp, _, err := binance.StringAt(b, f.pos[kS])
	if err != nil {
		return binance.FieldError("S", err)
	}
	var buf [16]byte
	side := sp.Raw(b)
	if sp.Esc && len(side) <= 32 {
		side = sp.Text(b, buf[:])
	}
	switch string(side) {
	case "BUY":
		ev.Side = feed.SideBuy
	case "SELL":
		ev.Side = feed.SideSell
	default:
		return binance.Malformed(f.pos[kS], `"S" is neither "BUY" nor "SELL"`)
	}
	if ev.ExchangeTime, err = timeAt(b, f.pos[kT], "T"); err != nil {
		return err
	}
	if ev.Price, err = price(b, f.pos[kp], sym, "p"); err != nil {
		return err
	}
	ev.Qty, err = qty(b, f.pos[kq], sym, "q", &ev.Capped)
	return err
}

// symbolAt looks up the symbol string at b[i].
func (d *Decoder) symbolAt(b []byte, i int) (Symbol, error) {
	sym, _, err := d.symbolNext(b, i)
	return sym, err
}

// symbolNext looks up the symbol string at b[i] and returns the index
// after it.
func (d *Decoder) symbolNext(b []byte, i int) (Symbol, int, error) {
	sp, next, err := binance.StringAt(b, i)
	if err != nil {
		return Symbol{}, 0, binance.FieldError("s", err)
	}
	raw := sp.Raw(b)
	if sp.Esc {
		sym, err := d.lookupEscaped(raw)
		return sym, next, err
	}
	if sym, ok := d.Symbols.lookupBytes(raw); ok {
		return sym, next, nil
	}
	return Symbol{}, 0, fmt.Errorf("%w: %w: %q", feed.ErrUnknown, ErrUnknownSymbol, raw)
}

//go:noinline
func (d *Decoder) lookupEscaped(raw []byte) (Symbol, error) {
	var buf [64]byte
	v := binance.Span{End: len(raw), Esc: true}.Text(raw, buf[:])
	if sym, ok := d.Symbols.lookupBytes(v); ok {
		return sym, nil
	}
	return Symbol{}, fmt.Errorf("%w: %w: %q", feed.ErrUnknown, ErrUnknownSymbol, v)
}

func intNext(b []byte, i int, key string) (int64, int, error) {
	v, next, err := binance.IntAt(b, i)
	if err != nil {
		return 0, 0, binance.FieldError(key, err)
	}
	return v, next, nil
}

// timeNext reads an integer time in milliseconds, as ns, and returns the
// index after it.
func timeNext(b []byte, i int, key string) (int64, int, error) {
	v, next, err := intNext(b, i, key)
	if err != nil {
		return 0, 0, err
	}
	if v > math.MaxInt64/1000000 || v < math.MinInt64/1000000 {
		return 0, 0, binance.FieldError(key, errTimeRange)
	}
	return v * 1e6, next, nil
}

func priceNext(b []byte, i int, sym Symbol, key string) (int64, int, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, binance.FieldError(key, errNotString)
	}
	sp, next, err := binance.StringAt(b, i)
	if err != nil {
		return 0, 0, binance.FieldError(key, err)
	}
	m, err := binance.Decimal(b, sp, sym.wire, true)
	if err != nil {
		return 0, 0, binance.FieldError(key, err)
	}
	return m, next, nil
}

func qtyNext(b []byte, i int, sym Symbol, key string, capped *bool) (int64, int, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, binance.FieldError(key, errNotString)
	}
	sp, next, err := binance.StringAt(b, i)
	if err != nil {
		return 0, 0, binance.FieldError(key, err)
	}
	m, err := binance.Quantity(b, sp, sym.wire, capped)
	if err != nil {
		return 0, 0, binance.FieldError(key, err)
	}
	return m, next, nil
}

func intAt(b []byte, i int, key string) (int64, error) {
	v, _, err := binance.IntAt(b, i)
	if err != nil {
		return 0, binance.FieldError(key, err)
	}
	return v, nil
}

var errTimeRange = errors.New("time out of range")

// timeAt reads an integer time in milliseconds, as ns.
func timeAt(b []byte, i int, key string) (int64, error) {
	v, err := intAt(b, i, key)
	if err != nil {
		return 0, err
	}
	if v > math.MaxInt64/1000000 || v < math.MinInt64/1000000 {
		return 0, binance.FieldError(key, errTimeRange)
	}
	return v * 1e6, nil
}

var errNotString = errors.New("not a string")

func decimalSpan(b []byte, i int, key string) (binance.Span, error) {
	if i >= len(b) || b[i] != '"' {
		return binance.Span{}, binance.FieldError(key, errNotString)
	}
	sp, _, err := binance.StringAt(b, i)
	if err != nil {
		return binance.Span{}, binance.FieldError(key, err)
	}
	return sp, nil
}

func price(b []byte, i int, sym Symbol, key string) (int64, error) {
	sp, err := decimalSpan(b, i, key)
	if err != nil {
		return 0, err
	}
	m, err := binance.Decimal(b, sp, sym.wire, true)
	if err != nil {
		return 0, binance.FieldError(key, err)
	}
	return m, nil
}

func qty(b []byte, i int, sym Symbol, key string, capped *bool) (int64, error) {
	sp, err := decimalSpan(b, i, key)
	if err != nil {
		return 0, err
	}
	m, err := binance.Quantity(b, sp, sym.wire, capped)
	if err != nil {
		return 0, binance.FieldError(key, err)
	}
	return m, nil
}

// ownDecimal reads the decimal string at b[i] at the scale it is written
// with ("11794.15000000" has 8), or at its significant decimals when it has
// more than fixed.MaxScale. With empty, "" is zero.
func ownDecimal(b []byte, i int, key string, empty bool) (fixed.Dec, error) {
	sp, err := decimalSpan(b, i, key)
	if err != nil {
		return fixed.Dec{}, err
	}
	var buf [64]byte
	text := sp.Raw(b)
	if sp.Esc {
		if len(text) > 128 {
			return fixed.Dec{}, binance.FieldError(key, fixed.ErrSyntax)
		}
		text = sp.Text(b, buf[:])
	}
	if len(text) == 0 && empty {
		return fixed.Dec{}, nil
	}
	scale := 0
	for j, c := range text {
		if c == '.' {
			scale = len(text) - j - 1
			break
		}
	}
	if scale > fixed.MaxScale {
		abs := text
		if len(abs) > 0 && abs[0] == '-' {
			abs = abs[1:]
		}
		s, err := fixed.ScaleOf(abs)
		if err != nil {
			return fixed.Dec{}, binance.FieldError(key, err)
		}
		scale = int(s)
	}
	m, err := fixed.Parse(text, uint8(scale))
	if err != nil {
		return fixed.Dec{}, binance.FieldError(key, err)
	}
	return fixed.Dec{M: m, S: uint8(scale)}, nil
}

// ParseReply reads a reply to a SUBSCRIBE, UNSUBSCRIBE or
// LIST_SUBSCRIPTIONS request ("Live Subscribing/Unsubscribing to
// streams"): {"result":null,"id":1}, {"result":["btcusdt@aggTrade"],"id":3},
// or an error, given either as {"error":{"code":2,"msg":"…"},"id":1} or,
// as the error table of that page writes it, {"code":2,"msg":"…","id":1}.
// It allocates; replies are rare.
func (d *Decoder) ParseReply(frame []byte) (feed.Reply, error) {
	var top struct {
		ID     json.RawMessage  `json:"id"`
		Result json.RawMessage  `json:"result"`
		Error  *json.RawMessage `json:"error"`
		Code   *int             `json:"code"`
		Msg    string           `json:"msg"`
	}
	if err := json.Unmarshal(frame, &top); err != nil {
		return feed.Reply{}, fmt.Errorf("%w: reply: %w", ErrMalformed, err)
	}
	var rep feed.Reply
	rep.ID, _ = strconv.ParseInt(string(top.ID), 10, 64)
	switch {
	case top.Error != nil && string(*top.Error) != "null":
		var e struct {
			Code int    `json:"code"`
			Msg  string `json:"msg"`
		}
		if err := json.Unmarshal(*top.Error, &e); err != nil {
			return feed.Reply{}, fmt.Errorf("%w: reply error: %w", ErrMalformed, err)
		}
		rep.Err, rep.IsErr = &binance.ServerError{Code: e.Code, Msg: e.Msg}, true
	case top.Code != nil:
		rep.Err, rep.IsErr = &binance.ServerError{Code: *top.Code, Msg: top.Msg}, true
	case len(top.Result) > 0 && top.Result[0] == '[':
		if err := json.Unmarshal(top.Result, &rep.List); err != nil {
			return feed.Reply{}, fmt.Errorf("%w: reply: result: %w", ErrMalformed, err)
		}
	}
	return rep, nil
}
