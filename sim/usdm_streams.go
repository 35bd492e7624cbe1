package sim

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Stream names of the USD-M market streams, from Binance's USDⓈ-M
// "Websocket Market Streams" pages, and the route each is served on.
//
// Routing ("Important WebSocket Change Notice — Base URL Split &
// Migration", 2026-03-06): high-frequency public streams (diff and partial
// depth, bookTicker) are served on /public, the others (aggTrade,
// markPrice, forceOrder, kline, tickers…) on /market; a connection on the
// legacy /ws or /stream is a /public one. A stream asked for on the wrong
// route is acknowledged like any other ({"result":null,"id":N}, listed by
// LIST_SUBSCRIPTIONS) and never sends anything, as users of the real
// service found (cryptofeed#1128, binance-public-data#472,
// binance-futures-connector-python#261). The simulator subscribes such a
// stream under a key no market message carries.

// usdmType is what a USD-M stream name asks for.
type usdmType uint8

const (
	utUnknown usdmType = iota
	utAggTrade
	utDepth      // <s>@depth: 250ms
	utDepth500   // <s>@depth@500ms
	utDepth100   // <s>@depth@100ms
	utBookTicker // <s>@bookTicker: real time
	utMark3s     // <s>@markPrice: 3s
	utMark1s     // <s>@markPrice@1s
	utAllMark3s  // !markPrice@arr
	utAllMark1s  // !markPrice@arr@1s
	utForceOrder // <s>@forceOrder
	utAllForce   // !forceOrder@arr
	// names the real service knows and the simulator has no data for:
	// accepted, silent
	utSilentPublic
	utSilentMarket
)

// route is the route a stream type is served on.
func (t usdmType) route() usdmRoute {
	switch t {
	case utDepth, utDepth500, utDepth100, utBookTicker, utSilentPublic:
		return routePublic
	}
	return routeMarket
}

// parseUSDMStream reads a stream name; ok is false for a malformed one.
// Symbols are any run of letters and digits ("Symbols in stream names are
// lowercase": an upper-case one is a symbol nobody trades).
func parseUSDMStream(name string) (usdmType, bool) {
	switch name {
	case "!markPrice@arr":
		return utAllMark3s, true
	case "!markPrice@arr@1s":
		return utAllMark1s, true
	case "!forceOrder@arr":
		return utAllForce, true
	case "!bookTicker":
		return utSilentPublic, true
	case "!miniTicker@arr", "!ticker@arr", "!contractInfo", "!assetIndex@arr":
		return utSilentMarket, true
	}
	at := strings.IndexByte(name, '@')
	if at <= 0 {
		return utUnknown, false
	}
	sym, rest := name[:at], name[at+1:]
	if !utf8.ValidString(sym) {
		return utUnknown, false
	}
	for _, r := range sym {
		// "_" for continuous contract pairs: <pair>_<contractType>@continuousKline_<interval>
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' {
			return utUnknown, false
		}
	}
	switch rest {
	case "aggTrade":
		return utAggTrade, true
	case "depth":
		return utDepth, true
	case "depth@500ms":
		return utDepth500, true
	case "depth@100ms":
		return utDepth100, true
	case "bookTicker":
		return utBookTicker, true
	case "markPrice":
		return utMark3s, true
	case "markPrice@1s":
		return utMark1s, true
	case "forceOrder":
		return utForceOrder, true
	case "depth5", "depth10", "depth20",
		"depth5@100ms", "depth10@100ms", "depth20@100ms",
		"depth5@500ms", "depth10@500ms", "depth20@500ms",
		"trade": // @trade: delivered on /public connections in two reports; the official mapping is unverified
		return utSilentPublic, true
	case "miniTicker", "ticker", "compositeIndex", "assetIndex":
		return utSilentMarket, true
	}
	for _, p := range []string{"kline_", "continuousKline_", "indexPriceKline_", "markPriceKline_"} {
		if iv, ok := strings.CutPrefix(rest, p); ok && klineIndex(iv) > 0 { // no 1s on futures
			return utSilentMarket, true
		}
	}
	return utUnknown, false
}

// silentKey prefixes the hub key of a stream subscribed on the wrong route.
const silentKey = "\x00silent:"

// usdmKeys returns the hub keys of streams asked for on route, or the first
// malformed name.
func usdmKeys(streams []string, route usdmRoute) ([]string, string) {
	if route == routeLegacy {
		route = routePublic
	}
	keys := make([]string, 0, len(streams))
	for _, s := range streams {
		t, ok := parseUSDMStream(s)
		if !ok {
			return nil, s
		}
		if t.route() != route {
			s = silentKey + s
		}
		keys = append(keys, s)
	}
	return keys, ""
}

// streamOfKey is the stream name a hub key was made from.
func streamOfKey(k string) string { return strings.TrimPrefix(k, silentKey) }
