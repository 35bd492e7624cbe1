package coinbase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
)

// REST paths of Advanced Trade's public calls ("List Public Products",
// "Get Public Product", "Get Server Time"), below DefaultRESTURL.
const (
	productsPath = "/api/v3/brokerage/market/products"
	timePath     = "/api/v3/brokerage/time"
)

// ErrNoTradeHistory is returned by Recovery's trade calls. Advanced Trade's
// only public trade history, "Get Public Market Trades"
// (/market/products/{id}/ticker), takes a time window and a limit but no
// trade-ID cursor, and its trade_id strings carry no documented order: a
// window cannot be shown complete. The Exchange API's /products/{id}/trades
// pages by trade ID, but that its IDs are Advanced Trade's is not
// documented. Trades are therefore TradeIDsOpaque: every lost connection
// becomes a gap window.
var ErrNoTradeHistory = errors.New("coinbase: no public REST call returns trades by ID")

// ErrNoBookSequence is returned by Recovery.Depth: "Get Public Product
// Book" carries no sequence to align with the stream; books come from the
// stream's snapshots (BookFromStream).
var ErrNoBookSequence = errors.New("coinbase: the REST product book has no sequence (books come from the stream)")

// RESTConfig returns cfg with Coinbase's defaults: DefaultRESTURL, and
// Classify reading Coinbase's answers; public calls are held under 8 a
// second (Coinbase states 10 a second per IP for public REST calls of the
// Exchange API; Advanced Trade states none).
func RESTConfig(cfg httpx.Config) httpx.Config {
	if cfg.BaseURL == "" && len(cfg.BaseURLs) == 0 {
		cfg.BaseURL = DefaultRESTURL
	}
	if cfg.Classify == nil {
		cfg.Classify = Classify
	}
	if cfg.WeightLimit == 0 {
		cfg.WeightLimit, cfg.WeightWindow = 8, time.Second
	}
	return cfg
}

// Classify is Coinbase's reading of a REST answer. Errors have the body
// {"error":"NOT_FOUND","error_details":"…","message":"…"} (Advanced Trade
// "Errors"; the Exchange API's {"message":"…"}): the message, else
// error_details, else error, is the Answer's Msg. 429 is the rate limit
// ("Too Many Requests"), 5xx a passing failure, another non-2xx status a
// refusal.
func Classify(status int, _ http.Header, body []byte) httpx.Answer {
	var b struct {
		Error   string `json:"error"`
		Details string `json:"error_details"`
		Message string `json:"message"`
	}
	var a httpx.Answer
	if status/100 != 2 {
		_ = json.Unmarshal(body, &b) // any body: a proxy's HTML has none
		a.Msg = b.Message
		if a.Msg == "" {
			a.Msg = b.Details
		}
		if a.Msg == "" {
			a.Msg = b.Error
		}
		if a.Msg == "" {
			a.Msg = http.StatusText(status)
		}
	}
	switch {
	case status == http.StatusTooManyRequests:
		a.Verdict = httpx.VerdictRateLimited
	case status >= 500:
		a.Verdict = httpx.VerdictRetry
	case status/100 != 2:
		a.Verdict = httpx.VerdictError
	default:
		a.Verdict = httpx.VerdictOK
	}
	return a
}

type product struct {
	ProductID       string `json:"product_id"`
	BaseIncrement   string `json:"base_increment"`
	QuoteIncrement  string `json:"quote_increment"`
	PriceIncrement  string `json:"price_increment"`
	Status          string `json:"status"`
	TradingDisabled bool   `json:"trading_disabled"`
	ProductType     string `json:"product_type"`
}

// LoadSymbols fetches the spot products ("List Public Products",
// product_type=SPOT). Price scales come from price_increment (else
// quote_increment), size scales from base_increment.
func LoadSymbols(ctx context.Context, rc *httpx.Client) (*Symbols, error) {
	var body struct {
		Products []product `json:"products"`
	}
	q := url.Values{"product_type": {"SPOT"}}
	if _, err := rc.Get(ctx, productsPath, q, &body); err != nil {
		return nil, fmt.Errorf("coinbase: products: %w", err)
	}
	list := make([]Symbol, 0, len(body.Products))
	for _, p := range body.Products {
		if !validProduct(p.ProductID) {
			continue // not a BASE-QUOTE product this package names
		}
		inc := p.PriceIncrement
		if inc == "" {
			inc = p.QuoteIncrement
		}
		ps, err := scaleOfStep(inc)
		if err != nil {
			return nil, fmt.Errorf("coinbase: product %s: price_increment %q: %w", p.ProductID, inc, err)
		}
		qs, err := scaleOfStep(p.BaseIncrement)
		if err != nil {
			return nil, fmt.Errorf("coinbase: product %s: base_increment %q: %w", p.ProductID, p.BaseIncrement, err)
		}
		list = append(list, Symbol{Name: p.ProductID, PriceScale: ps, QtyScale: qs, Status: p.Status})
	}
	return NewSymbols(list...)
}

// ServerTime asks for Coinbase's clock ("Get Server Time": iso,
// epochSeconds, epochMillis), read from iso to the ns.
func ServerTime(ctx context.Context, rc *httpx.Client) (time.Time, error) {
	var body struct {
		ISO string `json:"iso"`
	}
	if _, err := rc.Get(ctx, timePath, nil, &body); err != nil {
		return time.Time{}, fmt.Errorf("coinbase: server time: %w", err)
	}
	ns, err := ParseTime([]byte(body.ISO))
	if err != nil {
		return time.Time{}, fmt.Errorf("coinbase: server time: iso %q: %w", body.ISO, err)
	}
	return time.Unix(0, ns).UTC(), nil
}

// Recovery is the venue's feed.Recovery: it has nothing to fetch (see
// ErrNoTradeHistory and ErrNoBookSequence).
type Recovery struct{}

var _ feed.Recovery = Recovery{}

// AggTrades returns ErrNoTradeHistory.
func (Recovery) AggTrades(_ context.Context, symbol string, _ int64, _ int, dst []feed.Event) ([]feed.Event, error) {
	return dst, fmt.Errorf("%s: %w", symbol, ErrNoTradeHistory)
}

// Trades returns ErrNoTradeHistory.
func (Recovery) Trades(_ context.Context, symbol string, _ int64, _ int, dst []feed.Event) ([]feed.Event, error) {
	return dst, fmt.Errorf("%s: %w", symbol, ErrNoTradeHistory)
}

// Depth returns ErrNoBookSequence.
func (Recovery) Depth(_ context.Context, symbol string, _ int, _ *feed.Event) error {
	return fmt.Errorf("%s: %w", symbol, ErrNoBookSequence)
}
