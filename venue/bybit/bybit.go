// Package bybit speaks Bybit v5 public market data for spot pairs and
// linear (USDT/USDC) contracts: it plans connections to the category's
// public stream, subscribes within the venue's limits, keeps them alive with
// Bybit's JSON ping, decodes trades, order books (snapshot then deltas),
// linear tickers (funding, open interest) and liquidations into feed events,
// reads instruments and the server's clock over REST, and replaces its
// connections before a maintenance announced on Bybit's system status
// stream (see Config.StatusStream).
//
// # Names
//
// Bybit's topics carry no category: orderbook.50.BTCUSDT is the spot pair
// on /v5/public/spot and the USDT perpetual on /v5/public/linear
// (Bybit v5 docs, "Connect": one URL per category). A stream of this venue
// is therefore CATEGORY/TOPIC, after the URL path it is served on:
//
//	spot/publicTrade.BTCUSDT        spot/orderbook.50.BTCUSDT
//	linear/publicTrade.BTCUSDT      linear/orderbook.200.BTCUSDT
//	linear/tickers.BTCUSDT          linear/allLiquidation.BTCUSDT
//
// Events name their market CATEGORY/SYMBOL ("spot/BTCUSDT",
// "linear/BTCUSDT"), so that a spot pair and the perpetual of the same name
// keep books and trade windows apart; Event.Instrument is BTC-USDT or
// BTC-USDT-PERP.
//
// # Sequences
//
// Bybit's trade IDs are opaque strings (a UUID on linear, digits on spot;
// "Trade": "i string Trade ID") that cannot show a gap, and no public REST
// call returns trades older than the latest 1000 ("Get Public Recent Trading
// History" takes no cursor, ID or time): every lost connection is a gap
// window (Rules.Trades TradeIDsOpaque). Books come from the stream: a
// "snapshot" replaces the book, "delta"s follow, chained by u.
package bybit

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
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
const Venue = "bybit"

// Real endpoints of Bybit v5 ("Integration Guidance"; "Connect"). Tests use
// local servers.
const (
	// DefaultWSURL is the public stream host; connections use its
	// /v5/public/<category> path.
	DefaultWSURL = "wss://stream.bybit.com"
	// DefaultRESTURL is the REST host.
	DefaultRESTURL = "https://api.bybit.com"
)

// Limits of the venue ("Connect": "How to Send the Heartbeat Packet",
// "Connection count and args limits").
const (
	// SpotArgsPerRequest: a spot subscribe request holds at most 10 args;
	// an 11th fails the whole request ("args size >10").
	SpotArgsPerRequest = 10
	// LinearArgsPerRequest is how many args a linear subscribe request
	// holds here; Bybit states "no args limit for now".
	LinearArgsPerRequest = 50
	// MaxArgsLength: the args of one connection, joined, may not exceed
	// 21,000 characters.
	MaxArgsLength = 21000
	// MaxTopicsPerConn bounds --bybit-topics-per-conn.
	MaxTopicsPerConn = 500
	// PingInterval: "we recommend sending the ping heartbeat packet every
	// 20 seconds".
	PingInterval = 20 * time.Second
	// clientMessageRate is what the gateway sends a second on one
	// connection. Bybit publishes no figure for public streams; a spot
	// connection of 500 topics subscribes in 50 requests, 10 seconds.
	clientMessageRate = 5.0
)

// ErrUnknownSymbol is matched by errors for a symbol the table lacks, in a
// stream name or a frame. Decode errors also match feed.ErrUnknown.
var ErrUnknownSymbol = errors.New("bybit: unknown symbol")

// Book depths per category ("Orderbook": Depths).
var depths = map[Category]map[string]bool{
	Spot:   {"1": true, "50": true, "200": true, "1000": true},
	Linear: {"1": true, "50": true, "200": true, "1000": true},
}

// StreamTypesHelp lists the topics this venue decodes, for messages.
const StreamTypesHelp = "spot/ or linear/ followed by publicTrade.SYMBOL or orderbook.{1,50,200,1000}.SYMBOL; linear/ also tickers.SYMBOL, allLiquidation.SYMBOL"

// topicKind is what a topic carries.
type topicKind uint8

const (
	kindNone topicKind = iota
	kindTrade
	kindBook
	kindTicker
	kindLiquidation
)

// Stream is a parsed stream name.
type Stream struct {
	Category Category
	Topic    string // as Bybit names it: "orderbook.50.BTCUSDT"
	Symbol   string // "BTCUSDT"
	Depth    int    // the book depth of an orderbook topic; 0 otherwise
	kind     topicKind
}

// String returns the stream's name, CATEGORY/TOPIC.
func (s Stream) String() string { return string(s.Category) + "/" + s.Topic }

// ParseStream reads CATEGORY/TOPIC, with errors that name it as typed.
// It checks the form only, not that the symbol is listed.
func ParseStream(name string) (Stream, error) {
	cat, topic, ok := strings.Cut(name, "/")
	c, known := parseCategory(cat)
	if !ok || !known {
		return Stream{}, fmt.Errorf("stream %q: want CATEGORY/TOPIC with CATEGORY spot or linear, e.g. spot/orderbook.50.BTCUSDT (%s)", name, StreamTypesHelp)
	}
	parts := strings.Split(topic, ".")
	sym := parts[len(parts)-1]
	if len(parts) < 2 || !validSymbol(sym) {
		return Stream{}, fmt.Errorf("stream %q: topic %q: want TYPE.SYMBOL with an upper-case symbol (%s)", name, topic, StreamTypesHelp)
	}
	s := Stream{Category: c, Topic: topic, Symbol: sym}
	switch {
	case parts[0] == "publicTrade" && len(parts) == 2:
		s.kind = kindTrade
	case parts[0] == "orderbook" && len(parts) == 3:
		if !depths[c][parts[1]] {
			return Stream{}, fmt.Errorf("stream %q: depth %q: %s books have depths 1, 50, 200, 1000", name, parts[1], c)
		}
		s.Depth, _ = strconv.Atoi(parts[1])
		s.kind = kindBook
	case parts[0] == "tickers" && len(parts) == 2 && c == Linear:
		s.kind = kindTicker
	case parts[0] == "allLiquidation" && len(parts) == 2 && c == Linear:
		s.kind = kindLiquidation
	default:
		return Stream{}, fmt.Errorf("stream %q: topic %q is not decoded (%s)", name, topic, StreamTypesHelp)
	}
	return s, nil
}

func validSymbol(s string) bool {
	if len(s) < 2 || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// Config describes the venue.
type Config struct {
	// WSURL is the public stream host (default DefaultWSURL); the path
	// /v5/public/<category> is appended to it.
	WSURL string
	// Symbols gives each market's scales (LoadSymbols fetches them).
	Symbols *Symbols
	// TopicsPerConn splits each category's topics over connections
	// (default 100, at most MaxTopicsPerConn); a connection also takes no
	// more than MaxArgsLength characters of topics.
	TopicsPerConn int
	// PingInterval is how often each connection sends {"op":"ping"}
	// (default PingInterval, 20 s, as Bybit advises).
	PingInterval time.Duration
	// StatusStream adds a connection to /v5/public/misc/status subscribed
	// to system.status (stream StatusStream), whose maintenance notices
	// replace the data connections before a maintenance begins (see
	// Watch and IsShutdown). Off: Bybit's maintenance is met as any
	// disconnect.
	StatusStream bool
	// MaintenanceLead is how long before a maintenance begins its notice
	// replaces the connections (default DefaultMaintenanceLead).
	MaintenanceLead time.Duration
	// REST, when set, is what Watch reads the instruments again with.
	REST *httpx.Client
	// RefreshEvery is how often Watch reads them (default
	// DefaultRefreshEvery; negative: never).
	RefreshEvery time.Duration
	// Logger: nil is slog.Default().
	Logger *slog.Logger
}

// Bybit is the Bybit v5 public venue for feed.Gateway. It implements
// feed.Venue, feed.Pinger and feed.Resubscriber.
type Bybit struct {
	cfg   Config
	tab   venue.Table[Symbols] // the instruments in force
	reqID atomic.Int64         // request IDs of resubscriptions

	refreshes, refreshErrors atomic.Int64
	index                    atomic.Pointer[planIndex]
	notices                  chan []Notice // from the status connection's decoder to Watch
}

var (
	_ feed.Venue        = (*Bybit)(nil)
	_ feed.Pinger       = (*Bybit)(nil)
	_ feed.Resubscriber = (*Bybit)(nil)
)

// New validates cfg.
func New(cfg Config) (*Bybit, error) {
	if cfg.WSURL == "" {
		cfg.WSURL = DefaultWSURL
	}
	if !venue.IsWSURL(cfg.WSURL) {
		return nil, fmt.Errorf("bybit: WSURL %q is not a wss:// URL", cfg.WSURL)
	}
	if cfg.Symbols == nil {
		return nil, errors.New("bybit: Config.Symbols is nil (see LoadSymbols)")
	}
	if cfg.TopicsPerConn == 0 {
		cfg.TopicsPerConn = 100
	}
	if cfg.TopicsPerConn < 1 || cfg.TopicsPerConn > MaxTopicsPerConn {
		return nil, fmt.Errorf("bybit: TopicsPerConn %d is outside 1..%d", cfg.TopicsPerConn, MaxTopicsPerConn)
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = PingInterval
	}
	if cfg.PingInterval < 0 {
		return nil, fmt.Errorf("bybit: PingInterval %v is negative", cfg.PingInterval)
	}
	if cfg.RefreshEvery == 0 {
		cfg.RefreshEvery = DefaultRefreshEvery
	}
	if cfg.MaintenanceLead == 0 {
		cfg.MaintenanceLead = DefaultMaintenanceLead
	}
	if cfg.MaintenanceLead < 0 {
		return nil, fmt.Errorf("bybit: MaintenanceLead %v is negative", cfg.MaintenanceLead)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.WSURL = strings.TrimSuffix(cfg.WSURL, "/")
	v := &Bybit{cfg: cfg, notices: make(chan []Notice, 16)}
	v.tab.Store(cfg.Symbols)
	v.reqID.Store(1 << 20) // above the plans' request IDs
	return v, nil
}

// Name returns "bybit".
func (v *Bybit) Name() string { return Venue }

// Lifetime is 0: Bybit documents no maximum lifetime for public streams.
func (v *Bybit) Lifetime() time.Duration { return 0 }

// MessageRate is what the gateway may send a second on one connection.
func (v *Bybit) MessageRate() float64 { return clientMessageRate }

// Rules are Bybit's ("Orderbook", "Process snapshot/delta"): the stream
// sends a snapshot when subscribed and deltas after it; any later snapshot
// (including the u=1 one after a service restart) replaces the book. Each
// delta is read as covering the one update u (FirstID = ID = u), continuing
// the one before when its u is that one's + 1: the WS page says only
// "Update ID", while "Get Orderbook" (REST) says its u "is always in
// sequence" and matches the 1000-level stream's, and "Orderbook (full)"
// states +1 per delta. A jump asks for the stream again (a fresh snapshot),
// which costs a snapshot if the reading is wrong, never a wrong book.
// Trade IDs are opaque (see the package comment).
func (v *Bybit) Rules() feed.Rules {
	return feed.Rules{BookChain: feed.ChainFirstID, Book: feed.BookFromStream, Trades: feed.TradeIDsOpaque}
}

// Keepalive is Bybit's heartbeat ("Connect", "How to Send the Heartbeat
// Packet"): {"op":"ping"} every Config.PingInterval (20 s), answered on spot by
// {"success":true,"ret_msg":"pong",…,"op":"ping"} and on linear the same
// with "req_id"; option streams answer {"op":"pong",…}. Both are kept from
// the decoder.
func (v *Bybit) Keepalive() wsconn.Keepalive {
	return wsconn.Keepalive{Interval: v.cfg.PingInterval, Message: func() []byte { return pingMessage }, IsReply: IsPong}
}

var pingMessage = []byte(`{"op":"ping"}`)

// IsPong reports whether frame is an answer to {"op":"ping"}. Market data
// frames start with {"topic"; replies are short.
func IsPong(frame []byte) bool {
	if len(frame) > 256 || len(frame) < 12 {
		return false
	}
	return bytes.Contains(frame, pongRetMsg) || bytes.Contains(frame, pongOp)
}

var (
	pongRetMsg = []byte(`"ret_msg":"pong"`)
	pongOp     = []byte(`"op":"pong"`)
)

// ValidStream checks one stream name: its form and a listed symbol.
func (v *Bybit) ValidStream(name string) (Stream, error) {
	s, err := ParseStream(name)
	if err != nil {
		return Stream{}, err
	}
	if _, ok := v.tab.Load().Lookup(s.Category, s.Symbol); !ok {
		return Stream{}, fmt.Errorf("bybit: stream %q: %s %s: %w", name, s.Category, s.Symbol, ErrUnknownSymbol)
	}
	return s, nil
}

// Plan checks the streams and splits each category's over connections to
// <WSURL>/v5/public/<category>, of at most TopicsPerConn topics and
// MaxArgsLength characters of them, each subscribed by requests of at most
// SpotArgsPerRequest (spot) or LinearArgsPerRequest (linear) topics
// ("Connect": args limits). One orderbook topic per market: the gateway
// keeps one book per market. With Config.StatusStream the last plan is
// the system status connection (StatusPath, stream StatusStream).
func (v *Bybit) Plan(streams []string) ([]feed.ConnPlan, error) {
	seen := map[string]bool{}
	books := map[string]string{}
	by := map[Category][]Stream{}
	for _, name := range streams {
		name = strings.TrimSpace(name)
		s, err := v.ValidStream(name)
		if err != nil {
			return nil, err
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		if s.kind == kindBook {
			key := string(s.Category) + "/" + s.Symbol
			if other, ok := books[key]; ok {
				return nil, fmt.Errorf("bybit: streams %q and %q: one orderbook topic per market (one book is kept per market)", other, name)
			}
			books[key] = name
		}
		by[s.Category] = append(by[s.Category], s)
	}
	if len(seen) == 0 {
		return nil, errors.New("bybit: no streams")
	}
	var plans []feed.ConnPlan
	id := int64(1)
	for _, c := range Categories {
		list := by[c]
		for len(list) > 0 {
			n, length := 0, 0
			for n < len(list) && n < v.cfg.TopicsPerConn && length+len(list[n].Topic)+1 <= MaxArgsLength {
				length += len(list[n].Topic) + 1
				n++
			}
			group := list[:n]
			list = list[n:]
			p := feed.ConnPlan{URL: v.cfg.WSURL + "/v5/public/" + string(c)}
			per := LinearArgsPerRequest
			if c == Spot {
				per = SpotArgsPerRequest
			}
			for start := 0; start < len(group); start += per {
				chunk := group[start:min(start+per, len(group))]
				topics := make([]string, len(chunk))
				names := make([]string, len(chunk))
				for i, s := range chunk {
					topics[i], names[i] = s.Topic, s.String()
				}
				p.Streams = append(p.Streams, names...)
				p.Subscribe = append(p.Subscribe, request("subscribe", id, topics))
				p.Requests = append(p.Requests, feed.Request{ID: id, Streams: names})
				id++
			}
			plans = append(plans, p)
		}
	}
	ix := &planIndex{byTopic: map[string][]int{}, cats: make([]Category, len(plans)), due: make([]atomic.Bool, len(plans))}
	for i := range plans {
		p := &plans[i]
		for _, name := range p.Streams {
			s, _ := ParseStream(name)
			ix.byTopic[s.Topic] = append(ix.byTopic[s.Topic], i)
			ix.cats[i] = s.Category
		}
		msgs := p.Subscribe
		p.Build = func() [][]byte {
			ix.connected(i) // a connection made after a notice needs no replacing
			return msgs
		}
	}
	v.index.Store(ix)
	if v.cfg.StatusStream {
		plans = append(plans, feed.ConnPlan{URL: v.cfg.WSURL + StatusPath, Streams: []string{StatusStream},
			Subscribe: [][]byte{request("subscribe", id, []string{statusTopic})},
			Requests:  []feed.Request{{ID: id, Streams: []string{StatusStream}}}})
	}
	return plans, nil
}

// request builds {"req_id":"ID","op":OP,"args":[…]} ("Connect": "How to
// Subscribe to Topics"); the reply carries req_id back.
func request(op string, id int64, topics []string) []byte {
	b := make([]byte, 0, 40+len(topics)*32)
	b = append(b, `{"req_id":"`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `","op":"`...)
	b = append(b, op...)
	b = append(b, `","args":[`...)
	for i, t := range topics {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, t) // topics are checked ASCII
	}
	return append(b, "]}"...)
}

// ResubscribeMessages returns the messages that unsubscribe stream and
// subscribe it again on its live connection, so that Bybit sends its
// snapshot anew ("Orderbook": the first message after a subscribe is a
// snapshot).
func (v *Bybit) ResubscribeMessages(stream string) ([][]byte, error) {
	s, err := ParseStream(stream)
	if err != nil {
		return nil, err
	}
	topics := []string{s.Topic}
	return [][]byte{request("unsubscribe", v.reqID.Add(1), topics), request("subscribe", v.reqID.Add(1), topics)}, nil
}

// NewDecoder returns a decoder of the plan's frames: its category is that
// of the plan's URL.
func (v *Bybit) NewDecoder(p feed.ConnPlan) feed.Decoder {
	if strings.HasSuffix(p.URL, StatusPath) {
		return &statusDecoder{Decoder: NewDecoder(v.tab.Load(), Linear), v: v}
	}
	c := Spot
	if strings.HasSuffix(p.URL, "/"+string(Linear)) {
		c = Linear
	}
	d := NewDecoder(v.tab.Load(), c)
	d.src = &v.tab
	return d
}

// SymbolsOfStreams returns the markets (category, symbol) of stream names,
// once each, in order; names that do not parse are left out.
func SymbolsOfStreams(streams []string) []Stream {
	seen := map[string]bool{}
	var out []Stream
	for _, st := range streams {
		s, err := ParseStream(strings.TrimSpace(st))
		if err != nil {
			continue
		}
		if key := string(s.Category) + "/" + s.Symbol; !seen[key] {
			seen[key] = true
			out = append(out, s)
		}
	}
	return out
}
