package sim

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// usdmREST answers the public market-data REST API of fapi.binance.com
// under /fapi/v1/: ping, time, exchangeInfo, depth, aggTrades and
// premiumIndex, with request weights per client IP (REQUEST_WEIGHT 2400 a
// minute), 429 and 418 answers with Retry-After, {"code":…,"msg":…} errors,
// and the REST faults of sim/faults.go.
type usdmREST struct {
	m      *market
	fs     *faults
	cfg    USDMConfig
	lag    time.Duration // Config.RESTLag
	banFor time.Duration
	lim    limiter

	rngMu sync.Mutex
	rng   *rand.Rand
}

func newUSDMREST(m *market, fs *faults, cfg USDMConfig, top Config) *usdmREST {
	return &usdmREST{
		m: m, fs: fs, cfg: cfg, lag: top.RESTLag, banFor: top.BanTime,
		lim: limiter{limit: cfg.WeightLimit, window: time.Minute, banAfter: top.BanAfter, banTime: top.BanTime, ips: make(map[string]*ipUse)},
		rng: fs.rng(0x46415049), // "FAPI"
	}
}

// usdmWeight is the request weight of path with query q (USDⓈ-M "Order
// Book": "Weight: limit 5, 10, 20, 50: 2; 100: 5; 500: 10; 1000: 20";
// "Compressed/Aggregate Trades List": 20; "Exchange Information",
// "Check Server Time", "Test Connectivity", "Mark Price": 1).
func usdmWeight(path string, q url.Values) int {
	switch path {
	case "/fapi/v1/aggTrades":
		return 20
	case "/fapi/v1/depth":
		n, err := strconv.Atoi(q.Get("limit"))
		switch {
		case err != nil:
			return 10 // the default limit, 500
		case n <= 50:
			return 2
		case n <= 100:
			return 5
		case n <= 500:
			return 10
		default:
			return 20
		}
	}
	return 1
}

var usdmPaths = map[string]bool{
	"/fapi/v1/ping": true, "/fapi/v1/time": true, "/fapi/v1/exchangeInfo": true,
	"/fapi/v1/depth": true, "/fapi/v1/aggTrades": true, "/fapi/v1/premiumIndex": true,
}

func (h *usdmREST) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{now: time.Now()}
	ip := clientIP(r)
	if !usdmPaths[r.URL.Path] || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		h.setWeight(w, h.lim.used(ip, c.now))
		writeNginx(w, http.StatusNotFound)
		return
	}
	c.q, c.qerr = url.ParseQuery(r.URL.RawQuery)
	if !admitWeight(w, h, &h.lim, ip, usdmWeight(r.URL.Path, c.q), c.now) {
		return
	}
	h.rngMu.Lock()
	f, hit := h.fs.hitAt(VenueBinanceUSDM, classREST, h.rng, c.now, func(k FaultKind) bool {
		switch k {
		case FaultStaleSnapshot:
			return r.URL.Path == "/fapi/v1/depth"
		case FaultRESTLag:
			return r.URL.Path == "/fapi/v1/aggTrades"
		case FaultRESTHuge, FaultRESTEndless:
			return false
		}
		return true
	})
	h.rngMu.Unlock()
	if hit && restFaultBefore(w, r, f, c, h, &h.lim, ip, h.banFor, time.Now) {
		return
	}
	var body []byte
	var e *apiError
	switch r.URL.Path {
	case "/fapi/v1/ping":
		body = []byte("{}")
	case "/fapi/v1/time":
		body = []byte(`{"serverTime":` + strconv.FormatInt(c.now.UnixMilli(), 10) + `}`)
	case "/fapi/v1/exchangeInfo":
		body, e = h.exchangeInfo(c)
	case "/fapi/v1/depth":
		body, e = h.depth(c)
	case "/fapi/v1/aggTrades":
		body, e = h.aggTrades(c)
	case "/fapi/v1/premiumIndex":
		body, e = h.premiumIndex(c)
	}
	status := http.StatusOK
	if e != nil {
		status, body = e.status, e.body()
	}
	writeRESTAnswer(w, r, f, hit, status, body)
}

// setWeight writes the used-weight header: USD-M answers only
// X-MBX-USED-WEIGHT-1M.
func (h *usdmREST) setWeight(w http.ResponseWriter, used int) {
	w.Header().Set("X-MBX-USED-WEIGHT-1M", strconv.Itoa(used))
}

// write429 answers a request over the weight limit. The USD-M wording of
// -1003 is not published; this is the spot one with the futures limit.
func (h *usdmREST) write429(w http.ResponseWriter, retryAfter time.Duration) {
	w.Header().Set("Retry-After", retrySeconds(retryAfter))
	writeJSON(w, http.StatusTooManyRequests, errorBody(-1003, fmt.Sprintf(
		"Too many requests; current limit of IP is %d requests per minute. Please use the websocket for live updates to avoid polling the API.",
		h.cfg.WeightLimit)))
}

// depth answers GET /fapi/v1/depth: symbol (mandatory), limit "Default
// 500; Valid limits:[5, 10, 20, 50, 100, 500, 1000]". The answer is
// {"lastUpdateId":…,"E":…,"T":…,"bids":[…],"asks":[…]}, lastUpdateId a
// USD-M update ID (USDMUpdateID).
func (h *usdmREST) depth(c *call) ([]byte, *apiError) {
	if e := c.check(); e != nil {
		return nil, e
	}
	name, e := c.symbolName("symbol", true)
	if e != nil {
		return nil, e
	}
	limit := 500
	if v, ok := c.q["limit"]; ok {
		switch v[0] {
		case "5", "10", "20", "50", "100", "500", "1000":
			limit, _ = strconv.Atoi(v[0])
		default:
			return nil, invalidData("limit")
		}
	}
	if e := c.unread("symbol", "limit"); e != nil {
		return nil, e
	}
	s, e := h.m.apiSymbol(name)
	if e != nil {
		return nil, e
	}
	id, bids, asks, sc, err := h.m.snapshot(s, limit, c.back)
	if err != nil {
		return nil, &apiError{http.StatusInternalServerError, -1000, "An unknown error occurred while processing the request."}
	}
	h.m.mu.Lock()
	us := h.m.lastUs
	h.m.mu.Unlock()
	b := make([]byte, 0, 96+(len(bids)+len(asks))*48)
	b = append(b, `{"lastUpdateId":`...)
	b = strconv.AppendInt(b, USDMUpdateID(id), 10)
	b = append(b, `,"E":`...)
	b = strconv.AppendInt(b, c.now.UnixMilli(), 10)
	b = append(b, `,"T":`...)
	b = strconv.AppendInt(b, us/1000, 10)
	b = append(b, `,"bids":`...)
	b = appendLevels(b, sc, bids)
	b = append(b, `,"asks":`...)
	b = appendLevels(b, sc, asks)
	return append(b, '}'), nil
}

// aggTrades answers GET /fapi/v1/aggTrades: symbol (mandatory), fromId,
// startTime, endTime, limit ("Default 500; max 1000.", more is cut to
// 1000). "If both startTime
// and endTime are sent, time between startTime and endTime must be less
// than 1 hour"; fromId with a time is refused as on spot. Items are
// {"a":…,"p":…,"q":…,"f":…,"l":…,"T":…,"m":…}. Trades younger than
// Config.RESTLag are not served yet, as on spot.
func (h *usdmREST) aggTrades(c *call) ([]byte, *apiError) {
	name, q, e := c.aggParams()
	if e != nil {
		return nil, e
	}
	s, e := h.m.apiSymbol(name)
	if e != nil {
		return nil, e
	}
	if q.hasFrom && (q.hasStart || q.hasEnd) {
		return nil, apiErr(-1128, "Combination of optional parameters invalid.")
	}
	if q.hasStart && q.hasEnd && (q.end < q.start || q.end-q.start >= time.Hour.Milliseconds()) {
		return nil, apiErr(-1127, "More than 1 hours between startTime and endTime.")
	}
	q.start, q.end = timeParamUs(q.start, false), timeParamUs(q.end, true)
	lag := h.lag
	if c.lag > 0 {
		lag = c.lag
	}
	if lag > 0 {
		q.edge = c.now.Add(-lag).UnixMicro()
	}
	first, recs := h.m.queryAggs(s, q)
	b := make([]byte, 0, 2+len(recs)*140)
	b = append(b, '[')
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"a":`...)
		b = strconv.AppendInt(b, first+int64(i), 10)
		b = append(b, `,"p":`...)
		b = appendQuotedE8(b, r.price)
		b = append(b, `,"q":`...)
		b = appendQuotedE8(b, r.qty)
		b = append(b, `,"f":`...)
		b = strconv.AppendInt(b, r.first, 10)
		b = append(b, `,"l":`...)
		b = strconv.AppendInt(b, r.last, 10)
		b = append(b, `,"T":`...)
		b = strconv.AppendInt(b, r.us/1000, 10)
		b = append(b, `,"m":`...)
		b = appendBool(b, r.maker)
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// premiumIndex answers GET /fapi/v1/premiumIndex ("Mark Price and Funding
// Rate"): one symbol's object, or without symbol an array of all, with the
// values of the markPrice stream.
func (h *usdmREST) premiumIndex(c *call) ([]byte, *apiError) {
	if e := c.check(); e != nil {
		return nil, e
	}
	name, e := c.symbolName("symbol", false)
	if e != nil {
		return nil, e
	}
	if e := c.unread("symbol"); e != nil {
		return nil, e
	}
	one := func(s *symState) []byte {
		mark, index, rate, next := markValues(h.m, s, c.now)
		b := []byte(`{"symbol":"` + s.spec.name + `","markPrice":`)
		b = appendQuotedE8(b, mark)
		b = append(b, `,"indexPrice":`...)
		b = appendQuotedE8(b, index)
		b = append(b, `,"estimatedSettlePrice":`...)
		b = appendQuotedE8(b, index)
		b = append(b, `,"lastFundingRate":`...)
		b = appendQuotedE8(b, rate)
		b = append(b, `,"interestRate":"0.00010000","nextFundingTime":`...)
		b = strconv.AppendInt(b, next, 10)
		b = append(b, `,"time":`...)
		b = strconv.AppendInt(b, c.now.UnixMilli(), 10)
		return append(b, '}')
	}
	if name != "" {
		s, e := h.m.apiSymbol(name)
		if e != nil {
			return nil, e
		}
		return one(s), nil
	}
	parts := make([]string, len(h.m.syms))
	for i, s := range h.m.syms {
		parts[i] = string(one(s))
	}
	return []byte("[" + strings.Join(parts, ",") + "]"), nil
}

// exchangeInfo answers GET /fapi/v1/exchangeInfo ("Exchange
// Information"): the rate limits and, per symbol, a PERPETUAL contract
// margined in its quote asset with its PRICE_FILTER, LOT_SIZE and
// MARKET_LOT_SIZE filters ("pricePrecision and quantityPrecision … should
// not be used as tickSize and stepSize").
func (h *usdmREST) exchangeInfo(c *call) ([]byte, *apiError) {
	if e := c.check(); e != nil {
		return nil, e
	}
	if e := c.unread(); e != nil {
		return nil, e
	}
	type filter map[string]string
	type symbol struct {
		Symbol                string   `json:"symbol"`
		Pair                  string   `json:"pair"`
		ContractType          string   `json:"contractType"`
		DeliveryDate          int64    `json:"deliveryDate"`
		OnboardDate           int64    `json:"onboardDate"`
		Status                string   `json:"status"`
		MaintMarginPercent    string   `json:"maintMarginPercent"`
		RequiredMarginPercent string   `json:"requiredMarginPercent"`
		BaseAsset             string   `json:"baseAsset"`
		QuoteAsset            string   `json:"quoteAsset"`
		MarginAsset           string   `json:"marginAsset"`
		PricePrecision        int      `json:"pricePrecision"`
		QuantityPrecision     int      `json:"quantityPrecision"`
		BaseAssetPrecision    int      `json:"baseAssetPrecision"`
		QuotePrecision        int      `json:"quotePrecision"`
		UnderlyingType        string   `json:"underlyingType"`
		UnderlyingSubType     []string `json:"underlyingSubType"`
		SettlePlan            int      `json:"settlePlan"`
		TriggerProtect        string   `json:"triggerProtect"`
		Filters               []filter `json:"filters"`
		OrderTypes            []string `json:"OrderType"`
		TimeInForce           []string `json:"timeInForce"`
		LiquidationFee        string   `json:"liquidationFee"`
		MarketTakeBound       string   `json:"marketTakeBound"`
	}
	syms := make([]symbol, 0, len(h.m.syms))
	h.m.mu.Lock()
	for _, s := range h.m.syms {
		status := s.status
		if status == StatusTrading {
			status = "TRADING"
		} else {
			status = "SETTLING" // the futures status of a symbol that does not trade
		}
		tick, step := s.sc.priceString(1), s.sc.qtyString(1)
		syms = append(syms, symbol{
			Symbol: s.spec.name, Pair: s.spec.name, ContractType: "PERPETUAL",
			DeliveryDate: 4133404800000, OnboardDate: 1569398400000, Status: status,
			MaintMarginPercent: "2.5000", RequiredMarginPercent: "5.0000",
			BaseAsset: s.spec.base, QuoteAsset: s.spec.quote, MarginAsset: s.spec.quote,
			PricePrecision: max(0, -s.spec.tickExp), QuantityPrecision: max(0, -s.spec.stepExp),
			BaseAssetPrecision: 8, QuotePrecision: 8, UnderlyingType: "COIN", UnderlyingSubType: []string{},
			TriggerProtect: "0.0500",
			Filters: []filter{
				{"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "4529764.00000000", "tickSize": tick},
				{"filterType": "LOT_SIZE", "minQty": step, "maxQty": "1000.00000000", "stepSize": step},
				{"filterType": "MARKET_LOT_SIZE", "minQty": step, "maxQty": "120.00000000", "stepSize": step},
			},
			OrderTypes:     []string{"LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"},
			TimeInForce:    []string{"GTC", "IOC", "FOK", "GTX", "GTD"},
			LiquidationFee: "0.012500", MarketTakeBound: "0.05",
		})
	}
	h.m.mu.Unlock()
	return mustJSON(struct {
		Timezone        string          `json:"timezone"`
		ServerTime      int64           `json:"serverTime"`
		FuturesType     string          `json:"futuresType"`
		RateLimits      []rateLimitJSON `json:"rateLimits"`
		ExchangeFilters []string        `json:"exchangeFilters"`
		Assets          []any           `json:"assets"`
		Symbols         []symbol        `json:"symbols"`
	}{
		Timezone: "UTC", ServerTime: c.now.UnixMilli(), FuturesType: "U_MARGINED",
		RateLimits: []rateLimitJSON{
			{"REQUEST_WEIGHT", "MINUTE", 1, h.cfg.WeightLimit},
			{"ORDERS", "MINUTE", 1, 1200},
			{"ORDERS", "SECOND", 10, 300},
		},
		ExchangeFilters: []string{}, Assets: []any{}, Symbols: syms,
	}), nil
}

// markValues are the mark price, index price and funding rate (1e-8) of s
// at now, and the next funding time (ms), as the markPrice stream gives
// them.
func markValues(m *market, s *symState, now time.Time) (mark, index, rate, next int64) {
	m.mu.Lock()
	t, sc := s.top(), s.sc
	m.mu.Unlock()
	mark = (sc.priceE8(t[0]) + sc.priceE8(t[2])) / 2
	k := int64(mix64(uint64(now.Unix()/3)^nameHash(s.spec.name))%7) - 3 // -3..3
	index = mark - mark/100000*k
	rate = 10000 + k*125 // the 0.01% interest rate plus an eighth of the premium
	next = (now.UnixMilli()/fundingEvery.Milliseconds() + 1) * fundingEvery.Milliseconds()
	return mark, index, rate, next
}
