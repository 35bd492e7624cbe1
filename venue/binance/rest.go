package binance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/httpx"
)

// REST limits and paths of Binance spot market data.
const (
	// WeightLimit is the request weight Binance allows per minute and IP.
	WeightLimit = 6000
	// UsedWeightHeader is the answer header reporting the weight used in
	// the current minute.
	UsedWeightHeader = "X-MBX-USED-WEIGHT-1M"
	// MaxAggTradesLimit is the most aggregate trades one request returns.
	MaxAggTradesLimit = 1000
	// MaxDepthLimit is the deepest snapshot: levels per side.
	MaxDepthLimit = 5000

	aggTradesPath = "/api/v3/aggTrades"
	// historicalTradesPath serves individual trades by ID; its security
	// type is NONE since 2023, so no API key is needed.
	historicalTradesPath = "/api/v3/historicalTrades"
	recentTradesPath     = "/api/v3/trades"
	depthPath            = "/api/v3/depth"
	timeUnitKey          = "X-MBX-TIME-UNIT"
)

// RequestWeight returns the request weight Binance counts for a GET of
// path with query: depth by its limit, aggTrades 4, historicalTrades and
// trades 25, exchangeInfo 20, others 1.
func RequestWeight(path string, query url.Values) int {
	switch path {
	case depthPath:
		n, err := strconv.Atoi(query.Get("limit"))
		switch {
		case err != nil || n <= 100:
			return 5
		case n <= 500:
			return 25
		case n <= 1000:
			return 50
		default:
			return 250
		}
	case aggTradesPath:
		return 4
	case historicalTradesPath, recentTradesPath:
		return 25
	case exchangeInfoPath:
		return 20
	}
	return 1
}

// Caps of answer bodies, from the largest answers Binance documents
// (rest-api.md), each with a margin of two or more. A level of a depth
// snapshot is at most 47 bytes (["<20 digits>","<20 digits>"] and a comma:
// decimals have 8 places, and a quantity capped at 92233720368.54775807 is
// the longest): 5000 levels a side make 470 KB at most (320 KB from the
// simulator), capped at 1.06 MB. An aggregate trade is at most about 180
// bytes (three IDs of 19 digits, a time in microseconds, two decimals of
// 20 digits, keys and booleans), a trade of historicalTrades about 210: a
// page of 1000 is at most 210 KB (120–150 KB from the simulator), capped
// at 485 KB. A symbol of exchangeInfo is about 1.7 KB (the example of
// rest-api.md with the nine filters a spot symbol has) and up to 2.3 KB
// with every TRD_GRP_* permission of enums.md in its permissionSets: 16 KiB
// a symbol asked for by name; every symbol (about 3 500 listed, trading,
// halted or in BREAK: some 8 MB) is capped at 16 MiB.
const (
	depthLevelMax     = 100      // bytes a depth level may take in the cap: 47 and a margin
	tradeItemMax      = 420      // bytes an item of aggTrades, trades or historicalTrades may take in the cap
	symbolInfoMax     = 16 << 10 // bytes a symbol of exchangeInfo may take in the cap
	allSymbolsInfoMax = 16 << 20 // exchangeInfo of every symbol
	answerOverheadMax = 64 << 10 // the object around the items, rate limits of exchangeInfo
	smallAnswerMax    = 64 << 10 // ping, time and other small answers
)

// MaxBody returns the cap of the answer to a GET of path with query: its
// documented maximum with a margin (see the caps above). RESTConfig sets it
// as httpx.Config.MaxBodyFor; an answer over it is refused before it is
// read, or the moment it passes the cap.
func MaxBody(path string, query url.Values) int64 {
	switch path {
	case depthPath:
		n, err := strconv.Atoi(query.Get("limit"))
		switch {
		case query.Get("limit") == "":
			n = 100 // the default
		case err != nil || n < 1 || n > MaxDepthLimit:
			n = MaxDepthLimit // a larger limit is cut to 5000
		}
		return answerOverheadMax + 2*int64(n)*depthLevelMax
	case aggTradesPath, historicalTradesPath, recentTradesPath:
		n, err := strconv.Atoi(query.Get("limit"))
		if err != nil || n < 1 || n > MaxAggTradesLimit {
			n = MaxAggTradesLimit // the default is 500
		}
		return answerOverheadMax + int64(n)*tradeItemMax
	case exchangeInfoPath:
		if query.Get("symbol") != "" {
			return answerOverheadMax + symbolInfoMax
		}
		if list := query.Get("symbols"); list != "" {
			return answerOverheadMax + int64(strings.Count(list, ",")+1)*symbolInfoMax
		}
		return allSymbolsInfoMax
	}
	return smallAnswerMax
}

// RESTConfig returns cfg with Binance's rules filled in where cfg leaves
// them unset: the weight limit of 6000 a minute, the used-weight header and
// the weight of each request, the cap of each answer (MaxBody), and, when cfg names no host at all (neither
// BaseURL nor BaseURLs), the market-data-only host DefaultRESTURL with
// RESTFallbackURLs to fail over to. A cfg that names a host (a simulator)
// gets no other. Pass the result to httpx.New.
func RESTConfig(cfg httpx.Config) httpx.Config {
	return RESTRules{
		BaseURL: DefaultRESTURL, FallbackURLs: RESTFallbackURLs,
		WeightLimit: WeightLimit, UsedWeightHeader: UsedWeightHeader,
		Weight: RequestWeight, Serves: Serves, MaxBody: MaxBody,
	}.Apply(cfg)
}

// RESTRules are the rules of one Binance market's REST API, shared by
// Binance's markets: each one's RESTConfig applies its own.
type RESTRules struct {
	// BaseURL is the market's host, used when a config names none;
	// FallbackURLs, when not nil, gives the hosts to fail over to then.
	BaseURL      string
	FallbackURLs func() []string
	// WeightLimit is the request weight allowed a minute and IP, reported
	// used in the answer header UsedWeightHeader.
	WeightLimit      int
	UsedWeightHeader string
	// Weight, Serves and MaxBody are httpx.Config's Weight, Serves and
	// MaxBodyFor; nil leaves them to httpx.
	Weight  func(path string, query url.Values) int
	Serves  func(base, path string) bool
	MaxBody func(path string, query url.Values) int64
}

// Apply returns cfg with r filled in where cfg leaves a field unset: r's
// hosts when cfg names none (neither BaseURL nor BaseURLs), a weight window
// of a minute, and each of r's limits and functions.
func (r RESTRules) Apply(cfg httpx.Config) httpx.Config {
	if cfg.BaseURL == "" && len(cfg.BaseURLs) == 0 {
		cfg.BaseURL = r.BaseURL
		if r.FallbackURLs != nil {
			cfg.BaseURLs = r.FallbackURLs()
		}
	}
	if cfg.WeightLimit == 0 {
		cfg.WeightLimit = r.WeightLimit
	}
	if cfg.WeightWindow == 0 {
		cfg.WeightWindow = time.Minute
	}
	if cfg.UsedWeightHeader == "" {
		cfg.UsedWeightHeader = r.UsedWeightHeader
	}
	if cfg.Weight == nil {
		cfg.Weight = r.Weight
	}
	if cfg.Serves == nil {
		cfg.Serves = r.Serves
	}
	if cfg.MaxBodyFor == nil {
		cfg.MaxBodyFor = r.MaxBody
	}
	return cfg
}

// marketDataPaths are the endpoints the market-data-only host serves
// (faqs/market_data_only.md): historicalTrades is not among them.
var marketDataPaths = map[string]bool{
	"/api/v3/aggTrades": true, "/api/v3/avgPrice": true, "/api/v3/depth": true, "/api/v3/exchangeInfo": true,
	"/api/v3/klines": true, "/api/v3/ping": true, "/api/v3/ticker": true, "/api/v3/ticker/24hr": true,
	"/api/v3/ticker/bookTicker": true, "/api/v3/ticker/price": true, "/api/v3/time": true, "/api/v3/trades": true,
	"/api/v3/uiKlines": true,
}

// Serves says whether the REST host at base serves path: the
// market-data-only host (DefaultRESTURL) serves the endpoints its
// FAQ lists, every other host all of them.
func Serves(base, path string) bool {
	return strings.TrimSuffix(base, "/") != DefaultRESTURL || marketDataPaths[path]
}

// ApplyWeightLimit sets c's weight limit to the REQUEST_WEIGHT rate limit
// of an exchangeInfo body (the shortest window when there are several), so
// that the limiter follows the limit the venue publishes rather than an
// assumed one. A body without one leaves c as it is.
func ApplyWeightLimit(c *httpx.Client, exchangeInfo []byte) error {
	var info struct {
		RateLimits []struct {
			RateLimitType string `json:"rateLimitType"`
			Interval      string `json:"interval"`
			IntervalNum   int    `json:"intervalNum"`
			Limit         int    `json:"limit"`
		} `json:"rateLimits"`
	}
	if err := json.Unmarshal(exchangeInfo, &info); err != nil {
		return fmt.Errorf("binance: exchangeInfo: %w", err)
	}
	units := map[string]time.Duration{"SECOND": time.Second, "MINUTE": time.Minute, "HOUR": time.Hour, "DAY": 24 * time.Hour}
	var limit int
	var window time.Duration
	var header string
	for _, rl := range info.RateLimits {
		unit, known := units[rl.Interval]
		if rl.RateLimitType != "REQUEST_WEIGHT" || !known || rl.IntervalNum < 1 || rl.Limit < 1 {
			continue
		}
		if w := unit * time.Duration(rl.IntervalNum); window == 0 || w < window {
			limit, window = rl.Limit, w
			// Binance names the header after the interval: X-MBX-USED-WEIGHT-1M
			header = "X-MBX-USED-WEIGHT-" + strconv.Itoa(rl.IntervalNum) + rl.Interval[:1]
		}
	}
	if window == 0 {
		return nil
	}
	if err := c.SetWeightLimit(limit, window); err != nil {
		return err
	}
	c.SetUsedWeightHeader(header)
	return nil
}

// Recovery fetches what the streams missed from Binance's REST API:
// aggregate trades by ID and order-book snapshots. It implements
// feed.Recovery and is safe for concurrent use.
type Recovery struct {
	c       *httpx.Client
	symbols SymbolSource
	micros  bool
	pages   sync.Pool // *[]aggTradeJSON
	tpages  sync.Pool // *[]tradeJSON
}

var _ feed.Recovery = (*Recovery)(nil)

// NewRecovery returns the recovery of the venue whose REST client is c
// (built from RESTConfig) and whose symbols are symbols. With micros,
// trade times are asked for in microseconds, as the streams of a
// SpotConfig with Micros give them.
// Give it the Spot's Instruments so that its answers parse at the scales in
// force, and values that do not fit widen them.
func NewRecovery(c *httpx.Client, symbols SymbolSource, micros bool) (*Recovery, error) {
	if c == nil {
		return nil, errors.New("binance: NewRecovery: nil REST client")
	}
	if symbols == nil || symbols.Table() == nil {
		return nil, errors.New("binance: NewRecovery: nil Symbols (see LoadSymbols)")
	}
	return &Recovery{c: c, symbols: symbols, micros: micros}, nil
}

// aggTradeJSON is one item of GET /api/v3/aggTrades. Every key is declared:
// encoding/json matches keys without regard to case, and "m" is not "M".
type aggTradeJSON struct {
	A  int64  `json:"a"`
	P  string `json:"p"`
	Q  string `json:"q"`
	F  int64  `json:"f"`
	L  int64  `json:"l"`
	T  int64  `json:"T"`
	M  bool   `json:"m"`
	BM bool   `json:"M"`
}

// tradeJSON is one item of GET /api/v3/historicalTrades.
type tradeJSON struct {
	ID           int64  `json:"id"`
	Price        string `json:"price"`
	Qty          string `json:"qty"`
	QuoteQty     string `json:"quoteQty"`
	Time         int64  `json:"time"`
	IsBuyerMaker bool   `json:"isBuyerMaker"`
	IsBestMatch  bool   `json:"isBestMatch"`
}

// Trades appends to dst the individual trades of symbol from trade ID
// fromID on (GET /api/v3/historicalTrades, weight 25, no API key), at most
// limit (1..1000) of them, oldest first, as TypeTrade events with Recovered
// set. Like aggTrades, the endpoint may not have the newest trades yet.
func (r *Recovery) Trades(ctx context.Context, symbol string, fromID int64, limit int, dst []feed.Event) ([]feed.Event, error) {
	sym, ok := r.symbols.Table().Lookup(symbol)
	if !ok {
		return dst, fmt.Errorf("binance: historicalTrades %s: %w", symbol, ErrUnknownSymbol)
	}
	pp, release, unit, err := page[tradeJSON](ctx, r, &r.tpages, historicalTradesPath, sym, fromID, limit)
	defer release()
	if err != nil {
		return dst, fmt.Errorf("binance: historicalTrades %s from %d: %w", sym.Name, fromID, err)
	}
	recv := time.Now().UnixNano()
	for _, t := range *pp {
		var price, qty int64
		var err error
		if sym, price, qty, err = r.parseTrade(sym, t.Price, t.Qty); err != nil {
			return dst, fmt.Errorf("binance: historicalTrades %s: trade %d: %w", sym.Name, t.ID, err)
		}
		side := feed.SideBuy
		if t.IsBuyerMaker {
			side = feed.SideSell
		}
		dst = append(dst, feed.Event{
			Type: feed.TypeTrade, Side: side, Recovered: true,
			PriceScale: sym.PriceScale, QtyScale: sym.QtyScale,
			Venue: Venue, Symbol: sym.Name, Instrument: sym.Instrument,
			ID: t.ID, FirstID: t.ID, FirstTradeID: t.ID, LastTradeID: t.ID,
			ExchangeTime: t.Time * unit, ReceiveTime: recv,
			Price: price, Qty: qty,
		})
	}
	return dst, nil
}

// page asks path (aggTrades or historicalTrades) for the trades of sym
// from fromID on, at most limit (1..1000), decoded into a slice from pool;
// release gives the slice back. unit is the trade times' unit, in ns.
func page[T any](ctx context.Context, r *Recovery, pool *sync.Pool, path string, sym Symbol, fromID int64, limit int) (
	items *[]T, release func(), unit int64, err error) {
	q := url.Values{}
	q.Set("symbol", sym.Name)
	q.Set("fromId", strconv.FormatInt(fromID, 10))
	q.Set("limit", strconv.Itoa(min(max(limit, 1), MaxAggTradesLimit)))
	req := httpx.Request{Path: path, Query: q, MaxBody: MaxBody(path, q)}
	unit = int64(time.Millisecond)
	if r.micros {
		req.Header = http.Header{timeUnitKey: {"MICROSECOND"}}
		unit = int64(time.Microsecond)
	}
	pp, _ := pool.Get().(*[]T)
	if pp == nil {
		pp = new([]T)
	}
	_, err = r.c.Do(ctx, req, func(body []byte) error {
		*pp = (*pp)[:0]
		return json.Unmarshal(body, pp)
	})
	return pp, func() { pool.Put(pp) }, unit, err
}

// parseTrade parses a trade's price and quantity at sym's scales; a value
// with more decimals widens the scale in force (see Instruments) and sym is
// returned as it is then.
func (r *Recovery) parseTrade(sym Symbol, p, q string) (Symbol, int64, int64, error) {
	for tries := 0; ; tries++ {
		price, qty, need, err := TradeValues(sym, p, q)
		in, ok := r.symbols.(*Instruments)
		if err == nil || need == nil || !ok || tries >= 2 || !in.Widen(need.Symbol, need.Price, need.Scale) {
			return sym, price, qty, err
		}
		if sym, ok = in.Lookup(sym.Name); !ok {
			return sym, 0, 0, err
		}
	}
}

// TradeValues parses the price p and quantity q of a trade of a REST
// answer of Binance's markets at sym's scales. A value that does not parse
// is an error naming it and wrapping ErrMalformed and the fixed error; when
// it only has more decimals than its scale, need also says which scale
// needs widening and to what, for the market's Instruments.
func TradeValues(sym Symbol, p, q string) (price, qty int64, need *ScaleError, err error) {
	price, err = fixed.Parse(p, sym.PriceScale)
	what, text, isPrice := "price", p, true
	if err == nil {
		what, text, isPrice = "qty", q, false
		qty, err = fixed.Parse(q, sym.QtyScale)
	}
	if err == nil {
		return price, qty, nil, nil
	}
	if scale, serr := fixed.ScaleOf(text); serr == nil && err == fixed.ErrPrecision {
		need = &ScaleError{Symbol: sym.Name, Price: isPrice, Scale: scale, Err: err}
	}
	return 0, 0, need, fmt.Errorf("%s %q: %w: %w", what, text, ErrMalformed, err)
}

// AggTrades appends to dst the aggregate trades of symbol from ID fromID
// on, at most limit (1..1000) of them, oldest first, as TypeTrade events
// with Aggregated and Recovered set. When Binance no longer keeps fromID the
// first trade returned is the oldest it keeps, above fromID.
func (r *Recovery) AggTrades(ctx context.Context, symbol string, fromID int64, limit int, dst []feed.Event) ([]feed.Event, error) {
	sym, ok := r.symbols.Table().Lookup(symbol)
	if !ok {
		return dst, fmt.Errorf("binance: aggTrades %s: %w", symbol, ErrUnknownSymbol)
	}
	pp, release, unit, err := page[aggTradeJSON](ctx, r, &r.pages, aggTradesPath, sym, fromID, limit)
	defer release()
	if err != nil {
		return dst, fmt.Errorf("binance: aggTrades %s from %d: %w", sym.Name, fromID, err)
	}
	recv := time.Now().UnixNano()
	for _, t := range *pp {
		var price, qty int64
		var err error
		if sym, price, qty, err = r.parseTrade(sym, t.P, t.Q); err != nil {
			return dst, fmt.Errorf("binance: aggTrades %s: trade %d: %w", sym.Name, t.A, err)
		}
		side := feed.SideBuy
		if t.M { // the buyer was the maker, so the seller took
			side = feed.SideSell
		}
		dst = append(dst, feed.Event{
			Type: feed.TypeTrade, Side: side, Aggregated: true, Recovered: true,
			PriceScale: sym.PriceScale, QtyScale: sym.QtyScale,
			Venue: Venue, Symbol: sym.Name, Instrument: sym.Instrument,
			ID: t.A, FirstID: t.A, FirstTradeID: t.F, LastTradeID: t.L,
			ExchangeTime: t.T * unit, ReceiveTime: recv,
			Price: price, Qty: qty,
		})
	}
	return dst, nil
}

// Depth fills ev with a snapshot of symbol's book from GET /api/v3/depth,
// at most limit (1..5000) levels a side: a TypeBookSnapshot, best first,
// whose ID is the snapshot's lastUpdateId. ev's level arrays are reused.
// A limit outside 1..5000 is an error: Binance would cut it silently, and
// the caller would take a shorter snapshot for a whole side.
func (r *Recovery) Depth(ctx context.Context, symbol string, limit int, ev *feed.Event) error {
	sym, ok := r.symbols.Table().Lookup(symbol)
	if !ok {
		return fmt.Errorf("binance: depth %s: %w", symbol, ErrUnknownSymbol)
	}
	if limit < 1 || limit > MaxDepthLimit {
		return fmt.Errorf("binance: depth %s: limit %d is outside 1..%d", sym.Name, limit, MaxDepthLimit)
	}
	q := url.Values{}
	q.Set("symbol", sym.Name)
	q.Set("limit", strconv.Itoa(limit))
	// the answer has the shape of a partial depth payload of a raw stream
	dec := Decoder{Symbol: sym.Name}
	_, err := r.c.Do(ctx, httpx.Request{Path: depthPath, Query: q, MaxBody: MaxBody(depthPath, q)}, func(body []byte) error {
		kind, err := decodeWidening(&dec, r.symbols, body, ev)
		if err == nil && (kind != KindEvent || ev.Type != feed.TypeBookSnapshot) {
			err = fmt.Errorf("%w: not a depth snapshot", ErrMalformed)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("binance: depth %s: %w", sym.Name, err)
	}
	ev.ReceiveTime = time.Now().UnixNano()
	return nil
}

// ServerTime asks the venue for its clock (/api/v3/time). The answer has
// millisecond resolution, or microsecond with micros (X-MBX-TIME-UNIT, as
// the streams of a SpotConfig with Micros): the middle of that unit is
// returned.
func ServerTime(ctx context.Context, c *httpx.Client, micros bool) (time.Time, error) {
	var v struct {
		ServerTime int64 `json:"serverTime"`
	}
	req := httpx.Request{Path: "/api/v3/time"}
	if micros {
		req.Header = http.Header{timeUnitKey: {"MICROSECOND"}}
	}
	if _, err := c.Do(ctx, req, func(body []byte) error { return json.Unmarshal(body, &v) }); err != nil {
		return time.Time{}, fmt.Errorf("binance: server time: %w", err)
	}
	if micros {
		return time.UnixMicro(v.ServerTime).Add(500 * time.Nanosecond), nil
	}
	return time.UnixMilli(v.ServerTime).Add(500 * time.Microsecond), nil
}
