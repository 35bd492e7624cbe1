package binanceusdm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue/binance"
)

// REST limits and paths of USDⓈ-M futures market data.
const (
	// WeightLimit is the request weight allowed per minute and IP
	// (exchangeInfo's REQUEST_WEIGHT rate limit; LoadSymbols applies the
	// published one).
	WeightLimit = 2400
	// UsedWeightHeader is the answer header reporting the weight used in
	// the current minute.
	UsedWeightHeader = "X-MBX-USED-WEIGHT-1M"
	// MaxAggTradesLimit is the most aggregate trades one request returns.
	MaxAggTradesLimit = 1000
	// MaxDepthLimit is the deepest snapshot: levels per side.
	MaxDepthLimit = 1000

	aggTradesPath    = "/fapi/v1/aggTrades"
	depthPath        = "/fapi/v1/depth"
	exchangeInfoPath = "/fapi/v1/exchangeInfo"
	timePath         = "/fapi/v1/time"
)

// DepthLimits are the limits /fapi/v1/depth accepts ("Order Book").
var depthLimits = [...]int{5, 10, 20, 50, 100, 500, 1000}

// ErrNoTrades is returned by Recovery.Trades. USD-M serves individual
// trades by ID only from GET /fapi/v1/historicalTrades ("Old Trades
// Lookup", security type MARKET_DATA), which needs an API key in the
// X-MBX-APIKEY header: Binance's own connector
// (binance-futures-connector-python, um_futures/market.py) sends it with
// its keyed request, where every other market-data call goes without one.
// GET /fapi/v1/trades has no fromId: only the latest trades. So without a
// key nothing recovers individual trades; the venue decodes no @trade
// stream, and aggregate trades (aggTrade, /fapi/v1/aggTrades) are
// recovered instead.
var ErrNoTrades = errors.New("binanceusdm: individual trades by ID need an API key (/fapi/v1/historicalTrades)")

// RequestWeight returns the weight Binance counts for a GET of path with
// query: depth by its limit ("Order Book": 5–50 → 2, 100 → 5, 500 → 10,
// 1000 → 20; default 500), aggTrades 20 ("Compressed/Aggregate Trades
// List"), exchangeInfo and time 1.
func RequestWeight(path string, query url.Values) int {
	switch path {
	case depthPath:
		n, err := strconv.Atoi(query.Get("limit"))
		switch {
		case query.Get("limit") == "":
			return 10
		case err != nil:
			return 20
		case n <= 50:
			return 2
		case n <= 100:
			return 5
		case n <= 500:
			return 10
		}
		return 20
	case aggTradesPath:
		return 20
	}
	return 1
}

// Caps of answer bodies: a depth level is at most about 47 bytes (see
// venue/binance), an aggregate trade with nq about 200; a contract of
// exchangeInfo about 2 KB with its filters, some 500 of them listed.
const (
	depthLevelMax     = 100
	tradeItemMax      = 420
	allSymbolsInfoMax = 16 << 20
	answerOverheadMax = 64 << 10
	smallAnswerMax    = 64 << 10
)

// MaxBody returns the cap of the answer to a GET of path with query: its
// largest size with a margin. RESTConfig sets it as httpx.Config.MaxBodyFor.
func MaxBody(path string, query url.Values) int64 {
	switch path {
	case depthPath:
		n, err := strconv.Atoi(query.Get("limit"))
		if err != nil || n < 1 || n > MaxDepthLimit {
			n = MaxDepthLimit
		}
		return answerOverheadMax + 2*int64(n)*depthLevelMax
	case aggTradesPath:
		n, err := strconv.Atoi(query.Get("limit"))
		if err != nil || n < 1 || n > MaxAggTradesLimit {
			n = MaxAggTradesLimit
		}
		return answerOverheadMax + int64(n)*tradeItemMax
	case exchangeInfoPath:
		return allSymbolsInfoMax
	}
	return smallAnswerMax
}

// RESTConfig returns cfg with USD-M's rules filled in where cfg leaves them
// unset: the host DefaultRESTURL when cfg names none, the weight limit of
// 2400 a minute, the used-weight header, each request's weight and each
// answer's cap. Pass the result to httpx.New.
func RESTConfig(cfg httpx.Config) httpx.Config {
	return binance.RESTRules{
		BaseURL:     DefaultRESTURL,
		WeightLimit: WeightLimit, UsedWeightHeader: UsedWeightHeader,
		Weight: RequestWeight, MaxBody: MaxBody,
	}.Apply(cfg)
}

// LoadSymbols fetches exchangeInfo (every contract: the endpoint takes no
// symbol) and builds the table of all contracts. It fails when one of
// symbols (upper case) is not listed. The REQUEST_WEIGHT rate limit
// exchangeInfo publishes becomes c's weight limit.
func LoadSymbols(ctx context.Context, c *httpx.Client, symbols []string) (*Symbols, error) {
	var body json.RawMessage
	if _, err := c.Get(ctx, exchangeInfoPath, nil, &body); err != nil {
		return nil, fmt.Errorf("binanceusdm: exchangeInfo: %w", err)
	}
	table, err := ParseExchangeInfo(body)
	if err != nil {
		return nil, err
	}
	if err := binance.ApplyWeightLimit(c, body); err != nil {
		return nil, fmt.Errorf("binanceusdm: %w", err)
	}
	for _, s := range symbols {
		if _, ok := table.Lookup(s); !ok {
			return nil, fmt.Errorf("binanceusdm: exchangeInfo does not list %q: %w", s, ErrUnknownSymbol)
		}
	}
	return table, nil
}

// ServerTime asks the venue for its clock (GET /fapi/v1/time, in ms): the
// middle of that millisecond is returned.
func ServerTime(ctx context.Context, c *httpx.Client) (time.Time, error) {
	var v struct {
		ServerTime int64 `json:"serverTime"`
	}
	if _, err := c.Get(ctx, timePath, nil, &v); err != nil {
		return time.Time{}, fmt.Errorf("binanceusdm: server time: %w", err)
	}
	return time.UnixMilli(v.ServerTime).Add(500 * time.Microsecond), nil
}

// Recovery fetches what the streams missed from the REST API: aggregate
// trades by ID and book snapshots. It implements feed.Recovery and is safe
// for concurrent use.
type Recovery struct {
	c       *httpx.Client
	symbols SymbolSource
	pages   sync.Pool // *[]aggTradeJSON
}

var _ feed.Recovery = (*Recovery)(nil)

// NewRecovery returns the recovery of the venue whose REST client is c
// (built from RESTConfig) and whose contracts are symbols: give it the
// venue's Instruments, so that answers parse at the scales in force and a
// value that does not fit widens them.
func NewRecovery(c *httpx.Client, symbols SymbolSource) (*Recovery, error) {
	if c == nil {
		return nil, errors.New("binanceusdm: NewRecovery: nil REST client")
	}
	if symbols == nil || symbols.Table() == nil {
		return nil, errors.New("binanceusdm: NewRecovery: nil Symbols (see LoadSymbols)")
	}
	return &Recovery{c: c, symbols: symbols}, nil
}

// aggTradeJSON is one item of GET /fapi/v1/aggTrades. Every key read is
// declared with its case: encoding/json matches keys without regard to it.
type aggTradeJSON struct {
	A  int64  `json:"a"`
	P  string `json:"p"`
	Q  string `json:"q"`
	NQ string `json:"nq"`
	F  int64  `json:"f"`
	L  int64  `json:"l"`
	T  int64  `json:"T"`
	M  bool   `json:"m"`
}

// AggTrades appends to dst the aggregate trades of symbol from ID fromID
// on (GET /fapi/v1/aggTrades?fromId, weight 20; fromId is inclusive), at
// most limit (1..1000), oldest first, as TypeTrade events with Aggregated
// and Recovered set.
func (r *Recovery) AggTrades(ctx context.Context, symbol string, fromID int64, limit int, dst []feed.Event) ([]feed.Event, error) {
	sym, ok := r.symbols.Table().Lookup(symbol)
	if !ok {
		return dst, fmt.Errorf("binanceusdm: aggTrades %q: %w", symbol, ErrUnknownSymbol)
	}
	q := url.Values{}
	q.Set("symbol", sym.Name)
	q.Set("fromId", strconv.FormatInt(fromID, 10))
	q.Set("limit", strconv.Itoa(min(max(limit, 1), MaxAggTradesLimit)))
	pp, _ := r.pages.Get().(*[]aggTradeJSON)
	if pp == nil {
		pp = new([]aggTradeJSON)
	}
	defer r.pages.Put(pp)
	_, err := r.c.Do(ctx, httpx.Request{Path: aggTradesPath, Query: q, MaxBody: MaxBody(aggTradesPath, q)}, func(body []byte) error {
		*pp = (*pp)[:0]
		return json.Unmarshal(body, pp)
	})
	if err != nil {
		return dst, fmt.Errorf("binanceusdm: aggTrades %s from %d: %w", sym.Name, fromID, err)
	}
	recv := time.Now().UnixNano()
	for _, t := range *pp {
		var price, qty int64
		if sym, price, qty, err = r.parseTrade(sym, t.P, t.Q); err != nil {
			return dst, fmt.Errorf("binanceusdm: aggTrades %s: trade %d: %w", sym.Name, t.A, err)
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
			ExchangeTime: t.T * int64(time.Millisecond), ReceiveTime: recv,
			Price: price, Qty: qty,
		})
	}
	return dst, nil
}

// parseTrade parses a trade's price and quantity at sym's scales; a value
// with more decimals widens the scale in force (Instruments), and sym is
// returned as it is then.
func (r *Recovery) parseTrade(sym Symbol, p, q string) (Symbol, int64, int64, error) {
	for tries := 0; ; tries++ {
		price, qty, need, err := binance.TradeValues(sym.wire, p, q)
		in, ok := r.symbols.(*Instruments)
		if err == nil || need == nil || !ok || tries >= 2 || !in.Widen(need.Symbol, need.Price, need.Scale) {
			return sym, price, qty, err
		}
		if sym, ok = in.Table().Lookup(sym.Name); !ok {
			return sym, 0, 0, err
		}
	}
}

// Trades returns ErrNoTrades: see there.
func (r *Recovery) Trades(_ context.Context, symbol string, fromID int64, _ int, dst []feed.Event) ([]feed.Event, error) {
	return dst, fmt.Errorf("binanceusdm: trades %s from %d: %w", symbol, fromID, ErrNoTrades)
}

// Depth fills ev with a snapshot of symbol's book from GET
// /fapi/v1/depth, at most limit levels a side (1..1000): a
// TypeBookSnapshot, best first, whose ID is lastUpdateId, ExchangeTime the
// answer's T (transaction time) and EventTime its E. The endpoint takes
// only the limits 5, 10, 20, 50, 100, 500 and 1000: the smallest of them
// at or above limit is asked for, and the levels past limit dropped.
func (r *Recovery) Depth(ctx context.Context, symbol string, limit int, ev *feed.Event) error {
	sym, ok := r.symbols.Table().Lookup(symbol)
	if !ok {
		return fmt.Errorf("binanceusdm: depth %q: %w", symbol, ErrUnknownSymbol)
	}
	if limit < 1 || limit > MaxDepthLimit {
		return fmt.Errorf("binanceusdm: depth %s: limit %d is outside 1..%d", sym.Name, limit, MaxDepthLimit)
	}
	ask := depthLimits[len(depthLimits)-1]
	if i, _ := slices.BinarySearch(depthLimits[:], limit); i < len(depthLimits) {
		ask = depthLimits[i]
	}
	q := url.Values{}
	q.Set("symbol", sym.Name)
	q.Set("limit", strconv.Itoa(ask))
	_, err := r.c.Do(ctx, httpx.Request{Path: depthPath, Query: q, MaxBody: MaxBody(depthPath, q)}, func(body []byte) error {
		err := parseDepth(body, sym, ev)
		for tries := 0; err != nil && tries < 4 && widen(r.symbols, err); tries++ {
			if sym, ok = r.symbols.Table().Lookup(symbol); ok {
				err = parseDepth(body, sym, ev)
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("binanceusdm: depth %s: %w", sym.Name, err)
	}
	ev.Bids, ev.Asks = ev.Bids[:min(len(ev.Bids), limit)], ev.Asks[:min(len(ev.Asks), limit)]
	ev.ReceiveTime = time.Now().UnixNano()
	return nil
}

// parseDepth reads an answer of /fapi/v1/depth:
// {"lastUpdateId":…,"E":…,"T":…,"bids":[["price","qty"],…],"asks":[…]}.
func parseDepth(b []byte, sym Symbol, ev *feed.Event) error {
	ev.Reset()
	i := binance.SkipWS(b, 0)
	obj, err := binance.OpenObject(b, i)
	if err != nil {
		return err
	}
	var seen uint8
	const (
		hasID = 1 << iota
		hasBids
		hasAsks
	)
	for {
		key, done, err := obj.Next()
		if err != nil {
			return err
		}
		if done {
			break
		}
		at, next := obj.Pos(), 0
		switch string(key.Raw(b)) {
		case "lastUpdateId":
			seen |= hasID
			if ev.ID, next, err = binance.IntAt(b, at); err != nil {
				return binance.FieldError("lastUpdateId", err)
			}
		case "E":
			var ms int64
			if ms, next, err = binance.IntAt(b, at); err == nil && (ms > math.MaxInt64/1000000 || ms < 0) {
				err = errTimeRange
			}
			if err != nil {
				return binance.FieldError("E", err)
			}
			ev.EventTime = ms * int64(time.Millisecond)
		case "T":
			var ms int64
			if ms, next, err = binance.IntAt(b, at); err == nil && (ms > math.MaxInt64/1000000 || ms < 0) {
				err = errTimeRange
			}
			if err != nil {
				return binance.FieldError("T", err)
			}
			ev.ExchangeTime = ms * int64(time.Millisecond)
		case "bids":
			seen |= hasBids
			if ev.Bids, next, err = binance.Levels(b, at, sym.wire, ev.Bids[:0], 1, &ev.Capped); err != nil {
				return binance.FieldError("bids", err)
			}
		case "asks":
			seen |= hasAsks
			if ev.Asks, next, err = binance.Levels(b, at, sym.wire, ev.Asks[:0], 1, &ev.Capped); err != nil {
				return binance.FieldError("asks", err)
			}
		default:
			if next, err = binance.SkipValue(b, at, 1); err != nil {
				return err
			}
		}
		obj.SetPos(next)
	}
	if end := binance.SkipWS(b, obj.Pos()); end != len(b) {
		return binance.Malformed(end, "data after the object")
	}
	if seen != hasID|hasBids|hasAsks {
		return fmt.Errorf(`%w: depth snapshot without "lastUpdateId", "bids" and "asks"`, ErrMalformed)
	}
	ev.Type, ev.Venue = feed.TypeBookSnapshot, Venue
	ev.Symbol, ev.Instrument = sym.Name, sym.Instrument
	ev.PriceScale, ev.QtyScale = sym.PriceScale, sym.QtyScale
	ev.FirstID = ev.ID
	return nil
}
