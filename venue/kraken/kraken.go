// Package kraken speaks Kraken Spot WebSocket v2 public market data: it
// plans connections to wss://ws.kraken.com/v2, keeps them alive with
// Kraken's {"method":"ping"}, decodes their pushes into feed events
// (trades, books from the stream's own snapshot checked by Kraken's CRC-32
// checksum, tickers, the status channel's maintenance notice) and recovers
// missed trades from the REST API's /0/public/Trades.
//
// Stream names are <symbol>@<channel>, the pair as WebSocket v2 names it
// ("BTC/USD", never the v1/REST "XBT/USD") and the channel as Kraken's
// subscribe request names it: "BTC/USD@book", "BTC/USD@trade",
// "BTC/USD@ticker". Events name the instrument "BTC-USD".
//
// Kraken's book carries no update IDs: the decoder numbers the book
// events of each pair by their timestamp in microseconds (a repeat keeps
// its ID, a message in the same microsecond takes the next), with FirstID
// the last ID + 1, so that the sequencer (feed.ChainFirstID) sees an
// unbroken chain and drops repeats and late messages; the checksum sent
// with every snapshot and update is the check, and a mismatch asks for
// the book again (unsubscribe, subscribe) on its connection. The decoder
// also keeps each book at the subscribed depth and ends an update with
// the removal of the levels it pushed out of scope, which Kraken does not
// send.
//
// Prices and quantities are JSON numbers, sometimes in exponent form;
// they are read as decimals (ParseNumber) at the pair's precisions, the
// digits the checksum is computed from. They come first from GET
// /0/public/AssetPairs (pair_decimals and lot_decimals); every connection
// then subscribes to the instrument channel before its books, as the
// checksum guide asks, and the channel's price_precision and
// qty_precision win where they differ (Instruments). The channel's
// updates change a pair's precisions for the events after them (a status
// event of StatusInstrument; the book is rebuilt) and announce a streamed
// pair that stops or starts trading (StatusHalted, StatusTrading);
// AssetPairs is read again while running (Instruments.Refresh) for pairs
// listed since.
package kraken

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/feedkeeper/feedkeeper/book"
	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// Venue is the venue name carried by every event of this package.
const Venue = "kraken"

// Real endpoints ("Spot WebSocket" landing page; REST "api.kraken.com").
const (
	DefaultWSURL   = "wss://ws.kraken.com/v2"
	DefaultRESTURL = "https://api.kraken.com"
)

// Channels this package plans and decodes, as Kraken's subscribe params
// name them.
const (
	ChannelBook   = "book"
	ChannelTrade  = "trade"
	ChannelTicker = "ticker"
)

// ChannelsHelp lists the channels a stream may name, for messages.
const ChannelsHelp = "book, trade, ticker"

// Limits and defaults.
const (
	// DefaultStreamsPerConn is this client's count of streams on one
	// connection: Kraken documents no subscription limit a connection.
	DefaultStreamsPerConn = 50
	// MaxStreamsPerConn bounds --kraken-streams-per-conn.
	MaxStreamsPerConn = 200
	// DefaultBookDepth is the depth asked of book ("Book (Level 2)":
	// 10, 25, 100, 500 or 1000, default 10).
	DefaultBookDepth = 10
	// PingInterval is how often a connection sends {"method":"ping"}.
	// Kraken's reconnection guide treats 5 s without any message as a
	// dead connection; heartbeats come about once a second when nothing
	// else does ("Heartbeat"), so the ping guards the path, not the idle.
	PingInterval = 10 * time.Second
	// clientMessageRate is what the gateway sends a second on one
	// connection: Kraken's limit is dynamic ({"Error":"Exceeded msg
	// rate"}), so the client stays low.
	clientMessageRate = 2.0
)

// ValidDepths are the book depths Kraken accepts ("Book (Level 2)").
var ValidDepths = []int{10, 25, 100, 500, 1000}

var symbolForm = regexp.MustCompile(`^[A-Z0-9]{1,16}/[A-Z0-9]{1,16}$`)

// ParseStream splits a stream name <symbol>@<channel> and checks its form
// (not whether the pair is listed), with an error naming it.
func ParseStream(name string) (symbol, channel string, err error) {
	symbol, channel, ok := strings.Cut(name, "@")
	if !ok || !symbolForm.MatchString(symbol) {
		return "", "", fmt.Errorf("stream %q: want <symbol>@<channel> with the pair as Kraken's WebSocket v2 names it, e.g. BTC/USD@book", name)
	}
	if b, q, _ := strings.Cut(symbol, "/"); wsAsset(b) != b || wsAsset(q) != q {
		return "", "", fmt.Errorf("stream %q: %s is Kraken's v1 name; v2 names it %s/%s", name, symbol, wsAsset(b), wsAsset(q))
	}
	switch channel {
	case ChannelBook, ChannelTrade, ChannelTicker:
	default:
		return "", "", fmt.Errorf("stream %q: unknown channel %q (%s)", name, channel, ChannelsHelp)
	}
	return symbol, channel, nil
}

// wsAsset maps Kraken's v1 and REST asset names to v2's (XBT → BTC, XDG
// → DOGE: "Spot WebSocket", v1 vs v2 symbols).
func wsAsset(a string) string {
	switch a {
	case "XBT":
		return "BTC"
	case "XDG":
		return "DOGE"
	}
	return a
}

// Config describes the venue.
type Config struct {
	// WSURL is the v2 endpoint (default DefaultWSURL); a URL without a
	// path gets /v2, the public route of WebSocket v2.
	WSURL string
	// Symbols gives every pair's precisions (LoadSymbols fetches them);
	// the instrument channel may change them (Instruments).
	Symbols *Symbols
	// Instruments, when set, is the table in force to decode with,
	// shared with the recovery and a refresh; nil: one of Symbols.
	Instruments *Instruments
	// StreamsPerConn splits the streams over connections (default
	// DefaultStreamsPerConn).
	StreamsPerConn int
	// BookDepth is the depth subscribed for book (default
	// DefaultBookDepth; one of ValidDepths).
	BookDepth int
	// PingInterval is how often each connection sends a ping (default
	// PingInterval).
	PingInterval time.Duration
	// Logger: nil is slog.Default().
	Logger *slog.Logger
}

// Kraken is the Kraken venue for feed.Gateway. Safe for concurrent use.
type Kraken struct {
	cfg  Config
	inst *Instruments

	mu      sync.Mutex
	scratch []book.Level // levels of a side being cut to depth
}

var (
	_ feed.Venue        = (*Kraken)(nil)
	_ feed.Resubscriber = (*Kraken)(nil)
	_ feed.Pinger       = (*Kraken)(nil)
)

// New validates cfg.
func New(cfg Config) (*Kraken, error) {
	if cfg.WSURL == "" {
		cfg.WSURL = DefaultWSURL
	}
	if !venue.IsWSURL(cfg.WSURL) {
		return nil, fmt.Errorf("kraken: WSURL %q is not a wss:// URL", cfg.WSURL)
	}
	if u, _ := url.Parse(cfg.WSURL); u.Path == "" || u.Path == "/" {
		u.Path = "/v2"
		cfg.WSURL = u.String()
	}
	if cfg.Symbols == nil {
		return nil, errors.New("kraken: Config.Symbols is nil (see LoadSymbols)")
	}
	if cfg.StreamsPerConn == 0 {
		cfg.StreamsPerConn = DefaultStreamsPerConn
	}
	if cfg.StreamsPerConn < 1 || cfg.StreamsPerConn > MaxStreamsPerConn {
		return nil, fmt.Errorf("kraken: StreamsPerConn %d is outside 1..%d", cfg.StreamsPerConn, MaxStreamsPerConn)
	}
	if cfg.BookDepth == 0 {
		cfg.BookDepth = DefaultBookDepth
	}
	if !slices.Contains(ValidDepths, cfg.BookDepth) {
		return nil, fmt.Errorf("kraken: BookDepth %d: Kraken offers %v", cfg.BookDepth, ValidDepths)
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = PingInterval
	}
	if cfg.PingInterval < 0 {
		return nil, fmt.Errorf("kraken: PingInterval %v is negative", cfg.PingInterval)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	inst := cfg.Instruments
	if inst == nil {
		inst = NewInstruments(cfg.Symbols, cfg.Logger)
	}
	return &Kraken{cfg: cfg, inst: inst}, nil
}

// Name returns "kraken".
func (v *Kraken) Name() string { return Venue }

// Lifetime is 0: Kraken documents no maximum connection lifetime.
func (v *Kraken) Lifetime() time.Duration { return 0 }

// MessageRate is what the gateway may send a second on one connection.
func (v *Kraken) MessageRate() float64 { return clientMessageRate }

// Symbols returns the pair table the venue decodes with now.
func (v *Kraken) Symbols() *Symbols { return v.inst.Table() }

// Instruments returns what keeps the venue's pair table current.
func (v *Kraken) Instruments() *Instruments { return v.inst }

// Rules are Kraken's: book sends a snapshot when subscribed, then updates
// with absolute quantities; neither carries an update ID, so the decoder
// numbers them by timestamp (see the package comment: ChainFirstID sees
// no gap) and the CRC-32 checksum of every snapshot and update is the
// check; a mismatch asks for the book
// again ("Book checksum (WebSocket v2)": no server-side recovery; a REST
// depth cannot be aligned with the stream). trade_id is "a sequence
// number, unique per book" ("Trades"): a jump is a gap, filled from
// /0/public/Trades.
func (v *Kraken) Rules() feed.Rules {
	return feed.Rules{BookChain: feed.ChainFirstID, Book: feed.BookFromStream, Trades: feed.TradeIDsContiguous, Checksum: v.checksum,
		BookIDsUncounted: true}
}

// IsShutdown reports whether frame is a status message announcing the
// engine's maintenance ("Status": system "maintenance").
func (v *Kraken) IsShutdown(frame []byte) bool { return isShutdown(frame) }

// NewDecoder returns a decoder of the plan's frames.
func (v *Kraken) NewDecoder(p feed.ConnPlan) feed.Decoder {
	d := newDecoder(v.inst, SymbolsOfStreams(p.Streams))
	d.Depth = v.cfg.BookDepth
	return d
}

// Keepalive is Kraken's ("Ping"): {"method":"ping"} every PingInterval,
// answered by {"method":"pong",…}.
func (v *Kraken) Keepalive() wsconn.Keepalive {
	return wsconn.Keepalive{
		Interval: v.cfg.PingInterval,
		Message:  func() []byte { return []byte(`{"method":"ping"}`) },
		IsReply:  isPong,
		Timeout:  v.cfg.PingInterval,
	}
}

// ValidStream checks one stream name: its form and that its pair is in
// the table.
func (v *Kraken) ValidStream(name string) error {
	sym, _, err := ParseStream(name)
	if err != nil {
		return fmt.Errorf("kraken: %w", err)
	}
	if _, ok := v.inst.Table().Lookup(sym); !ok {
		return fmt.Errorf("kraken: stream %q: %w", name, ErrUnknownSymbol)
	}
	return nil
}

// Plan checks the streams and splits them over connections of
// StreamsPerConn streams each. A connection subscribes with one request a
// channel listing its symbols ("Book (Level 2)", "Trades", "Ticker":
// symbol is an array); book asks for BookDepth and a snapshot, trade and
// ticker for their snapshots explicitly (the docs disagree on the
// default). Request IDs are the req_id the acknowledgements echo. Each
// connection first subscribes to the instrument channel, without req_id
// (it is no stream of the plan): "subscribe to instrument before book",
// whose price_precision and qty_precision the checksum is written at.
func (v *Kraken) Plan(streams []string) ([]feed.ConnPlan, error) {
	seen := make(map[string]bool, len(streams))
	var list []string
	for _, st := range streams {
		st = strings.TrimSpace(st)
		if err := v.ValidStream(st); err != nil {
			return nil, err
		}
		if !seen[st] {
			seen[st] = true
			list = append(list, st)
		}
	}
	if len(list) == 0 {
		return nil, errors.New("kraken: no streams")
	}
	var plans []feed.ConnPlan
	id := int64(1)
	for start := 0; start < len(list); start += v.cfg.StreamsPerConn {
		group := list[start:min(start+v.cfg.StreamsPerConn, len(list))]
		p := feed.ConnPlan{URL: v.cfg.WSURL, Streams: group, Subscribe: [][]byte{instrumentSubscribe}, Requests: []feed.Request{{}}}
		for _, ch := range []string{ChannelBook, ChannelTrade, ChannelTicker} {
			var of []string
			for _, st := range group {
				if strings.HasSuffix(st, "@"+ch) {
					of = append(of, st)
				}
			}
			if len(of) == 0 {
				continue
			}
			msg, err := v.request("subscribe", id, ch, of)
			if err != nil {
				return nil, err
			}
			p.Subscribe = append(p.Subscribe, msg)
			p.Requests = append(p.Requests, feed.Request{ID: id, Streams: of})
			id++
		}
		plans = append(plans, p)
	}
	return plans, nil
}

type params struct {
	Channel  string   `json:"channel"`
	Symbol   []string `json:"symbol"`
	Depth    int      `json:"depth,omitempty"`
	Snapshot *bool    `json:"snapshot,omitempty"`
}

// request builds {"method":…,"params":{"channel":…,"symbol":[…],…},"req_id":id}
// for streams of channel ch.
func (v *Kraken) request(method string, id int64, ch string, streams []string) ([]byte, error) {
	p := params{Channel: ch}
	for _, st := range streams {
		sym, _, err := ParseStream(st)
		if err != nil {
			return nil, fmt.Errorf("kraken: %w", err)
		}
		p.Symbol = append(p.Symbol, sym)
	}
	if ch == ChannelBook {
		p.Depth = v.cfg.BookDepth // repeated on unsubscribe, as the docs' sample does
	}
	if method == "subscribe" {
		t := true
		p.Snapshot = &t
	}
	return json.Marshal(struct {
		Method string `json:"method"`
		Params params `json:"params"`
		ReqID  int64  `json:"req_id,omitempty"`
	}{method, p, id})
}

// ResubscribeMessages returns the unsubscribe and subscribe requests that
// ask for a book stream again, so that Kraken sends its snapshot anew:
// what a checksum mismatch calls for ("Book checksum (WebSocket v2)").
func (v *Kraken) ResubscribeMessages(stream string) ([][]byte, error) {
	_, ch, err := ParseStream(stream)
	if err != nil {
		return nil, fmt.Errorf("kraken: %w", err)
	}
	if ch != ChannelBook {
		return nil, fmt.Errorf("kraken: stream %q: not a book channel", stream)
	}
	un, err := v.request("unsubscribe", 0, ch, []string{stream})
	if err != nil {
		return nil, err
	}
	sub, err := v.request("subscribe", 0, ch, []string{stream})
	if err != nil {
		return nil, err
	}
	return [][]byte{un, sub}, nil
}

// SymbolsOfStreams returns the pairs named in stream names, in order,
// without repeats.
func SymbolsOfStreams(streams []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, st := range streams {
		sym, _, _ := strings.Cut(strings.TrimSpace(st), "@")
		if sym != "" && !seen[sym] {
			seen[sym] = true
			out = append(out, sym)
		}
	}
	return out
}
