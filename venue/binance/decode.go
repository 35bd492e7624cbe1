// Package binance speaks Binance spot market data: it decodes WebSocket
// stream frames into feed events and knows the venue's symbols.
//
// The decoder is a hand-written scanner for the few fixed shapes Binance
// sends (aggTrade, trade, depthUpdate, partial depth, bookTicker, the
// combined-stream wrapper, serverShutdown and replies to requests). It
// parses prices and quantities straight into fixed-point mantissas and does
// not allocate in the steady state.
//
// What Binance's markets share is exported here for the packages of its
// other markets (venue/binanceusdm): the wire format's scanner (wire.go),
// the symbol table (SymbolIndex, CheckSymbol, ValidAsset,
// SymbolFromExchangeInfo), the decoders' key table (OneCharKeys), the REST
// rules and trade values (RESTRules, TradeValues, ApplyWeightLimit), the
// announcement of a symbol's change (ChangeEvent), the stream requests
// (SubscribeRequest, ListSubscriptionsRequest, SymbolsOfStreams) and the
// checks of the settings of a factory's Open (CheckConnSettings; the
// skeleton, venue.Opening, serves every venue). What differs
// between markets by a rule (routes, book chains, fields, weights, hosts)
// stays in each market's package.
package binance

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
)

// Errors returned by Decode, wrapped with detail; test them with errors.Is.
var (
	// ErrMalformed: the frame is not valid JSON, lacks a required key, has
	// a value of the wrong type or out of range, or repeats a key the
	// decoder reads. A price with more decimals than the symbol's scale is
	// malformed and also matches fixed.ErrPrecision: the symbol table is
	// out of date (refresh exchangeInfo).
	ErrMalformed = errors.New("binance: malformed message")
	// ErrUnknownSymbol: the symbol (or the stream name of a partial depth
	// payload) is not in the decoder's table.
	ErrUnknownSymbol = errors.New("binance: unknown symbol")
	// ErrUnknownEvent: a well-formed event whose "e" this decoder does not
	// handle (a stream it was not built for); callers usually count and
	// skip it.
	ErrUnknownEvent = errors.New("binance: unknown event type")
)

// Kind says what kind of frame Decode found.
type Kind uint8

// Frame kinds.
const (
	KindNone     Kind = iota // returned with an error
	KindEvent                // a market-data event, in the *feed.Event
	KindShutdown             // serverShutdown: reconnect now; the event is a feed.StatusServerShutdown status
	KindResponse             // a reply to a request: ParseResponse(frame) tells which and how it went
)

var kindNames = [...]string{"none", "event", "shutdown", "response"}

// String returns "event", "shutdown", "response" or "none".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Decoder decodes stream frames of one connection. Its zero value knows no
// symbol; set Symbols. A Decoder is not modified by Decode, so one value may
// be used by several goroutines at once.
type Decoder struct {
	// Symbols gives each symbol's scales. Frames for symbols not in it
	// return ErrUnknownSymbol.
	Symbols *Symbols
	// Micros says event and trade times are in microseconds: the stream
	// was opened with timeUnit=MICROSECOND. Otherwise they are milliseconds.
	Micros bool
	// Symbol is the upper-case symbol of partial depth payloads on a raw
	// stream (/ws/btcusdt@depth5), which carry no symbol. In combined
	// streams the symbol comes from the stream name instead.
	Symbol string
	// Stream names the stream of partial depth payloads on a raw stream
	// ("btcusdt@depth5"); in combined streams the wrapper names it.
	Stream string
	// Streams interns stream names: a partial depth event's Stream is the
	// string found here (no allocation); names not in it are allocated.
	Streams map[string]string
}

// Decode decodes one complete text frame into ev.
//
// It overwrites every field of ev except ReceiveTime, which the caller
// stamps, and appends levels to ev.Bids[:0] and ev.Asks[:0], reusing their
// capacity. It keeps no reference to frame after it returns, so the caller
// may reuse the buffer; ev.Symbol, ev.Instrument and ev.Venue point to strings of the
// symbol table, never into frame.
//
// Object keys are matched exactly (case-sensitive: "m" is not "M"), unknown
// keys are skipped, and the whole frame must be valid JSON with nothing but
// whitespace after it. Strings are not checked for valid UTF-8: a string
// the decoder uses (symbol, event type, number) must match a known ASCII
// value anyway, and others are skipped.
//
// On error, the kind is KindNone and ev holds no meaningful event. Every
// error matches ErrMalformed, ErrUnknownSymbol or ErrUnknownEvent.
func (d *Decoder) Decode(frame []byte, ev *feed.Event) (Kind, error) {
	ev.Reset()
	i := skipWS(frame, 0)
	if i >= len(frame) || frame[i] != '{' {
		return KindNone, malformed(i, "expected an object")
	}
	kind, end, err := d.decodeObject(frame, i, strSpan{}, ev, 1)
	if err != nil {
		return KindNone, err
	}
	if end = skipWS(frame, end); end != len(frame) {
		return KindNone, malformed(end, "data after the object")
	}
	return kind, nil
}

// shape is what an object holds, told by the keys it has, in this order of
// precedence: "e" (an event, by its value), "stream" or "data" (the
// combined wrapper), "lastUpdateId" (partial depth), "result" or "error"
// (a reply), "u" (bookTicker).
type shape uint8

const (
	shapeNone shape = iota
	shapeAggTrade
	shapeTrade
	shapeDepth
	shapeShutdown
	shapeUnknownEvent
	shapeCombined
	shapePartial
	shapeResponse
	shapeBookTicker
	numShapes
)

// Keys the decoder knows.
const (
	kUnknown uint8 = iota
	ke
	kE
	ks
	ka
	kA
	kt
	kp
	kq
	kf
	kl
	kT
	km
	kU
	ku
	kb
	kB
	kLastUpdateID
	kBids
	kAsks
	kStream
	kData
	kResult
	kError
	numKeys
)

var keyNames = [numKeys]string{
	ke: "e", kE: "E", ks: "s", ka: "a", kA: "A", kt: "t", kp: "p", kq: "q", kf: "f", kl: "l", kT: "T",
	km: "m", kU: "U", ku: "u", kb: "b", kB: "B", kLastUpdateID: "lastUpdateId", kBids: "bids",
	kAsks: "asks", kStream: "stream", kData: "data", kResult: "result", kError: "error",
}

// oneCharKeys gives the key number of each one-letter key.
var oneCharKeys = OneCharKeys(keyNames[:])

// OneCharKeys returns the table of a decoder's one-letter keys, shared by
// Binance's markets, whose payloads name most fields with one letter: the
// entry of a key's byte is its index in names (names[0] is the unknown
// key, so 0 means unknown). A decoder looks a key up with one array read.
func OneCharKeys(names []string) [256]uint8 {
	var t [256]uint8
	for k, name := range names {
		if len(name) == 1 && k <= 0xff {
			t[name[0]] = uint8(k)
		}
	}
	return t
}

func keyID(k []byte) uint8 {
	if len(k) == 1 {
		return oneCharKeys[k[0]]
	}
	switch string(k) {
	case "lastUpdateId":
		return kLastUpdateID
	case "bids":
		return kBids
	case "asks":
		return kAsks
	case "stream":
		return kStream
	case "data":
		return kData
	case "result":
		return kResult
	case "error":
		return kError
	}
	return kUnknown
}

// What a key means in a payload shape.
const (
	rSkip       uint8 = iota // unknown here: skip the value
	rAbort                   // a key of a shape of higher precedence: the guess was wrong
	rType                    // "e": a string, already used to choose the shape
	rEventTime               // integer time
	rTradeTime               // integer time
	rSymbol                  // string
	rID                      // integer
	rFirstID                 // integer
	rFirstTrade              // integer
	rLastTrade               // integer
	rMaker                   // boolean
	rPrice                   // decimal string
	rQty                     // decimal string
	rBidPrice                // decimal string
	rBidQty                  // decimal string
	rAskPrice                // decimal string
	rAskQty                  // decimal string
	rBids                    // array of levels
	rAsks                    // array of levels
)

// roles[shape][key] is the meaning of key in a payload of that shape.
// Every key a payload reads is required: required[shape] is their set
// (bit 1<<key).
var (
	roles    [numShapes][numKeys]uint8
	required [numShapes]uint32
)

func init() {
	set := func(s shape, r map[uint8]uint8) {
		for k, role := range r {
			roles[s][k] = role
			if role != rAbort {
				required[s] |= 1 << k
			}
		}
	}
	set(shapeAggTrade, map[uint8]uint8{ke: rType, kE: rEventTime, ks: rSymbol, ka: rID, kp: rPrice,
		kq: rQty, kf: rFirstTrade, kl: rLastTrade, kT: rTradeTime, km: rMaker})
	set(shapeTrade, map[uint8]uint8{ke: rType, kE: rEventTime, ks: rSymbol, kt: rID, kp: rPrice,
		kq: rQty, kT: rTradeTime, km: rMaker})
	set(shapeDepth, map[uint8]uint8{ke: rType, kE: rEventTime, ks: rSymbol, kU: rFirstID, ku: rID,
		kb: rBids, ka: rAsks})
	set(shapeShutdown, map[uint8]uint8{ke: rType, kE: rEventTime})
	set(shapePartial, map[uint8]uint8{kLastUpdateID: rID, kBids: rBids, kAsks: rAsks,
		ke: rAbort, kStream: rAbort, kData: rAbort})
	set(shapeBookTicker, map[uint8]uint8{ku: rID, ks: rSymbol, kb: rBidPrice, kB: rBidQty,
		ka: rAskPrice, kA: rAskQty,
		ke: rAbort, kStream: rAbort, kData: rAbort, kLastUpdateID: rAbort, kResult: rAbort, kError: rAbort})
}

// errAbort stops a pass begun on a guessed shape that turned out wrong.
var errAbort = errors.New("binance: shape guessed wrong")

// decodeObject decodes the object at b[i] ('{') into ev and returns the
// index after it. depth is the object's nesting level: 1 at the top, where
// wrappers and replies are allowed, 2 in a wrapper's "data", where stream is
// the combined stream's name.
func (d *Decoder) decodeObject(b []byte, i int, stream strSpan, ev *feed.Event, depth int) (Kind, int, error) {
	sh, exact, err := guessShape(b, i, depth)
	if err != nil {
		return KindNone, 0, err
	}
	kind, end, err := d.decodeShape(b, i, sh, stream, ev, depth)
	if err != nil && !exact {
		// The first key misled us, or the frame is bad anyway: look at
		// every key to know its shape, then decode again if it differs.
		sh2, err2 := classify(b, i, depth)
		if err2 != nil {
			return KindNone, 0, err2
		}
		if sh2 != sh {
			ev.Reset()
			kind, end, err = d.decodeShape(b, i, sh2, stream, ev, depth)
		}
	}
	if err == errAbort {
		err = malformed(i, "ambiguous object") // unreachable: classify is exact
	}
	return kind, end, err
}

func (d *Decoder) decodeShape(b []byte, i int, sh shape, stream strSpan, ev *feed.Event, depth int) (Kind, int, error) {
	switch sh {
	case shapeAggTrade, shapeTrade, shapeDepth, shapeBookTicker:
		end, err := d.decodePayload(b, i, sh, Symbol{}, false, ev, depth)
		return KindEvent, end, err
	case shapeShutdown:
		end, err := d.decodePayload(b, i, sh, Symbol{}, false, ev, depth)
		return KindShutdown, end, err
	case shapePartial:
		var sym Symbol
		var ok bool
		if depth > 1 {
			sym, ok = d.Symbols.lookupSpan(b, stream, true)
			if !ok {
				return KindNone, 0, fmt.Errorf("%w: stream %q", ErrUnknownSymbol, b[stream.start:stream.end])
			}
		} else {
			sym, ok = d.Symbols.Lookup(d.Symbol)
			if !ok {
				return KindNone, 0, fmt.Errorf("%w: %q, for partial depth on a raw stream (Decoder.Symbol)", ErrUnknownSymbol, d.Symbol)
			}
		}
		end, err := d.decodePayload(b, i, sh, sym, true, ev, depth)
		if depth > 1 {
			ev.Stream = d.streamName(b, stream)
		} else {
			ev.Stream = d.Stream
		}
		return KindEvent, end, err
	case shapeCombined:
		if depth > 1 {
			return KindNone, 0, malformed(i, "combined stream wrapper inside data")
		}
		return d.decodeCombined(b, i, ev)
	case shapeResponse:
		if depth > 1 {
			return KindNone, 0, malformed(i, "reply inside data")
		}
		end, err := skipValue(b, i, depth-1)
		return KindResponse, end, err
	case shapeUnknownEvent:
		return KindNone, 0, fmt.Errorf("%w at offset %d", ErrUnknownEvent, i)
	}
	return KindNone, 0, malformed(i, "unrecognized message")
}

// guessShape tells the shape from the first key of the object at b[i]:
// exactly when it is "e", as a guess otherwise (confirmed by decoding).
func guessShape(b []byte, i, depth int) (sh shape, exact bool, err error) {
	it := iter{b: b, i: i + 1}
	k, done, err := it.next()
	if err != nil || done {
		return shapeNone, true, err
	}
	switch k {
	case ke:
		sh, err := eventShape(b, it.i)
		return sh, true, err
	case kStream, kData:
		return shapeCombined, false, nil
	case kLastUpdateID:
		return shapePartial, false, nil
	case ku:
		return shapeBookTicker, false, nil
	}
	sh, err = classify(b, i, depth)
	return sh, true, err
}

// classify tells the shape of the object at b[i] from all its keys.
func classify(b []byte, i, depth int) (shape, error) {
	var has uint32
	eAt := -1
	it := iter{b: b, i: i + 1}
	for {
		id, done, err := it.next()
		if err != nil {
			return shapeNone, err
		}
		if done {
			break
		}
		has |= 1 << id
		if id == ke && eAt < 0 {
			eAt = it.i
		}
		if it.i, err = skipValue(b, it.i, depth); err != nil {
			return shapeNone, err
		}
	}
	switch {
	case eAt >= 0:
		return eventShape(b, eAt)
	case has&(1<<kStream|1<<kData) != 0:
		return shapeCombined, nil
	case has&(1<<kLastUpdateID) != 0:
		return shapePartial, nil
	case has&(1<<kResult|1<<kError) != 0:
		return shapeResponse, nil
	case has&(1<<ku) != 0:
		return shapeBookTicker, nil
	}
	return shapeNone, nil
}

// eventShape reads the value of "e" at b[i].
func eventShape(b []byte, i int) (shape, error) {
	if i >= len(b) || b[i] != '"' {
		return shapeNone, malformed(i, `"e" is not a string`)
	}
	sp, _, err := stringSpan(b, i)
	if err != nil {
		return shapeNone, err
	}
	if sp.esc {
		return eventShapeEscaped(b[sp.start:sp.end]), nil
	}
	return eventShapeOf(b[sp.start:sp.end]), nil
}

//go:noinline
func eventShapeEscaped(raw []byte) shape {
	var buf [valueBuf]byte
	return eventShapeOf(unescape(buf[:0], raw))
}

func eventShapeOf(v []byte) shape {
	switch string(v) {
	case "aggTrade":
		return shapeAggTrade
	case "trade":
		return shapeTrade
	case "depthUpdate":
		return shapeDepth
	case "serverShutdown":
		return shapeShutdown
	}
	return shapeUnknownEvent
}

// decodeCombined decodes {"stream":"<name>","data":{…}}.
func (d *Decoder) decodeCombined(b []byte, i int, ev *feed.Event) (Kind, int, error) {
	var stream strSpan
	kind := KindNone
	dataAt := -1
	haveStream, haveData := false, false
	it := iter{b: b, i: i + 1}
	for {
		k, done, err := it.next()
		if err != nil {
			return KindNone, 0, err
		}
		if done {
			break
		}
		switch k {
		case ke:
			return KindNone, 0, errAbort
		case kStream:
			if haveStream {
				return KindNone, 0, malformed(it.i, `duplicate key "stream"`)
			}
			haveStream = true
			if stream, it.i, err = stringSpan(b, it.i); err != nil {
				return KindNone, 0, fieldErr("stream", err)
			}
		case kData:
			if haveData {
				return KindNone, 0, malformed(it.i, `duplicate key "data"`)
			}
			haveData = true
			if it.i >= len(b) || b[it.i] != '{' {
				return KindNone, 0, malformed(it.i, `"data" is not an object`)
			}
			if !haveStream {
				dataAt = it.i
				it.i, err = skipValue(b, it.i, 1)
			} else {
				kind, it.i, err = d.decodeObject(b, it.i, stream, ev, 2)
			}
			if err != nil {
				return KindNone, 0, err
			}
		default:
			if it.i, err = skipValue(b, it.i, 1); err != nil {
				return KindNone, 0, err
			}
		}
	}
	if !haveStream || !haveData {
		return KindNone, 0, malformed(i, `combined stream wrapper without "stream" and "data"`)
	}
	if dataAt >= 0 {
		var err error
		if kind, _, err = d.decodeObject(b, dataAt, stream, ev, 2); err != nil {
			return KindNone, 0, err
		}
	}
	return kind, it.i, nil
}

// strSpan is the content of a JSON string, b[start:end], with esc set when
// it holds escapes.
type strSpan struct {
	start, end int
	esc        bool
}

// decodePayload decodes the payload object at b[i] of shape sh. For partial
// depth, sym is known beforehand (haveSym); other shapes carry "s".
func (d *Decoder) decodePayload(b []byte, i int, sh shape, sym Symbol, haveSym bool, ev *feed.Event, depth int) (int, error) {
	var seen uint32
	var maker bool
	var dec [rAskQty - rPrice + 1]strSpan // decimal strings, parsed once the symbol is known
	bidsAt, asksAt := -1, -1              // level arrays met before the symbol
	role := &roles[sh]
	it := iter{b: b, i: i + 1}
	for {
		id, done, err := it.next()
		if err != nil {
			return 0, err
		}
		if done {
			break
		}
		r := role[id]
		if r == rSkip {
			if it.i, err = skipValue(b, it.i, depth); err != nil {
				return 0, err
			}
			continue
		}
		if seen&(1<<id) != 0 {
			return 0, malformed(it.i, "duplicate key "+strconv.Quote(keyNames[id]))
		}
		seen |= 1 << id
		var v int64
		switch r {
		case rAbort:
			return 0, errAbort
		case rType:
			if it.i >= len(b) || b[it.i] != '"' {
				return 0, fieldErr(keyNames[id], errNotString)
			}
			var end int
			if end, _, err = scanString(b, it.i); err != nil {
				return 0, err
			}
			it.i = end + 1
		case rEventTime, rTradeTime:
			if v, it.i, err = parseInt(b, it.i); err == nil {
				v, err = d.toNanos(v)
			}
			if err != nil {
				return 0, fieldErr(keyNames[id], err)
			}
			if r == rEventTime {
				ev.EventTime = v
			} else {
				ev.ExchangeTime = v
			}
		case rID, rFirstID, rFirstTrade, rLastTrade:
			if v, it.i, err = parseInt(b, it.i); err != nil {
				return 0, fieldErr(keyNames[id], err)
			}
			switch r {
			case rID:
				ev.ID = v
			case rFirstID:
				ev.FirstID = v
			case rFirstTrade:
				ev.FirstTradeID = v
			default:
				ev.LastTradeID = v
			}
		case rMaker:
			if maker, it.i, err = parseBool(b, it.i); err != nil {
				return 0, fieldErr(keyNames[id], err)
			}
		case rSymbol:
			var sp strSpan
			if sp, it.i, err = stringSpan(b, it.i); err != nil {
				return 0, fieldErr(keyNames[id], err)
			}
			var ok bool
			if sym, ok = d.Symbols.lookupSpan(b, sp, false); !ok {
				return 0, fmt.Errorf("%w: %q", ErrUnknownSymbol, b[sp.start:sp.end])
			}
			haveSym = true
		case rPrice, rQty, rBidPrice, rBidQty, rAskPrice, rAskQty:
			if it.i >= len(b) || b[it.i] != '"' {
				return 0, fieldErr(keyNames[id], errNotString)
			}
			end, esc, err := scanString(b, it.i)
			if err != nil {
				return 0, err
			}
			dec[r-rPrice] = strSpan{it.i + 1, end, esc}
			it.i = end + 1
		case rBids, rAsks:
			if !haveSym {
				if r == rBids {
					bidsAt = it.i
				} else {
					asksAt = it.i
				}
				it.i, err = skipValue(b, it.i, depth)
			} else if r == rBids {
				ev.Bids, it.i, err = parseLevels(b, it.i, sym, ev.Bids, depth, &ev.Capped)
			} else {
				ev.Asks, it.i, err = parseLevels(b, it.i, sym, ev.Asks, depth, &ev.Capped)
			}
			if err != nil {
				return 0, fieldErr(keyNames[id], err)
			}
		}
	}
	if missing := required[sh] &^ seen; missing != 0 {
		for k := range numKeys {
			if missing&(1<<k) != 0 {
				return 0, malformed(i, "missing key "+strconv.Quote(keyNames[k]))
			}
		}
	}
	var err error
	if bidsAt >= 0 {
		if ev.Bids, _, err = parseLevels(b, bidsAt, sym, ev.Bids, depth, &ev.Capped); err != nil {
			return 0, fieldErr(levelsKey(sh, true), err)
		}
	}
	if asksAt >= 0 {
		if ev.Asks, _, err = parseLevels(b, asksAt, sym, ev.Asks, depth, &ev.Capped); err != nil {
			return 0, fieldErr(levelsKey(sh, false), err)
		}
	}
	ev.Venue = Venue
	switch sh {
	case shapeAggTrade, shapeTrade:
		ev.Type = feed.TypeTrade
		if ev.Price, err = parseDecimal(b, dec[0], sym.PriceScale); err != nil {
			return 0, fieldErr("p", scaleErr(b, dec[0], sym, true, err))
		}
		if ev.Qty, err = parseQty(b, dec[1], sym.QtyScale, &ev.Capped); err != nil {
			return 0, fieldErr("q", scaleErr(b, dec[1], sym, false, err))
		}
		if sh == shapeTrade {
			ev.FirstTradeID, ev.LastTradeID = ev.ID, ev.ID
		} else {
			ev.Aggregated = true
		}
		ev.Side = feed.SideBuy
		if maker { // the buyer was the maker, so the seller took
			ev.Side = feed.SideSell
		}
		ev.FirstID = ev.ID
	case shapeDepth:
		ev.Type = feed.TypeBookDelta
		ev.ExchangeTime = ev.EventTime
	case shapePartial:
		ev.Type = feed.TypeBookSnapshot
		ev.FirstID = ev.ID
	case shapeBookTicker:
		ev.Type = feed.TypeTopOfBook
		ev.FirstID = ev.ID
		if ev.Bid.Price, err = parseDecimal(b, dec[2], sym.PriceScale); err != nil {
			return 0, fieldErr("b", scaleErr(b, dec[2], sym, true, err))
		}
		if ev.Bid.Qty, err = parseQty(b, dec[3], sym.QtyScale, &ev.Capped); err != nil {
			return 0, fieldErr("B", scaleErr(b, dec[3], sym, false, err))
		}
		if ev.Ask.Price, err = parseDecimal(b, dec[4], sym.PriceScale); err != nil {
			return 0, fieldErr("a", scaleErr(b, dec[4], sym, true, err))
		}
		if ev.Ask.Qty, err = parseQty(b, dec[5], sym.QtyScale, &ev.Capped); err != nil {
			return 0, fieldErr("A", scaleErr(b, dec[5], sym, false, err))
		}
	case shapeShutdown:
		ev.Type = feed.TypeStatus
		ev.Status = feed.StatusServerShutdown
		ev.ExchangeTime = ev.EventTime
		ev.Reason = "server announced shutdown"
		return it.i, nil
	}
	ev.Symbol, ev.Instrument = sym.Name, sym.Instrument
	ev.PriceScale, ev.QtyScale = sym.PriceScale, sym.QtyScale
	return it.i, nil
}

func levelsKey(sh shape, bids bool) string {
	switch {
	case sh == shapePartial && bids:
		return "bids"
	case sh == shapePartial:
		return "asks"
	case bids:
		return "b"
	}
	return "a"
}

func (d *Decoder) toNanos(v int64) (int64, error) {
	if d.Micros {
		if v > math.MaxInt64/1000 || v < math.MinInt64/1000 {
			return 0, errTimeRange
		}
		return v * 1e3, nil
	}
	if v > math.MaxInt64/1000000 || v < math.MinInt64/1000000 {
		return 0, errTimeRange
	}
	return v * 1e6, nil
}

// parseLevels appends the levels of the array at b[i], [["price","qty"],…],
// to dst. Elements after the first two of a level are skipped. depth is the
// nesting level of the object holding the array.
func parseLevels(b []byte, i int, sym Symbol, dst []feed.Level, depth int, capped *bool) ([]feed.Level, int, error) {
	if i >= len(b) || b[i] != '[' {
		return dst, 0, errNotArray
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return dst, i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '[' {
			return dst, 0, errBadLevel
		}
		var lv feed.Level
		var err error
		for n := 0; ; n++ {
			i = skipWS(b, i+1)
			switch {
			case n == 0 && i < len(b) && b[i] == ']':
				return dst, 0, errBadLevel
			case n < 2:
				if i >= len(b) || b[i] != '"' {
					return dst, 0, errBadLevel
				}
				end, esc, err2 := scanString(b, i)
				if err2 != nil {
					return dst, 0, err2
				}
				sp := strSpan{i + 1, end, esc}
				if n == 0 {
					if lv.Price, err = parseDecimal(b, sp, sym.PriceScale); err != nil {
						err = scaleErr(b, sp, sym, true, err)
					}
				} else if lv.Qty, err = parseQty(b, sp, sym.QtyScale, capped); err != nil {
					err = scaleErr(b, sp, sym, false, err)
				}
				if err != nil {
					return dst, 0, err
				}
				i = end + 1
			default:
				if i, err = skipValue(b, i, depth+2); err != nil {
					return dst, 0, err
				}
			}
			i = skipWS(b, i)
			if i < len(b) && b[i] == ',' {
				continue
			}
			if i < len(b) && b[i] == ']' && n >= 1 {
				break
			}
			return dst, 0, errBadLevel
		}
		dst = append(dst, lv)
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == ']' {
			return dst, i + 1, nil
		}
		return dst, 0, errNotArray
	}
}

// parseDecimal parses the decimal string sp at the given scale.
func parseDecimal(b []byte, sp strSpan, scale uint8) (int64, error) {
	if !sp.esc {
		return fixed.Parse(b[sp.start:sp.end], scale)
	}
	return parseEscapedDecimal(b[sp.start:sp.end], scale)
}

// ScaleError is a price or quantity with more decimals than its symbol's
// scale: the venue's tick or step size may have changed since the symbol
// table was made. errors.Is matches the fixed error it wraps.
type ScaleError struct {
	Symbol string
	Price  bool  // a price; else a quantity
	Scale  uint8 // the scale the value needs
	Err    error // fixed.ErrPrecision
}

func (e *ScaleError) Error() string {
	what := "quantity"
	if e.Price {
		what = "price"
	}
	return fmt.Sprintf("binance: %s %s needs %d decimals: %v", e.Symbol, what, e.Scale, e.Err)
}

func (e *ScaleError) Unwrap() error { return e.Err }

// scaleErr returns a *ScaleError for a value of sym that has more
// decimals than its scale, err otherwise.
func scaleErr(b []byte, sp strSpan, sym Symbol, price bool, err error) error {
	if err != fixed.ErrPrecision {
		return err
	}
	text := b[sp.start:sp.end]
	var buf [valueBuf]byte
	if sp.esc {
		text = unescape(buf[:0], text)
	}
	scale, serr := fixed.ScaleOf(text)
	if serr != nil {
		return err
	}
	return &ScaleError{Symbol: sym.Name, Price: price, Scale: scale, Err: err}
}

// capDigits are the digits of a quantity Binance caps (CHANGELOG
// 2022-05-23): "a quantity too large for the base asset's precision is
// capped at the largest value that precision allows", the largest int64 at
// that precision: 92233720368.54775807 at 8 decimals.
const capDigits = "9223372036854775807"

// parseQty parses the quantity string sp at scale like parseDecimal, and
// accepts a quantity capped by the venue (see capDigits) that does not fit
// the scale: it is truncated to the scale (toward zero), or saturated at
// the largest mantissa when even that overflows, and *capped is set.
func parseQty(b []byte, sp strSpan, scale uint8, capped *bool) (int64, error) {
	m, err := parseDecimal(b, sp, scale)
	if err != nil || m == math.MaxInt64 {
		return parseCapped(b, sp, scale, capped, m, err)
	}
	return m, nil
}

// parseCapped is parseQty's rare path: a quantity at the largest mantissa
// (the cap at exactly the symbol's scale), or one that did not parse.
//
//go:noinline
func parseCapped(b []byte, sp strSpan, scale uint8, capped *bool, m int64, err error) (int64, error) {
	if err == nil {
		*capped = true // the cap at exactly the symbol's scale
		return m, nil
	}
	if err != fixed.ErrPrecision && err != fixed.ErrRange {
		return m, err
	}
	text := b[sp.start:sp.end]
	var buf [valueBuf]byte
	if sp.esc {
		text = unescape(buf[:0], text)
	}
	m, ok := saturateCapped(text, scale)
	if !ok {
		return 0, err
	}
	*capped = true
	return m, nil
}

// saturateCapped returns the mantissa at scale of a capped quantity s
// (the digits of capDigits with a decimal point somewhere), truncated to
// the scale or saturated at math.MaxInt64; ok is false when s is not one.
func saturateCapped(s []byte, scale uint8) (m int64, ok bool) {
	dot := -1
	n := 0
	for i, c := range s {
		if c == '.' {
			if dot >= 0 {
				return 0, false
			}
			dot = i
			continue
		}
		switch {
		case n < len(capDigits) && c == capDigits[n]:
		case n >= len(capDigits) && c == '0' && dot >= 0: // trailing zeros of the fraction
		default:
			return 0, false
		}
		n++
	}
	if n < len(capDigits) {
		return 0, false
	}
	intPart := s
	var frac []byte
	if dot >= 0 {
		intPart, frac = s[:dot], s[dot+1:]
	}
	var v uint64
	for _, c := range intPart {
		v = v*10 + uint64(c-'0')
	}
	for k := range int(scale) {
		d := uint64(0)
		if k < len(frac) {
			d = uint64(frac[k] - '0')
		}
		if v > (math.MaxInt64-d)/10 {
			return math.MaxInt64, true
		}
		v = v*10 + d
	}
	return int64(v), true
}

// streamName returns the stream name at sp, interned through d.Streams.
func (d *Decoder) streamName(b []byte, sp strSpan) string {
	if sp.esc {
		var buf [valueBuf]byte
		return string(unescape(buf[:0], b[sp.start:sp.end]))
	}
	if s, ok := d.Streams[string(b[sp.start:sp.end])]; ok {
		return s
	}
	return string(b[sp.start:sp.end])
}

//go:noinline
func parseEscapedDecimal(raw []byte, scale uint8) (int64, error) {
	var buf [valueBuf]byte
	return fixed.Parse(unescape(buf[:0], raw), scale)
}

// Response is a reply to a SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS,
// SET_PROPERTY or GET_PROPERTY request.
type Response struct {
	ID     json.RawMessage // the request's id as echoed: a number, a string or null
	Result json.RawMessage // the result on success: null for (UN)SUBSCRIBE
	Err    *ServerError    // set when the request failed
}

// IntID returns the reply's id when it is an integer.
func (r *Response) IntID() (int64, bool) {
	id, err := strconv.ParseInt(string(r.ID), 10, 64)
	return id, err == nil
}

// ServerError is an error reply: {"error":{"code":2,"msg":"…"},"id":3}.
type ServerError struct {
	Code int
	Msg  string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("binance: request failed: code %d: %s", e.Code, e.Msg)
}

// ParseResponse parses a frame for which Decode returned KindResponse. It
// allocates; replies are rare. The Response does not alias frame.
func ParseResponse(frame []byte) (Response, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(frame, &top); err != nil {
		return Response{}, fmt.Errorf("%w: reply: %w", ErrMalformed, err)
	}
	r := Response{ID: top["id"], Result: top["result"]}
	if raw, ok := top["error"]; ok && string(raw) != "null" {
		var e map[string]json.RawMessage
		if err := json.Unmarshal(raw, &e); err != nil {
			return Response{}, fmt.Errorf("%w: reply error: %w", ErrMalformed, err)
		}
		r.Err = &ServerError{}
		if err := json.Unmarshal(e["code"], &r.Err.Code); err != nil {
			return Response{}, fmt.Errorf("%w: reply error code: %w", ErrMalformed, err)
		}
		if msg, ok := e["msg"]; ok {
			if err := json.Unmarshal(msg, &r.Err.Msg); err != nil {
				return Response{}, fmt.Errorf("%w: reply error msg: %w", ErrMalformed, err)
			}
		}
	} else if _, ok := top["result"]; !ok {
		return Response{}, fmt.Errorf(`%w: reply without "result" or "error"`, ErrMalformed)
	}
	return r, nil
}

// The JSON scanner. Every function takes the frame and an index and returns
// the index after what it read; none allocates unless it fails.

const (
	keyBuf   = 128 // a key escaped longer than this is longer than any key we know
	valueBuf = 128 // escaped strings are unescaped here; longer ones go to the heap
)

var (
	errNotString = errors.New("not a string")
	errNotArray  = errors.New("not an array of levels")
	errBadLevel  = errors.New(`a level is not ["price","qty"]`)
	errNotInt    = errors.New("not an integer")
	errIntRange  = errors.New("integer out of range")
	errTimeRange = errors.New("time out of range")
	errNotBool   = errors.New("not a boolean")
	errDepth     = errors.New("nested too deep")
)

func malformed(off int, what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrMalformed, what, off)
}

func fieldErr(key string, err error) error {
	if errors.Is(err, ErrMalformed) {
		return err
	}
	return fmt.Errorf("%w: %q: %w", ErrMalformed, key, err)
}

// iter walks the keys of one object.
type iter struct {
	b []byte
	i int  // on entry just after '{'; after next, at the key's value
	n bool // a key was read: a ',' or '}' comes next
}

// next reads the next key and leaves it.i at its value. At the end of the
// object it returns done and leaves it.i after the '}'.
func (it *iter) next() (key uint8, done bool, err error) {
	b := it.b
	i := skipWS(b, it.i)
	if i >= len(b) {
		return 0, false, malformed(i, "unterminated object")
	}
	if it.n {
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			it.i = i + 1
			return 0, true, nil
		default:
			return 0, false, malformed(i, "expected ',' or '}'")
		}
	} else if b[i] == '}' {
		it.i = i + 1
		return 0, true, nil
	}
	if i >= len(b) || b[i] != '"' {
		return 0, false, malformed(i, "expected a key")
	}
	var end int
	if i+2 < len(b) && b[i+2] == '"' && plain[b[i+1]] {
		// The common one-letter key.
		key, end = oneCharKeys[b[i+1]], i+2
	} else {
		var esc bool
		if end, esc, err = scanString(b, i); err != nil {
			return 0, false, err
		}
		if esc {
			key = keyIDEscaped(b[i+1 : end])
		} else {
			key = keyID(b[i+1 : end])
		}
	}
	i = skipWS(b, end+1)
	if i >= len(b) || b[i] != ':' {
		return 0, false, malformed(i, "expected ':'")
	}
	it.i = skipWS(b, i+1)
	it.n = true
	return key, false, nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// plain marks the bytes that may appear in a JSON string as they are.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString reads the string at b[i] ('"') and returns the index of its
// closing quote and whether it holds escapes, which it checks.
func scanString(b []byte, i int) (end int, esc bool, err error) {
	i++
	for {
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i >= len(b) {
			return 0, false, malformed(i, "unterminated string")
		}
		switch b[i] {
		case '"':
			return i, esc, nil
		case '\\':
			esc = true
			if i+1 >= len(b) {
				return 0, false, malformed(i, "unterminated string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return 0, false, malformed(i, "unterminated string")
				}
				for _, c := range b[i+2 : i+6] {
					if unhex(c) < 0 {
						return 0, false, malformed(i, "bad \\u escape")
					}
				}
				i += 6
			default:
				return 0, false, malformed(i, "bad escape")
			}
		default:
			return 0, false, malformed(i, "control character in string")
		}
	}
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// unescape appends the content s of a checked string to dst, decoding
// escapes. A \u escape of a non-ASCII character becomes the byte 0xFF:
// every string the decoder compares or parses is ASCII, so the exact
// character does not matter, only that it matches nothing.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		case 'u':
			r := unhex(s[i+1])<<12 | unhex(s[i+2])<<8 | unhex(s[i+3])<<4 | unhex(s[i+4])
			i += 4
			c = 0xFF
			if r < 0x80 {
				c = byte(r)
			}
		default: // '"', '\\', '/'
			c = s[i]
		}
		dst = append(dst, c)
	}
	return dst
}

// keyIDEscaped is keyID for a key written with escapes. One longer than
// keyBuf escaped is longer than any key we know.
//
//go:noinline
func keyIDEscaped(raw []byte) uint8 {
	if len(raw) > keyBuf {
		return kUnknown
	}
	var buf [keyBuf]byte
	return keyID(unescape(buf[:0], raw))
}

// stringSpan reads the string at b[i] and returns its span and the index
// after it.
func stringSpan(b []byte, i int) (strSpan, int, error) {
	if i >= len(b) || b[i] != '"' {
		return strSpan{}, 0, errNotString
	}
	end, esc, err := scanString(b, i)
	if err != nil {
		return strSpan{}, 0, err
	}
	return strSpan{i + 1, end, esc}, end + 1, nil
}

// lookupSpan finds the symbol named by the string sp: a payload's symbol,
// or with stream set, a stream name.
func (t *Symbols) lookupSpan(b []byte, sp strSpan, stream bool) (Symbol, bool) {
	raw := b[sp.start:sp.end]
	switch {
	case sp.esc:
		return t.lookupEscaped(raw, stream)
	case stream:
		return t.lookupStream(raw)
	}
	return t.lookupName(raw)
}

//go:noinline
func (t *Symbols) lookupEscaped(raw []byte, stream bool) (Symbol, bool) {
	var buf [valueBuf]byte
	v := unescape(buf[:0], raw)
	if stream {
		return t.lookupStream(v)
	}
	return t.lookupName(v)
}

// parseInt reads a JSON integer (no fraction or exponent) that fits in an
// int64.
func parseInt(b []byte, i int) (int64, int, error) {
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	start := i
	var u uint64 // 19 digits cannot wrap a uint64
	for ; i < len(b) && b[i]-'0' <= 9; i++ {
		u = u*10 + uint64(b[i]-'0')
	}
	switch n := i - start; {
	case n == 0, n > 1 && b[start] == '0':
		return 0, 0, errNotInt
	case n > 19:
		return 0, 0, errIntRange
	}
	if i < len(b) {
		switch b[i] {
		case '.', 'e', 'E':
			return 0, 0, errNotInt
		}
	}
	switch {
	case !neg && u > math.MaxInt64, neg && u > 1<<63:
		return 0, 0, errIntRange
	case neg:
		return -int64(u), i, nil
	}
	return int64(u), i, nil
}

func parseBool(b []byte, i int) (bool, int, error) {
	if len(b)-i >= 4 && string(b[i:i+4]) == "true" {
		return true, i + 4, nil
	}
	if len(b)-i >= 5 && string(b[i:i+5]) == "false" {
		return false, i + 5, nil
	}
	return false, 0, errNotBool
}

// maxDepth is encoding/json's nesting limit, so both accept the same frames.
const maxDepth = 10000

// skipValue checks and skips the JSON value at b[i]; depth is the nesting
// level of the container it is in (1 for a value in the top-level object).
func skipValue(b []byte, i int, depth int) (int, error) {
	if i >= len(b) {
		return 0, malformed(i, "expected a value")
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end + 1, err
	case c == '{':
		if depth+1 > maxDepth {
			return 0, malformed(i, errDepth.Error())
		}
		it := iter{b: b, i: i + 1}
		for {
			_, done, err := it.next()
			if err != nil {
				return 0, err
			}
			if done {
				return it.i, nil
			}
			if it.i, err = skipValue(b, it.i, depth+1); err != nil {
				return 0, err
			}
		}
	case c == '[':
		if depth+1 > maxDepth {
			return 0, malformed(i, errDepth.Error())
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, nil
		}
		for {
			var err error
			if i, err = skipValue(b, i, depth+1); err != nil {
				return 0, err
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return 0, malformed(i, "unterminated array")
			}
			switch b[i] {
			case ',':
				i = skipWS(b, i+1)
			case ']':
				return i + 1, nil
			default:
				return 0, malformed(i, "expected ',' or ']'")
			}
		}
	case c == 't':
		if len(b)-i >= 4 && string(b[i:i+4]) == "true" {
			return i + 4, nil
		}
	case c == 'f':
		if len(b)-i >= 5 && string(b[i:i+5]) == "false" {
			return i + 5, nil
		}
	case c == 'n':
		if len(b)-i >= 4 && string(b[i:i+4]) == "null" {
			return i + 4, nil
		}
	case c == '-' || c-'0' <= 9:
		return skipNumber(b, i)
	}
	return 0, malformed(i, "expected a value")
}

// skipNumber checks the JSON number at b[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func skipNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	digits := func() bool {
		j := i
		for i < len(b) && b[i]-'0' <= 9 {
			i++
		}
		return i > j
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return 0, malformed(start, "bad number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return 0, malformed(start, "bad number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return 0, malformed(start, "bad number")
		}
	}
	return i, nil
}
