// Package binanceusdm speaks Binance USDⓈ-M futures market data: it plans
// stream connections on the routes the venue serves them on, decodes their
// frames into feed events (trades, book deltas chained by pu, tops of book,
// funding, liquidations) and recovers from the REST API what the streams
// missed.
//
// The wire format is Binance's, read by venue/binance's scanner; the
// decoder does not allocate in the steady state. The conventions Binance's
// markets share (the symbol table, REST rules, stream requests, the
// skeleton of Open) are venue/binance's; this package holds what USD-M
// does by its own rules: routes, the pu chain, contracts' fields, weights.
package binanceusdm

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/venue/binance"
)

// Venue is the venue name carried by every event of this package.
const Venue = "binance-usdm"

// Real endpoints of Binance USDⓈ-M futures ("General Info"; "Websocket
// Market Streams").
const (
	// DefaultWSURL is the stream host; connections use its /public and
	// /market routes.
	DefaultWSURL = "wss://fstream.binance.com"
	// DefaultRESTURL is the REST host.
	DefaultRESTURL = "https://fapi.binance.com"
)

// Limits of the venue ("Websocket Market Streams").
const (
	// MaxStreamsPerConn is the most streams one connection may carry.
	MaxStreamsPerConn = 200
	// ConnLifetime: the server disconnects a connection at 24 hours.
	ConnLifetime = 24 * time.Hour
	// IncomingPerSecond is the most messages a second the server accepts
	// from a client on one connection, pings and pongs included; more
	// disconnects it.
	IncomingPerSecond = 10
	// clientMessageRate is what the gateway sends a second: half the
	// limit, the rest left for pongs.
	clientMessageRate = IncomingPerSecond / 2.0
)

// Route is a path of the stream host that serves a class of streams. Since
// the base URL split of 2026 ("Important WebSocket Change Notice"), a
// connection on no route receives only the public streams, and a stream
// asked for on the wrong route is acknowledged and then never sent: the
// route of each stream must be right.
type Route string

// Routes of the stream host.
const (
	// RoutePublic serves the high-frequency streams: depth and bookTicker.
	RoutePublic Route = "public"
	// RouteMarket serves the regular market streams: aggTrade, markPrice,
	// kline, tickers, forceOrder, contract and index information.
	RouteMarket Route = "market"
)

// RouteOf returns the route that serves stream, a full stream name
// ("btcusdt@depth@100ms", "!forceOrder@arr"), or an error naming it when no
// known route serves it.
func RouteOf(stream string) (Route, error) {
	name := stream
	if !strings.HasPrefix(name, "!") {
		sym, kind, ok := strings.Cut(name, "@")
		if !ok || sym == "" {
			return "", fmt.Errorf("binanceusdm: stream %q: want <lower-case symbol>@<type>", stream)
		}
		name = kind
	} else {
		name = name[1:]
	}
	base, _, _ := strings.Cut(name, "@")
	switch {
	case base == "bookTicker", base == "depth", base == "depth5", base == "depth10", base == "depth20":
		return RoutePublic, nil
	case base == "aggTrade", base == "markPrice", base == "forceOrder", base == "ticker", base == "miniTicker",
		base == "compositeIndex", base == "contractInfo", base == "assetIndex",
		strings.HasPrefix(base, "kline_"), strings.HasPrefix(base, "continuousKline_"):
		return RouteMarket, nil
	}
	return "", fmt.Errorf("binanceusdm: stream %q: no known route (/public: depth, bookTicker; /market: aggTrade, markPrice, forceOrder, kline, ticker, …)", stream)
}

// StreamTypesHelp lists the stream types this venue decodes, for messages.
const StreamTypesHelp = "aggTrade, depth, depth@100ms, depth@500ms, bookTicker, markPrice, markPrice@1s, forceOrder; market-wide !forceOrder@arr"

// marketWide are the market-wide streams the decoder reads: each frame is
// one event of one contract, as the symbol's own stream sends it
// ("All Market Liquidation Order Streams").
var marketWide = map[string]bool{"!forceOrder@arr": true}

// decodedTypes are the stream types the decoder reads.
var decodedTypes = map[string]bool{"aggTrade": true, "depth": true, "depth@100ms": true, "depth@500ms": true,
	"bookTicker": true, "markPrice": true, "markPrice@1s": true, "forceOrder": true}

// Config describes the venue.
type Config struct {
	// WSURL is the stream host (default DefaultWSURL); the route is
	// appended to it.
	WSURL string
	// Symbols gives every contract's scales (LoadSymbols fetches them).
	Symbols *Symbols
	// StreamsPerConn splits each route's streams over connections
	// (default and most: 200).
	StreamsPerConn int
	// Lifetime overrides the server's connection lifetime (default 24h):
	// the gateway rotates connections before it.
	Lifetime time.Duration
	// REST, when set, is the client the venue reads exchangeInfo again
	// with (Watch), every RefreshEvery.
	REST *httpx.Client
	// RefreshEvery is how often exchangeInfo is read again. Default 10
	// minutes; negative: never.
	RefreshEvery time.Duration
	// Logger: nil is slog.Default().
	Logger *slog.Logger
}

// Futures is the Binance USDⓈ-M futures venue for feed.Gateway.
type Futures struct {
	cfg  Config
	inst *Instruments
}

var (
	_ feed.Venue      = (*Futures)(nil)
	_ feed.Subscriber = (*Futures)(nil)
)

// New validates cfg.
func New(cfg Config) (*Futures, error) {
	if cfg.WSURL == "" {
		cfg.WSURL = DefaultWSURL
	}
	if !venue.IsWSURL(cfg.WSURL) {
		return nil, fmt.Errorf("binanceusdm: WSURL %q is not a wss:// URL", cfg.WSURL)
	}
	if cfg.Symbols == nil {
		return nil, errors.New("binanceusdm: Config.Symbols is nil (see LoadSymbols)")
	}
	if cfg.StreamsPerConn == 0 {
		cfg.StreamsPerConn = MaxStreamsPerConn
	}
	if cfg.StreamsPerConn < 1 || cfg.StreamsPerConn > MaxStreamsPerConn {
		return nil, fmt.Errorf("binanceusdm: StreamsPerConn %d is outside 1..%d", cfg.StreamsPerConn, MaxStreamsPerConn)
	}
	if cfg.Lifetime < 0 {
		return nil, fmt.Errorf("binanceusdm: Lifetime %v is negative", cfg.Lifetime)
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = ConnLifetime
	}
	if cfg.RefreshEvery == 0 {
		cfg.RefreshEvery = 10 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.WSURL = strings.TrimSuffix(cfg.WSURL, "/")
	return &Futures{cfg: cfg, inst: NewInstruments(cfg.Symbols)}, nil
}

// Name returns "binance-usdm".
func (v *Futures) Name() string { return Venue }

// Lifetime is the connection lifetime in force (Config.Lifetime, default
// 24h): the gateway rotates connections before it.
func (v *Futures) Lifetime() time.Duration { return v.cfg.Lifetime }

// MessageRate is what the gateway may send a second on one connection:
// half of the server's 10, the rest left for pongs.
func (v *Futures) MessageRate() float64 { return clientMessageRate }

// Rules are USD-M's: a depth update continues the one before when its pu
// is that one's u; the first applied on a snapshot at lastUpdateId has
// U <= lastUpdateId <= u, and those with u < lastUpdateId are dropped
// ("How to manage a local order book correctly", steps 4–6). U is not
// the previous u + 1: IDs jump between events.
func (v *Futures) Rules() feed.Rules { return feed.Rules{BookChain: feed.ChainPrevID} }

// IsShutdown reports false: USD-M market streams announce no shutdown;
// the server closes the connection.
func (v *Futures) IsShutdown([]byte) bool { return false }

// NewDecoder returns a decoder of the plan's frames with the contract
// table in force (Instruments): a value with more decimals than its
// contract's scale widens the scale, and the frame is decoded again.
func (v *Futures) NewDecoder(feed.ConnPlan) feed.Decoder { return &widening{src: v.inst} }

// Instruments returns the contract table in force: give it to
// NewRecovery so that REST answers parse at the same scales.
func (v *Futures) Instruments() *Instruments { return v.inst }

// ValidStream checks one stream name: a known contract (lower case) and a
// type this venue decodes, or !forceOrder@arr (StreamTypesHelp). A stream
// that has a route but is not decoded (kline, ticker, partial depth, …) is
// refused by name.
func (v *Futures) ValidStream(name string) error {
	if _, err := RouteOf(name); err != nil {
		return err
	}
	if marketWide[name] {
		return nil
	}
	sym, kind, ok := strings.Cut(name, "@")
	if !ok || strings.HasPrefix(name, "!") || sym != strings.ToLower(sym) {
		return fmt.Errorf("binanceusdm: stream %q: want <lower-case symbol>@<type> (%s)", name, StreamTypesHelp)
	}
	if _, ok := v.inst.Table().index().LookupLower(sym); !ok {
		return fmt.Errorf("binanceusdm: stream %q: %w", name, ErrUnknownSymbol)
	}
	if !decodedTypes[kind] {
		return fmt.Errorf("binanceusdm: stream %q: type %q is not decoded (%s)", name, kind, StreamTypesHelp)
	}
	return nil
}

// Plan checks the streams and splits them by route, then over connections
// of StreamsPerConn streams each: each connection uses its route's
// combined endpoint (<WSURL>/<route>/stream) and subscribes with one
// SUBSCRIBE request, confirmed by LIST_SUBSCRIPTIONS. A symbol's depth and
// its markPrice therefore take two connections. One diff depth stream per
// symbol: their update IDs would interleave.
func (v *Futures) Plan(streams []string) ([]feed.ConnPlan, error) {
	seen := make(map[string]bool, len(streams))
	diff := make(map[string]string)
	byRoute := map[Route][]string{}
	for _, st := range streams {
		st = strings.TrimSpace(st)
		if err := v.ValidStream(st); err != nil {
			return nil, err
		}
		if seen[st] {
			continue
		}
		seen[st] = true
		sym, kind, _ := strings.Cut(st, "@")
		if strings.HasPrefix(kind, "depth") {
			if other, ok := diff[sym]; ok {
				return nil, fmt.Errorf("binanceusdm: streams %q and %q: one diff depth stream per symbol (their update IDs interleave)", other, st)
			}
			diff[sym] = st
		}
		r, _ := RouteOf(st)
		byRoute[r] = append(byRoute[r], st)
	}
	if len(seen) == 0 {
		return nil, errors.New("binanceusdm: no streams")
	}
	var plans []feed.ConnPlan
	id := int64(1)
	for _, r := range []Route{RoutePublic, RouteMarket} {
		list := byRoute[r]
		for start := 0; start < len(list); start += v.cfg.StreamsPerConn {
			group := list[start:min(start+v.cfg.StreamsPerConn, len(list))]
			p := feed.ConnPlan{URL: v.cfg.WSURL + "/" + string(r) + "/stream", Streams: group}
			msg, err := v.SubscribeMessage(id, group)
			if err != nil {
				return nil, err
			}
			p.Subscribe = [][]byte{msg}
			p.Requests = []feed.Request{{ID: id, Streams: group}}
			id++
			if p.Confirm, err = binance.ListSubscriptionsRequest(id); err != nil {
				return nil, err
			}
			p.ConfirmID = id
			id++
			plans = append(plans, p)
		}
	}
	return plans, nil
}

// SubscribeMessage builds a SUBSCRIBE request for streams with the given
// id ("Live Subscribing/Unsubscribing to streams").
func (v *Futures) SubscribeMessage(id int64, streams []string) ([]byte, error) {
	return binance.SubscribeRequest(id, streams)
}

// SymbolsOfStreams returns the upper-case symbols named in stream names,
// each once, in order (binance.SymbolsOfStreams: the rule is Binance's).
func SymbolsOfStreams(streams []string) []string { return binance.SymbolsOfStreams(streams) }
