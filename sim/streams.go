package sim

import (
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The names of market streams, as web-socket-streams.md spells them, and
// what the simulator does with a name it cannot read.
//
// Binance's documentation does not say what a SUBSCRIBE naming an unknown
// stream gets. What users of the real service have recorded:
//   - a name that does not parse ("@@@x###", "not asdfads", a typo in the
//     event type) is refused with {"error":{"code":2,"msg":"Invalid request:
//     invalid stream"},"id":<the request's id>}, and the connection is
//     closed right after (spot, 2021: the error, then the disconnect,
//     https://github.com/ctubio/Krypto-trading-bot/issues/1121; USD-M:
//     https://github.com/ccxt/ccxt/pull/19833, and a measurement of
//     2026-08-29 recording "code 2 Invalid request: invalid stream + CLOSE");
//   - a well-formed name of a symbol that does not trade ("xrpxrp@miniTicker",
//     "ethbtc@depth20" on a market without it) is accepted with
//     {"result":null} and then never sends anything
//     (https://github.com/JKorf/Binance.Net/issues/620,
//     https://github.com/binance/binance-spot-api-docs/issues/14).
//
// The simulator does the same: the grammar below decides what is
// malformed, and a symbol it does not trade is a well-formed name. The
// request is refused as a whole (its params are one value that failed to
// parse): none of its streams is subscribed, and LIST_SUBSCRIPTIONS goes
// on listing only what was accepted before. A name is case-sensitive in its
// event type ("btcusdt@aggtrade" is malformed); the symbol part is any run
// of letters and digits, of any script ("All symbols for streams are
// lowercase": an upper case symbol is read as a symbol nobody trades).

// streamType is what a stream name asks for.
type streamType uint8

const (
	stypeUnknown streamType = iota
	stypeAggTrade
	stypeTrade
	stypeBookTicker
	stypeDepth
	stypePartial
	stypeKline
	stypeMiniTicker
	stypeTicker
	stypeWindowTicker
	stypeAvgPrice
	stypeAllMiniTickers
	stypeAllTickers // !ticker@arr, !ticker_<window>@arr
	// accepted names the simulator has no data for: the real service knows
	// them, so a client may subscribe to them without being refused
	stypeSilent
)

// streamName is a parsed stream name.
type streamName struct {
	typ      streamType
	symbol   string // as written (lower case for a symbol that trades); "" for !… streams
	interval int    // kline: index in klineIntervals
	tz       bool   // kline: the @+08:00 variant
	window   int    // window ticker: index in tickerWindows
}

// klineInterval is one of the documented kline intervals.
type klineInterval struct {
	name  string
	every time.Duration // 0 for 1M, a calendar month
}

// klineIntervals are web-socket-streams.md's "Kline/Candlestick chart
// intervals": "s-> seconds; m -> minutes; h -> hours; d -> days; w ->
// weeks; M -> months".
var klineIntervals = []klineInterval{
	{"1s", time.Second}, {"1m", time.Minute}, {"3m", 3 * time.Minute}, {"5m", 5 * time.Minute},
	{"15m", 15 * time.Minute}, {"30m", 30 * time.Minute}, {"1h", time.Hour}, {"2h", 2 * time.Hour},
	{"4h", 4 * time.Hour}, {"6h", 6 * time.Hour}, {"8h", 8 * time.Hour}, {"12h", 12 * time.Hour},
	{"1d", 24 * time.Hour}, {"3d", 72 * time.Hour}, {"1w", 7 * 24 * time.Hour}, {"1M", 0},
}

// tickerWindows are the window sizes of <symbol>@ticker_<window_size>:
// "Window Sizes: 1h,4h,1d".
var tickerWindows = [...]struct {
	name  string
	every time.Duration
}{{"1h", time.Hour}, {"4h", 4 * time.Hour}, {"1d", 24 * time.Hour}}

// klineTZ is the only timezone suffix the docs name: "Stream Name:
// <symbol>@kline_<interval>@+08:00".
const klineTZ = "+08:00"

func klineIndex(name string) int {
	for i, iv := range klineIntervals {
		if iv.name == name {
			return i
		}
	}
	return -1
}

func windowIndex(name string) int {
	for i, w := range tickerWindows {
		if w.name == name {
			return i
		}
	}
	return -1
}

// parseStream reads a stream name; ok is false for a malformed one.
func parseStream(name string) (sn streamName, ok bool) {
	if strings.HasPrefix(name, "!") {
		switch {
		case name == "!miniTicker@arr":
			return streamName{typ: stypeAllMiniTickers}, true
		case name == "!ticker@arr":
			// retired from the documentation (CHANGELOG 2025-12-02: "The
			// feature will remain available until a future retirement
			// announcement is made.")
			return streamName{typ: stypeAllTickers}, true
		case name == "!bookTicker":
			return streamName{typ: stypeSilent}, true
		case strings.HasPrefix(name, "!ticker_") && strings.HasSuffix(name, "@arr"):
			if windowIndex(name[len("!ticker_"):len(name)-len("@arr")]) >= 0 {
				return streamName{typ: stypeAllTickers}, true
			}
		}
		return streamName{}, false
	}
	at := strings.IndexByte(name, '@')
	if at <= 0 {
		return streamName{}, false
	}
	sym, rest := name[:at], name[at+1:]
	// "If your request contains a symbol name containing non-ASCII
	// characters, then the stream events may contain non-ASCII characters
	// encoded in UTF-8": a symbol is letters and digits of any script.
	if !utf8.ValidString(sym) {
		return streamName{}, false
	}
	for _, r := range sym {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return streamName{}, false
		}
	}
	sn.symbol = sym
	switch rest {
	case "aggTrade":
		sn.typ = stypeAggTrade
	case "trade":
		sn.typ = stypeTrade
	case "bookTicker":
		sn.typ = stypeBookTicker
	case "depth", "depth@100ms":
		sn.typ = stypeDepth
	case "depth5", "depth10", "depth20", "depth5@100ms", "depth10@100ms", "depth20@100ms":
		sn.typ = stypePartial
	case "miniTicker":
		sn.typ = stypeMiniTicker
	case "ticker":
		sn.typ = stypeTicker
	case "avgPrice":
		sn.typ = stypeAvgPrice
	case "referencePrice", "blockTrade":
		sn.typ = stypeSilent
	default:
		switch {
		case strings.HasPrefix(rest, "kline_"):
			iv := rest[len("kline_"):]
			if base, tz, found := strings.Cut(iv, "@"); found {
				if tz != klineTZ {
					return streamName{}, false
				}
				iv, sn.tz = base, true
			}
			if sn.interval = klineIndex(iv); sn.interval < 0 {
				return streamName{}, false
			}
			sn.typ = stypeKline
		case strings.HasPrefix(rest, "ticker_"):
			if sn.window = windowIndex(rest[len("ticker_"):]); sn.window < 0 {
				return streamName{}, false
			}
			sn.typ = stypeWindowTicker
		default:
			return streamName{}, false
		}
	}
	return sn, true
}

// firstInvalidStream returns the first malformed name of streams.
func firstInvalidStream(streams []string) (string, bool) {
	for _, s := range streams {
		if _, ok := parseStream(s); !ok {
			return s, true
		}
	}
	return "", false
}

// rawQueryValue returns the first value of key in a raw query, unescaped
// as a path is: a "+" stays a plus, as in <symbol>@kline_1d@+08:00
// (url.Values would read it as a space).
func rawQueryValue(raw, key string) string {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != key {
			continue
		}
		if u, err := url.PathUnescape(v); err == nil {
			return u
		}
		return v
	}
	return ""
}
