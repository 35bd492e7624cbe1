// Package okx speaks OKX v5 public market data: it plans WebSocket
// connections on the paths OKX serves each channel on, keeps them alive
// with OKX's text ping, decodes their pushes into feed events (trades,
// books from the stream's own snapshot chained by seqId/prevSeqId, tops of
// book, tickers, funding, mark price, open interest) and recovers missed
// trades from the REST API.
//
// Stream names are <instId>@<channel>, the instrument as OKX names it
// ("BTC-USDT", "BTC-USDT-SWAP") and the channel as OKX's subscribe
// argument names it: "BTC-USDT@books", "BTC-USDT-SWAP@trades-all". (The
// channel:instId order is taken by the venue-independent form
// WHAT:INSTRUMENT, "trades:BTC-USDT-PERP", which the factory turns into
// these names.)
//
// Quantities: spot sizes are base currency. Swap sizes are contracts
// on the wire ("sz … For FUTURES/SWAP/OPTION, the unit is contract", WS /
// Trades channel); the decoder multiplies them by the contract's face value
// ctVal (GET /api/v5/public/instruments), so that a linear swap's events
// carry base-currency quantities like every other venue's perpetuals, at
// the scale lotSz's decimals + ctVal's decimals. An inverse swap's ctVal is
// in USD: its quantities are USD. The checksum rule turns them back into
// contracts, as OKX computed it.
//
// Trades are the single trades of trades-all (on /ws/v5/business), whose
// tradeIds follow one another per instrument: a jump is a gap, filled
// from GET /api/v5/market/history-trades. The aggregated trades channel
// is decoded (Event.Aggregated, FirstTradeID..LastTradeID from count) but
// not planned: its IDs skip the trades each push aggregates, so a loss
// cannot be seen (ErrAggregated).
//
// Liquidations come from liquidation-orders, which OKX subscribes by
// instrument type, not by instrument ("WS / Liquidation orders channel":
// {"channel":"liquidation-orders","instType":"SWAP"}). Its streams are
// SWAP@liquidation-orders, every swap's liquidations, and
// <swap>@liquidation-orders (BTC-USDT-SWAP@liquidation-orders), one
// swap's: however many are asked for, one connection subscribes the
// channel once, and delivers the liquidations of the swaps asked for (all
// of those in the instrument table for SWAP@…) as TypeLiquidation events
// whose Stream is the swap's stream when it was asked for, else
// SWAP@liquidation-orders. OKX says the channel does not carry every
// liquidation and may push them out of time order: they are not
// sequenced.
//
// Spot and swap instruments are read; futures, options and candles are
// not.
package okx

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// Venue is the venue name carried by every event of this package.
const Venue = "okx"

// Real endpoints of OKX ("Overview / Production Trading Services": the
// public and business WebSocket paths share one host; REST "API
// domain" as the docs give it from May 2026 on).
const (
	// DefaultWSURL is the WebSocket host; connections use its
	// /ws/v5/public and /ws/v5/business paths.
	DefaultWSURL = "wss://ws.okx.com:8443"
	// DefaultRESTURL is the REST host.
	DefaultRESTURL = "https://openapi.okx.com"
)

// Paths of the WebSocket host ("Overview / WebSocket": "URL Path" of each
// channel).
const (
	// PathPublic serves books, books5, bbo-tbt, trades, tickers,
	// funding-rate, mark-price and open-interest.
	PathPublic = "/ws/v5/public"
	// PathBusiness serves trades-all (and candles, not decoded here).
	PathBusiness = "/ws/v5/business"
)

// Limits of the venue ("Overview / WebSocket / Connect").
const (
	// MaxStreamsPerConn is this client's ceiling of channels on one
	// connection. OKX publishes none (close codes 4008/4009 say "the number
	// of subscribed channels exceeds the maximum limit"), and advises
	// fewer than 30 channels a connection for many 400-level books.
	MaxStreamsPerConn = 100
	// DefaultStreamsPerConn keeps below the advised 30.
	DefaultStreamsPerConn = 25
	// RequestsPerHour is the most subscribe, unsubscribe and login
	// requests one connection may send an hour.
	RequestsPerHour = 480
	// MaxRequestArgs is the most bytes the args of one request may total
	// (64 KB).
	MaxRequestArgs = 64 << 10
	// IdleClose is how long the server keeps a connection on which nothing
	// passed: "If there's a network problem, the system will automatically
	// disable the connection. The connection will break automatically if
	// the subscription is not established or data has not been pushed for
	// more than 30 seconds."
	IdleClose = 30 * time.Second
	// PingInterval is how often a connection sends the text "ping": the
	// docs ask for it when nothing has arrived for N < 30 s; every 20 s
	// leaves a third of the idle limit for the answer.
	PingInterval = 20 * time.Second
	// clientMessageRate is what the gateway sends a second on one
	// connection: OKX publishes no per-connection message rate, only the
	// 480 requests an hour (the gateway asks a book again at most every
	// few seconds); 4 a second paces a burst of resubscribes.
	clientMessageRate = 4.0
)

// Channels this package decodes, as OKX names them in subscribe args.
const (
	ChannelTrades       = "trades"     // aggregated trades (decoded; refused in plans, see ErrAggregated)
	ChannelTradesAll    = "trades-all" // every trade, one a push (/business)
	ChannelBooks        = "books"      // 400-level snapshot, then increments every 100 ms
	ChannelBooks5       = "books5"     // 5-level snapshots
	ChannelBBO          = "bbo-tbt"    // best bid and ask, every 10 ms on change
	ChannelTickers      = "tickers"    // 24 h ticker
	ChannelFundingRate  = "funding-rate"
	ChannelMarkPrice    = "mark-price"
	ChannelOpenInterest = "open-interest"
	ChannelLiquidations = "liquidation-orders" // by instType: see the package comment
)

// LiquidationsAll is the stream of every swap's liquidations.
const LiquidationsAll = InstSwap + "@" + ChannelLiquidations

// ChannelsHelp lists the channels a stream may name, for messages.
const ChannelsHelp = "trades-all, books, books5, bbo-tbt, tickers, funding-rate, mark-price, open-interest, liquidation-orders (SWAP@liquidation-orders or <swap>@liquidation-orders)"

// planned are the channels Plan accepts, and the path each is served on.
var planned = map[string]string{
	ChannelTradesAll: PathBusiness, ChannelBooks: PathPublic, ChannelBooks5: PathPublic, ChannelBBO: PathPublic,
	ChannelTickers: PathPublic, ChannelFundingRate: PathPublic, ChannelMarkPrice: PathPublic, ChannelOpenInterest: PathPublic,
	ChannelLiquidations: PathPublic,
}

// derivOnly are the channels only derivatives have ("WS / Funding rate
// channel": instId of a SWAP; mark price and open interest of
// MARGIN/SWAP/FUTURES/OPTION, of no spot pair).
var derivOnly = map[string]bool{ChannelFundingRate: true, ChannelOpenInterest: true}

// ErrAggregated is matched by the error CheckStream and Plan give for the
// trades channel. It pushes one message per taker order, price and
// source, whose tradeId is the last of the count trades it aggregates
// ("WS / Trades channel": tradeId 123 with count 3 covers 123, 122, 121):
// the IDs it skips cannot be told from trades lost, and the REST history
// holds the single trades, not the aggregates. trades-all sends every
// trade with its own tradeId, a sequence that shows a gap and that
// GET /api/v5/market/history-trades fills.
var ErrAggregated = errors.New("okx: the trades channel aggregates trades (tradeId is the last of count), so a gap cannot be seen: use trades-all")

var instIDForm = regexp.MustCompile(`^[A-Z0-9]{1,20}(-[A-Z0-9_]{1,20}){1,3}$`)

// ParseStream splits a stream name <instId>@<channel> and checks its form
// (not whether the instrument is listed), with an error naming it.
//
// For liquidation-orders, instID is InstSwap ("SWAP") for every swap, or
// one swap's instId.
func ParseStream(name string) (instID, channel string, err error) {
	instID, channel, ok := strings.Cut(name, "@")
	if ok && channel == ChannelLiquidations {
		if instID == InstSwap || instIDForm.MatchString(instID) && strings.HasSuffix(instID, "-SWAP") {
			return instID, channel, nil
		}
		return "", "", fmt.Errorf("stream %q: liquidation-orders is subscribed by instrument type: ask for %s (every swap) or <swap>@%s (one swap, e.g. BTC-USDT-SWAP@%s)", name, LiquidationsAll, ChannelLiquidations, ChannelLiquidations)
	}
	if !ok || !instIDForm.MatchString(instID) {
		return "", "", fmt.Errorf("stream %q: want <instId>@<channel> with the instrument as OKX names it, e.g. BTC-USDT@books or BTC-USDT-SWAP@trades-all", name)
	}
	if channel == ChannelTrades {
		return "", "", fmt.Errorf("stream %q: %w (ask for %s@%s)", name, ErrAggregated, instID, ChannelTradesAll)
	}
	if _, ok := planned[channel]; !ok {
		return "", "", fmt.Errorf("stream %q: unknown channel %q (%s)", name, channel, ChannelsHelp)
	}
	if derivOnly[channel] && strings.Count(instID, "-") < 2 { // BASE-QUOTE: a spot pair
		return "", "", fmt.Errorf("stream %q: channel %s is only for swaps and futures (e.g. %s-SWAP@%s)", name, channel, instID, channel)
	}
	return instID, channel, nil
}

// Config describes the venue.
type Config struct {
	// WSURL is the WebSocket host (default DefaultWSURL); the channel's
	// path is appended.
	WSURL string
	// Symbols gives every instrument's scales (LoadSymbols fetches them).
	Symbols *Symbols
	// StreamsPerConn splits each path's streams over connections
	// (default DefaultStreamsPerConn, at most MaxStreamsPerConn).
	StreamsPerConn int
	// PingInterval is how often each connection sends "ping" (default
	// PingInterval; below IdleClose).
	PingInterval time.Duration
	// REST, when set, is what Watch reads the instruments again with.
	REST *httpx.Client
	// RefreshEvery is how often Watch reads them (default
	// DefaultRefreshEvery; negative: never).
	RefreshEvery time.Duration
	// Logger: nil is slog.Default().
	Logger *slog.Logger
}

// OKX is the OKX venue for feed.Gateway. Safe for concurrent use.
type OKX struct {
	cfg                      Config
	inst                     *Instruments
	refreshes, refreshErrors atomic.Int64
}

var (
	_ feed.Venue        = (*OKX)(nil)
	_ feed.Subscriber   = (*OKX)(nil)
	_ feed.Resubscriber = (*OKX)(nil)
	_ feed.Pinger       = (*OKX)(nil)
)

// New validates cfg.
func New(cfg Config) (*OKX, error) {
	if cfg.WSURL == "" {
		cfg.WSURL = DefaultWSURL
	}
	if !venue.IsWSURL(cfg.WSURL) {
		return nil, fmt.Errorf("okx: WSURL %q is not a wss:// URL", cfg.WSURL)
	}
	if cfg.Symbols == nil {
		return nil, errors.New("okx: Config.Symbols is nil (see LoadSymbols)")
	}
	if cfg.StreamsPerConn == 0 {
		cfg.StreamsPerConn = DefaultStreamsPerConn
	}
	if cfg.StreamsPerConn < 1 || cfg.StreamsPerConn > MaxStreamsPerConn {
		return nil, fmt.Errorf("okx: StreamsPerConn %d is outside 1..%d", cfg.StreamsPerConn, MaxStreamsPerConn)
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = PingInterval
	}
	if cfg.PingInterval < 0 || cfg.PingInterval >= IdleClose {
		return nil, fmt.Errorf("okx: PingInterval %v: must be above 0 and below the server's %v idle limit", cfg.PingInterval, IdleClose)
	}
	if cfg.RefreshEvery == 0 {
		cfg.RefreshEvery = DefaultRefreshEvery
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.WSURL = strings.TrimSuffix(cfg.WSURL, "/")
	return &OKX{cfg: cfg, inst: NewInstruments(cfg.Symbols)}, nil
}

// Name returns "okx".
func (v *OKX) Name() string { return Venue }

// Lifetime is 0: OKX documents no maximum connection lifetime.
func (v *OKX) Lifetime() time.Duration { return 0 }

// MessageRate is what the gateway may send a second on one connection.
func (v *OKX) MessageRate() float64 { return clientMessageRate }

// Symbols returns the instrument table the venue decodes with.
func (v *OKX) Symbols() *Symbols { return v.inst.Table() }

// Instruments returns the instrument table in force, widened when a value
// does not fit its scale: give it to NewRecovery so that REST pages parse
// at the same scales.
func (v *OKX) Instruments() *Instruments { return v.inst }

// Rules are OKX's ("WS / Order book channel", "How to maintain a local
// order book"): books sends a snapshot when subscribed, then updates whose
// prevSeqId is the seqId before (a keep-alive after 60 s without change
// has seqId == prevSeqId; after a maintenance seqId may restart lower,
// prevSeqId still the last one); a break is mended by subscribing again.
// tradeIds of trades-all are consecutive per instrument: inferred from the
// trades channel's rule that tradeId 123 with count 3 covers 123, 122 and
// 121, and from the history's consecutive IDs ("GET / Trades history"
// example 242720720, 242720719); OKX does not state it as a guarantee.
// The checksum is checked only when a book push carries a non-zero one:
// OKX sends 0 since 2026-06-23 ("Order Book Channels Checksum Field
// Deprecation").
func (v *OKX) Rules() feed.Rules {
	return feed.Rules{BookChain: feed.ChainPrevID, Book: feed.BookFromStream, Trades: feed.TradeIDsContiguous, Checksum: v.checksum}
}

// IsShutdown reports whether frame is OKX's notice of a service upgrade
// ("Overview / WebSocket / Notification": event "notice", code 64008,
// sent 60 s before the connection is closed).
func (v *OKX) IsShutdown(frame []byte) bool { return isShutdown(frame) }

// NewDecoder returns a decoder of the plan's frames; it delivers the
// liquidations of the swaps the plan's liquidation-orders streams name.
func (v *OKX) NewDecoder(p feed.ConnPlan) feed.Decoder {
	w := &widening{src: v.inst}
	for _, st := range p.Streams {
		if inst, ch, _ := strings.Cut(st, "@"); ch == ChannelLiquidations {
			if inst == InstSwap {
				w.d.LiquidationsAll = true
				continue
			}
			if w.d.Liquidations == nil {
				w.d.Liquidations = map[string]bool{}
			}
			w.d.Liquidations[inst] = true
		}
	}
	return w
}

// Keepalive is OKX's: the text "ping" every PingInterval, answered by the
// text "pong" ("Overview / WebSocket / Connect": "If there's a network
// problem … set a timer of N seconds (N < 30) … send the String 'ping' …
// expect a 'pong' as a response. If the response message is not received
// within N seconds, please raise an error or reconnect").
func (v *OKX) Keepalive() wsconn.Keepalive {
	return wsconn.Keepalive{
		Interval: v.cfg.PingInterval,
		Message:  func() []byte { return []byte("ping") },
		IsReply:  func(frame []byte) bool { return string(frame) == "pong" },
		Timeout:  v.cfg.PingInterval,
	}
}

// ValidStream checks one stream name: its form (ParseStream) and that its
// instrument is in the table.
func (v *OKX) ValidStream(name string) error {
	inst, _, err := ParseStream(name)
	if err != nil {
		return fmt.Errorf("okx: %w", err)
	}
	if inst == InstSwap {
		return nil // every swap: no one instrument
	}
	if _, ok := v.inst.Table().Lookup(inst); !ok {
		return fmt.Errorf("okx: stream %q: %w", name, ErrUnknownSymbol)
	}
	return nil
}

// Plan checks the streams and splits them by path (/ws/v5/public,
// /ws/v5/business), then over connections of StreamsPerConn streams each.
// Each connection subscribes with one request holding all of its args
// ("Overview / WebSocket / Subscribe": 480 requests an hour per
// connection, args of one request at most 64 KB), whose id is the
// request's ID. The liquidation-orders streams go to the first public
// connection, whose request subscribes the channel once.
func (v *OKX) Plan(streams []string) ([]feed.ConnPlan, error) {
	seen := make(map[string]bool, len(streams))
	byPath := map[string][]string{}
	var liqs []string
	for _, st := range streams {
		st = strings.TrimSpace(st)
		if err := v.ValidStream(st); err != nil {
			return nil, err
		}
		if seen[st] {
			continue
		}
		seen[st] = true
		_, ch, _ := strings.Cut(st, "@")
		if ch == ChannelLiquidations {
			liqs = append(liqs, st)
			continue
		}
		byPath[planned[ch]] = append(byPath[planned[ch]], st)
	}
	if len(seen) == 0 {
		return nil, errors.New("okx: no streams")
	}
	var plans []feed.ConnPlan
	id := int64(1)
	for _, path := range []string{PathPublic, PathBusiness} {
		list := byPath[path]
		var groups [][]string
		for start := 0; start < len(list); start += v.cfg.StreamsPerConn {
			groups = append(groups, list[start:min(start+v.cfg.StreamsPerConn, len(list))])
		}
		if path == PathPublic && len(liqs) > 0 {
			if len(groups) == 0 {
				groups = [][]string{nil}
			}
			groups[0] = append(groups[0][:len(groups[0]):len(groups[0])], liqs...)
		}
		for _, group := range groups {
			msg, err := v.SubscribeMessage(id, group)
			if err != nil {
				return nil, err
			}
			plans = append(plans, feed.ConnPlan{URL: v.cfg.WSURL + path, Streams: group, Subscribe: [][]byte{msg},
				Requests: []feed.Request{{ID: id, Streams: group}}})
			id++
		}
	}
	return plans, nil
}

// arg is one subscribe argument: an instId, or for liquidation-orders an
// instType.
type arg struct {
	Channel  string `json:"channel"`
	InstID   string `json:"instId,omitempty"`
	InstType string `json:"instType,omitempty"`
}

func request(op string, id int64, streams []string) ([]byte, error) {
	req := struct {
		ID   string `json:"id,omitempty"`
		Op   string `json:"op"`
		Args []arg  `json:"args"`
	}{Op: op, Args: make([]arg, 0, len(streams))}
	if id > 0 {
		req.ID = strconv.FormatInt(id, 10)
	}
	liq := false
	for _, st := range streams {
		inst, ch, err := ParseStream(st)
		if err != nil {
			return nil, fmt.Errorf("okx: %w", err)
		}
		if ch == ChannelLiquidations {
			if !liq {
				req.Args = append(req.Args, arg{Channel: ch, InstType: InstSwap})
			}
			liq = true
			continue
		}
		req.Args = append(req.Args, arg{Channel: ch, InstID: inst})
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxRequestArgs {
		return nil, fmt.Errorf("okx: a request for %d streams is %d bytes, over OKX's %d", len(streams), len(b), MaxRequestArgs)
	}
	return b, nil
}

// SubscribeMessage builds a subscribe request for streams whose id is id:
// {"id":"7","op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}.
// OKX answers one event "subscribe" per arg, or one event "error", each
// with the id.
func (v *OKX) SubscribeMessage(id int64, streams []string) ([]byte, error) {
	return request("subscribe", id, streams)
}

// ResubscribeMessages returns the unsubscribe and subscribe requests that
// ask for stream again, so that OKX sends its snapshot anew: what "WS /
// Order book channel" asks after a prevSeqId that does not match or a
// checksum that fails. They carry no id: their answers change nothing
// the gateway tracks.
func (v *OKX) ResubscribeMessages(stream string) ([][]byte, error) {
	if !slices.Contains([]string{ChannelBooks, ChannelBooks5, ChannelBBO}, stream[strings.IndexByte(stream, '@')+1:]) {
		return nil, fmt.Errorf("okx: stream %q: not a book channel", stream)
	}
	un, err := request("unsubscribe", 0, []string{stream})
	if err != nil {
		return nil, err
	}
	sub, err := request("subscribe", 0, []string{stream})
	if err != nil {
		return nil, err
	}
	return [][]byte{un, sub}, nil
}

// SymbolsOfStreams returns the instIds named in stream names, in order,
// without repeats (SWAP@liquidation-orders names none).
func SymbolsOfStreams(streams []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, st := range streams {
		inst, _, _ := strings.Cut(strings.TrimSpace(st), "@")
		if inst != "" && inst != InstSwap && !seen[inst] {
			seen[inst] = true
			out = append(out, inst)
		}
	}
	return out
}
