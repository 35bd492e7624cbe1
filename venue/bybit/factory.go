package bybit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue"
)

func init() { venue.Register(Venue, factory{}) }

// DefaultDialBudget bounds the connection attempts of the venue's
// connections together: Bybit allows 500 new connections per 5 minutes per
// stream domain ("Connect": connection limits); 80 % of it.
const DefaultDialBudget = "400/5m"

// Options are the venue's settings: the bybit: section of a config file
// and the flags --bybit-topics-per-conn, --bybit-dial-budget,
// --bybit-ping-interval, --bybit-status-stream, --bybit-maintenance-lead
// and --bybit-instruments-refresh.
type Options struct {
	InstrumentsRefresh time.Duration `yaml:"bybit_instruments_refresh"`
	TopicsPerConn      int           `yaml:"bybit_topics_per_conn"`
	DialBudget         string        `yaml:"bybit_dial_budget"`
	PingInterval       time.Duration `yaml:"bybit_ping_interval"`
	StatusStream       bool          `yaml:"bybit_status_stream"`
	MaintenanceLead    time.Duration `yaml:"bybit_maintenance_lead"`
}

var _ venue.Options = (*Options)(nil)

// BindFlags registers the venue's flags on fs with their defaults.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.TopicsPerConn, "bybit-topics-per-conn", 100, fmt.Sprintf("topics per connection of each category, 1..%d (a connection also takes at most %d characters of topics)", MaxTopicsPerConn, MaxArgsLength))
	fs.DurationVar(&o.PingInterval, "bybit-ping-interval", PingInterval, "send Bybit's {\"op\":\"ping\"} on each connection this often, ≥ 1s and ≤ 5m (Bybit advises 20s; it closes a connection silent for 10m)")
	fs.StringVar(&o.DialBudget, "bybit-dial-budget", DefaultDialBudget, "connection attempts allowed to every Bybit connection together, LIMIT/WINDOW")
	fs.BoolVar(&o.StatusStream, "bybit-status-stream", true, "read Bybit's maintenance notices (system.status on a connection of its own) and replace the data connections before a maintenance begins")
	fs.DurationVar(&o.InstrumentsRefresh, "bybit-instruments-refresh", DefaultRefreshEvery, "read the instruments again this often and apply the changes (new listings, tick and step sizes, statuses, delistings), ≥ 1m, or 0: never")
	fs.DurationVar(&o.MaintenanceLead, "bybit-maintenance-lead", DefaultMaintenanceLead, "replace the connections this long before an announced maintenance begins, > 0 and ≤ 24h")
}

// Validate checks every value against the ranges the flags state.
func (o *Options) Validate() error {
	var errs []error
	if o.TopicsPerConn < 1 || o.TopicsPerConn > MaxTopicsPerConn {
		errs = append(errs, &venue.SettingError{Flag: "bybit-topics-per-conn", Value: fmt.Sprint(o.TopicsPerConn), Want: fmt.Sprintf("out of range 1..%d", MaxTopicsPerConn)})
	}
	if o.PingInterval < time.Second || o.PingInterval > 5*time.Minute {
		errs = append(errs, &venue.SettingError{Flag: "bybit-ping-interval", Value: o.PingInterval.String(), Want: "want ≥ 1s and ≤ 5m"})
	}
	if o.InstrumentsRefresh != 0 && o.InstrumentsRefresh < MinRefreshEvery {
		errs = append(errs, &venue.SettingError{Flag: "bybit-instruments-refresh", Value: o.InstrumentsRefresh.String(), Want: "want ≥ 1m, or 0 (never)"})
	}
	if o.MaintenanceLead <= 0 || o.MaintenanceLead > 24*time.Hour {
		errs = append(errs, &venue.SettingError{Flag: "bybit-maintenance-lead", Value: o.MaintenanceLead.String(), Want: "want > 0 and ≤ 24h"})
	}
	errs = append(errs, venue.CheckDialBudget("bybit-dial-budget", o.DialBudget, DefaultDialBudget))
	return errors.Join(errs...)
}

// Meta is the venue's recording metadata: what a replay needs to plan the
// same connections and decode at the same scales.
type Meta struct {
	WSURL         string   `json:"ws_url"`
	TopicsPerConn int      `json:"topics_per_conn"`
	Symbols       []Symbol `json:"symbols"`
	StatusStream  bool     `json:"status_stream,omitempty"` // the last connection is the system status one
}

type factory struct{}

var _ venue.Instrumenter = factory{}

func (factory) Defaults() venue.Defaults {
	return venue.Defaults{WSURL: DefaultWSURL, RESTURL: DefaultRESTURL}
}

func (factory) NewOptions() venue.Options { return venue.DefaultOptions[Options]() }

// CheckStream checks a stream name's form: CATEGORY/TOPIC (ParseStream).
func (factory) CheckStream(st string) error {
	_, err := ParseStream(st)
	return err
}

var topicForms = []string{"publicTrade.", "orderbook.1.", "orderbook.50.", "orderbook.200.", "orderbook.1000."}

func (factory) CompleteStream(prefix string) []string {
	var out []string
	cat, rest, ok := strings.Cut(prefix, "/")
	if !ok {
		for _, c := range Categories {
			if strings.HasPrefix(string(c)+"/", prefix) {
				out = append(out, string(c)+"/")
			}
		}
		return out
	}
	c, known := parseCategory(cat)
	if !known {
		return nil
	}
	forms := topicForms
	if c == Linear {
		forms = append(forms[:len(forms):len(forms)], "tickers.", "allLiquidation.")
	}
	for _, f := range forms {
		if strings.HasPrefix(f, rest) {
			out = append(out, string(c)+"/"+f)
		}
	}
	sort.Strings(out)
	return out
}

// Streams gives the streams of the venue-independent form: BTC-USDT is the
// spot pair, BTC-USDT-PERP the linear perpetual (BTC-USDC-PERP is Bybit's
// BTCPERP). Trades are publicTrade,
// the book orderbook.200 (pushed every 100 ms), funding the linear tickers
// (mark, index, funding rate and open interest), liquidations
// allLiquidation. The top of book is the one the gateway derives from the
// book (ask for book:).
func (factory) Streams(what string, inst venue.Instrument) ([]string, error) {
	c := Spot
	if inst.Perp {
		c = Linear
	}
	sym := inst.Base + inst.Quote
	if inst.Perp && inst.Quote == "USDC" {
		sym = inst.Base + "PERP" // USDC perpetuals are BTCPERP, ETHPERP ("Enums Definitions": symbol)
	}
	switch what {
	case venue.WantTrades:
		return []string{string(c) + "/publicTrade." + sym}, nil
	case venue.WantBook:
		return []string{string(c) + "/orderbook.200." + sym}, nil
	case venue.WantTop:
		return nil, fmt.Errorf("%s gives the top of book from the book it keeps: ask for book:%s: %w", Venue, inst, venue.ErrNotListed)
	case venue.WantFunding, venue.WantLiquidations:
		if c != Linear {
			return nil, fmt.Errorf("%s is a spot market: %s has %s for %s-%s-PERP: %w", inst, Venue, what, inst.Base, inst.Quote, venue.ErrNotListed)
		}
		if what == venue.WantFunding {
			return []string{"linear/tickers." + sym}, nil
		}
		return []string{"linear/allLiquidation." + sym}, nil
	}
	return nil, fmt.Errorf("%s has no %s: %w", Venue, what, venue.ErrNotListed)
}

func (factory) Open(ctx context.Context, env venue.Env) (_ *venue.Setup, err error) {
	opts, err := venue.OptionsOf[Options](env, "bybit")
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
	o := venue.NewOpening(env, DefaultWSURL, DefaultRESTURL)
	defer o.CloseOnError(&err)
	s := o.Setup
	rest, err := o.REST(RESTConfig(httpx.Config{BaseURL: s.RESTURL, TLS: env.TLS, Logger: env.Logger}))
	if err != nil {
		return nil, err
	}
	symbols, err := LoadSymbols(ctx, rest, parsed)
	if err != nil {
		return nil, venue.LoadError(ctx, s.RESTURL, "instruments", err)
	}
	var bad []string
	for _, p := range parsed {
		if _, ok := symbols.Lookup(p.Category, p.Symbol); !ok {
			bad = append(bad, fmt.Sprintf("%s (no %s symbol %s)", p, p.Category, p.Symbol))
		}
	}
	if len(bad) > 0 {
		return nil, venue.BadInput(fmt.Errorf("streams %s: not listed by %s", strings.Join(bad, ", "), s.RESTURL))
	}
	refresh := opts.InstrumentsRefresh
	if refresh == 0 {
		refresh = -1 // never
	}
	v, err := New(Config{WSURL: s.WSURL, Symbols: symbols, TopicsPerConn: opts.TopicsPerConn, PingInterval: opts.PingInterval,
		StatusStream: opts.StatusStream, MaintenanceLead: opts.MaintenanceLead, REST: rest, RefreshEvery: refresh, Logger: env.Logger})
	if err != nil {
		return nil, venue.BadInput(err)
	}
	s.Venue = v
	if err := o.Dials(env, "bybit-dial-budget", opts.DialBudget); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, p := range parsed {
		sym := string(p.Category) + "/" + p.Symbol
		if env.Recovery && p.kind == kindBook {
			s.BookSymbols = append(s.BookSymbols, sym)
		}
		if !seen[sym] {
			seen[sym] = true
			s.Symbols = append(s.Symbols, sym)
		}
	}
	if env.Recovery {
		rec := NewRecovery(rest, symbols)
		rec.src = &v.tab // the scales of the instruments read again
		s.Recovery = rec
	}
	s.ServerTime = func(ctx context.Context) (time.Time, error) { return ServerTime(ctx, rest) }
	s.RESTStats = rest.Stats
	meta := Meta{WSURL: s.WSURL, TopicsPerConn: opts.TopicsPerConn, StatusStream: opts.StatusStream}
	for _, p := range parsed { // only the markets asked for: the tables list hundreds
		if sym, ok := symbols.Lookup(p.Category, p.Symbol); ok && !seen[" "+sym.EventSymbol()] {
			seen[" "+sym.EventSymbol()] = true
			meta.Symbols = append(meta.Symbols, sym)
		}
	}
	if s.Meta, err = json.Marshal(meta); err != nil {
		return nil, err
	}
	return s, nil
}

func (factory) Replay(raw json.RawMessage) (feed.Venue, error) {
	var meta Meta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("bybit: recording metadata: %w", err)
	}
	symbols, err := NewSymbols(meta.Symbols...)
	if err != nil {
		return nil, fmt.Errorf("bybit: recording metadata: %w", err)
	}
	return New(Config{WSURL: meta.WSURL, Symbols: symbols, TopicsPerConn: meta.TopicsPerConn, StatusStream: meta.StatusStream, RefreshEvery: -1})
}
