package sim

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// okxREST answers the public REST API of OKX v5 under /api/v5/:
// public/instruments, public/time, market/books, market/trades and
// market/history-trades, with the rate limit of each endpoint per client
// IP ("Rate Limit: 20 requests per 2 seconds"…; over it HTTP 429 and code
// 50011) and OKX's envelope {"code":"0","msg":"","data":[…]}: errors
// about a parameter's value come with HTTP 200 ("Error Code / REST API").
type okxREST struct {
	o *OKX

	mu   sync.Mutex
	used map[okxLimitKey][]time.Time // request times in the last window
	rng  *rand.Rand                  // REST fault decisions, under mu
}

type okxLimitKey struct{ ip, path string }

// okxLimitWindow is the window of every public rate limit: "… requests
// per 2 seconds".
const okxLimitWindow = 2 * time.Second

// okxEndpoints are the endpoints served and their limits per IP per 2 s.
var okxEndpoints = map[string]int{
	"/api/v5/public/instruments":    20,  // "Rate Limit: 20 requests per 2 seconds; Rate limit rule: IP + Instrument Type"
	"/api/v5/public/time":           10,  // "10 requests per 2 seconds"
	"/api/v5/market/books":          40,  // "40 requests per 2 seconds"
	"/api/v5/market/trades":         100, // "100 requests per 2 seconds"
	"/api/v5/market/history-trades": 20,  // "20 requests per 2 seconds"
}

func newOKXREST(o *OKX) *okxREST {
	return &okxREST{o: o, used: map[okxLimitKey][]time.Time{}, rng: o.srv.faults.rng(0x4f4b5852)} // "OKXR"
}

// allow counts a request of ip to path (with the instType for the
// instruments endpoint) and reports whether it is within the limit.
func (h *okxREST) allow(ip, path string, limit int, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := okxLimitKey{ip, path}
	ts := h.used[k]
	cut := 0
	for cut < len(ts) && now.Sub(ts[cut]) >= okxLimitWindow {
		cut++
	}
	ts = ts[cut:]
	if len(ts) >= limit {
		h.used[k] = ts
		return false
	}
	h.used[k] = append(ts, now)
	return true
}

func okxWrite(w http.ResponseWriter, status int, code, msg string, data []byte) {
	b := []byte(`{"code":`)
	b = strconv.AppendQuote(b, code)
	b = append(b, `,"msg":`...)
	b = appendJSONString(b, msg)
	b = append(b, `,"data":`...)
	if data == nil {
		data = []byte("[]")
	}
	b = append(b, data...)
	b = append(b, '}')
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (h *okxREST) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	limit, ok := okxEndpoints[r.URL.Path]
	if !ok || r.Method != http.MethodGet {
		okxWrite(w, http.StatusNotFound, "404", "Not Found", nil)
		return
	}
	q := r.URL.Query()
	key := r.URL.Path
	if key == "/api/v5/public/instruments" {
		key += "?" + q.Get("instType")
	}
	if !h.allow(clientIP(r), key, limit, now) {
		// "50011 Rate limit reached. Please refer to API documentation
		// and throttle requests accordingly." (HTTP 429)
		okxWrite(w, http.StatusTooManyRequests, "50011", "Rate limit reached. Please refer to API documentation and throttle requests accordingly.", nil)
		return
	}
	// the REST faults of sim/faults.go that apply to any API: rest-5xx,
	// rest-429, rest-403, rest-slow, rest-truncate, rest-bad-json
	h.mu.Lock()
	f, hit := h.o.srv.faults.hitAt(VenueOKX, classREST, h.rng, now, func(k FaultKind) bool {
		switch k {
		case FaultREST5xx, FaultREST429, FaultREST403, FaultRESTSlow, FaultRESTTruncate, FaultRESTBadJSON:
			return true
		}
		return false
	})
	h.mu.Unlock()
	if hit {
		switch f.Kind {
		case FaultREST5xx:
			// "50001 Service temporarily unavailable. Please try again later." (HTTP 503)
			okxWrite(w, orDefault(f.Code, http.StatusServiceUnavailable), "50001", "Service temporarily unavailable. Please try again later.", nil)
			return
		case FaultREST429:
			okxWrite(w, http.StatusTooManyRequests, "50011", "Rate limit reached. Please refer to API documentation and throttle requests accordingly.", nil)
			return
		case FaultREST403:
			writeWAF(w)
			return
		case FaultRESTSlow:
			if !sleepUntil(r, now.Add(orDefault(f.Duration, 2*time.Second))) {
				return
			}
			now = time.Now()
		case FaultRESTTruncate, FaultRESTBadJSON:
			rec := &okxRecorder{header: http.Header{}, status: http.StatusOK}
			h.serve(rec, r, q, now)
			if f.Kind == FaultRESTTruncate {
				writeTruncated(w, rec.status, rec.body.Bytes())
			} else {
				writeJSON(w, http.StatusOK, rec.body.Bytes()[:rec.body.Len()/2])
			}
			return
		}
	}
	h.serve(w, r, q, now)
}

// okxRecorder keeps an answer for a fault that spoils it.
type okxRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *okxRecorder) Header() http.Header         { return r.header }
func (r *okxRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *okxRecorder) WriteHeader(status int)      { r.status = status }

// serve answers an endpoint of okxEndpoints.
func (h *okxREST) serve(w http.ResponseWriter, r *http.Request, q url.Values, now time.Time) {
	switch r.URL.Path {
	case "/api/v5/public/time":
		okxWrite(w, http.StatusOK, "0", "", append(appendOKXMs([]byte(`[{"ts":`), now.UnixMilli()), `}]`...))
	case "/api/v5/public/instruments":
		h.instruments(w, q.Get("instType"), q.Get("instId"))
	default:
		in, ok := h.instParam(w, q.Get("instId"))
		if !ok {
			return
		}
		switch r.URL.Path {
		case "/api/v5/market/books":
			h.books(w, in, q.Get("sz"))
		case "/api/v5/market/trades":
			h.trades(w, in, q.Get("limit"))
		case "/api/v5/market/history-trades":
			h.historyTrades(w, in, q.Get("type"), q.Get("after"), q.Get("before"), q.Get("limit"))
		}
	}
}

// instParam reads the required instId: missing, 50014 (HTTP 400); not
// served, 51001 (HTTP 200).
func (h *okxREST) instParam(w http.ResponseWriter, v string) (*okxInst, bool) {
	if v == "" {
		okxWrite(w, http.StatusBadRequest, "50014", "Parameter instId can not be empty.", nil)
		return nil, false
	}
	in := h.o.byID[v]
	if in == nil {
		okxWrite(w, http.StatusOK, "51001", "Instrument ID doesn't exist.", nil)
		return nil, false
	}
	return in, true
}

// intParam reads an optional integer in lo..hi (def when empty); a bad
// value is 51000 "Parameter {name} error".
func intParam(w http.ResponseWriter, name, v string, def, lo, hi int64) (int64, bool) {
	if v == "" {
		return def, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		okxWrite(w, http.StatusOK, "51000", "Parameter "+name+" error", nil)
		return 0, false
	}
	return n, true
}

// instruments answers GET /api/v5/public/instruments?instType=SPOT|SWAP
// ("Get instruments").
func (h *okxREST) instruments(w http.ResponseWriter, instType, instID string) {
	switch instType {
	case "":
		okxWrite(w, http.StatusBadRequest, "50014", "Parameter instType can not be empty.", nil)
		return
	case "SPOT", "SWAP", "MARGIN", "FUTURES", "OPTION":
	default:
		okxWrite(w, http.StatusOK, "51000", "Parameter instType error", nil)
		return
	}
	if instID != "" && (h.o.byID[instID] == nil || h.o.byID[instID].instType() != instType) {
		okxWrite(w, http.StatusOK, "51001", "Instrument ID doesn't exist.", nil)
		return
	}
	b := []byte{'['}
	for _, in := range h.o.insts {
		if in.instType() != instType || (instID != "" && in.id != instID) {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = in.appendInstrument(b, h.o.srv.market)
	}
	okxWrite(w, http.StatusOK, "0", "", append(b, ']'))
}

// appendInstrument appends the instrument as "Get instruments" describes
// it: tickSz the price step, lotSz the size step (contracts for swaps),
// ctVal the contract's face value in ctValCcy, state "live", or "suspend"
// while the market's symbol does not trade (Server.SetSymbolStatus).
func (in *okxInst) appendInstrument(b []byte, m *market) []byte {
	m.mu.Lock()
	sc, spec, status := in.s.sc, in.s.spec, in.s.status
	m.mu.Unlock()
	state := "live"
	if status != "TRADING" {
		state = "suspend" // "live", "suspend", "preopen", "test" ("Get instruments": state)
	}
	base, quote := spec.base, spec.quote
	str := func(k, v string) {
		b = append(b, ',', '"')
		b = append(b, k...)
		b = append(b, `":`...)
		b = strconv.AppendQuote(b, v)
	}
	num := func(e8 int64) string { return string(appendOKXNum(nil, e8)) }
	b = append(b, `{"instType":`...)
	b = strconv.AppendQuote(b, in.instType())
	str("instId", in.id)
	str("tickSz", num(sc.priceE8(1)))
	str("lotSz", num(in.sz(sc.qtyE8(1))))
	str("minSz", num(in.sz(sc.qtyE8(1))))
	str("state", state)
	str("listTime", "1548133413000")
	str("expTime", "")
	str("alias", "")
	if in.swap {
		str("uly", base+"-"+quote)
		str("instFamily", base+"-"+quote)
		str("baseCcy", "")
		str("quoteCcy", "")
		str("settleCcy", quote)
		str("ctVal", num(pow10(8+in.ctValExp)))
		str("ctMult", "1")
		str("ctValCcy", base)
		str("ctType", "linear")
		str("lever", "100")
	} else {
		str("uly", "")
		str("instFamily", "")
		str("baseCcy", base)
		str("quoteCcy", quote)
		str("settleCcy", "")
		str("ctVal", "")
		str("ctMult", "")
		str("ctValCcy", "")
		str("ctType", "")
		str("lever", "10")
	}
	return append(b, '}')
}

// books answers GET /api/v5/market/books?instId=…&sz=… (sz 1..400,
// default 1): the best sz levels of each side and the seqId they are at.
func (h *okxREST) books(w http.ResponseWriter, in *okxInst, szParam string) {
	sz, ok := intParam(w, "sz", szParam, 1, 1, okxBooksLevels)
	if !ok {
		return
	}
	m := h.o.srv.market
	m.mu.Lock()
	bids, asks := topE8(in.s, int(sz))
	last, us := in.s.lastUpdate, m.lastUs
	m.mu.Unlock()
	b := []byte(`[{"asks":`)
	b = in.appendLevels(b, asks)
	b = append(b, `,"bids":`...)
	b = in.appendLevels(b, bids)
	b = append(b, `,"ts":`...)
	b = appendOKXMs(b, us/1000)
	b = append(b, `,"seqId":`...)
	b = strconv.AppendInt(b, in.seqOf(last), 10)
	okxWrite(w, http.StatusOK, "0", "", append(b, `}]`...))
}

// appendTrades appends trades lo..hi of in, newest first, as the REST
// trade endpoints write them.
func (in *okxInst) appendTrades(b []byte, recs []tradeRec, lo int64) []byte {
	b = append(b, '[')
	for i := len(recs) - 1; i >= 0; i-- {
		r := &recs[i]
		if i < len(recs)-1 {
			b = append(b, ',')
		}
		b = append(b, `{"instId":"`...)
		b = append(b, in.id...)
		b = append(b, `","side":"`...)
		b = append(b, okxSide(r.maker)...)
		b = append(b, `","sz":`...)
		b = appendOKXQuoted(b, in.sz(r.qty))
		b = append(b, `,"px":`...)
		b = appendOKXQuoted(b, r.price)
		b = append(b, `,"source":"0","tradeId":"`...)
		b = strconv.AppendInt(b, lo+int64(i), 10)
		b = append(b, `","ts":`...)
		b = appendOKXMs(b, r.us/1000)
		b = append(b, '}')
	}
	return append(b, ']')
}

// tradeRecs copies trades lo..hi (clipped to what is kept) of s.
func tradeRecs(m *market, s *symState, lo, hi int64) (int64, []tradeRec) {
	m.mu.Lock()
	defer m.mu.Unlock()
	lo, hi = max(lo, m.oldestTrade(s)), min(hi, s.nextTrade-1)
	if hi < lo {
		return lo, nil
	}
	out := make([]tradeRec, 0, hi-lo+1)
	for id := lo; id <= hi; id++ {
		out = append(out, *s.tradeAt(id))
	}
	return lo, out
}

// trades answers GET /api/v5/market/trades?instId=…&limit=… (1..500,
// default 100): the latest trades, newest first.
func (h *okxREST) trades(w http.ResponseWriter, in *okxInst, limitParam string) {
	limit, ok := intParam(w, "limit", limitParam, 100, 1, 500)
	if !ok {
		return
	}
	m := h.o.srv.market
	m.mu.Lock()
	last := in.s.nextTrade - 1
	m.mu.Unlock()
	lo, recs := tradeRecs(m, in.s, last-limit+1, last)
	okxWrite(w, http.StatusOK, "0", "", in.appendTrades(nil, recs, lo))
}

// historyTrades answers GET /api/v5/market/history-trades with type=1
// (the default: page by tradeId): after=ID gives the trades older than ID,
// before=ID those newer than ID, newest first, at most limit (1..100,
// default 100) — the page next to the cursor; before alone gives the
// latest page ("Get trades history"). type=2 (by ts) is not served.
func (h *okxREST) historyTrades(w http.ResponseWriter, in *okxInst, typ, afterParam, beforeParam, limitParam string) {
	if typ != "" && typ != "1" {
		okxWrite(w, http.StatusOK, "51000", "Parameter type error", nil)
		return
	}
	limit, ok := intParam(w, "limit", limitParam, 100, 1, 100)
	if !ok {
		return
	}
	after, ok := intParam(w, "after", afterParam, 0, 1, 1<<62)
	if !ok {
		return
	}
	before, ok := intParam(w, "before", beforeParam, 0, 0, 1<<62)
	if !ok {
		return
	}
	m := h.o.srv.market
	m.mu.Lock()
	last := in.s.nextTrade - 1
	m.mu.Unlock()
	hi := last
	if afterParam != "" {
		hi = min(hi, after-1)
	}
	lo := hi - limit + 1
	if afterParam != "" && beforeParam != "" {
		lo = max(lo, before+1)
	}
	var recs []tradeRec
	if hi >= lo {
		lo, recs = tradeRecs(m, in.s, lo, hi)
	}
	okxWrite(w, http.StatusOK, "0", "", in.appendTrades(nil, recs, lo))
}
