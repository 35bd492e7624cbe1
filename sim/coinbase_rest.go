package sim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cbREST answers the Exchange API's public trades too,
// GET /products/{id}/trades (see exchangeTrades). It answers the public REST routes of Advanced Trade (no auth):
// GET /api/v3/brokerage/time, /market/products, /market/products/{id},
// /market/product_book and /market/products/{id}/ticker, with a per-IP
// limit of RESTPerSecond (over it HTTP 429). Errors have Coinbase's shape
// {"error":…,"error_details":…,"message":…}.
type cbREST struct {
	cb     *Coinbase
	budget *attemptBudget
}

func newCBREST(cb *Coinbase) *cbREST {
	return &cbREST{cb: cb, budget: newAttemptBudget(cb.cfg.RESTPerSecond, time.Second)}
}

func cbRESTError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(map[string]string{"error": code, "error_details": msg, "message": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (h *cbREST) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	if ok, _ := h.budget.attempt(wsClientIP(r.RemoteAddr), now); !ok {
		cbRESTError(w, http.StatusTooManyRequests, "rate_limit_exceeded", "Too many requests")
		return
	}
	if r.Method != http.MethodGet {
		cbRESTError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "method "+r.Method+" is not allowed")
		return
	}
	q := r.URL.Query()
	if id, ok := strings.CutPrefix(r.URL.Path, "/products/"); ok {
		if id, ok = strings.CutSuffix(id, "/trades"); ok {
			h.exchangeTrades(w, id, q.Get("limit"), q.Get("after"), q.Get("before"))
			return
		}
	}
	path := strings.TrimPrefix(r.URL.Path, "/api/v3/brokerage")
	switch {
	case path == "/time":
		writeTruthJSON(w, http.StatusOK, map[string]string{"iso": now.UTC().Format(time.RFC3339Nano),
			"epochSeconds": strconv.FormatInt(now.Unix(), 10), "epochMillis": strconv.FormatInt(now.UnixMilli(), 10)})
	case path == "/market/products":
		// "List Public Products": product_type filters by type (the
		// front-end lists SPOT products only: FUTURE lists none),
		// product_ids (repeated) by ID
		out := []map[string]any{}
		typ, ids := q.Get("product_type"), q["product_ids"]
		for _, p := range h.cb.prods {
			if (typ == "" || typ == "SPOT") && (len(ids) == 0 || slices.Contains(ids, p.id)) {
				out = append(out, h.productJSON(p, now))
			}
		}
		writeTruthJSON(w, http.StatusOK, map[string]any{"products": out, "num_products": len(out)})
	case path == "/market/product_book":
		h.book(w, q.Get("product_id"), q.Get("limit"))
	case strings.HasPrefix(path, "/market/products/"):
		rest := strings.TrimPrefix(path, "/market/products/")
		id, sub, _ := strings.Cut(rest, "/")
		p := h.cb.byID[id]
		if p == nil {
			cbRESTError(w, http.StatusNotFound, "NOT_FOUND", "ProductID "+strconv.Quote(id)+" is invalid")
			return
		}
		switch sub {
		case "":
			writeTruthJSON(w, http.StatusOK, h.productJSON(p, now))
		case "ticker":
			h.ticker(w, p, q.Get("limit"))
		default:
			cbRESTError(w, http.StatusNotFound, "NOT_FOUND", "route "+r.URL.Path+" not found")
		}
	default:
		cbRESTError(w, http.StatusNotFound, "NOT_FOUND", "route "+r.URL.Path+" not found")
	}
}

func (h *cbREST) productJSON(p *cbProduct, now time.Time) map[string]any {
	sp := p.s.spec
	status, disabled := "online", false
	if p.offline(now) {
		status, disabled = "offline", true
	}
	m := h.cb.srv.market
	m.mu.Lock()
	bids, _ := topE8(p.s, 1)
	m.mu.Unlock()
	price := int64(0)
	if len(bids) > 0 {
		price = bids[0].price
	}
	return map[string]any{
		"product_id": p.id, "price": string(appendOKXNum(nil, price)),
		"base_increment": string(appendOKXNum(nil, pow10(sp.stepExp+8))), "quote_increment": string(appendOKXNum(nil, pow10(sp.tickExp+8))),
		"price_increment": string(appendOKXNum(nil, pow10(sp.tickExp+8))), "base_min_size": string(appendOKXNum(nil, pow10(sp.stepExp+8))),
		"quote_min_size": "1", "base_currency_id": sp.base, "quote_currency_id": sp.quote,
		"base_display_symbol": sp.base, "quote_display_symbol": sp.quote, "status": status, "trading_disabled": disabled,
		"cancel_only": false, "limit_only": false, "post_only": false, "auction_mode": false, "is_disabled": disabled,
		"product_type": "SPOT", "alias_to": []string{}, "product_venue": "CBE",
	}
}

type cbPriceSize struct {
	Price string `json:"price"`
	Size  string `json:"size"`
}

func (h *cbREST) book(w http.ResponseWriter, id, limitS string) {
	p := h.cb.byID[id]
	if p == nil {
		cbRESTError(w, http.StatusNotFound, "NOT_FOUND", "ProductID "+strconv.Quote(id)+" is invalid")
		return
	}
	limit := 0
	if limitS != "" {
		n, err := strconv.Atoi(limitS)
		if err != nil || n < 0 {
			cbRESTError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "limit "+strconv.Quote(limitS)+" is not a non-negative integer")
			return
		}
		limit = n
	}
	m := h.cb.srv.market
	m.mu.Lock()
	n := limit
	if n == 0 {
		n = 1 << 20
	}
	bids, asks := topE8(p.s, n)
	m.mu.Unlock()
	conv := func(lv []level) []cbPriceSize {
		out := make([]cbPriceSize, len(lv))
		for i, l := range lv {
			out[i] = cbPriceSize{string(appendOKXNum(nil, l.price)), string(appendOKXNum(nil, l.qty))}
		}
		return out
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	writeTruthJSON(w, http.StatusOK, map[string]any{"pricebook": map[string]any{"product_id": p.id, "bids": conv(bids), "asks": conv(asks), "time": now}})
}

// ticker answers "Get Market Trades": the last limit trades, newest
// first, with best bid and ask. limit is required.
func (h *cbREST) ticker(w http.ResponseWriter, p *cbProduct, limitS string) {
	n, err := strconv.Atoi(limitS)
	if err != nil || n < 1 {
		cbRESTError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "limit "+strconv.Quote(limitS)+" must be a positive integer")
		return
	}
	m := h.cb.srv.market
	m.mu.Lock()
	var ts []CoinbaseTrade
	for id := p.s.nextTrade - 1; id >= m.oldestTrade(p.s) && len(ts) < n; id-- {
		if r := p.s.tradeAt(id); !p.tradedOffline(r.us) {
			ts = append(ts, cbTrade(p.id, id, r))
		}
	}
	bids, asks := topE8(p.s, 1)
	m.mu.Unlock()
	bb, ba := "", ""
	if len(bids) > 0 {
		bb = string(appendOKXNum(nil, bids[0].price))
	}
	if len(asks) > 0 {
		ba = string(appendOKXNum(nil, asks[0].price))
	}
	if ts == nil {
		ts = []CoinbaseTrade{}
	}
	writeTruthJSON(w, http.StatusOK, map[string]any{"trades": ts, "best_bid": bb, "best_ask": ba})
}

// cbExchangeTrade is a trade as the Exchange API's REST writes it:
// trade_id an integer per product, side the maker's ("The trade side
// indicates the maker order side").
type cbExchangeTrade struct {
	Time    string `json:"time"`
	TradeID int64  `json:"trade_id"`
	Price   string `json:"price"`
	Size    string `json:"size"`
	Side    string `json:"side"`
}

// exchangeTrades answers the Exchange API's "Get product trades"
// (GET /products/{product_id}/trades): newest first, limit default and
// most 1000, cursors by trade id ("REST API Pagination"): after=X gives
// the trades older than X, before=X those newer than X (the limit
// nearest X); the CB-BEFORE header holds the newest trade id of the
// page, CB-AFTER the oldest, for the next request. Errors are
// {"message":…}.
func (h *cbREST) exchangeTrades(w http.ResponseWriter, id, limitS, afterS, beforeS string) {
	fail := func(status int, msg string) {
		b, _ := json.Marshal(map[string]string{"message": msg})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(b)
	}
	p := h.cb.byID[id]
	if p == nil {
		fail(http.StatusNotFound, "NotFound: product "+strconv.Quote(id))
		return
	}
	limit := 1000
	if limitS != "" {
		n, err := strconv.Atoi(limitS)
		if err != nil || n < 1 || n > 1000 {
			fail(http.StatusBadRequest, "Invalid limit "+strconv.Quote(limitS)+": want 1..1000")
			return
		}
		limit = n
	}
	cursor := func(name, v string) (int64, bool) {
		if v == "" {
			return 0, true
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			fail(http.StatusBadRequest, "Invalid "+name+" "+strconv.Quote(v)+": want a trade id")
			return 0, false
		}
		return n, true
	}
	after, ok1 := cursor("after", afterS)
	before, ok2 := cursor("before", beforeS)
	if !ok1 || !ok2 {
		return
	}
	m := h.cb.srv.market
	m.mu.Lock()
	oldest, newest := m.oldestTrade(p.s), p.s.nextTrade-1
	hi := newest
	switch {
	case afterS != "":
		hi = min(after-1, newest)
	case beforeS != "":
		hi = min(before+int64(limit), newest)
	}
	lo := max(hi-int64(limit)+1, oldest)
	if beforeS != "" {
		lo = max(lo, before+1)
	}
	out := []cbExchangeTrade{}
	for tid := hi; tid >= lo; tid-- {
		r := p.s.tradeAt(tid)
		if p.tradedOffline(r.us) {
			continue
		}
		side := "sell" // the maker sold: the taker bought
		if r.maker {
			side = "buy"
		}
		out = append(out, cbExchangeTrade{Time: time.UnixMicro(r.us).UTC().Format("2006-01-02T15:04:05.000000Z"), TradeID: tid,
			Price: string(appendOKXNum(nil, r.price)), Size: string(appendOKXNum(nil, r.qty)), Side: side})
	}
	m.mu.Unlock()
	if len(out) > 0 {
		w.Header().Set("Cb-Before", strconv.FormatInt(out[0].TradeID, 10))
		w.Header().Set("Cb-After", strconv.FormatInt(out[len(out)-1].TradeID, 10))
	}
	writeTruthJSON(w, http.StatusOK, out)
}
