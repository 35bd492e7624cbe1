package coinbase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

func init() { venue.Register(Venue, factory{}) }

// DefaultDialBudget bounds the connection attempts of the venue's
// connections together: Coinbase allows an IP 8 new connections a second
// ("WebSocket Rate Limits"; another page says 750, the lower is kept) and
// 8 messages a second from an unauthenticated IP. One connection a second,
// each sending its at most 4 subscribe messages at MessageRate, keeps the
// IP's messages under 8 a second with room for resubscriptions.
const DefaultDialBudget = "1/1s"

// Options are the venue's settings: the coinbase: section of a config file
// and the flags --coinbase-products-per-conn, --coinbase-dial-budget,
// --coinbase-sequence-scope and --coinbase-instruments-refresh.
type Options struct {
	ProductsPerConn int    `yaml:"coinbase_products_per_conn"`
	DialBudget      string `yaml:"coinbase_dial_budget"`
	SequenceScope   string `yaml:"coinbase_sequence_scope"`
	// InstrumentsRefresh is how often the products are read again while
	// running (Coinbase.Refresh); 0 never.
	InstrumentsRefresh time.Duration `yaml:"coinbase_instruments_refresh"`
}

var _ venue.Options = (*Options)(nil)

// BindFlags registers the venue's flags on fs with their defaults.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.ProductsPerConn, "coinbase-products-per-conn", 20, fmt.Sprintf("products per connection, 1..%d (every stream of a product shares its connection)", MaxProductsPerConn))
	fs.StringVar(&o.SequenceScope, "coinbase-sequence-scope", "connection", "what sequence_num counts, whose jumps resubscribe the connection's books: connection (all its messages), channel (each channel's), or off")
	fs.StringVar(&o.DialBudget, "coinbase-dial-budget", DefaultDialBudget, "connection attempts allowed to every Coinbase connection of the process together, LIMIT/WINDOW (Coinbase: 8 a second per IP)")
	fs.DurationVar(&o.InstrumentsRefresh, "coinbase-instruments-refresh", DefaultInstrumentsRefresh, "read the products again this often while running (new products, increments, status), ≥ 0 (0: never)")
}

// Validate checks every value against the ranges the flags state.
func (o *Options) Validate() error {
	var errs []error
	if o.ProductsPerConn < 1 || o.ProductsPerConn > MaxProductsPerConn {
		errs = append(errs, &venue.SettingError{Flag: "coinbase-products-per-conn", Value: fmt.Sprint(o.ProductsPerConn), Want: fmt.Sprintf("out of range 1..%d", MaxProductsPerConn)})
	}
	if _, err := ParseSequenceScope(o.SequenceScope); err != nil {
		errs = append(errs, &venue.SettingError{Flag: "coinbase-sequence-scope", Value: o.SequenceScope, Want: "want connection, channel or off"})
	}
	errs = append(errs, venue.CheckDialBudget("coinbase-dial-budget", o.DialBudget, DefaultDialBudget))
	if o.InstrumentsRefresh < 0 {
		errs = append(errs, &venue.SettingError{Flag: "coinbase-instruments-refresh", Value: o.InstrumentsRefresh.String(), Want: "must not be negative (0 turns it off)"})
	}
	return errors.Join(errs...)
}

// Meta is the venue's recording metadata: what a replay needs to plan the
// same connections and decode at the same scales.
type Meta struct {
	WSURL           string   `json:"ws_url"`
	ProductsPerConn int      `json:"products_per_conn"`
	SequenceScope   string   `json:"sequence_scope,omitempty"`
	Symbols         []Symbol `json:"symbols"`
}

type factory struct{}

var _ venue.Instrumenter = factory{}

// budgets are the process's dial budgets, one per --coinbase-dial-budget
// value: Coinbase counts new connections per IP, so every setup of the
// process that is given none (Env.Dials) shares one. A Budget starts no
// goroutine; these live as long as the process.
var budgets struct {
	sync.Mutex
	m map[string]*wsconn.Budget
}

func processBudget(spec string, log *slog.Logger) (*wsconn.Budget, error) {
	budgets.Lock()
	defer budgets.Unlock()
	if b, ok := budgets.m[spec]; ok {
		return b, nil
	}
	bc, err := wsconn.ParseBudget(spec)
	if err != nil {
		return nil, err
	}
	bc.Logger = log
	b, err := wsconn.NewBudget(bc)
	if err != nil {
		return nil, err
	}
	if budgets.m == nil {
		budgets.m = map[string]*wsconn.Budget{}
	}
	budgets.m[spec] = b
	return b, nil
}

func (factory) Defaults() venue.Defaults {
	return venue.Defaults{WSURL: DefaultWSURL, RESTURL: DefaultRESTURL}
}

func (factory) NewOptions() venue.Options { return venue.DefaultOptions[Options]() }

// CheckStream checks a stream name's form: PRODUCT@CHANNEL (ParseStream).
func (factory) CheckStream(st string) error {
	_, err := ParseStream(st)
	return err
}

func (factory) CompleteStream(prefix string) []string {
	p, c, ok := strings.Cut(prefix, "@")
	if !ok || !validProduct(p) {
		return nil
	}
	var out []string
	for _, k := range channels {
		if strings.HasPrefix(k, c) {
			out = append(out, p+"@"+k)
		}
	}
	sort.Strings(out)
	return out
}

// Streams gives the streams of the venue-independent form: BTC-USD is the
// product BTC-USD; a -USDC product is asked for as its -USD product, under
// which Coinbase publishes its data ("WebSocket Channels"). Trades are
// market_trades, the book level2, the top of book ticker.
func (factory) Streams(what string, inst venue.Instrument) ([]string, error) {
	if inst.Perp {
		return nil, fmt.Errorf("%s is a perpetual: %s has spot products only, e.g. %s-%s: %w", inst, Venue, inst.Base, inst.Quote, venue.ErrNotListed)
	}
	p := inst.Base + "-" + inst.Quote
	if inst.Quote == "USDC" && inst.Base != "USDT" && inst.Base != "EURC" {
		p = inst.Base + "-USD" // USDT-USDC and EURC-USDC keep their own books
	}
	switch what {
	case venue.WantTrades:
		return []string{p + "@" + ChannelMarketTrades}, nil
	case venue.WantBook:
		return []string{p + "@" + ChannelLevel2}, nil
	case venue.WantTop:
		return []string{p + "@" + ChannelTicker}, nil
	}
	return nil, fmt.Errorf("%s has no %s: %w", Venue, what, venue.ErrNotListed)
}

func (factory) Open(ctx context.Context, env venue.Env) (_ *venue.Setup, err error) {
	opts, err := venue.OptionsOf[Options](env, "coinbase")
	if err != nil {
		return nil, err
	}
	var parsed []Stream
	for _, st := range env.Streams {
		s, err := ParseStream(strings.TrimSpace(st))
		if err != nil {
			return nil, venue.BadInput(err)
		}
		parsed = append(parsed, s)
	}
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	o := venue.NewOpening(env, DefaultWSURL, DefaultRESTURL)
	defer o.CloseOnError(&err)
	s := o.Setup
	rest, err := o.REST(RESTConfig(httpx.Config{BaseURL: s.RESTURL, TLS: env.TLS, Logger: env.Logger}))
	if err != nil {
		return nil, err
	}
	symbols, err := LoadSymbols(ctx, rest)
	if err != nil {
		return nil, venue.LoadError(ctx, s.RESTURL, "products", err)
	}
	var bad []string
	for _, p := range parsed {
		if _, ok := symbols.Lookup(p.Product); !ok {
			bad = append(bad, fmt.Sprintf("%s (no product %s)", p, p.Product))
		}
	}
	if len(bad) > 0 {
		return nil, venue.BadInput(fmt.Errorf("streams %s: not listed by %s", strings.Join(bad, ", "), s.RESTURL))
	}
	scope, _ := ParseSequenceScope(opts.SequenceScope) // checked by OptionsOf
	v, err := New(Config{WSURL: s.WSURL, Symbols: symbols, ProductsPerConn: opts.ProductsPerConn, Sequence: scope, Logger: log})
	if err != nil {
		return nil, venue.BadInput(err)
	}
	s.Venue = v
	o.Hold(v.StartRefresh(rest, opts.InstrumentsRefresh))
	s.Dials = env.Dials
	if s.Dials == nil {
		if s.Dials, err = processBudget(opts.DialBudget, log); err != nil {
			return nil, venue.BadInput(fmt.Errorf("--coinbase-dial-budget %s: %w", opts.DialBudget, err))
		}
	}
	seen := map[string]bool{}
	meta := Meta{WSURL: s.WSURL, ProductsPerConn: opts.ProductsPerConn, SequenceScope: scope.String()}
	for _, p := range parsed {
		if env.Recovery && p.Channel == ChannelLevel2 {
			s.BookSymbols = append(s.BookSymbols, p.Product)
		}
		if !seen[p.Product] {
			seen[p.Product] = true
			s.Symbols = append(s.Symbols, p.Product)
			sym, _ := symbols.Lookup(p.Product)
			meta.Symbols = append(meta.Symbols, sym) // only the products streamed
		}
	}
	if env.Recovery {
		s.Recovery = Recovery{}
	}
	s.ServerTime = func(ctx context.Context) (time.Time, error) { return ServerTime(ctx, rest) }
	s.RESTStats = rest.Stats
	if s.Meta, err = json.Marshal(meta); err != nil {
		return nil, err
	}
	return s, nil
}

func (factory) Replay(raw json.RawMessage) (feed.Venue, error) {
	var meta Meta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("coinbase: recording metadata: %w", err)
	}
	symbols, err := NewSymbols(meta.Symbols...)
	if err != nil {
		return nil, fmt.Errorf("coinbase: recording metadata: %w", err)
	}
	scope := SequencePerConnection
	if meta.SequenceScope != "" {
		if scope, err = ParseSequenceScope(meta.SequenceScope); err != nil {
			return nil, fmt.Errorf("coinbase: recording metadata: %w", err)
		}
	}
	return New(Config{WSURL: meta.WSURL, Symbols: symbols, ProductsPerConn: meta.ProductsPerConn, Sequence: scope})
}
