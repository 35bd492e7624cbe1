// Package coinbase speaks Coinbase Advanced Trade public market data: it
// plans connections to the Advanced Trade market-data stream, subscribes one
// channel per message with heartbeats and status on every connection,
// decodes level2 books (snapshot then absolute updates), market trades and
// tickers into feed events, announces products going offline and coming
// back (status channel), and reads products and the server's clock over
// REST, again while running (Coinbase.Refresh).
//
// # Why Advanced Trade
//
// The Exchange feed gives an unauthenticated client only level2_batch, which
// carries no sequence; Advanced Trade's level2 is public and "guarantees
// delivery of all updates", its snapshot in-band ("WebSocket Channels":
// Level2 channel). This package therefore speaks Advanced Trade only.
//
// # Names
//
// A stream is PRODUCT@CHANNEL with the product as Coinbase names it and the
// channel as subscribed: BTC-USD@level2, BTC-USD@market_trades,
// BTC-USD@ticker. Events name the product ("BTC-USD"); Event.Instrument is
// the same text. Coinbase serves a -USDC product's public data under the
// -USD product ("WebSocket Channels": USD and USDC books are combined), so
// BTC-USDC is asked for, and named by events, as BTC-USD.
//
// # Sequences
//
// Every message of a connection carries sequence_num, one counter of the
// connection across all its channels, starting at 0 with the first message
// and growing by one a message (read from the documented samples: the
// subscriptions reply and the first heartbeat carry 0; Coinbase states no
// scope, and the Exchange feed's "each new message being exactly one
// sequence number greater" is the rule applied; the simulator's Coinbase
// front-end reads it so too). heartbeats carry heartbeat_counter, one a
// second per connection. A book event's ID is its message's sequence_num
// and its PrevID the ID of the book's previous event on the connection
// (Rules.BookChain ChainPrevID: books' IDs jump by the other channels' and
// products' messages between them). When sequence_num jumps or
// heartbeat_counter skips, the next event of every book of the connection
// names no previous event (PrevID -1): the gateway sees a break and
// resubscribes those books (ResubscribeMessages), whose fresh snapshot
// repairs them; and the decoder reports the loss (feed.LossReporter), so
// every product that traded on the connection gets a trade gap window
// from its last trade before to its first after. A sequence_num lower than the last is read as a new
// numbering and starts the check again. Should Coinbase's counter prove to
// be per channel, --coinbase-sequence-scope channel reads it so (and off
// leaves only heartbeat_counter checked). Trades are TradeIDsOpaque: see
// ErrNoTradeHistory.
package coinbase

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/venue"
)

// Venue is the venue name carried by every event of this package.
const Venue = "coinbase"

// Real endpoints ("WebSocket Overview": endpoints; "REST API": base URL).
// Tests use local servers.
const (
	// DefaultWSURL is the Advanced Trade market-data stream.
	DefaultWSURL = "wss://advanced-trade-ws.coinbase.com"
	// DefaultRESTURL is the Advanced Trade REST base; paths below it are
	// /api/v3/brokerage/….
	DefaultRESTURL = "https://api.coinbase.com"
)

// Limits of the venue ("WebSocket Overview", "WebSocket Rate Limits").
const (
	// SubscribeDeadline: a connection that sends no subscribe within 5 s
	// of opening is closed.
	SubscribeDeadline = 5 * time.Second
	// MaxProductsPerConn bounds --coinbase-products-per-conn.
	MaxProductsPerConn = 100
	// messageRate is what one connection sends a second: Coinbase allows
	// an unauthenticated IP 8 messages a second; a connection's subscribe
	// messages (heartbeats, at most three channels, status) go out within
	// about a second at 4 a second, well inside SubscribeDeadline.
	messageRate = 4.0
)

// Channels this package subscribes and decodes ("WebSocket Channels").
const (
	ChannelLevel2       = "level2"
	ChannelMarketTrades = "market_trades"
	ChannelTicker       = "ticker"
	ChannelHeartbeats   = "heartbeats"
	// ChannelStatus gives the products' status ("offline", "delisted" …);
	// every connection subscribes it for its products.
	ChannelStatus = "status"
)

var channels = []string{ChannelLevel2, ChannelMarketTrades, ChannelTicker}

// StreamTypesHelp lists the streams this venue decodes, for messages.
const StreamTypesHelp = "PRODUCT@level2, PRODUCT@market_trades or PRODUCT@ticker, with PRODUCT as Coinbase names it (BTC-USD)"

// ErrUnknownSymbol is matched by errors for a product the table lacks, in a
// stream name or a frame. Decode errors also match feed.ErrUnknown.
var ErrUnknownSymbol = errors.New("coinbase: unknown product")

// Stream is a parsed stream name.
type Stream struct {
	Product string // "BTC-USD"
	Channel string // "level2"
}

// String returns the stream's name, PRODUCT@CHANNEL.
func (s Stream) String() string { return s.Product + "@" + s.Channel }

// ParseStream reads PRODUCT@CHANNEL, with errors that name it as typed. It
// checks the form only, not that the product is listed.
func ParseStream(name string) (Stream, error) {
	p, c, ok := strings.Cut(name, "@")
	if !ok || !validProduct(p) {
		return Stream{}, fmt.Errorf("stream %q: want PRODUCT@CHANNEL, e.g. BTC-USD@level2 (%s)", name, StreamTypesHelp)
	}
	for _, k := range channels {
		if c == k {
			return Stream{Product: p, Channel: c}, nil
		}
	}
	return Stream{}, fmt.Errorf("stream %q: channel %q is not decoded (%s)", name, c, StreamTypesHelp)
}

// validProduct: BASE-QUOTE, upper case letters and digits.
func validProduct(s string) bool {
	b, q, ok := strings.Cut(s, "-")
	return ok && validAsset(b) && validAsset(q)
}

func validAsset(s string) bool {
	if len(s) < 1 || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Config describes the venue.
type Config struct {
	// WSURL is the stream (default DefaultWSURL).
	WSURL string
	// Symbols gives each product's scales (LoadSymbols fetches them).
	Symbols *Symbols
	// ProductsPerConn splits the products over connections (default 20,
	// at most MaxProductsPerConn); every stream of a product goes on the
	// same connection.
	ProductsPerConn int
	// Sequence is what sequence_num is read to count (default
	// SequencePerConnection).
	Sequence SequenceScope
	// Logger: nil is slog.Default().
	Logger *slog.Logger
}

// Coinbase is the Advanced Trade public venue for feed.Gateway. It
// implements feed.Venue and feed.Resubscriber.
type Coinbase struct {
	cfg Config
	tab venue.Table[Symbols] // Config.Symbols, with the scales decoders widened and the refreshes

	listed, changed, refreshes, refreshErrors atomic.Int64
}

var (
	_ feed.Venue        = (*Coinbase)(nil)
	_ feed.Resubscriber = (*Coinbase)(nil)
)

// New validates cfg.
func New(cfg Config) (*Coinbase, error) {
	if cfg.WSURL == "" {
		cfg.WSURL = DefaultWSURL
	}
	if !venue.IsWSURL(cfg.WSURL) {
		return nil, fmt.Errorf("coinbase: WSURL %q is not a wss:// URL", cfg.WSURL)
	}
	if cfg.Symbols == nil {
		return nil, errors.New("coinbase: Config.Symbols is nil (see LoadSymbols)")
	}
	if cfg.ProductsPerConn == 0 {
		cfg.ProductsPerConn = 20
	}
	if cfg.ProductsPerConn < 1 || cfg.ProductsPerConn > MaxProductsPerConn {
		return nil, fmt.Errorf("coinbase: ProductsPerConn %d is outside 1..%d", cfg.ProductsPerConn, MaxProductsPerConn)
	}
	if cfg.Sequence > SequenceOff {
		return nil, fmt.Errorf("coinbase: Sequence %v is not a SequenceScope", cfg.Sequence)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	v := &Coinbase{cfg: cfg}
	v.tab.Store(cfg.Symbols)
	return v, nil
}

// Name returns "coinbase".
func (v *Coinbase) Name() string { return Venue }

// Lifetime is 0: Coinbase documents no maximum connection lifetime.
func (v *Coinbase) Lifetime() time.Duration { return 0 }

// MessageRate is what the gateway may send a second on one connection.
func (v *Coinbase) MessageRate() float64 { return messageRate }

// IsShutdown reports false: Coinbase announces no venue-wide maintenance
// on its WebSocket; its status channel carries the products' status
// (Decoder: halted and trading events).
func (v *Coinbase) IsShutdown([]byte) bool { return false }

// Rules: books from the stream's snapshots, chained by PrevID (see the
// package comment), whose IDs count every message of the connection, not
// the book's updates; trades opaque.
func (v *Coinbase) Rules() feed.Rules {
	return feed.Rules{BookChain: feed.ChainPrevID, Book: feed.BookFromStream, Trades: feed.TradeIDsOpaque, BookIDsUncounted: true}
}

// Widened counts the scales decoders widened for a value with more
// decimals than the product's increment.
func (v *Coinbase) Widened() int64 { return v.tab.Widened() }

// ValidStream checks one stream name: its form and a listed product.
func (v *Coinbase) ValidStream(name string) (Stream, error) {
	s, err := ParseStream(name)
	if err != nil {
		return Stream{}, err
	}
	if _, ok := v.tab.Load().Lookup(s.Product); !ok {
		return Stream{}, fmt.Errorf("coinbase: stream %q: product %s: %w", name, s.Product, ErrUnknownSymbol)
	}
	return s, nil
}

// Plan checks the streams and puts the products on connections of at most
// ProductsPerConn products each. Each connection subscribes heartbeats,
// then each of its channels in a message of its own ("WebSocket
// Overview": one channel per subscribe message; heartbeats keep idle
// subscriptions open), then status for its products (a product going
// offline is announced, not silent), built on every connect
// (ConnPlan.Build) and sent at MessageRate, within SubscribeDeadline.
func (v *Coinbase) Plan(streams []string) ([]feed.ConnPlan, error) {
	seen := map[string]bool{}
	var products []string
	byProduct := map[string][]string{}
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
		if byProduct[s.Product] == nil {
			products = append(products, s.Product)
		}
		byProduct[s.Product] = append(byProduct[s.Product], s.Channel)
	}
	if len(products) == 0 {
		return nil, errors.New("coinbase: no streams")
	}
	var plans []feed.ConnPlan
	for len(products) > 0 {
		n := min(len(products), v.cfg.ProductsPerConn)
		group := products[:n]
		products = products[n:]
		p := feed.ConnPlan{URL: v.cfg.WSURL}
		msgs := [][]byte{subscribe("subscribe", ChannelHeartbeats, nil)}
		for _, c := range channels {
			var list []string
			for _, prod := range group {
				for _, have := range byProduct[prod] {
					if have == c {
						list = append(list, prod)
						p.Streams = append(p.Streams, prod+"@"+c)
					}
				}
			}
			if len(list) > 0 {
				msgs = append(msgs, subscribe("subscribe", c, list))
			}
		}
		msgs = append(msgs, subscribe("subscribe", ChannelStatus, group))
		p.Build = func() [][]byte {
			out := make([][]byte, len(msgs))
			for i, m := range msgs {
				out[i] = append([]byte(nil), m...)
			}
			return out
		}
		plans = append(plans, p)
	}
	return plans, nil
}

// subscribe builds {"type":OP,"product_ids":[…],"channel":CHANNEL}
// ("WebSocket Overview": Subscribe); no product_ids when products is nil.
func subscribe(op, channel string, products []string) []byte {
	b := make([]byte, 0, 64+len(products)*12)
	b = append(b, `{"type":`...)
	b = strconv.AppendQuote(b, op)
	if products != nil {
		b = append(b, `,"product_ids":[`...)
		for i, p := range products {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, p) // products are checked ASCII
		}
		b = append(b, ']')
	}
	b = append(b, `,"channel":`...)
	b = strconv.AppendQuote(b, channel)
	return append(b, '}')
}

// ResubscribeMessages returns the messages that unsubscribe stream's
// product from its channel and subscribe it again on its live connection,
// so that Coinbase sends a level2 snapshot anew.
func (v *Coinbase) ResubscribeMessages(stream string) ([][]byte, error) {
	s, err := ParseStream(stream)
	if err != nil {
		return nil, err
	}
	p := []string{s.Product}
	return [][]byte{subscribe("unsubscribe", s.Channel, p), subscribe("subscribe", s.Channel, p)}, nil
}

// NewDecoder returns a decoder of one connection's frames; it announces
// the status of the products of the plan's streams only (the status
// channel may list others).
func (v *Coinbase) NewDecoder(p feed.ConnPlan) feed.Decoder {
	d := newDecoder(&v.tab, v.cfg.Sequence)
	if len(p.Streams) > 0 {
		d.streams = map[string]bool{}
		for _, st := range p.Streams {
			if s, err := ParseStream(st); err == nil {
				d.streams[s.Product] = true
			}
		}
	}
	return d
}
