package binance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/feedkeeper/feedkeeper/feed"
)

// The reference decoder: encoding/json reads the frame (keys kept exact and
// in order, so "m" and "M" never meet), math/big checks numbers, and the
// rules of the Decode doc comment are applied from scratch.

type member struct {
	key string
	val json.RawMessage
}

// members returns the keys and raw values of the object raw, in order and
// with duplicates.
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

func find(ms []member, key string) (json.RawMessage, bool) {
	for _, m := range ms {
		if m.key == key {
			return m.val, true
		}
	}
	return nil, false
}

var errRef = errors.New("reference: rejected")

func refErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errRef}, a...)...)
}

func refDecode(d *Decoder, frame []byte) (Kind, feed.Event, error) {
	if !json.Valid(frame) {
		return KindNone, feed.Event{}, refErr("invalid JSON")
	}
	ms, ok := members(frame)
	if !ok {
		return KindNone, feed.Event{}, refErr("not an object")
	}
	return refObject(d, ms, "", 1)
}

func refShape(ms []member) (string, error) {
	has := func(k string) bool { _, ok := find(ms, k); return ok }
	switch {
	case has("e"):
		raw, _ := find(ms, "e")
		var e string
		if raw[0] != '"' || json.Unmarshal(raw, &e) != nil {
			return "", refErr("e not a string")
		}
		switch e {
		case "aggTrade", "trade", "depthUpdate", "serverShutdown":
			return e, nil
		}
		return "", refErr("unknown event %q", e)
	case has("stream") || has("data"):
		return "combined", nil
	case has("lastUpdateId"):
		return "partial", nil
	case has("result") || has("error"):
		return "response", nil
	case has("u"):
		return "bookTicker", nil
	}
	return "", refErr("unrecognized")
}

func refObject(d *Decoder, ms []member, stream string, depth int) (Kind, feed.Event, error) {
	sh, err := refShape(ms)
	if err != nil {
		return KindNone, feed.Event{}, err
	}
	switch sh {
	case "response":
		if depth > 1 {
			return KindNone, feed.Event{}, refErr("reply in data")
		}
		return KindResponse, feed.Event{}, nil
	case "combined":
		if depth > 1 {
			return KindNone, feed.Event{}, refErr("nested wrapper")
		}
		var stream, data []json.RawMessage
		for _, m := range ms {
			switch m.key {
			case "stream":
				stream = append(stream, m.val)
			case "data":
				data = append(data, m.val)
			}
		}
		var name string
		if len(stream) != 1 || len(data) != 1 || stream[0][0] != '"' || json.Unmarshal(stream[0], &name) != nil {
			return KindNone, feed.Event{}, refErr("bad wrapper")
		}
		inner, ok := members(data[0])
		if !ok {
			return KindNone, feed.Event{}, refErr("data not an object")
		}
		return refObject(d, inner, name, 2)
	}
	return refPayload(d, ms, sh, stream, depth)
}

// Roles of keys in each payload, as binance.md describes them.
var refRoles = map[string]map[string]string{
	"aggTrade":       {"e": "type", "E": "eventTime", "s": "symbol", "a": "id", "p": "price", "q": "qty", "f": "firstTrade", "l": "lastTrade", "T": "tradeTime", "m": "maker"},
	"trade":          {"e": "type", "E": "eventTime", "s": "symbol", "t": "id", "p": "price", "q": "qty", "T": "tradeTime", "m": "maker"},
	"depthUpdate":    {"e": "type", "E": "eventTime", "s": "symbol", "U": "firstID", "u": "id", "b": "bids", "a": "asks"},
	"serverShutdown": {"e": "type", "E": "eventTime"},
	"partial":        {"lastUpdateId": "id", "bids": "bids", "asks": "asks"},
	"bookTicker":     {"u": "id", "s": "symbol", "b": "bidPrice", "B": "bidQty", "a": "askPrice", "A": "askQty"},
}

var decimalGrammar = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// refDecimal parses s at scale with math/big.
func refDecimal(raw json.RawMessage, scale uint8) (int64, error) {
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return 0, refErr("decimal not a string")
	}
	if !decimalGrammar.MatchString(s) {
		return 0, refErr("bad decimal %q", s)
	}
	r, _ := new(big.Rat).SetString(s)
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
	if !r.IsInt() || !r.Num().IsInt64() || r.Num().Int64() == math.MinInt64 {
		return 0, refErr("decimal %q does not fit scale %d", s, scale)
	}
	return r.Num().Int64(), nil
}

// refQty is refDecimal for a quantity, which may be capped by the venue at
// the largest int64 at some precision p (MaxInt64 / 10^p): such a value is
// accepted whatever the scale, truncated to it or saturated, and capped set.
func refQty(raw json.RawMessage, scale uint8, capped *bool) (int64, error) {
	v, err := refDecimal(raw, scale)
	if err == nil {
		if v == math.MaxInt64 {
			*capped = true
		}
		return v, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil || !decimalGrammar.MatchString(s) {
		return 0, err
	}
	r, _ := new(big.Rat).SetString(s)
	for p := int64(0); p <= 18; p++ {
		c := new(big.Rat).SetFrac(big.NewInt(math.MaxInt64), new(big.Int).Exp(big.NewInt(10), big.NewInt(p), nil))
		if r.Cmp(c) != 0 {
			continue
		}
		r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
		q := new(big.Int).Quo(r.Num(), r.Denom())
		*capped = true
		if !q.IsInt64() {
			return math.MaxInt64, nil
		}
		return q.Int64(), nil
	}
	return 0, err
}

func refLevels(raw json.RawMessage, sym Symbol, capped *bool) ([]feed.Level, error) {
	var arr []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &arr) != nil {
		return nil, refErr("levels not an array")
	}
	var out []feed.Level
	for _, l := range arr {
		var pair []json.RawMessage
		if l[0] != '[' || json.Unmarshal(l, &pair) != nil || len(pair) < 2 {
			return nil, refErr("bad level")
		}
		p, err := refDecimal(pair[0], sym.PriceScale)
		if err != nil {
			return nil, err
		}
		q, err := refQty(pair[1], sym.QtyScale, capped)
		if err != nil {
			return nil, err
		}
		out = append(out, feed.Level{Price: p, Qty: q})
	}
	return out, nil
}

func refPayload(d *Decoder, ms []member, sh, stream string, depth int) (Kind, feed.Event, error) {
	roles := refRoles[sh]
	vals := map[string]json.RawMessage{}
	for _, m := range ms {
		role, ok := roles[m.key]
		if !ok {
			continue
		}
		if _, dup := vals[role]; dup {
			return KindNone, feed.Event{}, refErr("duplicate %q", m.key)
		}
		vals[role] = m.val
	}
	for _, role := range roles {
		if _, ok := vals[role]; !ok {
			return KindNone, feed.Event{}, refErr("missing %s", role)
		}
	}
	ev := feed.Event{Venue: Venue}
	integer := func(role string) (int64, error) {
		raw, ok := vals[role]
		if !ok {
			return 0, nil
		}
		v, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return 0, refErr("%s: %v", role, err)
		}
		return v, nil
	}
	unit := int64(1e6)
	if d.Micros {
		unit = 1e3
	}
	nanos := func(role string) (int64, error) {
		v, err := integer(role)
		if err != nil {
			return 0, err
		}
		n := new(big.Int).Mul(big.NewInt(v), big.NewInt(unit))
		if !n.IsInt64() {
			return 0, refErr("%s out of range", role)
		}
		return n.Int64(), nil
	}
	var err error
	if raw, ok := vals["type"]; ok && raw[0] != '"' {
		return KindNone, feed.Event{}, refErr("e not a string")
	}
	for _, f := range []struct {
		role string
		dst  *int64
		fn   func(string) (int64, error)
	}{
		{"id", &ev.ID, integer}, {"firstID", &ev.FirstID, integer},
		{"firstTrade", &ev.FirstTradeID, integer}, {"lastTrade", &ev.LastTradeID, integer},
		{"eventTime", &ev.EventTime, nanos}, {"tradeTime", &ev.ExchangeTime, nanos},
	} {
		if *f.dst, err = f.fn(f.role); err != nil {
			return KindNone, feed.Event{}, err
		}
	}
	if raw, ok := vals["maker"]; ok {
		switch string(raw) {
		case "true":
			ev.Side = feed.SideSell
		case "false":
			ev.Side = feed.SideBuy
		default:
			return KindNone, feed.Event{}, refErr("m not a boolean")
		}
	}
	if sh == "serverShutdown" {
		ev.Type, ev.Status, ev.ExchangeTime = feed.TypeStatus, feed.StatusServerShutdown, ev.EventTime
		ev.Reason = "server announced shutdown"
		return KindShutdown, ev, nil
	}

	var sym Symbol
	var ok bool
	switch {
	case sh != "partial":
		var name string
		raw := vals["symbol"]
		if raw[0] != '"' || json.Unmarshal(raw, &name) != nil {
			return KindNone, feed.Event{}, refErr("s not a string")
		}
		sym, ok = d.Symbols.Lookup(name)
	case depth > 1:
		if prefix, _, found := strings.Cut(stream, "@"); found {
			for _, s := range d.Symbols.List() {
				if strings.ToLower(s.Name) == prefix {
					sym, ok = s, true
				}
			}
		}
	default:
		sym, ok = d.Symbols.Lookup(d.Symbol)
	}
	if !ok {
		return KindNone, feed.Event{}, refErr("unknown symbol")
	}
	ev.Symbol, ev.PriceScale, ev.QtyScale = sym.Name, sym.PriceScale, sym.QtyScale
	if sym.Base != "" && sym.Quote != "" {
		ev.Instrument = sym.Base + "-" + sym.Quote
	}
	for _, f := range []struct {
		role  string
		dst   *int64
		scale uint8
	}{
		{"price", &ev.Price, sym.PriceScale}, {"qty", &ev.Qty, sym.QtyScale},
		{"bidPrice", &ev.Bid.Price, sym.PriceScale}, {"bidQty", &ev.Bid.Qty, sym.QtyScale},
		{"askPrice", &ev.Ask.Price, sym.PriceScale}, {"askQty", &ev.Ask.Qty, sym.QtyScale},
	} {
		if raw, ok := vals[f.role]; ok {
			if f.dst == &ev.Qty || f.dst == &ev.Bid.Qty || f.dst == &ev.Ask.Qty {
				*f.dst, err = refQty(raw, f.scale, &ev.Capped)
			} else {
				*f.dst, err = refDecimal(raw, f.scale)
			}
			if err != nil {
				return KindNone, feed.Event{}, err
			}
		}
	}
	if raw, ok := vals["bids"]; ok {
		if ev.Bids, err = refLevels(raw, sym, &ev.Capped); err != nil {
			return KindNone, feed.Event{}, err
		}
	}
	if raw, ok := vals["asks"]; ok {
		if ev.Asks, err = refLevels(raw, sym, &ev.Capped); err != nil {
			return KindNone, feed.Event{}, err
		}
	}
	switch sh {
	case "aggTrade":
		ev.Type, ev.FirstID, ev.Aggregated = feed.TypeTrade, ev.ID, true
	case "trade":
		ev.Type, ev.FirstID, ev.FirstTradeID, ev.LastTradeID = feed.TypeTrade, ev.ID, ev.ID, ev.ID
	case "depthUpdate":
		ev.Type, ev.ExchangeTime = feed.TypeBookDelta, ev.EventTime
	case "partial":
		ev.Type, ev.FirstID = feed.TypeBookSnapshot, ev.ID
		ev.Stream = d.Stream
		if depth > 1 {
			ev.Stream = stream
		}
	case "bookTicker":
		ev.Type, ev.FirstID = feed.TypeTopOfBook, ev.ID
	}
	return KindEvent, ev, nil
}

func fuzzSeeds() []string {
	seeds := []string{
		aggTradeFrame, tradeFrame, depthFrame, partialFrame, bookTickerFrame, combinedAggTrade, combinedPartial, shutdownFrame,
		`{"stream":"!serverShutdown","data":` + shutdownFrame + `}`,
		`{"data":` + partialFrame + `,"stream":"bnbbtc@depth10"}`,
		`{"stream":"bnbusdt@bookTicker","data":` + bookTickerFrame + `}`,
		`{"stream":"bnbbtc@depth@100ms","data":` + depthFrame + `}`,
		`{"stream":"bnbbtc@trade","data":` + tradeFrame + `}`,
		`{"result":null,"id":1}`,
		`{"result":["btcusdt@aggTrade","btcusdt@depth"],"id":3}`,
		`{"error":{"code":2,"msg":"Invalid request: unknown variant"},"id":3}`,
		`{"error":{"code":3,"msg":"Invalid JSON: expected value at line 1 column 1"},"id":null}`,
		`{"e":"kline","E":1672515782136,"s":"BTCUSDT","k":{"t":1,"T":2,"s":"BTCUSDT","i":"1m","o":"0.0010","x":false}}`,
		`{"p":"60000.01","q":"0.001","m":true,"M":false,"T":1672515782134,"l":105,"f":100,"a":12345,"s":"BTCUSDT","E":1672515782136,"e":"aggTrade"}`,
		`{"b":[["0.0024","10"]],"a":[["0.0026","100"],["0.0027","0"]],"e":"depthUpdate","E":1672515782136,"U":157,"u":160,"s":"BNBBTC"}`,
		`{"u":160,"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"b":[["0.0024","10",[]]],"a":[]}`,
		`{"u":1,"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}`,
		`{"\u0065":"aggTr\u0061de","E":1672515782136,"s":"BTC\u0055SDT","a":12345,"p":"6000\u0030.01","q":"0.001","f":100,"l":105,"T":1672515782134,"m":true,"M":true}`,
		"{ \"u\" : 400900217 , \"s\":\"BNBUSDT\",\n\"b\":\"25.3519\",\"B\":\"31.21\",\"a\":\"25.3652\",\"A\":\"40.66\" }",
		`{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[["0.0024","92233720368.54775807"]],"a":[["0.0026","9223372036854775.8070"]]}`,
		`{"stream":"bnbbtc@depth20","data":{"lastUpdateId":1,"bids":[["0.0024","922337203685477580.7"]],"asks":[]}}`,
		`{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"1.00","q":"92233720368547.75807","f":1,"l":1,"T":1,"m":true,"M":true}`,
		`{"e":"aggTrade","E":-1,"s":"BTCUSDT","a":-0,"p":"-0.0","q":"00.10","f":9223372036854775807,"l":0,"T":9223372036854,"m":false,"M":null}`,
	}
	return seeds
}

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(depthFrame20), true)
	syms, err := NewSymbols(
		Symbol{Name: "BTCUSDT", PriceScale: 2, QtyScale: 5, Base: "BTC", Quote: "USDT"},
		Symbol{Name: "BNBBTC", PriceScale: 7, QtyScale: 3, Base: "BNB", Quote: "BTC"},
		Symbol{Name: "BNBUSDT", PriceScale: 4, QtyScale: 3, Base: "BNB", Quote: "USDT"},
		Symbol{Name: "X", PriceScale: 0, QtyScale: 18}, // no assets: no instrument
	)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, frame []byte, micros bool) {
		d := Decoder{Symbols: syms, Micros: micros, Symbol: "BNBBTC"}
		orig := bytes.Clone(frame)
		ev := feed.Event{ReceiveTime: 7, Bids: make([]feed.Level, 2, 4)}
		kind, err := d.Decode(frame, &ev)
		if !bytes.Equal(frame, orig) {
			t.Fatal("Decode modified the frame")
		}
		wantKind, want, wantErr := refDecode(&d, frame)
		if (err != nil) != (wantErr != nil) || kind != wantKind {
			t.Fatalf("Decode(%q) = %v, %v; reference %v, %v", frame, kind, err, wantKind, wantErr)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownSymbol) && !errors.Is(err, ErrUnknownEvent) {
				t.Fatalf("Decode(%q): error %v matches no sentinel", frame, err)
			}
			return
		}
		want.ReceiveTime = 7
		if !sameEvent(&ev, &want) {
			t.Fatalf("Decode(%q):\n got %+v\nwant %+v", frame, ev, want)
		}
		if kind == KindResponse {
			_, _ = ParseResponse(frame) // must not panic
		}
	})
}
