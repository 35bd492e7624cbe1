package kraken

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

// REST paths of Kraken's public API ("/0/public/<Method>").
const (
	AssetPairsPath = "/0/public/AssetPairs"
	TradesPath     = "/0/public/Trades"
	TimePath       = "/0/public/Time"

	// MaxTradesPage is the most trades one /0/public/Trades answer holds.
	MaxTradesPage = 1000
	// MaxRecoveryPages bounds the pages one Recovery.Trades call reads.
	MaxRecoveryPages = 5
	// RESTLimit per RESTWindow keeps to about one request a second, what
	// Kraken's public limits allow without throttling ("What are the API
	// rate limits?").
	RESTLimit  = 1
	RESTWindow = time.Second
)

// Classify reads a Kraken answer: {"error":[…],"result":…}. A non-empty
// error array is an error whatever the HTTP status: "EGeneral:Too many
// requests" and "EAPI:Rate limit exceeded" are rate limits,
// "EService:Unavailable"/"EService:Busy" passing failures, the others
// refusals ("API error messages"). A body not of that form falls back to
// the HTTP status.
func Classify(status int, _ http.Header, body []byte) httpx.Answer {
	var b struct {
		Error []string `json:"error"`
	}
	if json.Unmarshal(body, &b) != nil || len(b.Error) == 0 {
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
	msg := strings.Join(b.Error, "; ")
	a := httpx.Answer{Msg: msg, Verdict: httpx.VerdictError}
	switch {
	case strings.Contains(msg, "Too many requests") || strings.Contains(msg, "Rate limit exceeded") || status == http.StatusTooManyRequests:
		a.Verdict = httpx.VerdictRateLimited
	case strings.HasPrefix(msg, "EService:") || status >= 500:
		a.Verdict = httpx.VerdictRetry
	}
	return a
}

// RESTConfig returns cfg with Kraken's rules where cfg leaves them unset:
// DefaultRESTURL, one request a second, Classify.
func RESTConfig(cfg httpx.Config) httpx.Config {
	if cfg.BaseURL == "" && len(cfg.BaseURLs) == 0 {
		cfg.BaseURL = DefaultRESTURL
	}
	if cfg.WeightLimit == 0 {
		cfg.WeightLimit, cfg.WeightWindow = RESTLimit, RESTWindow
	}
	if cfg.Classify == nil {
		cfg.Classify = Classify
	}
	return cfg
}

func get(ctx context.Context, c *httpx.Client, path string, q url.Values, result any) error {
	var a struct {
		Error  []string        `json:"error"`
		Result json.RawMessage `json:"result"`
	}
	if _, err := c.Get(ctx, path, q, &a); err != nil {
		return err
	}
	if len(a.Error) > 0 {
		return fmt.Errorf("kraken: %s: %s", path, strings.Join(a.Error, "; "))
	}
	if err := json.Unmarshal(a.Result, result); err != nil {
		return fmt.Errorf("kraken: %s: result: %w", path, err)
	}
	return nil
}

// ServerTime asks GET /0/public/Time.
func ServerTime(ctx context.Context, c *httpx.Client) (time.Time, error) {
	var r struct {
		Unixtime int64 `json:"unixtime"`
	}
	if err := get(ctx, c, TimePath, nil, &r); err != nil {
		return time.Time{}, err
	}
	if r.Unixtime <= 0 {
		return time.Time{}, errors.New("kraken: time: no unixtime")
	}
	return time.Unix(r.Unixtime, 0), nil
}

// NotListedError names the pairs AssetPairs does not list.
type NotListedError struct{ Names []string }

func (e *NotListedError) Error() string {
	return "kraken: pairs not listed: " + strings.Join(e.Names, ", ")
}

// Is matches ErrUnknownSymbol.
func (e *NotListedError) Is(target error) bool { return target == ErrUnknownSymbol }

// ParseAssetPairs reads the result of GET /0/public/AssetPairs: each
// pair's wsname (v1 naming, XBT and XDG mapped to v2's BTC and DOGE),
// altname, pair_decimals and lot_decimals; sorted by name, then altname.
func ParseAssetPairs(result []byte) ([]Symbol, error) {
	var m map[string]struct {
		Altname      string `json:"altname"`
		WSName       string `json:"wsname"`
		PairDecimals int    `json:"pair_decimals"`
		LotDecimals  int    `json:"lot_decimals"`
	}
	if err := json.Unmarshal(result, &m); err != nil {
		return nil, fmt.Errorf("kraken: asset pairs: %w", err)
	}
	var out []Symbol
	for key, p := range m {
		b, q, ok := strings.Cut(p.WSName, "/")
		if !ok {
			continue // not on WebSocket
		}
		if p.PairDecimals < 0 || p.PairDecimals > fixed.MaxScale || p.LotDecimals < 0 || p.LotDecimals > fixed.MaxScale {
			return nil, fmt.Errorf("kraken: asset pair %s: decimals %d/%d out of range", key, p.PairDecimals, p.LotDecimals)
		}
		out = append(out, Symbol{Name: wsAsset(b) + "/" + wsAsset(q), RESTPair: p.Altname,
			PriceScale: uint8(p.PairDecimals), QtyScale: uint8(p.LotDecimals)})
	}
	slices.SortFunc(out, func(a, b Symbol) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.RESTPair, b.RESTPair))
	})
	return out, nil
}

// LoadSymbols asks AssetPairs for every pair and returns the table of
// them all, once every pair named (v2 names, "BTC/USD") is among them; a
// *NotListedError names the others.
func LoadSymbols(ctx context.Context, c *httpx.Client, names []string) (*Symbols, error) {
	list, err := loadAssetPairs(ctx, c)
	if err != nil {
		return nil, err
	}
	by := make(map[string]bool, len(list))
	for _, s := range list {
		by[s.Name] = true
	}
	var missing []string
	for _, n := range names {
		if !by[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, &NotListedError{Names: missing}
	}
	return NewSymbols(list...)
}

// loadAssetPairs reads every pair of AssetPairs that WebSocket v2 names,
// once each (of two entries of one name, the first by altname).
func loadAssetPairs(ctx context.Context, c *httpx.Client) ([]Symbol, error) {
	var raw json.RawMessage
	if err := get(ctx, c, AssetPairsPath, nil, &raw); err != nil {
		return nil, err
	}
	all, err := ParseAssetPairs(raw)
	if err != nil {
		return nil, err
	}
	return slices.CompactFunc(all, func(a, b Symbol) bool { return a.Name == b.Name }), nil
}

// ErrNoAggTrades is returned by Recovery.AggTrades: Kraken has no
// aggregate trades.
var ErrNoAggTrades = errors.New("kraken: no aggregate trades: trades are recovered by trade_id (Recovery.Trades)")

// ErrNoDepth is returned by Recovery.Depth: a REST book has no update ID
// to align with the stream; books are rebuilt by subscribing again.
var ErrNoDepth = errors.New("kraken: books are built from the stream's snapshot; no REST depth is used")

// Recovery recovers missed trades from GET /0/public/Trades. It is a
// feed.Recovery. Safe for concurrent use.
type Recovery struct {
	c       *httpx.Client
	symbols SymbolSource
}

var _ feed.Recovery = (*Recovery)(nil)

// NewRecovery returns the recovery over c of the pairs of t (a *Symbols,
// or the *Instruments whose table in force is read at every call).
func NewRecovery(c *httpx.Client, t SymbolSource) (*Recovery, error) {
	if c == nil || t == nil || t.Table() == nil {
		return nil, errors.New("kraken: NewRecovery: nil client or symbols")
	}
	return &Recovery{c: c, symbols: t}, nil
}

// AggTrades returns ErrNoAggTrades.
func (r *Recovery) AggTrades(context.Context, string, int64, int, []feed.Event) ([]feed.Event, error) {
	return nil, ErrNoAggTrades
}

// Depth returns ErrNoDepth.
func (r *Recovery) Depth(context.Context, string, int, *feed.Event) error { return ErrNoDepth }

// Trades appends the trades of symbol ("BTC/USD") from trade_id fromID
// on, at most limit, oldest first. /0/public/Trades pages by time (since,
// a nanosecond cursor returned as result.last: "Get Recent Trades"), not
// by ID: the search starts 1 ns before the trade fromID-1 where the
// stream's IDs jumped (the decoder marks it), or an hour back when no
// such mark is kept, and reads at most MaxRecoveryPages pages, dropping
// IDs below fromID (whether since is inclusive is not documented).
func (r *Recovery) Trades(ctx context.Context, symbol string, fromID int64, limit int, dst []feed.Event) ([]feed.Event, error) {
	sym, ok := r.symbols.Table().byName[symbol]
	if !ok {
		return dst, fmt.Errorf("kraken: recovery of %q: %w", symbol, ErrUnknownSymbol)
	}
	since, ok := sym.tradeBefore(fromID)
	if !ok {
		since = time.Now().Add(-time.Hour).UnixNano()
	}
	since--
	n := 0
	next := fromID
	for range MaxRecoveryPages {
		q := url.Values{"pair": {sym.RESTPair}, "since": {strconv.FormatInt(since, 10)}, "count": {strconv.Itoa(MaxTradesPage)}}
		var res map[string]json.RawMessage
		if err := get(ctx, r.c, TradesPath, q, &res); err != nil {
			return dst, err
		}
		var rows [][]json.RawMessage
		var last string
		for k, v := range res {
			if k == "last" {
				if err := json.Unmarshal(v, &last); err != nil {
					var num json.Number
					if json.Unmarshal(v, &num) != nil {
						return dst, fmt.Errorf("kraken: trades %s: last %s", symbol, v)
					}
					last = num.String()
				}
			} else if err := json.Unmarshal(v, &rows); err != nil {
				return dst, fmt.Errorf("kraken: trades %s: %w", symbol, err)
			}
		}
		for _, row := range rows {
			ev, err := tradeRow(sym, row)
			if err != nil {
				return dst, fmt.Errorf("kraken: trades %s: %w", symbol, err)
			}
			if ev.ID < next {
				continue
			}
			dst = append(dst, ev)
			next = ev.ID + 1
			if n++; n >= limit {
				return dst, nil
			}
		}
		cur, err := strconv.ParseInt(last, 10, 64)
		if err != nil || cur <= since || len(rows) < MaxTradesPage {
			return dst, nil
		}
		since = cur
	}
	return dst, nil
}

// tradeRow reads [price, volume, time, "b"|"s", "m"|"l", misc, trade_id].
func tradeRow(sym *Symbol, row []json.RawMessage) (feed.Event, error) {
	if len(row) < 7 {
		return feed.Event{}, fmt.Errorf("a row of %d values, want 7", len(row))
	}
	var price, qty, side string
	var tm json.Number
	var id int64
	if json.Unmarshal(row[0], &price) != nil || json.Unmarshal(row[1], &qty) != nil || json.Unmarshal(row[2], &tm) != nil ||
		json.Unmarshal(row[3], &side) != nil || json.Unmarshal(row[6], &id) != nil {
		return feed.Event{}, fmt.Errorf("row %s: want [price, volume, time, side, type, misc, trade_id]", row)
	}
	ev := feed.Event{Type: feed.TypeTrade, Venue: Venue, Symbol: sym.Name, Instrument: sym.Instrument, ID: id, FirstID: id,
		FirstTradeID: id, LastTradeID: id, PriceScale: sym.PriceScale, QtyScale: sym.QtyScale, Recovered: true}
	var err error
	if ev.Price, err = parseRESTDecimal(price, sym.PriceScale); err != nil {
		return ev, fmt.Errorf("trade %d: price %q: %w", id, price, err)
	}
	if ev.Qty, err = parseRESTDecimal(qty, sym.QtyScale); err != nil {
		return ev, fmt.Errorf("trade %d: volume %q: %w", id, qty, err)
	}
	sec, frac, _ := strings.Cut(tm.String(), ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return ev, fmt.Errorf("trade %d: time %s", id, tm)
	}
	frac = (frac + "000000000")[:9]
	ns, _ := strconv.ParseInt(frac, 10, 64)
	ev.ExchangeTime = s*1e9 + ns
	switch side {
	case "b":
		ev.Side = feed.SideBuy
	case "s":
		ev.Side = feed.SideSell
	}
	return ev, nil
}

// parseRESTDecimal reads a REST price or volume: REST strings carry more
// decimals than the pair's ("105944.30000" at 1), zeros that are dropped.
func parseRESTDecimal(s string, scale uint8) (int64, error) {
	return fixed.Parse(s, scale)
}
