package binanceusdm

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
)

// The reference decoder: encoding/json reads the frame (keys exact and in
// order, duplicates kept), math/big checks integers, and the rules of
// Decode's doc comment and of each event are applied from scratch.

type member struct {
	key string
	val json.RawMessage
}

func members(raw []byte) ([]member, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		ms = append(ms, member{tok.(string), v})
	}
	return ms, true
}

var (
	errRef  = errors.New("reference: rejected")
	errSkip = errors.New("reference: not compared")
)

// one returns the value of key, which must be there exactly once.
func one(ms []member, key string) (json.RawMessage, error) {
	var v json.RawMessage
	n := 0
	for _, m := range ms {
		if m.key == key {
			v = m.val
			n++
		}
	}
	if n != 1 {
		return nil, errRef
	}
	return v, nil
}

func has(ms []member, keys ...string) bool {
	for _, m := range ms {
		for _, k := range keys {
			if m.key == k {
				return true
			}
		}
	}
	return false
}

var intRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

func refInt(ms []member, key string) (int64, error) {
	v, err := one(ms, key)
	if err != nil || !intRE.Match(v) {
		return 0, errRef
	}
	n, ok := new(big.Int).SetString(string(v), 10)
	if !ok || !n.IsInt64() {
		return 0, errRef
	}
	return n.Int64(), nil
}

func refTime(ms []member, key string) (int64, error) {
	v, err := refInt(ms, key)
	if err != nil || v > math.MaxInt64/1000000 || v < math.MinInt64/1000000 {
		return 0, errRef
	}
	return v * 1e6, nil
}

func refString(ms []member, key string) (string, error) {
	v, err := one(ms, key)
	if err != nil || v[0] != '"' {
		return "", errRef
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", errRef
	}
	return s, nil
}

func refDecimal(s string, scale uint8, qty bool) (int64, error) {
	m, err := fixed.Parse(s, scale)
	if err != nil && qty && strings.Contains(s, "922337") {
		return 0, errSkip // a capped quantity: its own rules
	}
	if err != nil {
		return 0, errRef
	}
	return m, nil
}

func refNum(ms []member, key string, scale uint8, qty bool) (int64, error) {
	s, err := refString(ms, key)
	if err != nil {
		return 0, err
	}
	return refDecimal(s, scale, qty)
}

func refOwn(ms []member, key string, empty bool) (fixed.Dec, error) {
	s, err := refString(ms, key)
	if err != nil {
		return fixed.Dec{}, err
	}
	if s == "" && empty {
		return fixed.Dec{}, nil
	}
	scale := 0
	if _, frac, ok := strings.Cut(s, "."); ok {
		scale = len(frac)
	}
	if scale > fixed.MaxScale {
		_, frac, _ := strings.Cut(s, ".")
		scale = len(strings.TrimRight(frac, "0"))
		if scale > fixed.MaxScale {
			return fixed.Dec{}, errRef
		}
	}
	m, err := fixed.Parse(s, uint8(scale))
	if err != nil {
		return fixed.Dec{}, errRef
	}
	return fixed.Dec{M: m, S: uint8(scale)}, nil
}

func refLevels(ms []member, key string, sym Symbol) ([]feed.Level, error) {
	v, err := one(ms, key)
	if err != nil {
		return nil, err
	}
	var raw []json.RawMessage
	if v[0] != '[' || json.Unmarshal(v, &raw) != nil {
		return nil, errRef
	}
	out := []feed.Level{}
	for _, lv := range raw {
		var parts []json.RawMessage
		if lv[0] != '[' || json.Unmarshal(lv, &parts) != nil || len(parts) < 2 {
			return nil, errRef
		}
		var p, q string
		if parts[0][0] != '"' || parts[1][0] != '"' || json.Unmarshal(parts[0], &p) != nil || json.Unmarshal(parts[1], &q) != nil {
			return nil, errRef
		}
		pm, err := refDecimal(p, sym.PriceScale, false)
		if err != nil {
			return nil, err
		}
		qm, err := refDecimal(q, sym.QtyScale, true)
		if err != nil {
			return nil, err
		}
		out = append(out, feed.Level{Price: pm, Qty: qm})
	}
	return out, nil
}

func refSymbol(syms *Symbols, ms []member) (Symbol, error) {
	s, err := refString(ms, "s")
	if err != nil {
		return Symbol{}, err
	}
	sym, ok := syms.Lookup(s)
	if !ok {
		return Symbol{}, errRef
	}
	return sym, nil
}

func refDecode(syms *Symbols, frame []byte) (feed.Decoded, feed.Event, error) {
	if !json.Valid(frame) {
		return 0, feed.Event{}, errRef
	}
	ms, ok := members(frame)
	if !ok {
		return 0, feed.Event{}, errRef
	}
	return refObject(syms, ms, 1)
}

func refObject(syms *Symbols, ms []member, depth int) (feed.Decoded, feed.Event, error) {
	switch {
	case has(ms, "e"):
		ev, err := refEvent(syms, ms)
		return feed.DecodedEvent, ev, err
	case has(ms, "stream", "data"):
		if depth > 1 {
			return 0, feed.Event{}, errRef
		}
		if _, err := refString(ms, "stream"); err != nil {
			return 0, feed.Event{}, err
		}
		data, err := one(ms, "data")
		if err != nil {
			return 0, feed.Event{}, err
		}
		inner, ok := members(data)
		if !ok {
			return 0, feed.Event{}, errRef
		}
		return refObject(syms, inner, 2)
	case has(ms, "result", "error", "id", "code"):
		if depth > 1 {
			return 0, feed.Event{}, errRef
		}
		return feed.DecodedReply, feed.Event{}, errSkip
	}
	return 0, feed.Event{}, errRef
}

func refEvent(syms *Symbols, ms []member) (ev feed.Event, err error) {
	e, err := refString(ms, "e")
	if err != nil {
		return ev, err
	}
	ev.Venue = Venue
	if ev.EventTime, err = refTime(ms, "E"); err != nil {
		return ev, err
	}
	if e == "forceOrder" {
		o, err := one(ms, "o")
		if err != nil {
			return ev, err
		}
		om, ok := members(o)
		if !ok {
			return ev, errRef
		}
		sym, err := refSymbol(syms, om)
		if err != nil {
			return ev, err
		}
		ev.Type, ev.Symbol, ev.Instrument, ev.PriceScale, ev.QtyScale = feed.TypeLiquidation, sym.Name, sym.Instrument, sym.PriceScale, sym.QtyScale
		side, err := refString(om, "S")
		switch {
		case err != nil:
			return ev, err
		case side == "BUY":
			ev.Side = feed.SideBuy
		case side == "SELL":
			ev.Side = feed.SideSell
		default:
			return ev, errRef
		}
		if ev.ExchangeTime, err = refTime(om, "T"); err != nil {
			return ev, err
		}
		if ev.Price, err = refNum(om, "p", sym.PriceScale, false); err != nil {
			return ev, err
		}
		ev.Qty, err = refNum(om, "q", sym.QtyScale, true)
		return ev, err
	}
	switch e {
	case "aggTrade", "depthUpdate", "bookTicker", "markPriceUpdate":
	default:
		return ev, errRef
	}
	sym, err := refSymbol(syms, ms)
	if err != nil {
		return ev, err
	}
	ev.Symbol, ev.Instrument, ev.PriceScale, ev.QtyScale = sym.Name, sym.Instrument, sym.PriceScale, sym.QtyScale
	ints := func(dst *int64, key string) {
		if err == nil {
			*dst, err = refInt(ms, key)
		}
	}
	times := func(dst *int64, key string) {
		if err == nil {
			*dst, err = refTime(ms, key)
		}
	}
	nums := func(dst *int64, key string, qty bool) {
		if err == nil {
			scale := sym.PriceScale
			if qty {
				scale = sym.QtyScale
			}
			*dst, err = refNum(ms, key, scale, qty)
		}
	}
	switch e {
	case "aggTrade":
		ev.Type, ev.Aggregated = feed.TypeTrade, true
		ints(&ev.ID, "a")
		ints(&ev.FirstTradeID, "f")
		ints(&ev.LastTradeID, "l")
		times(&ev.ExchangeTime, "T")
		nums(&ev.Price, "p", false)
		nums(&ev.Qty, "q", true)
		ev.FirstID = ev.ID
		if err == nil {
			var m json.RawMessage
			if m, err = one(ms, "m"); err == nil {
				switch string(m) {
				case "true":
					ev.Side = feed.SideSell
				case "false":
					ev.Side = feed.SideBuy
				default:
					err = errRef
				}
			}
		}
	case "depthUpdate":
		ev.Type = feed.TypeBookDelta
		ints(&ev.FirstID, "U")
		ints(&ev.ID, "u")
		ints(&ev.PrevID, "pu")
		times(&ev.ExchangeTime, "T")
		if err == nil {
			ev.Bids, err = refLevels(ms, "b", sym)
		}
		if err == nil {
			ev.Asks, err = refLevels(ms, "a", sym)
		}
	case "bookTicker":
		ev.Type = feed.TypeTopOfBook
		ints(&ev.ID, "u")
		times(&ev.ExchangeTime, "T")
		nums(&ev.Bid.Price, "b", false)
		nums(&ev.Bid.Qty, "B", true)
		nums(&ev.Ask.Price, "a", false)
		nums(&ev.Ask.Qty, "A", true)
		ev.FirstID = ev.ID
	case "markPriceUpdate":
		ev.Type = feed.TypeFunding
		ev.ExchangeTime = ev.EventTime
		var dv feed.Deriv
		own := func(dst *fixed.Dec, key string, empty bool) {
			if err == nil {
				*dst, err = refOwn(ms, key, empty)
			}
		}
		own(&dv.MarkPrice, "p", false)
		own(&dv.IndexPrice, "i", false)
		own(&dv.SettlePrice, "P", true)
		own(&dv.FundingRate, "r", true)
		times(&dv.NextFunding, "T")
		ev.Deriv = &dv
	}
	return ev, err
}

func checkAgainstReference(t *testing.T, d *Decoder, frame []byte) {
	var ev feed.Event
	kind, err := d.Decode(frame, &ev)
	rkind, rev, rerr := refDecode(d.Symbols, frame)
	if errors.Is(rerr, errSkip) {
		if rkind == feed.DecodedReply && kind != feed.DecodedReply {
			t.Fatalf("%q: a reply decoded as %v, %v", frame, kind, err)
		}
		return
	}
	if (err == nil) != (rerr == nil) {
		t.Fatalf("%q: Decode error %v, reference %v", frame, err, rerr)
	}
	if err != nil {
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownSymbol) && !errors.Is(err, ErrUnknownEvent) {
			t.Fatalf("%q: error %v matches no sentinel", frame, err)
		}
		return
	}
	if kind != rkind {
		t.Fatalf("%q: kind %v, reference %v", frame, kind, rkind)
	}
	if len(ev.Bids) == 0 {
		ev.Bids = nil
	}
	if len(ev.Asks) == 0 {
		ev.Asks = nil
	}
	if len(rev.Bids) == 0 {
		rev.Bids = nil
	}
	if len(rev.Asks) == 0 {
		rev.Asks = nil
	}
	var deriv, rderiv feed.Deriv
	if ev.Deriv != nil {
		deriv = *ev.Deriv
	}
	if rev.Deriv != nil {
		rderiv = *rev.Deriv
	}
	if (ev.Deriv == nil) != (rev.Deriv == nil) || deriv != rderiv {
		t.Fatalf("%q: deriv %+v, reference %+v", frame, ev.Deriv, rev.Deriv)
	}
	ev.Deriv, rev.Deriv = nil, nil
	ev.Capped = false
	if !reflect.DeepEqual(ev, rev) {
		t.Fatalf("%q:\n got %+v\nwant %+v", frame, ev, rev)
	}
}

var fuzzSeeds = []string{
	docAggTrade, docDepth, docBookTicker, docMarkPrice, docForceOrder,
	combined("btcusdt@aggTrade", docAggTrade), combined("btcusdt@depth", docDepth),
	combined("bnbusdt@bookTicker", docBookTicker), combined("btcusdt@markPrice", docMarkPrice),
	combined("btcusdt@forceOrder", docForceOrder),
	`{"data":` + docDepth + `,"stream":"btcusdt@depth"}`,
	`{"e":"aggTrade","p":"0.1","q":"100","E":123456789,"a":5933014,"f":100,"l":105,"T":123456785,"m":true,"s":"BTCUSDT"}`,
	`{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"0.1","q":"1","f":1,"l":1,"T":1,"m":false,"a":2}`,
	`{"b":[["0.2","10"]],"a":[],"s":"BTCUSDT","U":1,"u":2,"pu":0,"T":1,"E":1,"e":"depthUpdate"}`,
	`{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":1,"u":2,"pu":0,"b":[["0.2","10",3]],"a":[["1","1"]],"x":{"y":[1,2]}}`,
	`{"e":"markPriceUpdate","E":1,"s":"BTCUSDT_260327","p":"-0.5","i":"1.10","P":"","r":"","T":0}`,
	`{"result":null,"id":1}`, `{"code":0,"msg":"Unknown property","id":5}`,
	`{"e":"aggTr\u0061de","E":1,"\u0073":"BTCUSDT","a":1,"p":"0.\u0031","q":"1","f":1,"l":1,"T":1,"m":false}`,
	`{"e":"depthUpdate","e":"aggTrade"}`, `{"stream":"x","data":{"result":null}}`,
}

func TestDecodeMatchesReference(t *testing.T) {
	d := &Decoder{Symbols: testSymbols(t)}
	for _, s := range fuzzSeeds {
		checkAgainstReference(t, d, []byte(s))
		// every cut and a few changed bytes of every seed
		for i := 0; i < len(s); i++ {
			checkAgainstReference(t, d, []byte(s[:i]))
			for _, c := range []byte{'"', '1', ',', '}', '\\', ' ', 'x'} {
				b := []byte(s)
				b[i] = c
				checkAgainstReference(t, d, b)
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	d := &Decoder{Symbols: testSymbols(f)}
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkAgainstReference(t, d, frame)
	})
}
