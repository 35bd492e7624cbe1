package binance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue"
)

func init() { venue.Register(Venue, factory{}) }

// DefaultDialBudget is 80 % of Binance's 300 connection attempts per 5
// minutes per IP: the budget of Options.DialBudget by default.
const DefaultDialBudget = "240/5m"

// Options are the venue's settings: the binance: section of a config file
// and the flags --streams-per-conn, --micros, --refresh-instruments and
// --dial-budget.
type Options struct {
	StreamsPerConn     int           `yaml:"streams_per_conn"`
	Micros             bool          `yaml:"micros"`
	RefreshInstruments time.Duration `yaml:"refresh_instruments"`
	DialBudget         string        `yaml:"dial_budget"`
}

var _ venue.Options = (*Options)(nil)

// BindFlags registers the venue's flags on fs with their defaults.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.StreamsPerConn, "streams-per-conn", defaultPerConn, fmt.Sprintf("streams per connection, 1..%d", MaxStreamsPerConn))
	fs.BoolVar(&o.Micros, "micros", false, "ask the venue for microsecond times")
	fs.DurationVar(&o.RefreshInstruments, "refresh-instruments", 10*time.Minute, "read exchangeInfo again this often (tick and step sizes, halted symbols), ≥ 0 (0: never); a value that does not fit its symbol's scale also asks for it")
	fs.StringVar(&o.DialBudget, "dial-budget", DefaultDialBudget, "connection attempts allowed to every connection of the process together, LIMIT/WINDOW (Binance allows 300 per 5 minutes per IP)")
}

// Validate checks every value against the ranges the flags state.
func (o *Options) Validate() error {
	return CheckConnSettings(ConnFlags{StreamsPerConn: "streams-per-conn", RefreshInstruments: "refresh-instruments", DialBudget: "dial-budget"},
		o.StreamsPerConn, MaxStreamsPerConn, o.RefreshInstruments, o.DialBudget)
}

// Meta is the venue's recording metadata: what a replay needs to plan the
// same connections and decode with the same scales. Recordings made before
// the venue kept its own metadata hold these keys at the top of their
// meta.json, which therefore reads as a Meta too.
type Meta struct {
	WSURL string `json:"ws_url"`
	// PerConn is the streams per connection the gateway planned with.
	PerConn int          `json:"streams_per_conn"`
	Micros  bool         `json:"micros"`
	Symbols []MetaSymbol `json:"symbols"`
}

// MetaSymbol is one symbol's scales and assets in Meta.
type MetaSymbol struct {
	Name       string `json:"name"`
	PriceScale uint8  `json:"price_scale"`
	QtyScale   uint8  `json:"qty_scale"`
	Base       string `json:"base,omitempty"`
	Quote      string `json:"quote,omitempty"`
}

type factory struct{}

func (factory) Defaults() venue.Defaults {
	return venue.Defaults{WSURL: DefaultWSURL, RESTURL: DefaultRESTURL}
}

func (factory) NewOptions() venue.Options { return venue.DefaultOptions[Options]() }

var symbolName = regexp.MustCompile(`^[a-z0-9]{2,30}$`)

// CheckStream checks the form of a stream name: <lower-case
// symbol>@<type> of a type the venue decodes, or a market-wide stream.
func (factory) CheckStream(st string) error {
	if strings.HasPrefix(st, "!") {
		switch st {
		case "!miniTicker@arr", "!ticker_1h@arr", "!ticker_4h@arr", "!ticker_1d@arr":
			return nil
		}
		return fmt.Errorf("stream %q: unknown market-wide stream (!miniTicker@arr, !ticker_<1h|4h|1d>@arr)", st)
	}
	sym, kind, ok := strings.Cut(st, "@")
	if !ok || !symbolName.MatchString(sym) {
		return fmt.Errorf("stream %q: want <lower-case symbol>@<type>, e.g. btcusdt@aggTrade", st)
	}
	if !ValidStreamType(kind) {
		return fmt.Errorf("stream %q: unknown type %q (%s)", st, kind, StreamTypesHelp)
	}
	return nil
}

// completionTypes are the stream types offered by shell completion.
var completionTypes = []string{"aggTrade", "trade", "bookTicker", "depth", "depth@100ms",
	"depth5", "depth10", "depth20", "depth5@100ms", "depth10@100ms", "depth20@100ms",
	"kline_1m", "kline_1h", "kline_1d", "miniTicker", "ticker", "ticker_1h", "ticker_4h", "ticker_1d", "avgPrice"}

func (factory) CompleteStream(prefix string) []string {
	sym, _, ok := strings.Cut(prefix, "@")
	if !ok || !symbolName.MatchString(sym) {
		return nil
	}
	var out []string
	for _, t := range completionTypes {
		if st := sym + "@" + t; strings.HasPrefix(st, prefix) {
			out = append(out, st)
		}
	}
	return out
}

func (f factory) Open(ctx context.Context, env venue.Env) (_ *venue.Setup, err error) {
	opts, err := venue.OptionsOf[Options](env, "binance")
	if err != nil {
		return nil, err
	}
	log := env.Logger
	o := venue.NewOpening(env, DefaultWSURL, DefaultRESTURL)
	defer o.CloseOnError(&err)
	s := o.Setup
	restCfg := httpx.Config{BaseURL: s.RESTURL, TLS: env.TLS, Logger: log}
	if s.RESTURL == DefaultRESTURL {
		restCfg.BaseURLs = RESTFallbackURLs() // the venue's own hosts when the first fails
	}
	rest, err := o.REST(RESTConfig(restCfg))
	if err != nil {
		return nil, err
	}
	symbols, err := loadSymbols(ctx, rest, env.Streams, s.RESTURL)
	if err != nil {
		return nil, err
	}
	spot, err := NewSpot(SpotConfig{WSURL: s.WSURL, Symbols: symbols, StreamsPerConn: opts.StreamsPerConn, Micros: opts.Micros,
		REST: rest, RefreshEvery: RefreshEvery(opts.RefreshInstruments), Logger: log})
	if err != nil {
		return nil, venue.BadInput(err)
	}
	s.Venue = spot
	if err := o.Dials(env, "dial-budget", opts.DialBudget); err != nil {
		return nil, err
	}
	if env.Recovery {
		if s.Recovery, err = NewRecovery(rest, spot.Instruments(), opts.Micros); err != nil {
			return nil, err
		}
		for _, st := range env.Streams {
			if strings.HasSuffix(st, "@depth") || strings.HasSuffix(st, "@depth@100ms") {
				sym, _, _ := strings.Cut(st, "@")
				s.BookSymbols = append(s.BookSymbols, strings.ToUpper(sym))
			}
		}
	}
	micros := opts.Micros
	s.ServerTime = func(ctx context.Context) (time.Time, error) { return ServerTime(ctx, rest, micros) }
	s.RESTStats = rest.Stats
	s.Symbols = SymbolsOfStreams(env.Streams)
	meta := Meta{WSURL: s.WSURL, PerConn: opts.StreamsPerConn, Micros: opts.Micros}
	for _, sym := range symbols.List() {
		meta.Symbols = append(meta.Symbols, MetaSymbol{Name: sym.Name, PriceScale: sym.PriceScale, QtyScale: sym.QtyScale, Base: sym.Base, Quote: sym.Quote})
	}
	if s.Meta, err = json.Marshal(meta); err != nil {
		return nil, err
	}
	return s, nil
}

func (factory) Replay(raw json.RawMessage) (feed.Venue, error) {
	var meta Meta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("binance: recording metadata: %w", err)
	}
	list := make([]Symbol, 0, len(meta.Symbols))
	for _, s := range meta.Symbols {
		list = append(list, Symbol{Name: s.Name, PriceScale: s.PriceScale, QtyScale: s.QtyScale, Base: s.Base, Quote: s.Quote})
	}
	symbols, err := NewSymbols(list...)
	if err != nil {
		return nil, err
	}
	return NewSpot(SpotConfig{WSURL: meta.WSURL, Symbols: symbols, StreamsPerConn: meta.PerConn, Micros: meta.Micros})
}

// loadSymbols asks the venue for the symbols of streams, with errors that
// name what the user typed.
func loadSymbols(ctx context.Context, rest *httpx.Client, streams []string, endpoint string) (*Symbols, error) {
	names := SymbolsOfStreams(streams)
	ask := names
	if MarketWide(streams) {
		ask = nil // every symbol: a market-wide stream carries them all
	}
	symbols, err := LoadSymbols(ctx, rest, ask)
	if err == nil {
		for _, n := range names {
			if _, ok := symbols.Lookup(n); !ok {
				err = fmt.Errorf("binance: exchangeInfo does not list %s: %w", n, ErrUnknownSymbol)
			}
		}
	}
	if err == nil {
		return symbols, nil
	}
	var api *httpx.APIError
	if errors.As(err, &api) && api.Code == -1121 || errors.Is(err, ErrUnknownSymbol) {
		bad := names
		if len(names) > 1 && len(names) <= 20 { // find which, one request each
			bad = nil
			for _, n := range names {
				if _, err := LoadSymbols(ctx, rest, []string{n}); err != nil {
					bad = append(bad, n)
				}
			}
		}
		named := StreamsOfSymbols(streams, bad)
		return nil, venue.BadInput(fmt.Errorf("streams %s: symbol %s not listed by %s (%v)", strings.Join(named, ", "), strings.Join(bad, ", "), endpoint, err))
	}
	return nil, venue.LoadError(ctx, endpoint, "symbols", err)
}

// Streams gives the streams of the venue-independent form: trades are
// aggregate trades, the book the 100 ms diff depth stream, the top
// bookTicker. Binance spot lists spot markets only.
func (factory) Streams(what string, inst venue.Instrument) ([]string, error) {
	if inst.Perp {
		return nil, fmt.Errorf("%s is a perpetual, and %s lists spot markets (its perpetuals are on binance-usdm): %w", inst, Venue, venue.ErrNotListed)
	}
	sym := strings.ToLower(inst.Base + inst.Quote)
	switch what {
	case venue.WantTrades:
		return []string{sym + "@aggTrade"}, nil
	case venue.WantBook:
		return []string{sym + "@depth@100ms"}, nil
	case venue.WantTop:
		return []string{sym + "@bookTicker"}, nil
	}
	return nil, fmt.Errorf("%s has no %s of spot markets: %w", Venue, what, venue.ErrNotListed)
}
