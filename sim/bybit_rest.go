package sim

import (
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// bybitREST answers the public market REST API of api.bybit.com under
// /v5/market/: time, instruments-info, orderbook and recent-trade
// (docs/v5/market/*.mdx). Answers are
// {"retCode":0,"retMsg":"OK","result":{…},"retExtInfo":{},"time":…}; a bad
// parameter is a 200 with retCode 10001 (docs/v5/error.mdx: "Request
// parameter error"); over RESTLimit requests per RESTWindow per IP, HTTP
// 403 "access too frequent" for RESTBan (docs/v5/rate-limit/rate-limit.mdx).
type bybitREST struct {
	b *Bybit

	mu    sync.Mutex
	ips   map[string]*bybitIP
	rngMu sync.Mutex
	rng   *rand.Rand
}

type bybitIP struct {
	window time.Time // start of the current window
	n      int
	until  time.Time // banned until
}

// bybitParamError is retCode 10001, "Request parameter error"
// (docs/v5/error.mdx).
const bybitParamError = 10001

func newBybitREST(b *Bybit) *bybitREST {
	return &bybitREST{b: b, ips: make(map[string]*bybitIP), rng: b.srv.faults.rng(0x42524553)} // "BRES"
}

// admit counts a request of ip and reports whether it may be answered.
func (h *bybitREST) admit(ip string, now time.Time) bool {
	cfg := h.b.cfg
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.ips[ip]
	if u == nil {
		if len(h.ips) >= maxTrackedIPs {
			clear(h.ips)
		}
		u = &bybitIP{window: now}
		h.ips[ip] = u
	}
	if now.Before(u.until) {
		return false
	}
	if now.Sub(u.window) >= cfg.RESTWindow {
		u.window, u.n = now, 0
	}
	u.n++
	if u.n > cfg.RESTLimit {
		u.until = now.Add(cfg.RESTBan)
		return false
	}
	return true
}

// write403 is the answer over the IP limit: "403, access too frequent".
func write403(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte("access too frequent"))
}

func (h *bybitREST) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !h.admit(clientIP(r), now) {
		write403(w)
		return
	}
	h.rngMu.Lock()
	_, hit := h.b.srv.faults.hit(classREST, h.rng, now, func(k FaultKind) bool { return k == FaultBybitRateLimit })
	h.rngMu.Unlock()
	if hit {
		write403(w)
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		h.writeError(w, now, bybitParamError, "params error: "+err.Error())
		return
	}
	var result []byte
	code, msg := 0, ""
	switch r.URL.Path {
	case "/v5/market/time":
		result = h.serverTime(now)
	case "/v5/market/instruments-info":
		result, code, msg = h.instruments(q)
	case "/v5/market/orderbook":
		result, code, msg = h.orderbook(q, now)
	case "/v5/market/recent-trade":
		result, code, msg = h.recentTrades(q)
	default:
		http.NotFound(w, r)
		return
	}
	if code != 0 {
		h.writeError(w, now, code, msg)
		return
	}
	body := make([]byte, 0, len(result)+96)
	body = append(body, `{"retCode":0,"retMsg":"OK","result":`...)
	body = append(body, result...)
	body = append(body, `,"retExtInfo":{},"time":`...)
	body = strconv.AppendInt(body, now.UnixMilli(), 10)
	body = append(body, '}')
	writeBybitJSON(w, body)
}

func (h *bybitREST) writeError(w http.ResponseWriter, now time.Time, code int, msg string) {
	body := []byte(`{"retCode":`)
	body = strconv.AppendInt(body, int64(code), 10)
	body = append(body, `,"retMsg":`...)
	body = appendJSONString(body, msg)
	body = append(body, `,"result":{},"retExtInfo":{},"time":`...)
	body = strconv.AppendInt(body, now.UnixMilli(), 10)
	body = append(body, '}')
	writeBybitJSON(w, body)
}

func writeBybitJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// serverTime: {"timeSecond":"1688639403","timeNano":"1688639403423213947"}
// (docs/v5/market/time.mdx).
func (h *bybitREST) serverTime(now time.Time) []byte {
	b := []byte(`{"timeSecond":"`)
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, `","timeNano":"`...)
	b = strconv.AppendInt(b, now.UnixNano(), 10)
	return append(b, `"}`...)
}

// category reads the required category parameter.
func (h *bybitREST) category(q url.Values) (int, string) {
	c := q.Get("category")
	if c == "" {
		return 0, "params error: category is required"
	}
	ci, err := categoryIndex(c)
	if err != nil {
		return 0, "params error: category " + strconv.Quote(c) + " is not supported (spot, linear)"
	}
	return ci, ""
}

// symbol reads a symbol parameter; required says whether it must be given.
func (h *bybitREST) symbol(q url.Values, required bool) (*bybitSym, string) {
	v := q.Get("symbol")
	if v == "" {
		if required {
			return nil, "params error: symbol is required"
		}
		return nil, ""
	}
	bs := h.b.feed.idx[v]
	if bs == nil {
		return nil, "params error: symbol " + strconv.Quote(v) + " invalid"
	}
	return bs, ""
}

// limit reads limit in lo..hi, def when absent.
func limitParam(q url.Values, lo, hi, def int) (int, string) {
	v := q.Get("limit")
	if v == "" {
		return def, ""
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, "params error: limit " + strconv.Quote(v) + " is not in " + strconv.Itoa(lo) + ".." + strconv.Itoa(hi)
	}
	return n, ""
}

// instruments answers instruments-info (docs/v5/market/instrument.mdx):
// spot {symbol, baseCoin, quoteCoin, status, lotSizeFilter{basePrecision,
// quotePrecision, minOrderQty, maxOrderQty, minOrderAmt, maxOrderAmt},
// priceFilter{tickSize}}; linear adds contractType LinearPerpetual,
// priceScale, lotSizeFilter{qtyStep, minOrderQty, maxOrderQty,
// minNotionalValue}, fundingInterval (minutes) and settleCoin. Linear pages
// with limit (1..1000, default 500) and cursor; spot has no pagination.
func (h *bybitREST) instruments(q url.Values) ([]byte, int, string) {
	ci, msg := h.category(q)
	if msg != "" {
		return nil, bybitParamError, msg
	}
	one, msg := h.symbol(q, false)
	if msg != "" {
		return nil, bybitParamError, msg
	}
	cat := bybitCategories[ci]
	syms := h.b.feed.syms
	if one != nil {
		syms = []*bybitSym{one}
	}
	start, limit := 0, len(syms)
	if cat == BybitLinear {
		var msg string
		if limit, msg = limitParam(q, 1, 1000, 500); msg != "" {
			return nil, bybitParamError, msg
		}
		if c := q.Get("cursor"); c != "" {
			n, err := strconv.Atoi(c)
			if err != nil || n < 0 || n > len(syms) {
				return nil, bybitParamError, "params error: cursor " + strconv.Quote(c) + " invalid"
			}
			start = n
		}
	}
	end := min(start+limit, len(syms))
	m := h.b.srv.market
	b := []byte(`{"category":"` + cat + `","list":[`)
	for i, bs := range syms[start:end] {
		if i > 0 {
			b = append(b, ',')
		}
		s := bs.s
		m.mu.Lock()
		spec, status := s.spec, s.status
		m.mu.Unlock()
		st := "Trading"
		if status != "TRADING" {
			st = "Closed"
		}
		tick := string(appendBybitDec(nil, pow10(spec.tickExp+8), -spec.tickExp))
		step := string(appendBybitDec(nil, pow10(spec.stepExp+8), -spec.stepExp))
		b = append(b, `{"symbol":"`+spec.name+`",`...)
		if cat == BybitLinear {
			b = append(b, `"contractType":"LinearPerpetual","status":"`+st+`","baseCoin":"`+spec.base+`","quoteCoin":"`+spec.quote+
				`","launchTime":"1585526400000","deliveryTime":"0","deliveryFeeRate":"","priceScale":"`+strconv.Itoa(max(-spec.tickExp, 0))+
				`","leverageFilter":{"minLeverage":"1","maxLeverage":"100.00","leverageStep":"0.01"}`+
				`,"priceFilter":{"minPrice":"`+tick+`","maxPrice":"1999999.80","tickSize":"`+tick+`"}`+
				`,"lotSizeFilter":{"maxOrderQty":"1190.000","minOrderQty":"`+step+`","qtyStep":"`+step+
				`","postOnlyMaxOrderQty":"1190.000","maxMktOrderQty":"500.000","minNotionalValue":"5"}`+
				`,"unifiedMarginTrade":true,"fundingInterval":480,"settleCoin":"`+spec.quote+`","copyTrading":"both"`+
				`,"upperFundingRate":"0.005","lowerFundingRate":"-0.005"}`...)
			continue
		}
		b = append(b, `"baseCoin":"`+spec.base+`","quoteCoin":"`+spec.quote+`","innovation":"0","status":"`+st+
			`","marginTrading":"utaOnly","lotSizeFilter":{"basePrecision":"`+step+`","quotePrecision":"`+tick+
			`","minOrderQty":"`+step+`","maxOrderQty":"71.73956243","minOrderAmt":"1","maxOrderAmt":"2000000"}`+
			`,"priceFilter":{"tickSize":"`+tick+`"}}`...)
	}
	b = append(b, ']')
	if cat == BybitLinear {
		next := ""
		if end < len(syms) {
			next = strconv.Itoa(end)
		}
		b = append(b, `,"nextPageCursor":"`+next+`"`...)
	}
	return append(b, '}'), 0, ""
}

// orderbook answers GET /v5/market/orderbook (docs/v5/market/orderbook.mdx):
// {"s","b":[[px,sz]],"a":[…],"ts","u","seq","cts"}, limit 1..1000, default 1
// on spot and 25 on linear. u is the u of the order book topics' last push
// ("u … matches u of the 1000-level WS stream"), the book the one it shows.
func (h *bybitREST) orderbook(q url.Values, now time.Time) ([]byte, int, string) {
	ci, msg := h.category(q)
	if msg != "" {
		return nil, bybitParamError, msg
	}
	bs, msg := h.symbol(q, true)
	if msg != "" {
		return nil, bybitParamError, msg
	}
	def := 1
	if bybitCategories[ci] == BybitLinear {
		def = 25
	}
	limit, msg := limitParam(q, 1, 1000, def)
	if msg != "" {
		return nil, bybitParamError, msg
	}
	u, mkt, err := h.b.feed.marketID(bs, ci, 0)
	if err != nil {
		return nil, bybitParamError, err.Error()
	}
	_, book, err := h.b.srv.market.rebuild(bs.s, mkt, true)
	if err != nil {
		return nil, 10016, "server error: " + err.Error() // 10016: "Server error"
	}
	s := bs.s
	top := func(lv []level) []level {
		out := make([]level, 0, min(limit, len(lv)))
		for i := len(lv) - 1; i >= 0 && len(out) < limit; i-- {
			out = append(out, lv[i])
		}
		return out
	}
	m := h.b.srv.market
	m.mu.Lock()
	cts := m.lastUs / 1000
	m.mu.Unlock()
	b := []byte(`{"s":"` + s.spec.name + `","b":`)
	d := m.decs(s)
	b = appendBybitLevels(b, top(book[bidSide]), d)
	b = append(b, `,"a":`...)
	b = appendBybitLevels(b, top(book[askSide]), d)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	b = append(b, `,"u":`...)
	b = strconv.AppendInt(b, u, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, bybitSeq(mkt), 10)
	b = append(b, `,"cts":`...)
	b = strconv.AppendInt(b, cts, 10)
	return append(b, '}'), 0, ""
}

// recentTrades answers GET /v5/market/recent-trade
// (docs/v5/market/recent-trade.mdx): the latest limit trades, newest first,
// limit "spot: [1,60], default: 60; others: [1,1000], default: 500"; no
// cursor, no time range; "seq" (a string here) as in publicTrade.
func (h *bybitREST) recentTrades(q url.Values) ([]byte, int, string) {
	ci, msg := h.category(q)
	if msg != "" {
		return nil, bybitParamError, msg
	}
	bs, msg := h.symbol(q, true)
	if msg != "" {
		return nil, bybitParamError, msg
	}
	cat := bybitCategories[ci]
	lo, hi, def := 1, 1000, 500
	if cat == BybitSpot {
		hi, def = 60, 60
	}
	limit, msg := limitParam(q, lo, hi, def)
	if msg != "" {
		return nil, bybitParamError, msg
	}
	m, s := h.b.srv.market, bs.s
	m.mu.Lock()
	first, last := m.oldestTrade(s), s.nextTrade-1
	first = max(first, last-int64(limit)+1)
	d := decsOf(s)
	recs := make([]tradeRec, 0, max(last-first+1, 0))
	for id := first; id <= last; id++ {
		recs = append(recs, *s.tradeAt(id))
	}
	m.mu.Unlock()
	b := []byte(`{"category":"` + cat + `","list":[`)
	for i := len(recs) - 1; i >= 0; i-- {
		if i < len(recs)-1 {
			b = append(b, ',')
		}
		t := bybitTrade(cat, s, d, first+int64(i), &recs[i])
		b = append(b, `{"execId":"`+t.ID+`","symbol":"`+t.Symbol+`","price":"`+t.Price+`","size":"`+t.Size+
			`","side":"`+t.Side+`","time":"`+strconv.FormatInt(t.Time, 10)+`","isBlockTrade":false,"isRPITrade":false,"seq":"`+
			strconv.FormatInt(bybitTradeSeq(first+int64(i)), 10)+`"}`...)
	}
	return append(b, "]}"...), 0, ""
}
