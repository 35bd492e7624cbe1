package okx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
// connections together: OKX allows 3 new connections per second per IP
// ("Overview / WebSocket / Connect"). 2 in any 1.2 s stays below it even
// when the network bunches attempts by up to 200 ms on the way, and
// leaves room for other clients; a refused attempt (HTTP 429) costs a
// long reconnect backoff.
const DefaultDialBudget = "2/1200ms"

// Options are the venue's settings: the okx: section of a config file and
// the flags --okx-streams-per-conn, --okx-ping-interval,
// --okx-dial-budget and --okx-instruments-refresh.
type Options struct {
	StreamsPerConn     int           `yaml:"okx_streams_per_conn"`
	PingInterval       time.Duration `yaml:"okx_ping_interval"`
	DialBudget         string        `yaml:"okx_dial_budget"`
	InstrumentsRefresh time.Duration `yaml:"okx_instruments_refresh"`
}

var _ venue.Options = (*Options)(nil)

// BindFlags registers the venue's flags on fs with their defaults.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.StreamsPerConn, "okx-streams-per-conn", DefaultStreamsPerConn,
		fmt.Sprintf("channels per connection of each path, 1..%d (OKX advises fewer than 30 for many books)", MaxStreamsPerConn))
	fs.DurationVar(&o.PingInterval, "okx-ping-interval", PingInterval, "send the text ping this often on each connection, > 0 and below 30s (the server closes a connection silent for 30s)")
	fs.StringVar(&o.DialBudget, "okx-dial-budget", DefaultDialBudget, "connection attempts allowed to every OKX connection together, LIMIT/WINDOW (OKX: 3 a second per IP)")
	fs.DurationVar(&o.InstrumentsRefresh, "okx-instruments-refresh", DefaultRefreshEvery, "read the instruments again this often and apply the changes (new listings, tick and lot sizes, states, delistings), ≥ 1m, or 0: never")
}

// Validate checks every value against the ranges the flags state.
func (o *Options) Validate() error {
	var errs []error
	if o.StreamsPerConn < 1 || o.StreamsPerConn > MaxStreamsPerConn {
		errs = append(errs, &venue.SettingError{Flag: "okx-streams-per-conn", Value: fmt.Sprint(o.StreamsPerConn), Want: fmt.Sprintf("out of range 1..%d", MaxStreamsPerConn)})
	}
	if o.PingInterval <= 0 || o.PingInterval >= IdleClose {
		errs = append(errs, &venue.SettingError{Flag: "okx-ping-interval", Value: o.PingInterval.String(), Want: "must be above 0 and below 30s (the server's idle limit)"})
	}
	if o.InstrumentsRefresh != 0 && o.InstrumentsRefresh < MinRefreshEvery {
		errs = append(errs, &venue.SettingError{Flag: "okx-instruments-refresh", Value: o.InstrumentsRefresh.String(), Want: "want ≥ 1m, or 0 (never)"})
	}
	errs = append(errs, venue.CheckDialBudget("okx-dial-budget", o.DialBudget, DefaultDialBudget))
	return errors.Join(errs...)
}

// Meta is the venue's recording metadata: what a replay needs to plan the
// same connections and decode at the same scales.
type Meta struct {
	WSURL        string        `json:"ws_url"`
	PerConn      int           `json:"streams_per_conn"`
	PingInterval time.Duration `json:"ping_interval"`
	Symbols      []MetaSymbol  `json:"symbols"`
}

// MetaSymbol is one instrument in Meta.
type MetaSymbol struct {
	InstID     string `json:"inst_id"`
	InstType   string `json:"inst_type"`
	PriceScale uint8  `json:"price_scale"`
	LotScale   uint8  `json:"lot_scale"`
	CtVal      string `json:"ct_val,omitempty"`
	Linear     bool   `json:"linear,omitempty"`
	Base       string `json:"base,omitempty"`
	Quote      string `json:"quote,omitempty"`
}

type factory struct{}

// budgets are the process's dial budgets, one per --okx-dial-budget value:
// OKX counts new connections per IP, so every setup of the process that
// is given none (Env.Dials) shares one, and a setup opened right after
// another does not dial as if the other had not. A Budget starts no
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

// CheckStream checks a stream name's form: <instId>@<channel> of a
// channel the venue decodes (ParseStream).
func (factory) CheckStream(st string) error {
	_, _, err := ParseStream(st)
	return err
}

func (factory) CompleteStream(prefix string) []string {
	inst, _, ok := strings.Cut(prefix, "@")
	if ok && inst == InstSwap {
		if strings.HasPrefix(LiquidationsAll, prefix) {
			return []string{LiquidationsAll}
		}
		return nil
	}
	if !ok || !instIDForm.MatchString(inst) {
		return nil
	}
	var out []string
	for ch := range planned {
		if st := inst + "@" + ch; strings.HasPrefix(st, prefix) {
			if _, _, err := ParseStream(st); err == nil {
				out = append(out, st)
			}
		}
	}
	sort.Strings(out)
	return out
}

func (factory) Open(ctx context.Context, env venue.Env) (_ *venue.Setup, err error) {
	opts, err := venue.OptionsOf[Options](env, "okx")
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
	refresh := opts.InstrumentsRefresh
	if refresh == 0 {
		refresh = -1 // never
	}
	v, err := New(Config{WSURL: s.WSURL, Symbols: symbols, StreamsPerConn: opts.StreamsPerConn, PingInterval: opts.PingInterval,
		REST: rest, RefreshEvery: refresh, Logger: log})
	if err != nil {
		return nil, venue.BadInput(err)
	}
	s.Venue = v
	s.Dials = env.Dials
	if s.Dials == nil {
		if s.Dials, err = processBudget(opts.DialBudget, log); err != nil {
			return nil, venue.BadInput(fmt.Errorf("--okx-dial-budget %s: %w", opts.DialBudget, err))
		}
	}
	if env.Recovery {
		if s.Recovery, err = NewRecovery(rest, v.Instruments()); err != nil {
			return nil, err
		}
		for _, st := range env.Streams {
			if inst, ch, _ := strings.Cut(st, "@"); ch == ChannelBooks {
				s.BookSymbols = append(s.BookSymbols, inst)
			}
		}
	}
	s.ServerTime = func(ctx context.Context) (time.Time, error) { return ServerTime(ctx, rest) }
	s.RESTStats = rest.Stats
	s.Symbols = SymbolsOfStreams(env.Streams)
	meta := Meta{WSURL: s.WSURL, PerConn: opts.StreamsPerConn, PingInterval: opts.PingInterval}
	used := map[string]bool{}
	for _, id := range s.Symbols {
		used[id] = true
	}
	all := allLiquidations(env.Streams)
	for _, sym := range symbols.List() {
		if !used[sym.InstID] && !(all && sym.InstType == InstSwap) {
			continue // the recording holds only the instruments streamed
		}
		ms := MetaSymbol{InstID: sym.InstID, InstType: sym.InstType, PriceScale: sym.PriceScale, LotScale: sym.LotScale,
			Linear: sym.Linear, Base: sym.Base, Quote: sym.Quote}
		if sym.InstType == InstSwap {
			ms.CtVal = sym.CtVal.String()
		}
		meta.Symbols = append(meta.Symbols, ms)
	}
	if s.Meta, err = json.Marshal(meta); err != nil {
		return nil, err
	}
	return s, nil
}

func (factory) Replay(raw json.RawMessage) (feed.Venue, error) {
	var meta Meta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("okx: recording metadata: %w", err)
	}
	list := make([]Symbol, 0, len(meta.Symbols))
	for _, m := range meta.Symbols {
		s := Symbol{InstID: m.InstID, InstType: m.InstType, PriceScale: m.PriceScale, LotScale: m.LotScale,
			Linear: m.Linear, Base: m.Base, Quote: m.Quote}
		if m.CtVal != "" {
			var err error
			if s.CtVal, err = step(m.CtVal); err != nil {
				return nil, fmt.Errorf("okx: recording metadata: %s: ct_val %q: %w", m.InstID, m.CtVal, err)
			}
		}
		list = append(list, s)
	}
	symbols, err := NewSymbols(list...)
	if err != nil {
		return nil, fmt.Errorf("okx: recording metadata: %w", err)
	}
	return New(Config{WSURL: meta.WSURL, Symbols: symbols, StreamsPerConn: meta.PerConn, PingInterval: meta.PingInterval, RefreshEvery: -1})
}

// allLiquidations reports whether streams ask for every swap's
// liquidations.
func allLiquidations(streams []string) bool {
	return slices.ContainsFunc(streams, func(st string) bool { return strings.TrimSpace(st) == LiquidationsAll })
}

// loadSymbols asks the venue for the instruments of streams, with errors
// that name what the user typed.
func loadSymbols(ctx context.Context, rest *httpx.Client, streams []string, endpoint string) (*Symbols, error) {
	names := SymbolsOfStreams(streams)
	all := allLiquidations(streams)
	var bad []string
	for _, n := range names {
		if instTypeOf(n) == "" {
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 {
		return nil, venue.BadInput(fmt.Errorf("instruments %s: only spot (BTC-USDT) and swaps (BTC-USDT-SWAP) are read", strings.Join(bad, ", ")))
	}
	ids := names
	if all {
		ids = append(ids[:len(ids):len(ids)], InstSwap) // every swap's liquidations
	}
	symbols, err := LoadSymbols(ctx, rest, ids)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var nl *NotListedError
		if errors.As(err, &nl) {
			var named []string
			for _, st := range streams {
				if inst, _, _ := strings.Cut(st, "@"); slices.Contains(nl.InstIDs, inst) {
					named = append(named, st)
				}
			}
			return nil, venue.BadInput(fmt.Errorf("streams %s: instrument %s not listed by %s", strings.Join(named, ", "), strings.Join(nl.InstIDs, ", "), endpoint))
		}
		return nil, venue.LoadError(ctx, endpoint, "instruments", err)
	}
	return symbols, nil
}

// Streams gives the streams of the venue-independent form: trades are
// trades-all (every trade, on /ws/v5/business), the book the books channel,
// the top bbo-tbt, funding funding-rate and mark-price (swaps). A
// perpetual BASE-QUOTE-PERP is the linear swap BASE-QUOTE-SWAP, whose
// liquidations are <swap>@liquidation-orders (one subscription of the
// channel by instrument type serves them all).
func (factory) Streams(what string, inst venue.Instrument) ([]string, error) {
	id := inst.Base + "-" + inst.Quote
	if inst.Perp {
		id += "-SWAP"
	}
	switch what {
	case venue.WantTrades:
		return []string{id + "@" + ChannelTradesAll}, nil
	case venue.WantBook:
		return []string{id + "@" + ChannelBooks}, nil
	case venue.WantTop:
		return []string{id + "@" + ChannelBBO}, nil
	case venue.WantFunding:
		if !inst.Perp {
			return nil, fmt.Errorf("%s is a spot market: funding is of perpetuals (%s-%s-PERP): %w", inst, inst.Base, inst.Quote, venue.ErrNotListed)
		}
		return []string{id + "@" + ChannelFundingRate, id + "@" + ChannelMarkPrice}, nil
	case venue.WantLiquidations:
		if !inst.Perp {
			return nil, fmt.Errorf("%s is a spot market: liquidations are of perpetuals (%s-%s-PERP): %w", inst, inst.Base, inst.Quote, venue.ErrNotListed)
		}
		return []string{id + "@" + ChannelLiquidations}, nil
	}
	return nil, fmt.Errorf("%s has no %s by instrument: %w", Venue, what, venue.ErrNotListed)
}

var _ venue.Instrumenter = factory{}
