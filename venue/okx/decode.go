package okx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/venue/binance"
)

// Errors of Decode, wrapped with detail; test them with errors.Is.
var (
	// ErrMalformed: the frame is not valid JSON, lacks a key the event
	// needs, or has a value of the wrong type or out of range (a price
	// with more decimals than the instrument's tick also matches
	// fixed.ErrPrecision: the table is out of date). Scanner errors also
	// match binance.ErrMalformed.
	ErrMalformed = errors.New("okx: malformed message")
	// ErrUnknownChannel: a push of a channel this package does not decode.
	// It matches feed.ErrUnknown.
	ErrUnknownChannel = fmt.Errorf("okx: unknown channel: %w", feed.ErrUnknown)
	// ErrRefused is matched by *Error, OKX's answer "error" to a request.
	ErrRefused = errors.New("okx: request refused")
)

// Error is OKX's error event ("Overview / WebSocket / Subscribe" failure
// response; codes in "Error Code / WebSocket / Public"):
// {"id":"1512","event":"error","code":"60012","msg":"Invalid request: …"}.
// errors.Is(err, ErrRefused) holds for it.
type Error struct {
	ID   string // the request's id, when it had one
	Code string // "60012" Invalid request, "60018" wrong URL, channel or instId, "64001" channel moved to /business, …
	Msg  string
}

func (e *Error) Error() string { return "okx: error " + e.Code + ": " + e.Msg }

// Is matches ErrRefused.
func (e *Error) Is(target error) bool { return target == ErrRefused }

// Codes of OKX's error and notice events this package acts on.
const (
	// CodeUpgrade is the notice "The connection will soon be closed for a
	// service upgrade. Please reconnect." sent 60 s before.
	CodeUpgrade = "64008"
)

// channel kinds, indexing Symbol.streams.
const (
	chTrades = iota
	chTradesAll
	chBooks
	chBooks5
	chBBO
	chTickers
	chFunding
	chMark
	chOI
	chLiq
	nChannels
)

var channelNames = [nChannels]string{ChannelTrades, ChannelTradesAll, ChannelBooks, ChannelBooks5, ChannelBBO,
	ChannelTickers, ChannelFundingRate, ChannelMarkPrice, ChannelOpenInterest, ChannelLiquidations}

func channelOf(b []byte) int {
	switch string(b) {
	case ChannelTrades:
		return chTrades
	case ChannelTradesAll:
		return chTradesAll
	case ChannelBooks:
		return chBooks
	case ChannelBooks5:
		return chBooks5
	case ChannelBBO:
		return chBBO
	case ChannelTickers:
		return chTickers
	case ChannelFundingRate:
		return chFunding
	case ChannelMarkPrice:
		return chMark
	case ChannelOpenInterest:
		return chOI
	case ChannelLiquidations:
		return chLiq
	}
	return -1
}

// Decoder decodes the frames of one OKX connection: pushes
// {"arg":{"channel":…,"instId":…},["action":…,]"data":[…]} of the
// channels this package knows, the events that answer requests
// (subscribe, unsubscribe, error), the notice of a service upgrade
// (DecodedShutdown) and the text "pong". It implements feed.Decoder,
// feed.BatchDecoder (a push whose data holds several items) and
// feed.ReplyParser. It does not allocate in the steady state.
//
// A Decoder is used by one goroutine at a time. The Stats and Deriv of
// the events it fills are its own, reused by the next frame (copy the
// event with CopyTo to keep it); after Decode returned DecodedBatch, Next
// reads the same frame, which must not change until Next reports false.
type Decoder struct {
	// Symbols gives each instrument's scales; pushes of others return
	// ErrUnknownSymbol.
	Symbols *Symbols
	// Liquidations are the swaps whose liquidation-orders items it
	// decodes (their <swap>@liquidation-orders streams were asked for);
	// with LiquidationsAll, every swap in Symbols. Others are left out.
	Liquidations    map[string]bool
	LiquidationsAll bool

	stats feed.Stats
	dv    feed.Deriv
	tmp   []feed.Level
	buf   [64]byte
	kbuf  [32]byte // keys with escapes, decoded

	// the batch in progress
	frame  []byte
	next   int // index in frame of the next data item, or after the array
	ch     int
	sym    *Symbol
	action int
	liqs   []feed.Event // the liquidations of the frame after the first
	liqAt  int
}

var (
	_ feed.Decoder      = (*Decoder)(nil)
	_ feed.BatchDecoder = (*Decoder)(nil)
	_ feed.ReplyParser  = (*Decoder)(nil)
)

const (
	actionNone = iota
	actionSnapshot
	actionUpdate
)

// Decode decodes frame into ev (all fields but ReceiveTime).
func (d *Decoder) Decode(frame []byte, ev *feed.Event) (feed.Decoded, error) {
	d.frame = nil
	d.liqs, d.liqAt = d.liqs[:0], 0
	if string(frame) == "pong" {
		return feed.DecodedReply, nil
	}
	o, err := binance.OpenObject(frame, binance.SkipWS(frame, 0))
	if err != nil {
		return 0, malformed(err)
	}
	argAt, dataAt := -1, -1
	var action, event binance.Span
	var hasAction, hasEvent bool
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
		case "arg":
			argAt = i
		case "data":
			dataAt = i
		case "action":
			if action, i, err = binance.StringAt(frame, i); err != nil {
				return 0, field("action", err)
			}
			hasAction = true
			o.SetPos(i)
			continue
		case "event":
			if event, i, err = binance.StringAt(frame, i); err != nil {
				return 0, field("event", err)
			}
			hasEvent = true
			o.SetPos(i)
			continue
		}
		if i, err = binance.SkipValue(frame, i, 1); err != nil {
			return 0, malformed(err)
		}
		o.SetPos(i)
	}
	if i := binance.SkipWS(frame, o.Pos()); i != len(frame) {
		return 0, fmt.Errorf("%w: data after the object at offset %d", ErrMalformed, i)
	}
	if hasEvent {
		return d.event(frame, event.Text(frame, d.buf[:0]))
	}
	if argAt < 0 || dataAt < 0 {
		return 0, fmt.Errorf("%w: neither an event nor a push (arg and data)", ErrMalformed)
	}
	ch, sym, err := d.arg(frame, argAt)
	if err != nil {
		return 0, err
	}
	if ch == chLiq {
		return d.liquidations(frame, ev)
	}
	d.action = actionNone
	if hasAction {
		switch string(action.Text(frame, d.buf[:0])) {
		case "snapshot":
			d.action = actionSnapshot
		case "update":
			d.action = actionUpdate
		default:
			return 0, fmt.Errorf("%w: action %q", ErrMalformed, action.Raw(frame))
		}
	}
	if ch == chBooks && d.action == actionNone {
		return 0, fmt.Errorf("%w: books push without action", ErrMalformed)
	}
	if frame[dataAt] != '[' {
		return 0, fmt.Errorf("%w: data is not an array", ErrMalformed)
	}
	i := binance.SkipWS(frame, dataAt+1)
	if i < len(frame) && frame[i] == ']' {
		return 0, fmt.Errorf("%w: empty data", ErrMalformed)
	}
	d.ch, d.sym = ch, sym
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
	if d.liqAt < len(d.liqs) {
		copyLiquidation(ev, &d.liqs[d.liqAt])
		d.liqAt++
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

// after reads what follows a data item at i: the index of the next one,
// or -1 at the end of the array.
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

// arg reads {"channel":…,"instId":…}.
func (d *Decoder) arg(frame []byte, at int) (int, *Symbol, error) {
	o, err := binance.OpenObject(frame, at)
	if err != nil {
		return 0, nil, field("arg", err)
	}
	var channel, inst binance.Span
	var hasCh, hasInst bool
	for {
		key, done, err := o.Next()
		if err != nil {
			return 0, nil, field("arg", err)
		}
		if done {
			break
		}
		i := o.Pos()
		switch string(key.Text(frame, d.kbuf[:0])) {
		case "channel":
			channel, i, err = binance.StringAt(frame, i)
			hasCh = true
		case "instId":
			inst, i, err = binance.StringAt(frame, i)
			hasInst = true
		default:
			i, err = binance.SkipValue(frame, i, 2)
		}
		if err != nil {
			return 0, nil, field("arg", err)
		}
		o.SetPos(i)
	}
	if !hasCh {
		return 0, nil, fmt.Errorf("%w: arg without channel", ErrMalformed)
	}
	ch := channelOf(channel.Text(frame, d.buf[:0]))
	if ch < 0 {
		return 0, nil, fmt.Errorf("%w %q", ErrUnknownChannel, channel.Raw(frame))
	}
	if ch == chLiq {
		return ch, nil, nil // by instType: the items name their instruments
	}
	if !hasInst {
		return 0, nil, fmt.Errorf("%w: arg of %s without instId", ErrMalformed, channelNames[ch])
	}
	sym, ok := d.Symbols.lookupBytes(inst.Text(frame, d.buf[:0]))
	if !ok {
		return 0, nil, fmt.Errorf("%w %q", ErrUnknownSymbol, inst.Raw(frame))
	}
	return ch, sym, nil
}

// item decodes the data item at frame[i] into ev and returns the index
// after it.
func (d *Decoder) item(frame []byte, i int, ev *feed.Event) (int, error) {
	*ev = feed.Event{ReceiveTime: ev.ReceiveTime, Bids: ev.Bids[:0], Asks: ev.Asks[:0]}
	ev.Venue, ev.Symbol, ev.Instrument = Venue, d.sym.InstID, d.sym.Instrument
	ev.PriceScale, ev.QtyScale = d.sym.PriceScale, d.sym.QtyScale
	switch d.ch {
	case chTrades, chTradesAll:
		return d.trade(frame, i, ev)
	case chBooks, chBooks5, chBBO:
		return d.book(frame, i, ev)
	case chTickers:
		return d.ticker(frame, i, ev)
	}
	return d.deriv(frame, i, ev)
}

func (d *Decoder) open(frame []byte, i int) (binance.Object, error) {
	o, err := binance.OpenObject(frame, i)
	if err != nil {
		return o, fmt.Errorf("%w: data item: %w", ErrMalformed, err)
	}
	return o, nil
}

// trade reads a trades or trades-all item ("WS / Trades channel", "WS /
// All trades channel"): tradeId, px, sz, side, ts; trades adds count, the
// number of trades whose last tradeId it carries.
func (d *Decoder) trade(frame []byte, i int, ev *feed.Event) (int, error) {
	o, err := d.open(frame, i)
	if err != nil {
		return 0, err
	}
	sym := d.sym
	count := int64(1)
	var have uint8
	for {
		key, done, err := o.Next()
		if err != nil {
			return 0, malformed(err)
		}
		if done {
			break
		}
		i := o.Pos()
		k := key.Text(frame, d.kbuf[:0])
		var sp binance.Span
		switch string(k) {
		case "tradeId", "px", "sz", "side", "ts", "count":
			if sp, i, err = binance.StringAt(frame, i); err != nil {
				return 0, field(string(k), err)
			}
		default:
			if i, err = binance.SkipValue(frame, i, 3); err != nil {
				return 0, malformed(err)
			}
		}
		switch string(k) {
		case "tradeId":
			ev.ID, err = uintText(frame, sp)
			have |= 1
		case "px":
			ev.Price, err = binance.Decimal(frame, sp, sym.wire, true)
			have |= 2
		case "sz":
			ev.Qty, err = d.size(frame, sp)
			have |= 4
		case "side":
			switch string(sp.Raw(frame)) {
			case "buy":
				ev.Side = feed.SideBuy
			case "sell":
				ev.Side = feed.SideSell
			default:
				err = errors.New("want buy or sell")
			}
			have |= 8
		case "ts":
			ev.ExchangeTime, err = msText(frame, sp)
			have |= 16
		case "count":
			if count, err = uintText(frame, sp); err == nil && count < 1 {
				err = errors.New("below 1")
			}
		}
		if err != nil {
			return 0, field(string(k), err)
		}
		o.SetPos(i)
	}
	if have != 31 {
		return 0, missing(have, "tradeId", "px", "sz", "side", "ts")
	}
	if count > ev.ID {
		return 0, fmt.Errorf("%w: count %d above tradeId %d", ErrMalformed, count, ev.ID)
	}
	ev.Type = feed.TypeTrade
	ev.FirstID = ev.ID
	ev.FirstTradeID, ev.LastTradeID = ev.ID-count+1, ev.ID
	ev.Aggregated = d.ch == chTrades
	return o.Pos(), nil
}

// book reads a books, books5 or bbo-tbt item ("WS / Order book channel"):
// asks and bids as [price, size, "0", orders], ts, and for books
// checksum, prevSeqId and seqId.
func (d *Decoder) book(frame []byte, i int, ev *feed.Event) (int, error) {
	o, err := d.open(frame, i)
	if err != nil {
		return 0, err
	}
	sym := d.sym
	var have uint8
	var seq, prev, sum int64
	var capped bool
	bbo := d.ch == chBBO
	for {
		key, done, err := o.Next()
		if err != nil {
			return 0, malformed(err)
		}
		if done {
			break
		}
		i := o.Pos()
		k := key.Text(frame, d.kbuf[:0])
		switch string(k) {
		case "asks", "bids":
			switch {
			case bbo:
				d.tmp, i, err = binance.Levels(frame, i, sym.wire, d.tmp[:0], 3, &capped)
				if err == nil {
					err = d.sizes(d.tmp)
				}
				var top feed.Level
				if len(d.tmp) > 0 {
					top = d.tmp[0]
				}
				if string(k) == "bids" {
					ev.Bid = top
				} else {
					ev.Ask = top
				}
			case string(k) == "bids":
				if ev.Bids, i, err = binance.Levels(frame, i, sym.wire, ev.Bids[:0], 3, &capped); err == nil {
					err = d.sizes(ev.Bids)
				}
			default:
				if ev.Asks, i, err = binance.Levels(frame, i, sym.wire, ev.Asks[:0], 3, &capped); err == nil {
					err = d.sizes(ev.Asks)
				}
			}
			if string(k) == "bids" {
				have |= 2
			} else {
				have |= 1
			}
		case "ts":
			var sp binance.Span
			if sp, i, err = binance.StringAt(frame, i); err == nil {
				ev.ExchangeTime, err = msText(frame, sp)
			}
			have |= 4
		case "seqId":
			seq, i, err = binance.IntAt(frame, i)
			have |= 8
		case "prevSeqId":
			prev, i, err = binance.IntAt(frame, i)
			have |= 16
		case "checksum":
			sum, i, err = binance.IntAt(frame, i)
			if err == nil && (sum < -1<<31 || sum >= 1<<32) {
				err = errors.New("outside 32 bits")
			}
		default:
			i, err = binance.SkipValue(frame, i, 3)
		}
		if err != nil {
			return 0, field(string(k), err)
		}
		o.SetPos(i)
	}
	if have&7 != 7 {
		return 0, missing(have, "asks", "bids", "ts")
	}
	ev.Capped = capped
	switch d.ch {
	case chBooks:
		if have&24 != 24 {
			return 0, missing(have, "asks", "bids", "ts", "seqId", "prevSeqId")
		}
		ev.ID, ev.FirstID, ev.Stream = seq, seq, sym.streams[chBooks]
		ev.Checksummed, ev.Checksum = sum != 0, uint32(sum)
		if d.action == actionSnapshot {
			ev.Type, ev.Base = feed.TypeBookSnapshot, true
		} else {
			// FirstID is the delta's own ID: a keep-alive names itself
			// (seqId == prevSeqId) and IDs may restart lower, so
			// prevSeqId+1 need not be at or below it.
			ev.Type, ev.PrevID = feed.TypeBookDelta, prev
		}
	case chBooks5:
		// IDs of books5 and bbo-tbt are their ts (ms), not their seqId:
		// seqId may restart lower after a maintenance ("Sequence ID",
		// exception 2), which would make every later snapshot look
		// repeated; the snapshot resent after 60 s without change keeps
		// its ts and is dropped as the repeat it is.
		ev.Type, ev.Stream = feed.TypeBookSnapshot, sym.streams[chBooks5]
		ev.ID, ev.FirstID = ev.ExchangeTime/1e6, ev.ExchangeTime/1e6
	default:
		ev.Type = feed.TypeTopOfBook
		ev.ID, ev.FirstID = ev.ExchangeTime/1e6, ev.ExchangeTime/1e6
		ev.Bids, ev.Asks = ev.Bids[:0], ev.Asks[:0]
	}
	return o.Pos(), nil
}

// ticker reads a tickers item ("WS / Tickers channel"): last, open24h,
// high24h, low24h, vol24h (base currency for spot, contracts for a swap),
// volCcy24h (quote currency for spot, base currency for a swap), ts.
func (d *Decoder) ticker(frame []byte, i int, ev *feed.Event) (int, error) {
	o, err := d.open(frame, i)
	if err != nil {
		return 0, err
	}
	sym := d.sym
	st := &d.stats
	*st = feed.Stats{Window: "24h"}
	var have uint8
	for {
		key, done, err := o.Next()
		if err != nil {
			return 0, malformed(err)
		}
		if done {
			break
		}
		i := o.Pos()
		k := key.Text(frame, d.kbuf[:0])
		var sp binance.Span
		switch string(k) {
		case "last", "open24h", "high24h", "low24h", "vol24h", "volCcy24h", "ts":
			if sp, i, err = binance.StringAt(frame, i); err != nil {
				return 0, field(string(k), err)
			}
		default:
			if i, err = binance.SkipValue(frame, i, 3); err != nil {
				return 0, malformed(err)
			}
		}
		switch string(k) {
		case "last":
			st.Close, err = binance.Decimal(frame, sp, sym.wire, true)
			have |= 1
		case "open24h":
			st.Open, err = binance.Decimal(frame, sp, sym.wire, true)
		case "high24h":
			st.High, err = binance.Decimal(frame, sp, sym.wire, true)
		case "low24h":
			st.Low, err = binance.Decimal(frame, sp, sym.wire, true)
		case "vol24h":
			st.Volume, err = d.size(frame, sp)
		case "volCcy24h":
			if sym.InstType == InstSpot {
				st.QuoteVolume, err = decText(frame, sp)
			}
		case "ts":
			ev.ExchangeTime, err = msText(frame, sp)
			have |= 2
		}
		if err != nil {
			return 0, field(string(k), err)
		}
		o.SetPos(i)
	}
	if have != 3 {
		return 0, missing(have, "last", "ts")
	}
	st.CloseTime = ev.ExchangeTime
	st.OpenTime = ev.ExchangeTime - 24*3600*1e9
	ev.Type, ev.Stats = feed.TypeTicker, st
	ev.ID, ev.FirstID = ev.ExchangeTime/1e6, ev.ExchangeTime/1e6
	return o.Pos(), nil
}

// deriv reads a funding-rate item (fundingRate, fundingTime: when it is
// paid), a mark-price item (markPx) or an open-interest item (oi in
// contracts, oiCcy in the base currency), each with ts ("WS / Funding
// rate channel", "WS / Mark price channel", "WS / Open interest channel").
func (d *Decoder) deriv(frame []byte, i int, ev *feed.Event) (int, error) {
	o, err := d.open(frame, i)
	if err != nil {
		return 0, err
	}
	sym := d.sym
	dv := &d.dv
	*dv = feed.Deriv{}
	var have uint8
	var want uint8 = 3
	var oi, oiCcy fixed.Dec
	for {
		key, done, err := o.Next()
		if err != nil {
			return 0, malformed(err)
		}
		if done {
			break
		}
		i := o.Pos()
		k := key.Text(frame, d.kbuf[:0])
		var sp binance.Span
		switch string(k) {
		case "fundingRate", "fundingTime", "markPx", "oi", "oiCcy", "ts":
			if sp, i, err = binance.StringAt(frame, i); err != nil {
				return 0, field(string(k), err)
			}
		default:
			if i, err = binance.SkipValue(frame, i, 3); err != nil {
				return 0, malformed(err)
			}
		}
		switch sk := string(k); {
		case sk == "ts":
			ev.ExchangeTime, err = msText(frame, sp)
			have |= 1
		case sk == "fundingRate" && d.ch == chFunding:
			dv.FundingRate, err = decText(frame, sp)
			have |= 2
		case sk == "fundingTime" && d.ch == chFunding:
			dv.NextFunding, err = msText(frame, sp)
		case sk == "markPx" && d.ch == chMark:
			dv.MarkPrice, err = decText(frame, sp)
			have |= 2
		case sk == "oi" && d.ch == chOI:
			oi, err = decText(frame, sp)
			have |= 2
		case sk == "oiCcy" && d.ch == chOI:
			oiCcy, err = decText(frame, sp)
			have |= 4
		}
		if err != nil {
			return 0, field(string(k), err)
		}
		o.SetPos(i)
	}
	switch d.ch {
	case chFunding:
		if have&want != want {
			return 0, missing(have, "ts", "fundingRate")
		}
		ev.Type = feed.TypeFunding
	case chMark:
		if have&want != want {
			return 0, missing(have, "ts", "markPx")
		}
		ev.Type = feed.TypeFunding
	default:
		if have&want != want {
			return 0, missing(have, "ts", "oi")
		}
		ev.Type = feed.TypeOpenInterest
		dv.OpenInterest = oi
		if sym.InstType == InstSwap && sym.Linear && have&4 != 0 {
			dv.OpenInterest = oiCcy // base currency, as the quantities of a linear swap's events
		}
	}
	ev.Deriv = dv
	ev.ID, ev.FirstID = ev.ExchangeTime/1e6, ev.ExchangeTime/1e6
	return o.Pos(), nil
}

// size parses a size as sent and converts it to the event's quantity.
func (d *Decoder) size(frame []byte, sp binance.Span) (int64, error) {
	m, err := binance.Decimal(frame, sp, d.sym.wire, false)
	if err != nil {
		return 0, err
	}
	return d.sym.size(m)
}

// sizes converts levels' sizes as sent to the event's quantities.
func (d *Decoder) sizes(lv []feed.Level) error {
	if d.sym.InstType != InstSwap {
		return nil
	}
	for i := range lv {
		q, err := d.sym.size(lv[i].Qty)
		if err != nil {
			return err
		}
		lv[i].Qty = q
	}
	return nil
}

// uintText reads a decimal string of digits ("130639474").
func uintText(frame []byte, sp binance.Span) (int64, error) {
	b := sp.Raw(frame)
	if sp.Esc || len(b) == 0 || len(b) > 18 {
		return 0, errors.New("want a non-negative integer string")
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errors.New("want a non-negative integer string")
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// msText reads a time in ms as a string ("1597026383085") as ns.
func msText(frame []byte, sp binance.Span) (int64, error) {
	ms, err := uintText(frame, sp)
	if err != nil {
		return 0, err
	}
	if ms > math.MaxInt64/1_000_000 {
		return 0, errors.New("time out of range")
	}
	return ms * 1e6, nil
}

// decText reads a decimal string at its own scale ("-0.0001" is -1 at 4).
// An empty string is 0 (OKX sends "" for figures it no longer gives).
func decText(frame []byte, sp binance.Span) (fixed.Dec, error) {
	b := sp.Raw(frame)
	if len(b) == 0 {
		return fixed.Dec{}, nil
	}
	if sp.Esc {
		return fixed.Dec{}, errors.New("want a decimal string")
	}
	digits := b
	if digits[0] == '-' {
		digits = digits[1:]
	}
	s, err := fixed.ScaleOf(digits)
	if err != nil {
		return fixed.Dec{}, err
	}
	if s > fixed.MaxScale {
		return fixed.Dec{}, fixed.ErrScale
	}
	m, err := fixed.Parse(b, s)
	if err != nil {
		return fixed.Dec{}, err
	}
	return fixed.Dec{M: m, S: s}, nil
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

// missing names the first required key whose bit is not in have.
func missing(have uint8, keys ...string) error {
	for n, k := range keys {
		if have&(1<<n) == 0 {
			return fmt.Errorf("%w: no %s", ErrMalformed, k)
		}
	}
	return fmt.Errorf("%w: a required key is missing", ErrMalformed)
}

// event handles an event frame: subscribe and unsubscribe answers, error
// answers (returned as *Error), the service-upgrade notice.
func (d *Decoder) event(frame, name []byte) (feed.Decoded, error) {
	switch string(name) {
	case "subscribe", "unsubscribe":
		return feed.DecodedReply, nil
	case "error":
		r, err := d.ParseReply(frame)
		if err != nil {
			return 0, err
		}
		return feed.DecodedReply, r.Err
	case "notice":
		if isShutdown(frame) {
			return feed.DecodedShutdown, nil
		}
	}
	return feed.DecodedReply, nil
}

// isShutdown reports whether frame is the notice of code 64008. Notices
// are short: a longer frame is a push and is not searched.
func isShutdown(frame []byte) bool {
	return len(frame) < 512 && bytes.Contains(frame, []byte(`"notice"`)) && bytes.Contains(frame, []byte(`"`+CodeUpgrade+`"`))
}

// ParseReply reads an event frame: the request's id (a number as this
// package sends it; 0 when absent or not a number) and, for "error", an
// *Error.
func (d *Decoder) ParseReply(frame []byte) (feed.Reply, error) {
	var r struct {
		ID    string `json:"id"`
		Event string `json:"event"`
		Code  string `json:"code"`
		Msg   string `json:"msg"`
	}
	if err := json.Unmarshal(frame, &r); err != nil {
		return feed.Reply{}, fmt.Errorf("%w: reply: %w", ErrMalformed, err)
	}
	if r.Event == "" {
		return feed.Reply{}, fmt.Errorf("%w: reply without event", ErrMalformed)
	}
	var rep feed.Reply
	if id, err := strconv.ParseInt(r.ID, 10, 64); err == nil && id > 0 {
		rep.ID = id
	}
	if r.Event == "error" {
		rep.Err, rep.IsErr = &Error{ID: r.ID, Code: r.Code, Msg: r.Msg}, true
	}
	return rep, nil
}

// liquidations decodes a liquidation-orders push ("WS / Liquidation
// orders channel"): per instrument, details of side (the liquidation
// order's: "buy" closes a short), bkPx (bankruptcy price), sz (contracts
// for a swap) and ts. Items of instruments not asked for are left out;
// a push with none left is DecodedReply, nothing to deliver.
func (d *Decoder) liquidations(frame []byte, ev *feed.Event) (feed.Decoded, error) {
	var msg struct {
		Data []struct {
			InstID  string `json:"instId"`
			Details []struct {
				Side string `json:"side"`
				BkPx string `json:"bkPx"`
				Sz   string `json:"sz"`
				Ts   string `json:"ts"`
			} `json:"details"`
		} `json:"data"`
	}
	if err := json.Unmarshal(frame, &msg); err != nil {
		return 0, fmt.Errorf("%w: liquidation-orders: %w", ErrMalformed, err)
	}
	for _, it := range msg.Data {
		if !d.LiquidationsAll && !d.Liquidations[it.InstID] {
			continue
		}
		sym, ok := d.Symbols.lookupBytes([]byte(it.InstID))
		if !ok {
			if d.Liquidations[it.InstID] {
				return 0, fmt.Errorf("%w %q", ErrUnknownSymbol, it.InstID)
			}
			continue // a swap listed after the table was read
		}
		stream := LiquidationsAll
		if d.Liquidations[it.InstID] {
			stream = sym.streams[chLiq]
		}
		for _, l := range it.Details {
			e := feed.Event{Type: feed.TypeLiquidation, Venue: Venue, Symbol: sym.InstID, Instrument: sym.Instrument, Stream: stream,
				PriceScale: sym.PriceScale, QtyScale: sym.QtyScale}
			switch l.Side {
			case "buy":
				e.Side = feed.SideBuy
			case "sell":
				e.Side = feed.SideSell
			default:
				return 0, fmt.Errorf("%w: liquidation-orders %s: side %q", ErrMalformed, it.InstID, l.Side)
			}
			px, sz := []byte(l.BkPx), []byte(l.Sz)
			var err error
			if e.Price, err = binance.Decimal(px, binance.Span{End: len(px)}, sym.wire, true); err != nil {
				return 0, field("bkPx", err)
			}
			m, err := binance.Decimal(sz, binance.Span{End: len(sz)}, sym.wire, false)
			if err == nil {
				e.Qty, err = sym.size(m)
			}
			if err != nil {
				return 0, field("sz", err)
			}
			ms, err := strconv.ParseInt(l.Ts, 10, 64)
			if err != nil || ms < 0 || ms > math.MaxInt64/1_000_000 {
				return 0, fmt.Errorf("%w: liquidation-orders %s: ts %q", ErrMalformed, it.InstID, l.Ts)
			}
			e.ExchangeTime = ms * 1_000_000
			e.EventTime = e.ExchangeTime
			d.liqs = append(d.liqs, e)
		}
	}
	if len(d.liqs) == 0 {
		return feed.DecodedReply, nil
	}
	copyLiquidation(ev, &d.liqs[0])
	d.liqAt = 1
	if len(d.liqs) == 1 {
		return feed.DecodedEvent, nil
	}
	return feed.DecodedBatch, nil
}

// copyLiquidation fills ev with l, keeping ev's level arrays and receive
// time.
func copyLiquidation(ev, l *feed.Event) {
	bids, asks, recv := ev.Bids[:0], ev.Asks[:0], ev.ReceiveTime
	*ev = *l
	ev.Bids, ev.Asks, ev.ReceiveTime = bids, asks, recv
}
