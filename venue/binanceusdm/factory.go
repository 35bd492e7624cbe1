package binanceusdm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/venue/binance"
)

func init() { venue.Register(Venue, factory{}) }

// DefaultDialBudget bounds the connection attempts of the venue's
// connections together. Binance documents 300 attempts per 5 minutes per
// IP for spot streams; for USD-M streams no figure is published, so the
// spot figure's 80 % is kept.
const DefaultDialBudget = binance.DefaultDialBudget

// Options are the venue's settings: the binance-usdm: section of a config
// file and the flags --usdm-streams-per-conn, --usdm-refresh-instruments
// and --usdm-dial-budget (named apart from the spot venue's, which share
// the command line).
type Options struct {
	StreamsPerConn     int           `yaml:"usdm_streams_per_conn"`
	RefreshInstruments time.Duration `yaml:"usdm_refresh_instruments"`
	DialBudget         string        `yaml:"usdm_dial_budget"`
}

var _ venue.Options = (*Options)(nil)

// BindFlags registers the venue's flags on fs with their defaults.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.StreamsPerConn, "usdm-streams-per-conn", MaxStreamsPerConn, fmt.Sprintf("streams per connection of each route, 1..%d", MaxStreamsPerConn))
	fs.DurationVar(&o.RefreshInstruments, "usdm-refresh-instruments", 10*time.Minute, "read exchangeInfo again this often (tick and step sizes, contracts halted), ≥ 0 (0: never)")
	fs.StringVar(&o.DialBudget, "usdm-dial-budget", DefaultDialBudget, "connection attempts allowed to every USD-M connection together, LIMIT/WINDOW")
}

// Validate checks every value against the ranges the flags state.
func (o *Options) Validate() error {
	return binance.CheckConnSettings(binance.ConnFlags{StreamsPerConn: "usdm-streams-per-conn", RefreshInstruments: "usdm-refresh-instruments", DialBudget: "usdm-dial-budget"},
		o.StreamsPerConn, MaxStreamsPerConn, o.RefreshInstruments, o.DialBudget)
}

// Meta is the venue's recording metadata: what a replay needs to plan the
// same connections and decode at the same scales.
type Meta struct {
	WSURL   string       `json:"ws_url"`
	PerConn int          `json:"streams_per_conn"`
	Symbols []MetaSymbol `json:"symbols"`
}

// MetaSymbol is one contract in Meta.
type MetaSymbol struct {
	Name         string `json:"name"`
	PriceScale   uint8  `json:"price_scale"`
	QtyScale     uint8  `json:"qty_scale"`
	Base         string `json:"base,omitempty"`
	Quote        string `json:"quote,omitempty"`
	Margin       string `json:"margin,omitempty"`
	ContractType string `json:"contract_type,omitempty"`
}

type factory struct{}

func (factory) Defaults() venue.Defaults {
	return venue.Defaults{WSURL: DefaultWSURL, RESTURL: DefaultRESTURL}
}

func (factory) NewOptions() venue.Options { return venue.DefaultOptions[Options]() }

var symbolName = regexp.MustCompile(`^[a-z0-9_]{2,40}$`)

// CheckStream checks a stream name's form: <lower-case symbol>@<type> of a
// type the venue decodes, or !forceOrder@arr.
func (factory) CheckStream(st string) error {
	if marketWide[st] {
		return nil
	}
	sym, kind, ok := strings.Cut(st, "@")
	if !ok || !symbolName.MatchString(sym) {
		return fmt.Errorf("stream %q: want <lower-case symbol>@<type>, e.g. btcusdt@aggTrade", st)
	}
	if !decodedTypes[kind] {
		return fmt.Errorf("stream %q: unknown type %q (%s)", st, kind, StreamTypesHelp)
	}
	return nil
}

func (factory) CompleteStream(prefix string) []string {
	sym, _, ok := strings.Cut(prefix, "@")
	if !ok || !symbolName.MatchString(sym) {
		return nil
	}
	var out []string
	for t := range decodedTypes {
		if st := sym + "@" + t; strings.HasPrefix(st, prefix) {
			out = append(out, st)
		}
	}
	sort.Strings(out)
	return out
}

func (factory) Open(ctx context.Context, env venue.Env) (_ *venue.Setup, err error) {
	opts, err := venue.OptionsOf[Options](env, "binanceusdm")
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
	symbols, err := loadSymbols(ctx, rest, env.Streams, s.RESTURL)
	if err != nil {
		return nil, err
	}
	fut, err := New(Config{WSURL: s.WSURL, Symbols: symbols, StreamsPerConn: opts.StreamsPerConn, REST: rest,
		RefreshEvery: binance.RefreshEvery(opts.RefreshInstruments), Logger: log})
	if err != nil {
		return nil, venue.BadInput(err)
	}
	s.Venue = fut
	if err := o.Dials(env, "usdm-dial-budget", opts.DialBudget); err != nil {
		return nil, err
	}
	if env.Recovery {
		if s.Recovery, err = NewRecovery(rest, fut.Instruments()); err != nil {
			return nil, err
		}
		for _, st := range env.Streams {
			if sym, kind, _ := strings.Cut(st, "@"); strings.HasPrefix(kind, "depth") {
				s.BookSymbols = append(s.BookSymbols, strings.ToUpper(sym))
			}
		}
	}
	s.ServerTime = func(ctx context.Context) (time.Time, error) { return ServerTime(ctx, rest) }
	s.RESTStats = rest.Stats
	s.Symbols = SymbolsOfStreams(env.Streams)
	meta := Meta{WSURL: s.WSURL, PerConn: opts.StreamsPerConn}
	for _, sym := range symbols.List() {
		meta.Symbols = append(meta.Symbols, MetaSymbol{Name: sym.Name, PriceScale: sym.PriceScale, QtyScale: sym.QtyScale,
			Base: sym.Base, Quote: sym.Quote, Margin: sym.Margin, ContractType: sym.ContractType})
	}
	if s.Meta, err = json.Marshal(meta); err != nil {
		return nil, err
	}
	return s, nil
}

func (factory) Replay(raw json.RawMessage) (feed.Venue, error) {
	var meta Meta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("binanceusdm: recording metadata: %w", err)
	}
	list := make([]Symbol, 0, len(meta.Symbols))
	for _, s := range meta.Symbols {
		list = append(list, Symbol{Name: s.Name, PriceScale: s.PriceScale, QtyScale: s.QtyScale, Base: s.Base, Quote: s.Quote,
			Margin: s.Margin, ContractType: s.ContractType})
	}
	symbols, err := NewSymbols(list...)
	if err != nil {
		return nil, err
	}
	return New(Config{WSURL: meta.WSURL, Symbols: symbols, StreamsPerConn: meta.PerConn, RefreshEvery: -1})
}

// loadSymbols asks the venue for the contracts of streams, with errors that
// name what the user typed.
func loadSymbols(ctx context.Context, rest *httpx.Client, streams []string, endpoint string) (*Symbols, error) {
	names := SymbolsOfStreams(streams)
	symbols, err := LoadSymbols(ctx, rest, names)
	if errors.Is(err, ErrUnknownSymbol) && ctx.Err() == nil {
		// the venue answered, and does not list one of them: the user's
		symbols, err = nil, nil
	}
	if err != nil {
		return nil, venue.LoadError(ctx, endpoint, "contracts", err)
	}
	var bad []string
	for _, n := range names {
		if _, ok := symbols.Lookup(n); !ok {
			bad = append(bad, n)
		}
	}
	if len(bad) == 0 {
		return symbols, nil
	}
	named := binance.StreamsOfSymbols(streams, bad)
	return nil, venue.BadInput(fmt.Errorf("streams %s: contract %s not listed by %s", strings.Join(named, ", "), strings.Join(bad, ", "), endpoint))
}

// Streams gives the streams of the venue-independent form: trades are
// aggregate trades, the book the 100 ms diff depth stream, the top
// bookTicker, funding markPrice@1s, liquidations forceOrder. The venue
// lists linear perpetuals (and dated contracts, which have no
// venue-independent name).
func (factory) Streams(what string, inst venue.Instrument) ([]string, error) {
	if !inst.Perp {
		return nil, fmt.Errorf("%s is a spot market, and %s lists futures (ask for %s-%s-PERP, or binance for spot): %w",
			inst, Venue, inst.Base, inst.Quote, venue.ErrNotListed)
	}
	sym := strings.ToLower(inst.Base + inst.Quote)
	switch what {
	case venue.WantTrades:
		return []string{sym + "@aggTrade"}, nil
	case venue.WantBook:
		return []string{sym + "@depth@100ms"}, nil
	case venue.WantTop:
		return []string{sym + "@bookTicker"}, nil
	case venue.WantFunding:
		return []string{sym + "@markPrice@1s"}, nil
	case venue.WantLiquidations:
		return []string{sym + "@forceOrder"}, nil
	}
	return nil, fmt.Errorf("%s has no %s: %w", Venue, what, venue.ErrNotListed)
}
