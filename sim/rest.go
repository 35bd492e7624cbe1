package sim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// restRNGStream names the random source of REST fault decisions.
const restRNGStream = 0x52455354 // "REST"

// maxBan caps the length of a repeat offender's ban, as Binance does.
const maxBan = 72 * time.Hour

// restServer answers the market-data REST API under /api/v3/ as Binance
// spot does: ping, time, exchangeInfo, depth and aggTrades, with request
// weights per client IP, 429 and 418 answers, Binance's error codes, and
// the REST faults of sim/faults.go.
type restServer struct {
	m   *market
	fs  *faults
	cfg Config
	now func() time.Time

	lim          limiter
	weightLimit  rateLimitJSON // exchangeInfo's REQUEST_WEIGHT entry
	weightHeader string        // the used-weight header named after it

	rngMu sync.Mutex
	rng   *rand.Rand

	// exchangeInfo pieces: each symbol's object with and without its
	// permission sets, encoded again when the symbol's status or filters
	// change (infoMu), and the rate limits, encoded once
	infoMu     sync.Mutex
	infoSyms   []symbolInfoCache
	rateLimits []byte
}

// symbolInfoCache is one symbol's exchangeInfo object as of version ver.
type symbolInfoCache struct {
	ver uint64
	b   [2][]byte
}

// newREST returns the handler of GET /api/v3/ping, time, exchangeInfo,
// depth and aggTrades; any other path answers 404 as Binance's front end
// does. cfg (defaults applied) gives the weight limit and the ban rules;
// fs may be nil (no faults).
func newREST(m *market, fs *faults, cfg Config) http.Handler {
	h := &restServer{
		m:   m,
		fs:  fs,
		cfg: cfg,
		now: time.Now,
		lim: limiter{limit: cfg.WeightLimit, window: cfg.WeightWindow, banAfter: cfg.BanAfter, banTime: cfg.BanTime, ips: make(map[string]*ipUse)},
	}
	if fs != nil {
		h.rng = fs.rng(restRNGStream)
	}
	h.weightLimit = weightRateLimit(cfg.WeightLimit, cfg.WeightWindow)
	h.weightHeader = weightHeader(h.weightLimit)
	h.rateLimits = mustJSON([]rateLimitJSON{
		h.weightLimit,
		{"ORDERS", "SECOND", 10, 100},
		{"ORDERS", "DAY", 1, 200000},
		{"RAW_REQUESTS", "MINUTE", 5, 61000},
	})
	h.infoSyms = make([]symbolInfoCache, len(m.syms))
	for i := range h.infoSyms {
		h.infoSyms[i].ver = math.MaxUint64 // not encoded yet
	}
	return h
}

// symbolInfo returns symbol si's exchangeInfo object, with (variant 0) or
// without (1) its permission sets, and its status.
func (h *restServer) symbolInfo(si, variant int) ([]byte, string) {
	s := h.m.syms[si]
	h.m.mu.Lock()
	ver, spec, status := s.infoVer, s.spec, s.status
	h.m.mu.Unlock()
	h.infoMu.Lock()
	defer h.infoMu.Unlock()
	c := &h.infoSyms[si]
	if c.ver != ver {
		info := symbolInfo(spec)
		info.Status = status
		c.b[0] = mustJSON(info)
		info.PermissionSets = [][]string{}
		c.b[1] = mustJSON(info)
		c.ver = ver
	}
	return c.b[variant], status
}

type endpoint uint8

const (
	epNone endpoint = iota
	epPing
	epTime
	epExchangeInfo
	epDepth
	epAggTrades
	epTrades
	epHistoricalTrades
)

var endpoints = map[string]endpoint{
	"/api/v3/ping":         epPing,
	"/api/v3/time":         epTime,
	"/api/v3/exchangeInfo": epExchangeInfo,
	"/api/v3/depth":        epDepth,
	"/api/v3/aggTrades":    epAggTrades,

	"/api/v3/trades":           epTrades,
	"/api/v3/historicalTrades": epHistoricalTrades,
}

// call is one request being answered.
type call struct {
	q      url.Values
	qerr   error
	now    time.Time
	micros bool          // X-MBX-TIME-UNIT: MICROSECOND
	back   int64         // stale-snapshot: answer depth with the book this many updates ago
	lag    time.Duration // rest-lag: leave out trades younger than this
}

func (h *restServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep := endpoints[r.URL.Path]
	c := &call{now: h.now(), micros: strings.EqualFold(r.Header.Get("X-MBX-TIME-UNIT"), "MICROSECOND")}
	ip := clientIP(r)
	if ep == epNone || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		h.setWeight(w, h.lim.used(ip, c.now))
		writeNginx(w, http.StatusNotFound)
		return
	}
	c.q, c.qerr = url.ParseQuery(r.URL.RawQuery)

	if !admitWeight(w, h, &h.lim, ip, weight(ep, c.q), c.now) {
		return
	}
	f, hit := h.fault(ep, c.now)
	if hit && restFaultBefore(w, r, f, c, h, &h.lim, ip, h.cfg.BanTime, h.now) {
		return
	}
	status, body := h.serve(ep, c)
	writeRESTAnswer(w, r, f, hit, status, body)
}

// orDefault returns v, or def when v is the zero value (a fault parameter left
// to its default).
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// fault decides whether a REST fault fires on this request. stale-snapshot
// applies to depth only, rest-lag to aggTrades and historicalTrades only;
// neither is spent on other endpoints.
func (h *restServer) fault(ep endpoint, now time.Time) (Fault, bool) {
	if h.fs == nil {
		return Fault{}, false
	}
	accept := func(k FaultKind) bool {
		switch k {
		case FaultStaleSnapshot:
			return ep == epDepth
		case FaultRESTLag:
			return ep == epAggTrades || ep == epHistoricalTrades
		}
		return true
	}
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	return h.fs.hitAt(VenueBinance, classREST, h.rng, now, accept)
}

func (h *restServer) serve(ep endpoint, c *call) (int, []byte) {
	var body []byte
	var err *apiError
	switch ep {
	case epPing:
		body = []byte("{}")
	case epTime:
		body = strconv.AppendInt([]byte(`{"serverTime":`), eventTime(c.now.UnixMicro(), c.micros), 10)
		body = append(body, '}')
	case epExchangeInfo:
		body, err = h.exchangeInfo(c)
	case epDepth:
		body, err = h.depth(c)
	case epAggTrades:
		body, err = h.aggTrades(c)
	case epTrades:
		body, err = h.trades(c, false)
	case epHistoricalTrades:
		body, err = h.trades(c, true)
	}
	if err != nil {
		return err.status, err.body()
	}
	return http.StatusOK, body
}

// weight is the request weight of ep with query q.
func weight(ep endpoint, q url.Values) int {
	switch ep {
	case epExchangeInfo:
		return 20
	case epAggTrades:
		return 4
	case epTrades, epHistoricalTrades:
		// rest-api.md, "Recent trades list" and "Old trade lookup":
		// "Weight: 25" (CHANGELOG 2024-04-02: "increased from 10 to 25")
		return 25
	case epDepth:
		n, err := strconv.Atoi(q.Get("limit"))
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
	default:
		return 1
	}
}

// depth answers GET /api/v3/depth: symbol (required), limit (default 100,
// above 5000 cut to 5000), symbolStatus.
func (h *restServer) depth(c *call) ([]byte, *apiError) {
	if e := c.check(); e != nil {
		return nil, e
	}
	name, e := c.symbolName("symbol", true)
	if e != nil {
		return nil, e
	}
	limit := int64(100)
	if n, ok, e := c.intParam("limit"); e != nil {
		return nil, e
	} else if ok {
		if n < 1 {
			return nil, invalidData("limit")
		}
		limit = min(n, 5000)
	}
	status, e := c.symbolStatus()
	if e != nil {
		return nil, e
	}
	if e := c.unread("symbol", "limit", "symbolStatus"); e != nil {
		return nil, e
	}
	s, e := h.m.apiSymbol(name)
	if e != nil {
		return nil, e
	}
	if status != "" && status != h.m.status(s) {
		return nil, apiErr(-1220, "The symbol's status does not match the requested symbolStatus.")
	}
	id, bids, asks, sc, err := h.m.snapshot(s, int(limit), c.back)
	if err != nil {
		return nil, &apiError{http.StatusInternalServerError, -1000, "An unknown error occurred while processing the request."}
	}
	return appendPartial(make([]byte, 0, 64+(len(bids)+len(asks))*48), sc, id, bids, asks), nil
}

// aggParams reads the parameters of aggTrades, alike on spot and USD-M:
// symbol (required), fromId, startTime, endTime (as sent) and limit
// (default 500, at least 1, above 1000 cut to 1000), and refuses any other.
func (c *call) aggParams() (string, aggQuery, *apiError) {
	q := aggQuery{limit: 500}
	if e := c.check(); e != nil {
		return "", q, e
	}
	name, e := c.symbolName("symbol", true)
	if e != nil {
		return "", q, e
	}
	if q.fromID, q.hasFrom, e = c.intParam("fromId"); e != nil {
		return "", q, e
	}
	if q.start, q.hasStart, e = c.intParam("startTime"); e != nil {
		return "", q, e
	}
	if q.end, q.hasEnd, e = c.intParam("endTime"); e != nil {
		return "", q, e
	}
	if limit, ok, e := c.intParam("limit"); e != nil {
		return "", q, e
	} else if ok {
		if limit < 1 {
			return "", q, invalidData("limit")
		}
		q.limit = int(min(limit, 1000))
	}
	if e := c.unread("symbol", "fromId", "startTime", "endTime", "limit"); e != nil {
		return "", q, e
	}
	return name, q, nil
}

// aggTrades answers GET /api/v3/aggTrades: symbol (required), fromId,
// startTime, endTime (inclusive; ms, or µs for values from 10^14 on),
// limit (default 500, above 1000 cut to 1000). fromId cannot be combined
// with a time. A fromId older than the history kept answers from the oldest
// trade kept, as Binance answers a fromId before its first trade: the
// client sees the first ID above the one it asked for, a gap no request can
// fill.
func (h *restServer) aggTrades(c *call) ([]byte, *apiError) {
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
	q.start, q.end = timeParamUs(q.start, false), timeParamUs(q.end, true)
	q.edge = h.edge(c)
	first, recs := h.m.queryAggs(s, q)
	b := make([]byte, 0, 2+len(recs)*150)
	b = append(b, '[')
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendAggTradeREST(b, unitScale, first+int64(i), r, c.micros)
	}
	return append(b, ']'), nil
}

// edge is the time (µs) of the youngest trade the database behind
// aggTrades and historicalTrades has: rest-api.md, "Data Sources": "The
// API system is asynchronous, so some delay in the response is normal and
// expected. … Database - the data is taken directly from a database", the
// source with the most "potential for delays in data updates", and both
// endpoints say "Data Source: Database". 0: no lag.
func (h *restServer) edge(c *call) int64 {
	lag := h.cfg.RESTLag
	if c.lag > 0 {
		lag = c.lag
	}
	if lag <= 0 {
		return 0
	}
	return c.now.Add(-lag).UnixMicro()
}

// trades answers GET /api/v3/trades (historical false) and GET
// /api/v3/historicalTrades (true), from rest-api.md:
//
//	Recent trades list, GET /api/v3/trades: "Get recent trades." symbol
//	(mandatory), limit "Default: 500; Maximum: 1000." Data Source: Memory.
//
//	Old trade lookup, GET /api/v3/historicalTrades: "Get older trades."
//	symbol (mandatory), limit "Default: 500; Maximum: 1000.", fromId
//	"TradeId to fetch from. Default gets most recent trades." Data Source:
//	Database. CHANGELOG 2023-07-11: "Changed security type from
//	MARKET_DATA to NONE. This means that the X-MBX-APIKEY header is no
//	longer necessary and is now ignored."
//
// A limit above 1000 is cut to 1000 and one below 1 is -1130, as for
// aggTrades. A fromId older than the history kept answers from the oldest
// trade kept; one beyond the last trade (or not yet in the database)
// answers []. Times follow X-MBX-TIME-UNIT.
func (h *restServer) trades(c *call, historical bool) ([]byte, *apiError) {
	if e := c.check(); e != nil {
		return nil, e
	}
	name, e := c.symbolName("symbol", true)
	if e != nil {
		return nil, e
	}
	q := tradeQuery{limit: 500}
	known := []string{"symbol", "limit"}
	if historical {
		known = append(known, "fromId")
		if q.fromID, q.hasFrom, e = c.intParam("fromId"); e != nil {
			return nil, e
		}
	}
	if limit, ok, e := c.intParam("limit"); e != nil {
		return nil, e
	} else if ok {
		if limit < 1 {
			return nil, invalidData("limit")
		}
		q.limit = int(min(limit, 1000))
	}
	if e := c.unread(known...); e != nil {
		return nil, e
	}
	s, e := h.m.apiSymbol(name)
	if e != nil {
		return nil, e
	}
	if historical {
		q.edge = h.edge(c)
	}
	first, recs := h.m.queryTrades(s, q)
	b := make([]byte, 0, 2+len(recs)*160)
	b = append(b, '[')
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendTradeREST(b, first+int64(i), r, c.micros)
	}
	return append(b, ']'), nil
}

// timeParamUs converts a time parameter to µs: values from 10^14 on are
// taken as µs, smaller ones as ms (the end of a range in ms covers its
// whole millisecond).
func timeParamUs(v int64, end bool) int64 {
	if v >= 1e14 || v > math.MaxInt64/1000 {
		return v
	}
	if end {
		return v*1000 + 999
	}
	return v * 1000
}

// exchangeInfo answers GET /api/v3/exchangeInfo: every symbol, or those of
// symbol or symbols=["A","B"]; showPermissionSets=false empties the
// permission sets; symbolStatus filters by status. Other parameters
// (permissions, and any unknown one) are accepted and ignored.
func (h *restServer) exchangeInfo(c *call) ([]byte, *apiError) {
	if e := c.check(); e != nil {
		return nil, e
	}
	var list []int
	one, e := c.symbolName("symbol", false)
	if e != nil {
		return nil, e
	}
	many, hasMany := c.q["symbols"]
	if one != "" && hasMany {
		return nil, apiErr(-1128, "Combination of optional parameters invalid.")
	}
	switch {
	case one != "":
		s, e := h.m.apiSymbol(one)
		if e != nil {
			return nil, e
		}
		list = append(list, h.m.index[s.spec.name])
	case hasMany:
		names, ok := parseSymbolList(many[0])
		if !ok {
			return nil, apiErr(-1100, `Illegal characters found in parameter 'symbols'; legal range is '^\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\]$'.`)
		}
		for _, n := range names {
			s, e := h.m.apiSymbol(n)
			if e != nil {
				return nil, e
			}
			if i := h.m.index[s.spec.name]; !containsInt(list, i) {
				list = append(list, i)
			}
		}
		if len(names) == 0 {
			list = allIndexes(len(h.m.syms))
		}
	default:
		list = allIndexes(len(h.m.syms))
	}
	status, e := c.symbolStatus()
	if e != nil {
		return nil, e
	}
	if status != "" && (one != "" || hasMany) {
		return nil, apiErr(-1128, "Combination of optional parameters invalid.")
	}
	variant := 0
	if v, ok := c.q["showPermissionSets"]; ok {
		switch v[0] {
		case "true":
		case "false":
			variant = 1
		default:
			return nil, invalidData("showPermissionSets")
		}
	}

	b := make([]byte, 0, 1024+len(list)*2048)
	b = append(b, `{"timezone":"UTC","serverTime":`...)
	b = strconv.AppendInt(b, eventTime(c.now.UnixMicro(), c.micros), 10)
	b = append(b, `,"rateLimits":`...)
	b = append(b, h.rateLimits...)
	b = append(b, `,"exchangeFilters":[],"symbols":[`...)
	n := 0
	for _, si := range list {
		info, st := h.symbolInfo(si, variant)
		if status != "" && st != status {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, info...)
		n++
	}
	return append(b, "]}"...), nil
}

func allIndexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// parseSymbolList reads the symbols parameter: a JSON array of symbol
// names, as Binance's pattern allows it (no spaces).
func parseSymbolList(v string) ([]string, bool) {
	if len(v) < 2 || v[0] != '[' || v[len(v)-1] != ']' {
		return nil, false
	}
	inner := v[1 : len(v)-1]
	if inner == "" {
		return nil, true
	}
	var out []string
	for _, item := range strings.Split(inner, ",") {
		if len(item) < 3 || item[0] != '"' || item[len(item)-1] != '"' {
			return nil, false
		}
		name := item[1 : len(item)-1]
		if len(name) > 20 || !validSymbolName(name) {
			return nil, false
		}
		out = append(out, name)
	}
	return out, true
}

// check rejects a query with malformed escapes (-1100) or a parameter
// given twice (-1101).
func (c *call) check() *apiError {
	if c.qerr != nil {
		return apiErr(-1100, "Illegal characters found in a parameter.")
	}
	for _, v := range c.q {
		if len(v) > 1 {
			return apiErr(-1101, "Duplicate values for a parameter detected.")
		}
	}
	return nil
}

// unread rejects parameters the endpoint does not read (-1104).
func (c *call) unread(known ...string) *apiError {
	read := 0
	for _, k := range known {
		if c.q.Has(k) {
			read++
		}
	}
	if read < len(c.q) {
		return apiErr(-1104, fmt.Sprintf("Not all sent parameters were read; read '%d' parameter(s) but was sent '%d'.", read, len(c.q)))
	}
	return nil
}

// symbolRange is the pattern Binance reports for a malformed symbol.
const symbolRange = `^[\w\-._&&[^a-z]]{1,50}$`

// symbolName reads a symbol parameter: absent (-1102 when required), empty
// (-1105), or not upper-case letters, digits, '-', '_' and '.' (-1100).
func (c *call) symbolName(param string, required bool) (string, *apiError) {
	v, ok := c.q[param]
	switch {
	case !ok && required:
		return "", apiErr(-1102, fmt.Sprintf("Mandatory parameter '%s' was not sent, was empty/null, or malformed.", param))
	case !ok:
		return "", nil
	case v[0] == "":
		return "", apiErr(-1105, fmt.Sprintf("Parameter '%s' was empty.", param))
	case !validSymbolName(v[0]):
		return "", apiErr(-1100, fmt.Sprintf("Illegal characters found in parameter '%s'; legal range is '%s'.", param, symbolRange))
	}
	return v[0], nil
}

func validSymbolName(s string) bool {
	if len(s) == 0 || len(s) > 50 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '-', ch == '_', ch == '.':
		default:
			return false
		}
	}
	return true
}

// apiSymbol finds a traded symbol for the Binance REST APIs (-1121
// Invalid symbol).
func (m *market) apiSymbol(name string) (*symState, *apiError) {
	i, ok := m.index[name]
	if !ok {
		return nil, apiErr(-1121, "Invalid symbol.")
	}
	return m.syms[i], nil
}

// intParam reads an optional integer parameter: empty (-1105), not digits
// (-1100), beyond int64 (-1108).
func (c *call) intParam(name string) (int64, bool, *apiError) {
	v, ok := c.q[name]
	if !ok {
		return 0, false, nil
	}
	s := v[0]
	if s == "" {
		return 0, false, apiErr(-1105, fmt.Sprintf("Parameter '%s' was empty.", name))
	}
	if len(s) > 20 || strings.Trim(s, "0123456789") != "" {
		return 0, false, apiErr(-1100, fmt.Sprintf("Illegal characters found in parameter '%s'; legal range is '^[0-9]{1,20}$'.", name))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, apiErr(-1108, fmt.Sprintf("Parameter '%s' overflowed.", name))
	}
	return n, true, nil
}

// symbolStatus reads the optional symbolStatus filter (TRADING, HALT or
// BREAK: rest-api.md, "Valid values: TRADING, HALT, BREAK").
func (c *call) symbolStatus() (string, *apiError) {
	v, ok := c.q["symbolStatus"]
	if !ok {
		return "", nil
	}
	switch v[0] {
	case "TRADING", "HALT", "BREAK":
		return v[0], nil
	}
	return "", invalidData("symbolStatus")
}

// apiError is a Binance error answer: {"code":…,"msg":…} with an HTTP status.
type apiError struct {
	status int
	code   int
	msg    string
}

func apiErr(code int, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, msg: msg}
}

func invalidData(param string) *apiError {
	return apiErr(-1130, fmt.Sprintf("Data sent for parameter '%s' is not valid.", param))
}

func (e *apiError) body() []byte { return errorBody(e.code, e.msg) }

// errorBody encodes {"code":…,"msg":…} without escaping '&', '<' and '>'
// (Binance's messages contain patterns such as "&&").
func errorBody(code int, msg string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	}{code, msg})
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// setWeight reports the weight used in the current window, as every
// answer does, in a header named after the window.
func (h *restServer) setWeight(w http.ResponseWriter, used int) {
	hdr := w.Header()
	hdr.Set("X-MBX-USED-WEIGHT", strconv.Itoa(used))
	hdr.Set(h.weightHeader, strconv.Itoa(used))
}

// weightRateLimit is exchangeInfo's REQUEST_WEIGHT entry for limit per
// window (a whole number of seconds).
func weightRateLimit(limit int, window time.Duration) rateLimitJSON {
	n, unit := int(window/time.Second), "SECOND"
	if window%time.Minute == 0 {
		n, unit = int(window/time.Minute), "MINUTE"
	}
	return rateLimitJSON{"REQUEST_WEIGHT", unit, n, limit}
}

// weightHeader names the used-weight header of a rate limit as Binance
// does: X-MBX-USED-WEIGHT-<intervalNum><first letter of interval>.
func weightHeader(rl rateLimitJSON) string {
	return "X-MBX-USED-WEIGHT-" + strconv.Itoa(rl.IntervalNum) + rl.Interval[:1]
}

func (h *restServer) write429(w http.ResponseWriter, retryAfter time.Duration) {
	w.Header().Set("Retry-After", retrySeconds(retryAfter))
	writeJSON(w, http.StatusTooManyRequests, errorBody(-1003, fmt.Sprintf(
		"Too much request weight used; current limit is %d request weight per %d %s. Please use WebSocket Streams for live updates to avoid polling the API.",
		h.cfg.WeightLimit, h.weightLimit.IntervalNum, h.weightLimit.Interval)))
}

func writeBanned(w http.ResponseWriter, retryAfter time.Duration, until time.Time) {
	w.Header().Set("Retry-After", retrySeconds(retryAfter))
	writeJSON(w, http.StatusTeapot, errorBody(-1003, fmt.Sprintf(
		"Way too much request weight used; IP banned until %d. Please use WebSocket Streams for live updates to avoid bans.",
		until.UnixMilli())))
}

// retrySeconds is a Retry-After value: whole seconds, rounded up, at least 1.
func retrySeconds(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10)
}

// writeServerError answers a 5xx as Binance's API and its front end do.
func writeServerError(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusInternalServerError:
		writeJSON(w, status, errorBody(-1000, "An unknown error occurred while processing the request."))
	case http.StatusServiceUnavailable:
		writeJSON(w, status, errorBody(-1008, "Server is currently overloaded with other requests. Please try again in a few minutes."))
	case http.StatusGatewayTimeout:
		writeJSON(w, status, errorBody(-1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown."))
	case http.StatusBadGateway:
		writeNginx(w, status)
	default:
		writeJSON(w, status, errorBody(-1001, "Internal error; unable to process your request. Please try again."))
	}
}

// writeNginx answers with the HTML page of Binance's nginx front end, as
// for a path the API does not have.
func writeNginx(w http.ResponseWriter, status int) {
	text := fmt.Sprintf("%d %s", status, http.StatusText(status))
	body := "<html>\r\n<head><title>" + text + "</title></head>\r\n<body>\r\n<center><h1>" + text +
		"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// wafPage is the page the web application firewall in front of Binance's
// API (Amazon CloudFront) answers a blocked request with, as clients of
// api.binance.com have logged it; %s is its Request ID. rest-api.md,
// "HTTP Return Codes": "HTTP 403 return code is used when a WAF (Web
// Application Firewall) rule has been violated. This can indicate a rate
// limit violation or a security block."
const wafPage = `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">
<HTML><HEAD><META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=iso-8859-1">
<TITLE>ERROR: The request could not be satisfied</TITLE>
</HEAD><BODY>
<H1>403 ERROR</H1>
<H2>The request could not be satisfied.</H2>
<HR noshade size="1px">
Request blocked.
We can't connect to the server for this app or website at this time. There might be too much traffic or a configuration error. Try again later, or contact the app or website owner.
<BR clear="all">
If you provide content to customers through CloudFront, you can find steps to troubleshoot and help prevent this error by reviewing the CloudFront documentation.
<BR clear="all">
<HR noshade size="1px">
<PRE>
Generated by cloudfront (CloudFront)
Request ID: %s
</PRE>
<ADDRESS>
</ADDRESS>
</BODY></HTML>`

// writeWAF answers 403 as the firewall does: its HTML page, no Binance
// error code, no Retry-After.
func writeWAF(w http.ResponseWriter) {
	var id [40]byte
	for i := range id {
		id[i] = byte(rand.Uint32())
	}
	body := fmt.Sprintf(wafPage, base64.URLEncoding.EncodeToString(id[:]))
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Cache", "Error from cloudfront")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte(body))
}

// writeTruncated announces the whole body, sends half of it and drops the
// connection, so the client reads a body cut short. On HTTP/2, where the
// connection cannot be taken over, the stream is reset instead.
func writeTruncated(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body[:len(body)/2])
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	if conn, _, err := rc.Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

// spaces pad the answers of rest-huge and rest-endless.
var spaces = bytes.Repeat([]byte{' '}, 32<<10)

// writeHuge answers 200 announcing size bytes: body but its last byte,
// then spaces, at the pace that would send size bytes in pace (0: as fast
// as the client reads), and cuts the connection after half of size.
func writeHuge(w http.ResponseWriter, r *http.Request, body []byte, size int, pace time.Duration) {
	size = max(size, len(body))
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(size))
	w.WriteHeader(http.StatusOK)
	head := body[:max(len(body)-1, 0)]
	sent, stop := len(head), size/2
	if sent >= stop {
		head, sent = head[:stop], stop
	}
	if _, err := w.Write(head); err != nil {
		return
	}
	start := time.Now()
	for sent < stop {
		n := min(len(spaces), stop-sent)
		if _, err := w.Write(spaces[:n]); err != nil {
			return
		}
		sent += n
		if pace > 0 && !sleepUntil(r, start.Add(time.Duration(float64(pace)*float64(sent)/float64(size)))) {
			return
		}
	}
	cutConn(w)
}

// writeEndless answers 200 without a length: body but its last byte, then
// spaces until the client goes away or, with d, until d has passed.
func writeEndless(w http.ResponseWriter, r *http.Request, body []byte, d time.Duration) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Del("Content-Length")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(body[:max(len(body)-1, 0)]); err != nil {
		return
	}
	var end time.Time
	if d > 0 {
		end = time.Now().Add(d)
	}
	for r.Context().Err() == nil && (end.IsZero() || time.Now().Before(end)) {
		if _, err := w.Write(spaces); err != nil {
			return
		}
	}
	if r.Context().Err() == nil {
		cutConn(w)
	}
}

// sleepUntil waits until t or until the client goes away; it reports
// whether t came.
func sleepUntil(r *http.Request, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return r.Context().Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// cutConn flushes what was written and drops the connection; on HTTP/2,
// where the connection cannot be taken over, the stream is reset instead.
func cutConn(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	if conn, _, err := rc.Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// limiter counts request weight per client IP over fixed windows aligned
// on the clock (one minute, as Binance does, unless configured). A request that takes the
// weight over the limit is answered 429; after banAfter of those in one
// window the next one bans the IP (418) for banTime, doubled for each
// earlier ban, at most three days.
type limiter struct {
	mu       sync.Mutex
	limit    int
	window   time.Duration
	banAfter int
	banTime  time.Duration
	ips      map[string]*ipUse
}

type ipUse struct {
	window      time.Time
	used        int
	over        int // requests answered 429 in this window
	bannedUntil time.Time
	bans        int
}

// verdict is a limiter's answer: status 0 (serve), 429 or 418, how long to
// wait and until when.
type verdict struct {
	status     int
	retryAfter time.Duration
	until      time.Time
}

// maxTrackedIPs bounds the limiter's memory: past it, IPs with neither
// recent weight nor a ban are forgotten.
const maxTrackedIPs = 4096

// admit counts weight for ip at now and returns the weight used in the
// current window and the verdict.
func (l *limiter) admit(ip string, weight int, now time.Time) (int, verdict) {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.use(ip, now)
	if now.Before(u.bannedUntil) {
		return u.used, verdict{http.StatusTeapot, u.bannedUntil.Sub(now), u.bannedUntil}
	}
	u.used += weight
	if u.used <= l.limit {
		return u.used, verdict{}
	}
	if u.over >= l.banAfter {
		u.bans++
		d := l.banTime
		for i := 1; i < u.bans && d < maxBan; i++ {
			d *= 2
		}
		u.bannedUntil = now.Add(min(d, maxBan))
		u.over = 0
		return u.used, verdict{http.StatusTeapot, u.bannedUntil.Sub(now), u.bannedUntil}
	}
	u.over++
	end := u.window.Add(l.window)
	return u.used, verdict{http.StatusTooManyRequests, end.Sub(now), end}
}

// used returns the weight ip has used in the current window.
func (l *limiter) used(ip string, now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.use(ip, now).used
}

// ban bans ip for d from now (or longer, if a ban already runs) and returns
// its end.
func (l *limiter) ban(ip string, d time.Duration, now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.use(ip, now)
	if until := now.Add(d); until.After(u.bannedUntil) {
		u.bannedUntil = until
	}
	return u.bannedUntil
}

func (l *limiter) use(ip string, now time.Time) *ipUse {
	u := l.ips[ip]
	if u == nil {
		if len(l.ips) >= maxTrackedIPs {
			for k, v := range l.ips {
				if now.Sub(v.window) > l.window && !now.Before(v.bannedUntil) {
					delete(l.ips, k)
				}
			}
		}
		u = &ipUse{}
		l.ips[ip] = u
	}
	if w := now.Truncate(l.window); !w.Equal(u.window) {
		u.window, u.used, u.over = w, 0, 0
	}
	return u
}

// exchangeInfo JSON, in Binance's field order.

type rateLimitJSON struct {
	RateLimitType string `json:"rateLimitType"`
	Interval      string `json:"interval"`
	IntervalNum   int    `json:"intervalNum"`
	Limit         int    `json:"limit"`
}

type symbolInfoJSON struct {
	Symbol                          string     `json:"symbol"`
	Status                          string     `json:"status"`
	BaseAsset                       string     `json:"baseAsset"`
	BaseAssetPrecision              int        `json:"baseAssetPrecision"`
	QuoteAsset                      string     `json:"quoteAsset"`
	QuotePrecision                  int        `json:"quotePrecision"`
	QuoteAssetPrecision             int        `json:"quoteAssetPrecision"`
	BaseCommissionPrecision         int        `json:"baseCommissionPrecision"`
	QuoteCommissionPrecision        int        `json:"quoteCommissionPrecision"`
	OrderTypes                      []string   `json:"orderTypes"`
	IcebergAllowed                  bool       `json:"icebergAllowed"`
	OcoAllowed                      bool       `json:"ocoAllowed"`
	OtoAllowed                      bool       `json:"otoAllowed"`
	OpoAllowed                      bool       `json:"opoAllowed"`
	QuoteOrderQtyMarketAllowed      bool       `json:"quoteOrderQtyMarketAllowed"`
	AllowTrailingStop               bool       `json:"allowTrailingStop"`
	CancelReplaceAllowed            bool       `json:"cancelReplaceAllowed"`
	AmendAllowed                    bool       `json:"amendAllowed"`
	PegInstructionsAllowed          bool       `json:"pegInstructionsAllowed"`
	IsSpotTradingAllowed            bool       `json:"isSpotTradingAllowed"`
	IsMarginTradingAllowed          bool       `json:"isMarginTradingAllowed"`
	Filters                         []any      `json:"filters"`
	Permissions                     []string   `json:"permissions"`
	PermissionSets                  [][]string `json:"permissionSets"`
	DefaultSelfTradePreventionMode  string     `json:"defaultSelfTradePreventionMode"`
	AllowedSelfTradePreventionModes []string   `json:"allowedSelfTradePreventionModes"`
}

type priceFilterJSON struct {
	FilterType string `json:"filterType"`
	MinPrice   string `json:"minPrice"`
	MaxPrice   string `json:"maxPrice"`
	TickSize   string `json:"tickSize"`
}

type lotSizeJSON struct {
	FilterType string `json:"filterType"`
	MinQty     string `json:"minQty"`
	MaxQty     string `json:"maxQty"`
	StepSize   string `json:"stepSize"`
}

type icebergPartsJSON struct {
	FilterType string `json:"filterType"`
	Limit      int    `json:"limit"`
}

type trailingDeltaJSON struct {
	FilterType            string `json:"filterType"`
	MinTrailingAboveDelta int    `json:"minTrailingAboveDelta"`
	MaxTrailingAboveDelta int    `json:"maxTrailingAboveDelta"`
	MinTrailingBelowDelta int    `json:"minTrailingBelowDelta"`
	MaxTrailingBelowDelta int    `json:"maxTrailingBelowDelta"`
}

type percentPriceBySideJSON struct {
	FilterType        string `json:"filterType"`
	BidMultiplierUp   string `json:"bidMultiplierUp"`
	BidMultiplierDown string `json:"bidMultiplierDown"`
	AskMultiplierUp   string `json:"askMultiplierUp"`
	AskMultiplierDown string `json:"askMultiplierDown"`
	AvgPriceMins      int    `json:"avgPriceMins"`
}

type notionalJSON struct {
	FilterType       string `json:"filterType"`
	MinNotional      string `json:"minNotional"`
	ApplyMinToMarket bool   `json:"applyMinToMarket"`
	MaxNotional      string `json:"maxNotional"`
	ApplyMaxToMarket bool   `json:"applyMaxToMarket"`
	AvgPriceMins     int    `json:"avgPriceMins"`
}

type maxNumOrdersJSON struct {
	FilterType   string `json:"filterType"`
	MaxNumOrders int    `json:"maxNumOrders"`
}

type maxNumAlgoOrdersJSON struct {
	FilterType       string `json:"filterType"`
	MaxNumAlgoOrders int    `json:"maxNumAlgoOrders"`
}

// symbolInfo describes a symbol as exchangeInfo does, with the filters a
// spot symbol really has.
func symbolInfo(spec symbolSpec) symbolInfoJSON {
	dec := func(exp int) string { return string(appendE8(nil, pow10(exp+8))) }
	// the highest price: an order of magnitude above the start price
	maxPriceExp := min(10, int(math.Ceil(math.Log10(float64(spec.price)*math.Pow10(spec.tickExp))))+1)
	maxQtyExp := 3 + max(0, spec.stepExp+3)
	minNotional := "5.00000000"
	switch spec.quote {
	case "BTC":
		minNotional = "0.00010000"
	case "ETH":
		minNotional = "0.00100000"
	}
	nine := func(exp int) string { return string(appendE8(nil, 9*pow10(exp+8))) }
	return symbolInfoJSON{
		Symbol:                     spec.name,
		Status:                     "TRADING",
		BaseAsset:                  spec.base,
		BaseAssetPrecision:         8,
		QuoteAsset:                 spec.quote,
		QuotePrecision:             8,
		QuoteAssetPrecision:        8,
		BaseCommissionPrecision:    8,
		QuoteCommissionPrecision:   8,
		OrderTypes:                 []string{"LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"},
		IcebergAllowed:             true,
		OcoAllowed:                 true,
		OtoAllowed:                 true,
		OpoAllowed:                 true,
		QuoteOrderQtyMarketAllowed: true,
		AllowTrailingStop:          true,
		CancelReplaceAllowed:       true,
		AmendAllowed:               true,
		PegInstructionsAllowed:     true,
		IsSpotTradingAllowed:       true,
		IsMarginTradingAllowed:     true,
		Filters: []any{
			priceFilterJSON{"PRICE_FILTER", dec(spec.tickExp), dec(maxPriceExp), dec(spec.tickExp)},
			lotSizeJSON{"LOT_SIZE", dec(spec.stepExp), nine(maxQtyExp), dec(spec.stepExp)},
			icebergPartsJSON{"ICEBERG_PARTS", 10},
			lotSizeJSON{"MARKET_LOT_SIZE", "0.00000000", nine(maxQtyExp - 2), "0.00000000"},
			trailingDeltaJSON{"TRAILING_DELTA", 10, 2000, 10, 2000},
			percentPriceBySideJSON{"PERCENT_PRICE_BY_SIDE", "5", "0.2", "5", "0.2", 5},
			notionalJSON{"NOTIONAL", minNotional, true, "9000000.00000000", false, 5},
			maxNumOrdersJSON{"MAX_NUM_ORDERS", 200},
			maxNumAlgoOrdersJSON{"MAX_NUM_ALGO_ORDERS", 5},
		},
		Permissions:                     []string{},
		PermissionSets:                  [][]string{{"SPOT", "MARGIN"}},
		DefaultSelfTradePreventionMode:  "EXPIRE_MAKER",
		AllowedSelfTradePreventionModes: []string{"NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"},
	}
}

// mustJSON encodes values built here from fixed types, which cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("sim: encode %T: %v", v, err))
	}
	return b
}
