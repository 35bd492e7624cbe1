package okx

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/httpx"
)

// REST paths and limits of OKX public market data ("Overview / Rate
// Limits"; each endpoint's "Rate Limit").
const (
	InstrumentsPath   = "/api/v5/public/instruments"
	HistoryTradesPath = "/api/v5/market/history-trades"
	TimePath          = "/api/v5/public/time"

	// MaxHistoryTrades is the most trades one history-trades page holds.
	MaxHistoryTrades = 100
	// RESTWindow and RESTLimit are the budget every REST call shares: 20
	// requests per 2 s, the limit of history-trades and instruments (per
	// IP). /api/v5/public/time allows 10 per 2 s and weighs 2.
	RESTWindow = 2 * time.Second
	RESTLimit  = 20
)

// Codes of OKX's REST answers ("Error Code / REST API"): "0" is success.
const (
	codeRateLimit   = 50011 // "Rate limit reached" (HTTP 200 or 429)
	codeUnavailable = 50001 // "Service temporarily unavailable" (503)
	codeTimeout     = 50004 // "API endpoint request timeout"
	codeBusy        = 50013 // "Systems are busy"
)

// ErrNoAggTrades is returned by Recovery.AggTrades: OKX's trade sequence
// here is the single trades of trades-all (see ErrAggregated), recovered
// by Trades.
var ErrNoAggTrades = errors.New("okx: no aggregate trade sequence: trades-all is recovered by trade ID (Recovery.Trades)")

// ErrNoDepth is returned by Recovery.Depth: OKX books are built from the
// books channel's own snapshot and rebuilt by subscribing again
// (Rules.Book BookFromStream), never from REST.
var ErrNoDepth = errors.New("okx: books are built from the stream's snapshot; no REST depth is used")

// RESTWeight returns the weight of a GET of path in the shared budget:
// 2 for /api/v5/public/time (10 per 2 s), 1 for the others (20 per 2 s).
func RESTWeight(path string, _ url.Values) int {
	if path == TimePath {
		return 2
	}
	return 1
}

// MaxBody caps answers: a page of 100 trades is under 20 KB, the
// instruments of one type a few MB.
func MaxBody(path string, _ url.Values) int64 {
	switch path {
	case InstrumentsPath:
		return 32 << 20
	case HistoryTradesPath:
		return 256 << 10
	}
	return 64 << 10
}

// Classify reads an OKX answer: {"code":"0","msg":"","data":[…]} is good;
// another code is an error, whatever the HTTP status (OKX answers errors
// with 200 or with 4xx/5xx): 50011 a rate limit, 50001, 50004 and 50013
// passing failures, the others refusals. A body that is not OKX's form
// falls back to the HTTP status.
func Classify(status int, _ http.Header, body []byte) httpx.Answer {
	var b struct {
		Code *string `json:"code"`
		Msg  string  `json:"msg"`
	}
	if json.Unmarshal(body, &b) != nil || b.Code == nil {
		switch {
		case status/100 == 2:
			return httpx.Answer{Verdict: httpx.VerdictOK}
		case status == http.StatusTooManyRequests:
			return httpx.Answer{Verdict: httpx.VerdictRateLimited}
		case status >= 500:
			return httpx.Answer{Verdict: httpx.VerdictRetry}
		}
		return httpx.Answer{Verdict: httpx.VerdictError}
	}
	if *b.Code == "0" {
		if status/100 != 2 {
			return httpx.Answer{Verdict: httpx.VerdictRetry}
		}
		return httpx.Answer{Verdict: httpx.VerdictOK}
	}
	code, _ := strconv.Atoi(*b.Code)
	a := httpx.Answer{Code: code, Msg: b.Msg, Verdict: httpx.VerdictError}
	switch {
	case code == codeRateLimit || status == http.StatusTooManyRequests:
		a.Verdict = httpx.VerdictRateLimited
	case code == codeUnavailable || code == codeTimeout || code == codeBusy || status >= 500:
		a.Verdict = httpx.VerdictRetry
	}
	return a
}

// RESTConfig returns cfg with OKX's rules filled in where cfg leaves them
// unset: the host DefaultRESTURL, the shared budget of 20 per 2 s with
// each request's weight, each answer's cap, Classify, and pauses of at
// most one 2 s window.
func RESTConfig(cfg httpx.Config) httpx.Config {
	if cfg.BaseURL == "" && len(cfg.BaseURLs) == 0 {
		cfg.BaseURL = DefaultRESTURL
	}
	if cfg.WeightLimit == 0 {
		cfg.WeightLimit = RESTLimit
	}
	if cfg.WeightWindow == 0 {
		cfg.WeightWindow = RESTWindow
	}
	if cfg.Weight == nil {
		cfg.Weight = RESTWeight
	}
	if cfg.MaxBodyFor == nil {
		cfg.MaxBodyFor = MaxBody
	}
	if cfg.Classify == nil {
		cfg.Classify = Classify
	}
	if cfg.BackoffMax == 0 {
		// a rate limit (50011) comes without Retry-After and is counted
		// in 2 s windows: a pause of one window is enough
		cfg.BackoffMax = RESTWindow
	}
	return cfg
}

// answer is the envelope of every REST answer.
type answer struct {
	Code string          `json:"code"`
	Msg  string          `json:"msg"`
	Data json.RawMessage `json:"data"`
}

func get(ctx context.Context, c *httpx.Client, path string, q url.Values) (json.RawMessage, error) {
	var a answer
	if _, err := c.Get(ctx, path, q, &a); err != nil {
		return nil, err
	}
	if a.Code != "0" {
		return nil, fmt.Errorf("code %q: %s", a.Code, a.Msg)
	}
	return a.Data, nil
}

// instTypeOf says which instruments list holds instID: SPOT for
// BASE-QUOTE, SWAP for …-SWAP, "" for others (futures, options: not
// read by this package).
func instTypeOf(instID string) string {
	switch {
	case strings.Count(instID, "-") == 1:
		return InstSpot
	case strings.HasSuffix(instID, "-SWAP"):
		return InstSwap
	}
	return ""
}

// LoadSymbols fetches the instruments of the types instIDs need (GET
// /api/v5/public/instruments?instType=SPOT, …=SWAP) and builds a table of
// them all. It fails when one of instIDs is not listed, with
// ErrUnknownSymbol. An instID that is an instrument type (InstSwap,
// InstSpot) asks for every instrument of that type.
func LoadSymbols(ctx context.Context, c *httpx.Client, instIDs []string) (*Symbols, error) {
	var types []string
	for _, id := range instIDs {
		t := instTypeOf(id)
		if id == InstSwap || id == InstSpot {
			t = id
		}
		if t == "" {
			return nil, fmt.Errorf("okx: instrument %q: only spot (BTC-USDT) and swaps (BTC-USDT-SWAP) are read: %w", id, &NotListedError{InstIDs: []string{id}})
		}
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	slices.Sort(types)
	var all []Symbol
	for _, t := range types {
		data, err := get(ctx, c, InstrumentsPath, url.Values{"instType": {t}})
		if err != nil {
			return nil, fmt.Errorf("okx: instruments %s: %w", t, err)
		}
		list, err := ParseInstruments(data)
		if err != nil {
			return nil, err
		}
		all = append(all, list...)
	}
	table, err := NewSymbols(all...)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, id := range instIDs {
		if _, ok := table.Lookup(id); !ok && id != InstSwap && id != InstSpot {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, &NotListedError{InstIDs: missing}
	}
	return table, nil
}

// NotListedError names the instruments OKX does not list. errors.Is(err,
// ErrUnknownSymbol) holds for it.
type NotListedError struct {
	InstIDs []string
}

func (e *NotListedError) Error() string {
	return "okx: instruments not listed: " + strings.Join(e.InstIDs, ", ")
}

// Is matches ErrUnknownSymbol.
func (e *NotListedError) Is(target error) bool { return target == ErrUnknownSymbol }

// ServerTime asks OKX for its clock (GET /api/v5/public/time, ms): the
// middle of that millisecond is returned.
func ServerTime(ctx context.Context, c *httpx.Client) (time.Time, error) {
	data, err := get(ctx, c, TimePath, nil)
	if err != nil {
		return time.Time{}, fmt.Errorf("okx: server time: %w", err)
	}
	var v []struct {
		TS string `json:"ts"`
	}
	if err := json.Unmarshal(data, &v); err != nil || len(v) == 0 {
		return time.Time{}, fmt.Errorf("okx: server time: answer %.100s", data)
	}
	ms, err := strconv.ParseInt(v[0].TS, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("okx: server time: ts %q: %w", v[0].TS, err)
	}
	return time.UnixMilli(ms).Add(500 * time.Microsecond), nil
}

// Recovery fetches the trades the streams missed from GET
// /api/v5/market/history-trades (type=1: by tradeId). It implements
// feed.Recovery and is safe for concurrent use.
type Recovery struct {
	c       *httpx.Client
	symbols SymbolSource
}

var _ feed.Recovery = (*Recovery)(nil)

// NewRecovery returns the recovery of the venue whose REST client is c
// (built from RESTConfig) and whose instruments are symbols: give it the
// venue's Instruments, so that pages parse at the scales in force and a
// value that does not fit widens them.
func NewRecovery(c *httpx.Client, symbols SymbolSource) (*Recovery, error) {
	if c == nil {
		return nil, errors.New("okx: NewRecovery: nil REST client")
	}
	if symbols == nil || symbols.Table() == nil {
		return nil, errors.New("okx: NewRecovery: nil Symbols (see LoadSymbols)")
	}
	return &Recovery{c: c, symbols: symbols}, nil
}

// historyTrade is one trade of history-trades ("GET / Trades history").
type historyTrade struct {
	TradeID string `json:"tradeId"`
	Px      string `json:"px"`
	Sz      string `json:"sz"`
	Side    string `json:"side"`
	TS      string `json:"ts"`
}

// Trades appends the trades of instID with tradeIds from fromID on, at
// most min(limit, 100), oldest first. history-trades pages downwards: it
// returns, newest first, the trades below its after parameter; asking for
// after = fromID+n gives fromID+n-1 down to fromID when OKX has them all.
// OKX keeps three months: for an older fromID the page is empty or
// starts above it.
func (r *Recovery) Trades(ctx context.Context, instID string, fromID int64, limit int, dst []feed.Event) ([]feed.Event, error) {
	if _, ok := r.symbols.Table().Lookup(instID); !ok {
		return dst, fmt.Errorf("okx: trades %s: %w", instID, ErrUnknownSymbol)
	}
	n := int64(min(max(limit, 1), MaxHistoryTrades))
	q := url.Values{"instId": {instID}, "type": {"1"}, "after": {strconv.FormatInt(fromID+n, 10)}, "limit": {strconv.FormatInt(n, 10)}}
	data, err := get(ctx, r.c, HistoryTradesPath, q)
	if err != nil {
		return dst, fmt.Errorf("okx: trades %s from %d: %w", instID, fromID, err)
	}
	var page []historyTrade
	if err := json.Unmarshal(data, &page); err != nil {
		return dst, fmt.Errorf("okx: trades %s from %d: %w", instID, fromID, err)
	}
	start := len(dst)
	for _, t := range page {
		ev, err := r.historyEvent(instID, t)
		if err != nil {
			return dst[:start], fmt.Errorf("okx: trades %s from %d: %w", instID, fromID, err)
		}
		if ev.ID >= fromID && ev.ID < fromID+n {
			dst = append(dst, ev)
		}
	}
	got := dst[start:]
	slices.SortFunc(got, func(a, b feed.Event) int { return cmp.Compare(a.ID, b.ID) })
	got = slices.CompactFunc(got, func(a, b feed.Event) bool { return a.ID == b.ID })
	return dst[:start+len(got)], nil
}

// historyEvent turns a history trade of instID into a recovered trade
// event, at the scales in force; a price or size finer than them widens
// them first (OKX made tickSz or lotSz finer).
func (r *Recovery) historyEvent(instID string, t historyTrade) (feed.Event, error) {
	for {
		s, ok := r.symbols.Table().Lookup(instID)
		if !ok {
			return feed.Event{}, fmt.Errorf("%s: %w", instID, ErrUnknownSymbol)
		}
		ev, err := s.historyEvent(t)
		if err == nil || !errors.Is(err, fixed.ErrPrecision) {
			return ev, err
		}
		in, ok := r.symbols.(*Instruments)
		ps, perr := fixed.ScaleOf(t.Px)
		ls, lerr := fixed.ScaleOf(t.Sz)
		if !ok || perr != nil || lerr != nil || !(in.Widen(instID, true, ps) || in.Widen(instID, false, ls)) {
			return ev, err
		}
	}
}

// historyEvent turns a history trade into a recovered trade event.
func (s *Symbol) historyEvent(t historyTrade) (feed.Event, error) {
	ev := feed.Event{Type: feed.TypeTrade, Venue: Venue, Symbol: s.InstID, Instrument: s.Instrument,
		PriceScale: s.PriceScale, QtyScale: s.QtyScale, Recovered: true}
	id, err := strconv.ParseInt(t.TradeID, 10, 64)
	if err != nil || id < 0 {
		return ev, fmt.Errorf("tradeId %q: not an integer", t.TradeID)
	}
	ev.ID, ev.FirstID, ev.FirstTradeID, ev.LastTradeID = id, id, id, id
	if ev.Price, err = fixed.Parse(t.Px, s.PriceScale); err != nil {
		return ev, fmt.Errorf("trade %d: px %q: %w", id, t.Px, err)
	}
	sz, err := fixed.Parse(t.Sz, s.LotScale)
	if err == nil {
		ev.Qty, err = s.size(sz)
	}
	if err != nil {
		return ev, fmt.Errorf("trade %d: sz %q: %w", id, t.Sz, err)
	}
	switch t.Side {
	case "buy":
		ev.Side = feed.SideBuy
	case "sell":
		ev.Side = feed.SideSell
	default:
		return ev, fmt.Errorf("trade %d: side %q", id, t.Side)
	}
	ms, err := strconv.ParseInt(t.TS, 10, 64)
	if err != nil {
		return ev, fmt.Errorf("trade %d: ts %q: %w", id, t.TS, err)
	}
	ev.ExchangeTime = ms * 1e6
	return ev, nil
}

// AggTrades returns ErrNoAggTrades.
func (r *Recovery) AggTrades(_ context.Context, instID string, _ int64, _ int, dst []feed.Event) ([]feed.Event, error) {
	return dst, fmt.Errorf("okx: %s: %w", instID, ErrNoAggTrades)
}

// Depth returns ErrNoDepth.
func (r *Recovery) Depth(_ context.Context, instID string, _ int, _ *feed.Event) error {
	return fmt.Errorf("okx: %s: %w", instID, ErrNoDepth)
}
