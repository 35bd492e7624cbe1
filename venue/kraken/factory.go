package kraken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue"
)

func init() { venue.Register(Venue, factory{}) }

// DefaultDialBudget bounds the connection attempts of the venue's
// connections together: Kraken publishes no per-IP connection limit for
// WebSocket v2, and its reconnection guide asks for backoff with jitter;
// 5 in 10 s stays polite.
const DefaultDialBudget = "5/10s"

// Options are the venue's settings: the kraken: section of a config file
// and the flags --kraken-streams-per-conn, --kraken-book-depth,
// --kraken-ping-interval, --kraken-dial-budget and
// --kraken-instruments-refresh.
type Options struct {
	StreamsPerConn int           `yaml:"kraken_streams_per_conn"`
	BookDepth      int           `yaml:"kraken_book_depth"`
	PingInterval   time.Duration `yaml:"kraken_ping_interval"`
	DialBudget     string        `yaml:"kraken_dial_budget"`
	// InstrumentsRefresh is how often AssetPairs is read again while
	// running (Instruments.Refresh); 0 never.
	InstrumentsRefresh time.Duration `yaml:"kraken_instruments_refresh"`
}

var _ venue.Options = (*Options)(nil)

// BindFlags registers the venue's flags on fs with their defaults.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.StreamsPerConn, "kraken-streams-per-conn", DefaultStreamsPerConn, fmt.Sprintf("streams per connection, 1..%d", MaxStreamsPerConn))
	fs.IntVar(&o.BookDepth, "kraken-book-depth", DefaultBookDepth, "levels a side asked of the book channel, 10..1000: 10, 25, 100, 500 or 1000")
	fs.DurationVar(&o.PingInterval, "kraken-ping-interval", PingInterval, `send {"method":"ping"} on each connection this often, ≥ 1s and ≤ 1m`)
	fs.StringVar(&o.DialBudget, "kraken-dial-budget", DefaultDialBudget, "connection attempts allowed to every Kraken connection together, LIMIT/WINDOW")
	fs.DurationVar(&o.InstrumentsRefresh, "kraken-instruments-refresh", DefaultInstrumentsRefresh, "read AssetPairs again this often while running (new pairs, changed decimals), ≥ 0 (0: never)")
}

// Validate checks every value against the ranges the flags state.
func (o *Options) Validate() error {
	var errs []error
	if o.StreamsPerConn < 1 || o.StreamsPerConn > MaxStreamsPerConn {
		errs = append(errs, &venue.SettingError{Flag: "kraken-streams-per-conn", Value: fmt.Sprint(o.StreamsPerConn), Want: fmt.Sprintf("out of range 1..%d", MaxStreamsPerConn)})
	}
	if !slices.Contains(ValidDepths, o.BookDepth) {
		errs = append(errs, &venue.SettingError{Flag: "kraken-book-depth", Value: fmt.Sprint(o.BookDepth), Want: "want 10, 25, 100, 500 or 1000"})
	}
	if o.PingInterval < time.Second || o.PingInterval > time.Minute {
		errs = append(errs, &venue.SettingError{Flag: "kraken-ping-interval", Value: o.PingInterval.String(), Want: "want ≥ 1s and ≤ 1m"})
	}
	errs = append(errs, venue.CheckDialBudget("kraken-dial-budget", o.DialBudget, DefaultDialBudget))
	if o.InstrumentsRefresh < 0 {
		errs = append(errs, &venue.SettingError{Flag: "kraken-instruments-refresh", Value: o.InstrumentsRefresh.String(), Want: "must not be negative (0 turns it off)"})
	}
	return errors.Join(errs...)
}

// Meta is the venue's recording metadata: what a replay needs to plan the
// same connections and decode at the same precisions.
type Meta struct {
	WSURL          string        `json:"ws_url"`
	StreamsPerConn int           `json:"streams_per_conn"`
	BookDepth      int           `json:"book_depth"`
	PingInterval   time.Duration `json:"ping_interval"`
	Symbols        []MetaSymbol  `json:"symbols"`
}

// MetaSymbol is one pair in Meta.
type MetaSymbol struct {
	Name       string `json:"name"`
	RESTPair   string `json:"rest_pair"`
	PriceScale uint8  `json:"price_scale"`
	QtyScale   uint8  `json:"qty_scale"`
}

type factory struct{}

var _ venue.Instrumenter = factory{}

func (factory) Defaults() venue.Defaults {
	return venue.Defaults{WSURL: DefaultWSURL, RESTURL: DefaultRESTURL}
}

func (factory) NewOptions() venue.Options { return venue.DefaultOptions[Options]() }

// CheckStream checks a stream name's form: <symbol>@<channel>
// (ParseStream).
func (factory) CheckStream(st string) error {
	_, _, err := ParseStream(st)
	return err
}

func (factory) CompleteStream(prefix string) []string {
	sym, _, ok := strings.Cut(prefix, "@")
	if !ok || !symbolForm.MatchString(sym) {
		return nil
	}
	var out []string
	for _, ch := range []string{ChannelBook, ChannelTicker, ChannelTrade} {
		if st := sym + "@" + ch; strings.HasPrefix(st, prefix) {
			out = append(out, st)
		}
	}
	return out
}

func (factory) Open(ctx context.Context, env venue.Env) (_ *venue.Setup, err error) {
	opts, err := venue.OptionsOf[Options](env, "kraken")
	if err != nil {
		return nil, err
	}
	log := env.Logger
	o := venue.NewOpening(env, DefaultWSURL, DefaultRESTURL)
	defer o.CloseOnError(&err)
	s := o.Setup
	rest, err := o.REST(RESTConfig(httpx.Config{BaseURL: s.RESTURL, TLS: env.TLS, Logger: log}))
	if err != nil {
		return nil, err
	}
	names := SymbolsOfStreams(env.Streams)
	symbols, err := LoadSymbols(ctx, rest, names)
	if err != nil {
		var nl *NotListedError
		if errors.As(err, &nl) {
			return nil, venue.BadInput(fmt.Errorf("pairs %s: not listed by %s (WebSocket v2 names, e.g. BTC/USD)", strings.Join(nl.Names, ", "), s.RESTURL))
		}
		return nil, venue.LoadError(ctx, s.RESTURL, "asset pairs", err)
	}
	inst := NewInstruments(symbols, log)
	inst.Watch(names...)
	v, err := New(Config{WSURL: s.WSURL, Symbols: symbols, Instruments: inst, StreamsPerConn: opts.StreamsPerConn, BookDepth: opts.BookDepth,
		PingInterval: opts.PingInterval, Logger: log})
	if err != nil {
		return nil, venue.BadInput(err)
	}
	s.Venue = v
	if err := o.Dials(env, "kraken-dial-budget", opts.DialBudget); err != nil {
		return nil, err
	}
	o.Hold(inst.Start(rest, opts.InstrumentsRefresh))
	if env.Recovery {
		if s.Recovery, err = NewRecovery(rest, inst); err != nil {
			return nil, err
		}
		for _, st := range env.Streams {
			if sym, ch, _ := strings.Cut(st, "@"); ch == ChannelBook {
				s.BookSymbols = append(s.BookSymbols, sym)
			}
		}
	}
	s.ServerTime = func(ctx context.Context) (time.Time, error) { return ServerTime(ctx, rest) }
	s.RESTStats = rest.Stats
	s.Symbols = names
	meta := Meta{WSURL: s.WSURL, StreamsPerConn: opts.StreamsPerConn, BookDepth: opts.BookDepth, PingInterval: opts.PingInterval}
	for _, n := range names { // only the pairs streamed
		sym, _ := symbols.Lookup(n)
		meta.Symbols = append(meta.Symbols, MetaSymbol{Name: sym.Name, RESTPair: sym.RESTPair, PriceScale: sym.PriceScale, QtyScale: sym.QtyScale})
	}
	if s.Meta, err = json.Marshal(meta); err != nil {
		return nil, err
	}
	return s, nil
}

func (factory) Replay(raw json.RawMessage) (feed.Venue, error) {
	var meta Meta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("kraken: recording metadata: %w", err)
	}
	list := make([]Symbol, 0, len(meta.Symbols))
	for _, m := range meta.Symbols {
		list = append(list, Symbol{Name: m.Name, RESTPair: m.RESTPair, PriceScale: m.PriceScale, QtyScale: m.QtyScale})
	}
	symbols, err := NewSymbols(list...)
	if err != nil {
		return nil, fmt.Errorf("kraken: recording metadata: %w", err)
	}
	return New(Config{WSURL: meta.WSURL, Symbols: symbols, StreamsPerConn: meta.StreamsPerConn, BookDepth: meta.BookDepth, PingInterval: meta.PingInterval})
}

// Streams gives the streams of the venue-independent form: trades are
// trade, the book book. BTC-USD is BTC/USD. The top of book is not
// offered: Kraken's ticker is a 24 h ticker that carries the best bid and
// ask (decoded as a TypeTicker event with Bid and Ask), and the gateway
// derives the top from a book stream. Kraken spot has no perpetuals,
// funding or liquidations.
func (factory) Streams(what string, inst venue.Instrument) ([]string, error) {
	if inst.Perp {
		return nil, fmt.Errorf("%s is a perpetual; Kraken spot lists %s-%s: %w", inst, inst.Base, inst.Quote, venue.ErrNotListed)
	}
	sym := inst.Base + "/" + inst.Quote
	switch what {
	case venue.WantTrades:
		return []string{sym + "@" + ChannelTrade}, nil
	case venue.WantBook:
		return []string{sym + "@" + ChannelBook}, nil
	case venue.WantTop:
		return nil, fmt.Errorf("%s has no top-of-book stream (ask book:%s, whose top the gateway derives, or the native %s@%s): %w", Venue, inst, sym, ChannelTicker, venue.ErrNotListed)
	}
	return nil, fmt.Errorf("%s has no %s: %w", Venue, what, venue.ErrNotListed)
}
