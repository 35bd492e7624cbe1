package binance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue"
)

// Real endpoints of Binance spot market data. A gateway that only reads
// market data uses the market-data-only hosts by default
// (faqs/market_data_only.md): they serve the same public streams and
// REST market data, and nothing that needs an API key.
const (
	// DefaultWSURL is the market-data-only stream host (port 443).
	DefaultWSURL = "wss://data-stream.binance.vision"
	// DefaultRESTURL is the market-data-only REST host. It serves
	// aggTrades, depth, exchangeInfo, trades, klines, tickers, ping and
	// time, but not historicalTrades: a call it does not serve needs
	// APIRESTURL.
	DefaultRESTURL = "https://data-api.binance.vision"
	// StreamWSURL is the general stream host (also :443), which serves
	// user data streams as well.
	StreamWSURL = "wss://stream.binance.com:9443"
	// StreamWSURL443 is the general stream host on port 443.
	StreamWSURL443 = "wss://stream.binance.com:443"
	// APIRESTURL is the general REST host.
	APIRESTURL = "https://api.binance.com"
)

// RESTFallbackURLs returns the documented alternative hosts of the REST API
// (rest-api.md, "General API Information"), in the order a client fails
// over to them after DefaultRESTURL: api.binance.com and api-gcp first,
// then api1–api4, which "should give better performance but have less
// stability". Each call returns a new slice.
func RESTFallbackURLs() []string {
	return []string{
		APIRESTURL,
		"https://api-gcp.binance.com",
		"https://api1.binance.com",
		"https://api2.binance.com",
		"https://api3.binance.com",
		"https://api4.binance.com",
	}
}

// Limits of the venue.
const (
	MaxStreamsPerConn = 1024           // streams one connection may carry
	ConnLifetime      = 24 * time.Hour // the server closes a connection after this
	incomingPerSecond = 5              // messages a second the server accepts from a client
	paramsPerRequest  = 200            // streams named in one SUBSCRIBE
	defaultPerConn    = 200            // streams per connection by default
	clientMessageRate = 3.0            // what we send a second: room left for pongs
	shutdownFrameMax  = 160            // serverShutdown frames are short
	exchangeInfoPath  = "/api/v3/exchangeInfo"
	streamShutdownKey = `serverShutdown` // in the event and in the combined stream name
)

// SpotConfig describes the Binance spot venue.
type SpotConfig struct {
	// WSURL is the stream endpoint's base (default DefaultWSURL).
	WSURL string
	// AltWSURLs are other stream hosts a connection that falls behind is
	// moved to in turn (feed's lag watch). Default, with the default
	// WSURL: Binance's general hosts, StreamWSURL and its port 443; none
	// with another WSURL.
	AltWSURLs []string
	// Symbols gives every symbol's scales (LoadSymbols fetches them).
	Symbols *Symbols
	// StreamsPerConn splits streams over connections (default 200, at most 1024).
	StreamsPerConn int
	// Micros asks for times in microseconds (timeUnit=MICROSECOND).
	Micros bool
	// Lifetime overrides the server's connection lifetime (default 24h):
	// the gateway rotates connections before it.
	Lifetime time.Duration
	// REST, when set, is the client the venue reads exchangeInfo again
	// with (Watch): every RefreshEvery, and soon after a value with more
	// decimals than its symbol's scale arrived.
	REST *httpx.Client
	// RefreshEvery is how often exchangeInfo is read again. Default 10
	// minutes; negative: never (values that do not fit still widen scales).
	RefreshEvery time.Duration
	// Logger: nil is slog.Default().
	Logger *slog.Logger
}

// Spot is the Binance spot venue for feed.Gateway.
type Spot struct {
	cfg  SpotConfig
	inst *Instruments
}

var _ feed.Venue = (*Spot)(nil)

// NewSpot validates cfg.
func NewSpot(cfg SpotConfig) (*Spot, error) {
	if cfg.WSURL == "" {
		cfg.WSURL = DefaultWSURL
	}
	if cfg.WSURL == DefaultWSURL && cfg.AltWSURLs == nil {
		cfg.AltWSURLs = []string{StreamWSURL, StreamWSURL443}
	}
	for _, alt := range cfg.AltWSURLs {
		if !venue.IsWSURL(alt) {
			return nil, fmt.Errorf("binance: AltWSURLs: %q is not a wss:// URL", alt)
		}
	}
	if !venue.IsWSURL(cfg.WSURL) {
		return nil, fmt.Errorf("binance: WSURL %q is not a wss:// URL", cfg.WSURL)
	}
	if cfg.Symbols == nil {
		return nil, errors.New("binance: SpotConfig.Symbols is nil (see LoadSymbols)")
	}
	if cfg.StreamsPerConn == 0 {
		cfg.StreamsPerConn = defaultPerConn
	}
	if cfg.StreamsPerConn < 1 || cfg.StreamsPerConn > MaxStreamsPerConn {
		return nil, fmt.Errorf("binance: StreamsPerConn %d is outside 1..%d", cfg.StreamsPerConn, MaxStreamsPerConn)
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = ConnLifetime
	}
	if cfg.RefreshEvery == 0 {
		cfg.RefreshEvery = 10 * time.Minute
	}
	cfg.WSURL = strings.TrimSuffix(cfg.WSURL, "/")
	return &Spot{cfg: cfg, inst: NewInstruments(cfg.Symbols)}, nil
}

func (s *Spot) Name() string            { return Venue }
func (s *Spot) Lifetime() time.Duration { return s.cfg.Lifetime }
func (s *Spot) MessageRate() float64    { return clientMessageRate }

// Rules are Binance spot's: a diff depth event continues the one before
// when its U is that one's u + 1, and the first applied on a snapshot has
// U <= lastUpdateId+1 <= u (web-socket-streams.md, "How to manage a local
// order book correctly").
func (s *Spot) Rules() feed.Rules { return feed.Rules{BookChain: feed.ChainFirstID} }
func (s *Spot) NewDecoder(p feed.ConnPlan) feed.Decoder {
	streams := make(map[string]string, len(p.Streams))
	for _, st := range p.Streams {
		streams[st] = st
	}
	return &spotDecoder{inst: s.inst, d: Decoder{Micros: s.cfg.Micros, Streams: streams}}
}

// Instruments returns the symbol table in force, kept current by Watch:
// give it to NewRecovery so that REST answers parse at the same scales.
func (s *Spot) Instruments() *Instruments { return s.inst }

var _ feed.Watcher = (*Spot)(nil)

// decodeWidening decodes frame with src's table in force; a value with more
// decimals than its symbol's scale widens that scale (src being
// *Instruments) and the frame is decoded again, so it is not dropped.
func decodeWidening(d *Decoder, src SymbolSource, frame []byte, ev *feed.Event) (Kind, error) {
	d.Symbols = src.Table()
	kind, err := d.Decode(frame, ev)
	in, ok := src.(*Instruments)
	for tries := 0; err != nil && ok && tries < 4; tries++ {
		var se *ScaleError
		if !errors.As(err, &se) || !in.Widen(se.Symbol, se.Price, se.Scale) {
			break
		}
		d.Symbols = in.Table()
		kind, err = d.Decode(frame, ev)
	}
	return kind, err
}

// IsShutdown reports a serverShutdown event, raw or combined.
func (s *Spot) IsShutdown(frame []byte) bool {
	return len(frame) <= shutdownFrameMax && bytes.Contains(frame, []byte(streamShutdownKey))
}

// ValidStream checks one stream name against the streams this venue
// decodes, for a known symbol: <symbol>@aggTrade, @trade, @depth,
// @depth@100ms, @depth5/10/20 (optionally @100ms), @bookTicker,
// @kline_<interval> (optionally @+08:00), @miniTicker, @ticker,
// @ticker_<1h|4h|1d>, @avgPrice; and the market-wide !miniTicker@arr and
// !ticker_<1h|4h|1d>@arr.
func (s *Spot) ValidStream(name string) error {
	if strings.HasPrefix(name, "!") {
		switch name {
		case "!miniTicker@arr", "!ticker_1h@arr", "!ticker_4h@arr", "!ticker_1d@arr":
			return nil
		}
		return fmt.Errorf("binance: stream %q: unknown market-wide stream (!miniTicker@arr, !ticker_<1h|4h|1d>@arr)", name)
	}
	sym, kind, ok := strings.Cut(name, "@")
	if !ok || sym == "" || sym != strings.ToLower(sym) {
		return fmt.Errorf("binance: stream %q: want <lower-case symbol>@<type>", name)
	}
	if _, ok := s.cfg.Symbols.index().LookupLower(sym); !ok {
		return fmt.Errorf("binance: stream %q: %w", name, ErrUnknownSymbol)
	}
	if ValidStreamType(kind) {
		return nil
	}
	return fmt.Errorf("binance: stream %q: unknown type %q (%s)", name, kind, StreamTypesHelp)
}

// StreamTypesHelp lists the stream types, for messages.
const StreamTypesHelp = "aggTrade, trade, bookTicker, depth, depth@100ms, depth5/10/20[@100ms], kline_<interval>[@+08:00], miniTicker, ticker, ticker_<1h|4h|1d>, avgPrice"

// klineIntervals are the intervals of <symbol>@kline_<interval>.
var klineIntervals = map[string]bool{"1s": true, "1m": true, "3m": true, "5m": true, "15m": true, "30m": true, "1h": true,
	"2h": true, "4h": true, "6h": true, "8h": true, "12h": true, "1d": true, "3d": true, "1w": true, "1M": true}

// ValidStreamType reports whether kind, what follows "<symbol>@" in a
// stream name, is a stream this venue decodes.
func ValidStreamType(kind string) bool {
	switch kind {
	case "aggTrade", "trade", "bookTicker", "depth", "depth@100ms",
		"depth5", "depth10", "depth20", "depth5@100ms", "depth10@100ms", "depth20@100ms",
		"miniTicker", "ticker", "ticker_1h", "ticker_4h", "ticker_1d", "avgPrice":
		return true
	}
	if iv, ok := strings.CutPrefix(kind, "kline_"); ok {
		iv = strings.TrimSuffix(iv, "@+08:00")
		return klineIntervals[iv]
	}
	return false
}

// Plan checks the streams and splits them over connections of
// StreamsPerConn streams each. Every connection uses the combined endpoint
// and subscribes with SUBSCRIBE requests of at most 200 streams.
func (s *Spot) Plan(streams []string) ([]feed.ConnPlan, error) {
	seen := make(map[string]bool, len(streams))
	diff := make(map[string]string)
	var list []string
	for _, st := range streams {
		st = strings.TrimSpace(st)
		if err := s.ValidStream(st); err != nil {
			return nil, err
		}
		if seen[st] {
			continue
		}
		seen[st] = true
		sym, kind, _ := strings.Cut(st, "@")
		if kind == "depth" || kind == "depth@100ms" {
			if other, ok := diff[sym]; ok {
				return nil, fmt.Errorf("binance: streams %q and %q: one diff depth stream per symbol (their update IDs interleave)", other, st)
			}
			diff[sym] = st
		}
		list = append(list, st)
	}
	if len(list) == 0 {
		return nil, errors.New("binance: no streams")
	}
	query := ""
	if s.cfg.Micros {
		query = "?timeUnit=MICROSECOND"
	}
	u := s.cfg.WSURL + "/stream" + query
	var alts []string
	for _, a := range s.cfg.AltWSURLs {
		alts = append(alts, strings.TrimSuffix(a, "/")+"/stream"+query)
	}
	var plans []feed.ConnPlan
	id := int64(1)
	for start := 0; start < len(list); start += s.cfg.StreamsPerConn {
		group := list[start:min(start+s.cfg.StreamsPerConn, len(list))]
		p := feed.ConnPlan{URL: u, AltURLs: alts, Streams: group}
		for i := 0; i < len(group); i += paramsPerRequest {
			msg, err := SubscribeRequest(id, group[i:min(i+paramsPerRequest, len(group))])
			if err != nil {
				return nil, err
			}
			p.Requests = append(p.Requests, feed.Request{ID: id, Streams: group[i:min(i+paramsPerRequest, len(group))]})
			id++
			p.Subscribe = append(p.Subscribe, msg)
		}
		// confirm: the streams the server has after the SUBSCRIBEs
		msg, err := ListSubscriptionsRequest(id)
		if err != nil {
			return nil, err
		}
		p.Confirm, p.ConfirmID = msg, id
		id++
		plans = append(plans, p)
	}
	return plans, nil
}

// spotDecoder adapts Decoder to feed.Decoder, with the table in force.
type spotDecoder struct {
	inst  *Instruments
	d     Decoder
	batch []feed.Event // the events of a market-wide array
	next  int
}

var _ feed.ReplyParser = (*spotDecoder)(nil)

var _ feed.Subscriber = (*Spot)(nil)

// SubscribeMessage builds a SUBSCRIBE request for streams with the given id.
func (s *Spot) SubscribeMessage(id int64, streams []string) ([]byte, error) {
	return SubscribeRequest(id, streams)
}

// SubscribeRequest returns the request, shared by Binance's markets'
// streams, that subscribes to streams: {"method":"SUBSCRIBE",
// "params":[streams],"id":id}.
func SubscribeRequest(id int64, streams []string) ([]byte, error) {
	return json.Marshal(struct {
		Method string   `json:"method"`
		Params []string `json:"params"`
		ID     int64    `json:"id"`
	}{"SUBSCRIBE", streams, id})
}

// ListSubscriptionsRequest returns the request, shared by Binance's
// markets' streams, whose reply lists the streams the connection has:
// {"method":"LIST_SUBSCRIPTIONS","id":id}.
func ListSubscriptionsRequest(id int64) ([]byte, error) {
	return json.Marshal(struct {
		Method string `json:"method"`
		ID     int64  `json:"id"`
	}{"LIST_SUBSCRIPTIONS", id})
}

// ParseReply reads a reply's integer ID, its error, and the list of a
// LIST_SUBSCRIPTIONS result.
func (sd *spotDecoder) ParseReply(frame []byte) (feed.Reply, error) {
	r, err := ParseResponse(frame)
	if err != nil {
		return feed.Reply{}, err
	}
	var rep feed.Reply
	rep.ID, _ = r.IntID()
	if r.Err != nil {
		rep.Err, rep.IsErr = r.Err, true
		return rep, nil
	}
	if len(r.Result) > 0 && r.Result[0] == '[' {
		if err := json.Unmarshal(r.Result, &rep.List); err != nil {
			return feed.Reply{}, fmt.Errorf("%w: reply: result: %w", ErrMalformed, err)
		}
	}
	return rep, nil
}

func (sd *spotDecoder) Decode(frame []byte, ev *feed.Event) (feed.Decoded, error) {
	kind, err := decodeWidening(&sd.d, sd.inst, frame, ev)
	if err != nil && statsEvents(frame) {
		return sd.decodeStats(frame, ev)
	}
	if err != nil {
		if errors.Is(err, ErrUnknownSymbol) || errors.Is(err, ErrUnknownEvent) {
			return 0, fmt.Errorf("%w: %w", feed.ErrUnknown, err)
		}
		return 0, err
	}
	switch kind {
	case KindShutdown:
		return feed.DecodedShutdown, nil
	case KindResponse:
		r, err := ParseResponse(frame)
		if err != nil {
			return feed.DecodedReply, err
		}
		if r.Err != nil {
			return feed.DecodedReply, r.Err
		}
		return feed.DecodedReply, nil
	}
	return feed.DecodedEvent, nil
}

// LoadSymbols fetches exchangeInfo for the given symbols (upper case) and
// builds the table of their scales. It fails on a symbol the venue does
// not list. When exchangeInfo gives a REQUEST_WEIGHT rate limit, it also
// becomes c's weight limit (see ApplyWeightLimit).
func LoadSymbols(ctx context.Context, c *httpx.Client, symbols []string) (*Symbols, error) {
	q := url.Values{}
	if len(symbols) > 0 {
		b, _ := json.Marshal(symbols)
		q.Set("symbols", string(b))
	}
	var body json.RawMessage
	if _, err := c.Get(ctx, exchangeInfoPath, q, &body); err != nil {
		return nil, fmt.Errorf("binance: exchangeInfo: %w", err)
	}
	table, err := ParseExchangeInfo(body)
	if err != nil {
		return nil, err
	}
	if err := ApplyWeightLimit(c, body); err != nil {
		return nil, err
	}
	for _, s := range symbols {
		if _, ok := table.Lookup(s); !ok {
			return nil, fmt.Errorf("binance: exchangeInfo does not list %s: %w", s, ErrUnknownSymbol)
		}
	}
	return table, nil
}

// MarketWide reports whether a stream carries every symbol
// (!miniTicker@arr): the symbol table must then hold every symbol.
func MarketWide(streams []string) bool {
	for _, st := range streams {
		if strings.HasPrefix(strings.TrimSpace(st), "!") {
			return true
		}
	}
	return false
}

// SymbolsOfStreams returns the upper-case symbols named in stream names,
// each once, in order: the rule of every Binance market's stream names.
func SymbolsOfStreams(streams []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, st := range streams {
		sym, _, _ := strings.Cut(strings.TrimSpace(st), "@")
		if strings.HasPrefix(sym, "!") {
			continue // market-wide: every symbol (see MarketWide)
		}
		if sym = strings.ToUpper(sym); sym != "" && !seen[sym] {
			seen[sym] = true
			out = append(out, sym)
		}
	}
	return out
}
