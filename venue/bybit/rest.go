package bybit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue"
)

// REST paths ("Market": Get Instruments Info, Get Bybit Server Time, Get
// Orderbook).
const (
	instrumentsPath = "/v5/market/instruments-info"
	timePath        = "/v5/market/time"
	orderbookPath   = "/v5/market/orderbook"
)

// ErrNoTradeHistory is returned by Recovery's trade calls: Bybit's only
// public trade history, "Get Public Recent Trading History"
// (/v5/market/recent-trade), returns the latest trades (at most 60 on spot,
// 1000 elsewhere) and takes no cursor, trade ID or time, and trade IDs are
// opaque strings: trades missed cannot be fetched. The gateway announces
// each lost connection as a gap window instead (Rules.Trades).
var ErrNoTradeHistory = errors.New("bybit: no public REST call returns trades by ID or time (recent-trade gives only the latest)")

// RESTConfig returns cfg with Bybit's defaults: DefaultRESTURL, and
// Classify reading Bybit's answers ("Error Codes", "Rate Limit Rules"):
//   - HTTP 200 with "retCode" other than 0 is an error: 10006 ("Too many
//     visits") and 10429 a rate limit, 10000 (server timeout) and 10016
//     (server error) passing failures, the others refusals;
//   - HTTP 403 is the IP rate limit ("access too frequent", over 600
//     requests in 5 s): every call stops for ForbiddenBackoff, by default
//     the 10 minutes Bybit asks for;
//   - 429 a rate limit, 5xx passing failures.
func RESTConfig(cfg httpx.Config) httpx.Config {
	if cfg.BaseURL == "" && len(cfg.BaseURLs) == 0 {
		cfg.BaseURL = DefaultRESTURL
	}
	if cfg.Classify == nil {
		cfg.Classify = Classify
	}
	if cfg.ForbiddenBackoff == 0 {
		cfg.ForbiddenBackoff = 10 * time.Minute
	}
	if cfg.WeightLimit == 0 {
		cfg.WeightLimit, cfg.WeightWindow = 500, 5*time.Second // under 600 per 5 s per IP
	}
	return cfg
}

// Classify is Bybit's reading of a REST answer (see RESTConfig).
func Classify(status int, _ http.Header, body []byte) httpx.Answer {
	var b struct {
		RetCode *int   `json:"retCode"`
		RetMsg  string `json:"retMsg"`
	}
	_ = json.Unmarshal(body, &b) // any body: an HTML 403 page has none
	a := httpx.Answer{Msg: b.RetMsg}
	if b.RetCode != nil {
		a.Code = *b.RetCode
	}
	switch {
	case status == http.StatusForbidden:
		a.Verdict = httpx.VerdictForbidden
		if a.Msg == "" {
			a.Msg = "access too frequent: over the IP rate limit (600 requests per 5 s), or a region Bybit refuses"
		}
	case status == http.StatusTooManyRequests:
		a.Verdict = httpx.VerdictRateLimited
	case status >= 500:
		a.Verdict = httpx.VerdictRetry
	case status/100 != 2:
		a.Verdict = httpx.VerdictError
	case b.RetCode == nil:
		a.Verdict, a.Msg = httpx.VerdictError, "no retCode in the answer"
	case a.Code == 0:
		a.Verdict = httpx.VerdictOK
	case a.Code == 10006 || a.Code == 10429:
		a.Verdict = httpx.VerdictRateLimited
	case a.Code == 10000 || a.Code == 10016:
		a.Verdict = httpx.VerdictRetry
	default:
		a.Verdict = httpx.VerdictError
	}
	return a
}

// envelope is Bybit's answer: {"retCode":0,"retMsg":"OK","result":{…},…}.
type envelope[T any] struct {
	RetCode int    `json:"retCode"`
	RetMsg  string `json:"retMsg"`
	Result  T      `json:"result"`
}

type instrumentsResult struct {
	Category       string       `json:"category"`
	List           []instrument `json:"list"`
	NextPageCursor string       `json:"nextPageCursor"`
}

type instrument struct {
	Symbol       string `json:"symbol"`
	ContractType string `json:"contractType"`
	Status       string `json:"status"`
	BaseCoin     string `json:"baseCoin"`
	QuoteCoin    string `json:"quoteCoin"`
	PriceFilter  struct {
		TickSize string `json:"tickSize"`
	} `json:"priceFilter"`
	LotSizeFilter struct {
		QtyStep       string `json:"qtyStep"`
		BasePrecision string `json:"basePrecision"`
	} `json:"lotSizeFilter"`
}

// maxPages bounds the pages of one category's instruments (1000 a page).
const maxPages = 20

// LoadInstruments fetches the markets of category c ("Get Instruments
// Info": linear pages by cursor, 1000 a page; spot has no pages). Scales
// come from priceFilter.tickSize and lotSizeFilter.qtyStep (linear) or
// basePrecision (spot).
func LoadInstruments(ctx context.Context, rc *httpx.Client, c Category) ([]Symbol, error) {
	var out []Symbol
	cursor := ""
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("bybit: instruments-info %s: more than %d pages", c, maxPages)
		}
		q := url.Values{"category": {string(c)}}
		if c != Spot {
			q.Set("limit", "1000")
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var env envelope[instrumentsResult]
		if _, err := rc.Get(ctx, instrumentsPath, q, &env); err != nil {
			return nil, fmt.Errorf("bybit: instruments-info %s: %w", c, err)
		}
		for _, in := range env.Result.List {
			s, err := in.symbol(c)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		cursor = env.Result.NextPageCursor
		if cursor == "" || c == Spot || len(env.Result.List) == 0 {
			return out, nil
		}
	}
}

func (in instrument) symbol(c Category) (Symbol, error) {
	ps, err := scaleOfStep(in.PriceFilter.TickSize)
	if err != nil {
		return Symbol{}, fmt.Errorf("bybit: %s %s: tickSize %q: %w", c, in.Symbol, in.PriceFilter.TickSize, err)
	}
	step := in.LotSizeFilter.QtyStep
	if c == Spot {
		step = in.LotSizeFilter.BasePrecision
	}
	qs, err := scaleOfStep(step)
	if err != nil {
		return Symbol{}, fmt.Errorf("bybit: %s %s: quantity step %q: %w", c, in.Symbol, step, err)
	}
	return Symbol{Category: c, Name: in.Symbol, PriceScale: ps, QtyScale: qs, Base: in.BaseCoin, Quote: in.QuoteCoin,
		Perpetual: in.ContractType == "LinearPerpetual", Status: in.Status}, nil
}

// LoadSymbols fetches the instruments of every category the streams name
// and builds the table of them.
func LoadSymbols(ctx context.Context, rc *httpx.Client, streams []Stream) (*Symbols, error) {
	var list []Symbol
	for _, c := range Categories {
		need := false
		for _, s := range streams {
			need = need || s.Category == c
		}
		if !need {
			continue
		}
		got, err := LoadInstruments(ctx, rc, c)
		if err != nil {
			return nil, err
		}
		list = append(list, got...)
	}
	return NewSymbols(list...)
}

// ServerTime asks for Bybit's clock ("Get Bybit Server Time": timeNano).
func ServerTime(ctx context.Context, rc *httpx.Client) (time.Time, error) {
	var env envelope[struct {
		TimeSecond string `json:"timeSecond"`
		TimeNano   string `json:"timeNano"`
	}]
	if _, err := rc.Get(ctx, timePath, nil, &env); err != nil {
		return time.Time{}, fmt.Errorf("bybit: server time: %w", err)
	}
	ns, err := strconv.ParseInt(env.Result.TimeNano, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("bybit: server time: timeNano %q: %w", env.Result.TimeNano, err)
	}
	return time.Unix(0, ns), nil
}

// Recovery is the venue's feed.Recovery. Books come from the stream
// (BookFromStream) and trades cannot be fetched (ErrNoTradeHistory); Depth
// reads "Get Orderbook".
type Recovery struct {
	rc   *httpx.Client
	syms *Symbols
	src  *venue.Table[Symbols] // the venue's table in force, when set
}

var _ feed.Recovery = (*Recovery)(nil)

// NewRecovery returns the recovery of the markets of t over rc.
func NewRecovery(rc *httpx.Client, t *Symbols) *Recovery { return &Recovery{rc: rc, syms: t} }

// AggTrades returns ErrNoTradeHistory: Bybit has no aggregate trades.
func (r *Recovery) AggTrades(_ context.Context, symbol string, _ int64, _ int, dst []feed.Event) ([]feed.Event, error) {
	return dst, fmt.Errorf("%s: %w", symbol, ErrNoTradeHistory)
}

// Trades returns ErrNoTradeHistory (see it).
func (r *Recovery) Trades(_ context.Context, symbol string, _ int64, _ int, dst []feed.Event) ([]feed.Event, error) {
	return dst, fmt.Errorf("%s: %w", symbol, ErrNoTradeHistory)
}

// Depth fills ev with "Get Orderbook" of symbol (CATEGORY/SYMBOL, as events
// name it), at most limit levels a side (1..1000; Bybit's own default is 1
// level on spot). Its ID is the answer's u, which Bybit says matches the
// 1000-level stream's.
func (r *Recovery) Depth(ctx context.Context, symbol string, limit int, ev *feed.Event) error {
	cat, name, _ := strings.Cut(symbol, "/")
	c, ok := parseCategory(cat)
	if !ok {
		return fmt.Errorf("bybit: depth of %q: want CATEGORY/SYMBOL", symbol)
	}
	t := r.syms
	if r.src != nil {
		t = r.src.Load()
	}
	s, ok := t.by[c][name]
	if !ok {
		return fmt.Errorf("bybit: depth of %q: %w", symbol, ErrUnknownSymbol)
	}
	limit = min(max(limit, 1), 1000)
	q := url.Values{"category": {string(c)}, "symbol": {name}, "limit": {strconv.Itoa(limit)}}
	var env envelope[struct {
		B  [][2]string `json:"b"`
		A  [][2]string `json:"a"`
		Ts int64       `json:"ts"`
		U  int64       `json:"u"`
	}]
	if _, err := r.rc.Get(ctx, orderbookPath, q, &env); err != nil {
		return fmt.Errorf("bybit: depth of %s: %w", symbol, err)
	}
	bids, asks := ev.Bids[:0], ev.Asks[:0]
	*ev = feed.Event{Type: feed.TypeBookSnapshot, Venue: Venue, Symbol: s.event, Instrument: s.instrument, Recovered: true,
		PriceScale: s.PriceScale, QtyScale: s.QtyScale, ID: env.Result.U, FirstID: env.Result.U}
	var err error
	if ev.Bids, err = restLevels(bids, env.Result.B, s); err != nil {
		return fmt.Errorf("bybit: depth of %s: bids: %w", symbol, err)
	}
	if ev.Asks, err = restLevels(asks, env.Result.A, s); err != nil {
		return fmt.Errorf("bybit: depth of %s: asks: %w", symbol, err)
	}
	if ev.ExchangeTime, err = msToNs(env.Result.Ts, "ts"); err != nil {
		return err
	}
	return nil
}

func restLevels(dst []feed.Level, in [][2]string, s *symbol) ([]feed.Level, error) {
	for _, l := range in {
		p, err := fixed.Parse(l[0], s.PriceScale)
		if err != nil {
			return nil, fmt.Errorf("price %q: %w", l[0], err)
		}
		q, err := fixed.Parse(l[1], s.QtyScale)
		if err != nil {
			return nil, fmt.Errorf("size %q: %w", l[1], err)
		}
		dst = append(dst, feed.Level{Price: p, Qty: q})
	}
	return dst, nil
}
