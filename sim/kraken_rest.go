package sim

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// krakenREST answers the public REST routes Time, AssetPairs and Trades
// under /0/public/ (docs.kraken.com, Spot REST "Market Data"). Every
// answer is {"error":[…],"result":{…}}, HTTP 200 also for errors
// ("EQuery:Unknown asset pair"); past RESTBurst requests of a client IP,
// {"error":["EGeneral:Too many requests"]}.
type krakenREST struct {
	k     *Kraken
	mu    sync.Mutex
	ips   map[string]*krBucket
	rngMu sync.Mutex
	rng   *rand.Rand
}

type krBucket struct {
	tokens float64
	at     time.Time
}

func newKrakenREST(k *Kraken) *krakenREST {
	return &krakenREST{k: k, ips: make(map[string]*krBucket), rng: k.srv.faults.rng(0x4b524553)} // "KRES"
}

func (h *krakenREST) admit(ip string, now time.Time) bool {
	cfg := h.k.cfg
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.ips[ip]
	if b == nil {
		if len(h.ips) >= maxTrackedIPs {
			clear(h.ips)
		}
		b = &krBucket{tokens: float64(cfg.RESTBurst), at: now}
		h.ips[ip] = b
	}
	b.tokens = min(float64(cfg.RESTBurst), b.tokens+float64(now.Sub(b.at))/float64(cfg.RESTRefill))
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func krWrite(w http.ResponseWriter, status int, errs []string, result string) {
	b := []byte(`{"error":[`)
	for i, e := range errs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, e)
	}
	b = append(b, `],"result":`...)
	b = append(b, result...)
	b = append(b, '}')
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (h *krakenREST) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	if !h.admit(clientIP(r), now) {
		krWrite(w, http.StatusOK, []string{"EGeneral:Too many requests"}, "{}")
		return
	}
	h.rngMu.Lock()
	_, hit := h.k.srv.faults.hit(classREST, h.rng, now, func(k FaultKind) bool { return k == FaultKrakenRateLimit })
	h.rngMu.Unlock()
	if hit {
		krWrite(w, http.StatusOK, []string{"EGeneral:Too many requests"}, "{}")
		return
	}
	q := r.URL.Query()
	switch r.URL.Path {
	case "/0/public/Time":
		krWrite(w, http.StatusOK, nil, `{"unixtime":`+strconv.FormatInt(now.Unix(), 10)+`,"rfc1123":"`+
			now.UTC().Format("Mon, 02 Jan 06 15:04:05 -0700")+`"}`)
	case "/0/public/Assets":
		h.assets(w)
	case "/0/public/AssetPairs":
		h.assetPairs(w, q.Get("pair"))
	case "/0/public/Trades":
		h.trades(w, q.Get("pair"), q.Get("since"), q.Get("count"))
	default:
		krWrite(w, http.StatusNotFound, []string{"EGeneral:Unknown method"}, "{}")
	}
}

// pairs reads a pair parameter, comma separated: REST altnames (XBTUSDT),
// v2 symbols (BTC/USDT) or v1 wsnames (XBT/USDT).
func (h *krakenREST) pairs(list string) ([]*krakenSym, string) {
	var out []*krakenSym
	for _, p := range strings.Split(list, ",") {
		ks := h.k.feed.bySym[p]
		if ks == nil {
			for _, x := range h.k.feed.syms {
				if x.wsV1 == p {
					ks = x
				}
			}
		}
		if ks == nil {
			return nil, "EQuery:Unknown asset pair"
		}
		out = append(out, ks)
	}
	return out, ""
}

// assets answers Assets: the assets of the pairs, keyed by their REST
// names (XBT, XDG), {"aclass":"currency","altname":…,"decimals":10,
// "display_decimals":5,"status":"enabled"}.
func (h *krakenREST) assets(w http.ResponseWriter) {
	b := []byte{'{'}
	seen := map[string]bool{}
	for _, ks := range h.k.feed.syms {
		for _, a := range []string{ks.s.spec.base, ks.s.spec.quote} {
			name := krakenAsset(a)
			if seen[name] {
				continue
			}
			if len(seen) > 0 {
				b = append(b, ',')
			}
			seen[name] = true
			b = append(b, `"`+name+`":{"aclass":"currency","altname":"`+name+`","decimals":10,"display_decimals":5,"status":"enabled"}`...)
		}
	}
	krWrite(w, http.StatusOK, nil, string(append(b, '}')))
}

// assetPairs answers AssetPairs: altname, wsname (v1 names), base, quote,
// pair_decimals, lot_decimals, cost_decimals, tick_size, ordermin,
// costmin, status, keyed by the pair's name. FaultKrakenPairDecimals
// raises the decimals of its pairs.
func (h *krakenREST) assetPairs(w http.ResponseWriter, pair string) {
	h.rngMu.Lock()
	f, off := h.k.srv.faults.hit(classREST, h.rng, time.Now(), func(k FaultKind) bool { return k == FaultKrakenPairDecimals })
	h.rngMu.Unlock()
	extra := 0
	if off {
		extra = max(f.Count, 1)
	}
	syms := h.k.feed.syms
	if pair != "" {
		var msg string
		if syms, msg = h.pairs(pair); msg != "" {
			krWrite(w, http.StatusOK, []string{msg}, "{}")
			return
		}
	}
	m := h.k.srv.market
	b := []byte{'{'}
	for i, ks := range syms {
		m.mu.Lock()
		spec, status := ks.s.spec, ks.s.status
		d := decsOf(ks.s)
		m.mu.Unlock()
		st := "online"
		if status != "TRADING" {
			st = "cancel_only"
		}
		if i > 0 {
			b = append(b, ',')
		}
		tick := krFixed(pow10(spec.tickExp+8), d.px)
		step := krFixed(pow10(spec.stepExp+8), d.qty)
		if extra > 0 && (f.Symbol == "" || f.Symbol == spec.name) {
			d.px, d.qty = d.px+extra, d.qty+extra
			tick, step = krPad(tick, extra), krPad(step, extra)
		}
		b = append(b, `"`+ks.restKey+`":{"altname":"`+ks.altname+`","wsname":"`+ks.wsV1+`","aclass_base":"currency","base":"`+
			krakenAsset(spec.base)+`","aclass_quote":"currency","quote":"`+krakenAsset(spec.quote)+`","lot":"unit","cost_decimals":5,"pair_decimals":`+
			strconv.Itoa(d.px)+`,"lot_decimals":`+strconv.Itoa(d.qty)+`,"lot_multiplier":1,"tick_size":"`+tick+`","ordermin":"`+step+
			`","costmin":"0.5","status":"`+st+`"}`...)
	}
	krWrite(w, http.StatusOK, nil, string(append(b, '}')))
}

// krPad writes n more zero decimals after the plain decimal s.
func krPad(s string, n int) string {
	if strings.IndexByte(s, '.') < 0 {
		s += "."
	}
	return s + strings.Repeat("0", n)
}

// trades answers Trades (Get Recent Trades, api-reference/market-data/
// get-recent-trades: "count … up to 1000", default 1000): up to count
// trades after since ("a UNIX timestamp at nanosecond resolution", Kraken
// support article 218198197; exclusive here, which Kraken does not say;
// absent: the latest count), oldest first, each [price, volume, time (seconds),
// "b"|"s", "m"|"l", misc, trade_id]; "last" is the nanosecond timestamp of
// the last one, the since of the next page.
func (h *krakenREST) trades(w http.ResponseWriter, pair, sinceS, countS string) {
	if pair == "" {
		krWrite(w, http.StatusOK, []string{"EGeneral:Invalid arguments:pair"}, "{}")
		return
	}
	syms, msg := h.pairs(pair)
	if msg != "" || len(syms) != 1 {
		krWrite(w, http.StatusOK, []string{"EQuery:Unknown asset pair"}, "{}")
		return
	}
	count := 1000
	if countS != "" {
		n, err := strconv.Atoi(countS)
		if err != nil || n < 1 || n > 1000 {
			krWrite(w, http.StatusOK, []string{"EGeneral:Invalid arguments:count " + strconv.Quote(countS)}, "{}")
			return
		}
		count = n
	}
	var since int64 = -1
	if sinceS != "" {
		n, err := strconv.ParseInt(sinceS, 10, 64)
		if err != nil || n < 0 {
			krWrite(w, http.StatusOK, []string{"EGeneral:Invalid arguments:since " + strconv.Quote(sinceS)}, "{}")
			return
		}
		since = n
	}
	ks := syms[0]
	m, s := h.k.srv.market, ks.s
	m.mu.Lock()
	lo, hi := m.oldestTrade(s), s.nextTrade-1
	first := max(lo, hi-int64(count)+1)
	if since >= 0 {
		first = visibleUpTo(lo, hi, since, func(id int64) int64 { return krTradeNs(s, lo, id) }) + 1
	}
	last := min(hi, first+int64(count)-1)
	lastNs := max(since, 0)
	d := decsOf(s)
	recs := make([]tradeRec, 0, max(last-first+1, 0))
	for id := first; id <= last; id++ {
		recs = append(recs, *s.tradeAt(id))
	}
	if len(recs) > 0 {
		lastNs = krTradeNs(s, lo, last)
	}
	m.mu.Unlock()
	b := []byte(`{"` + ks.restKey + `":[`)
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		side := "b"
		if r.maker {
			side = "s"
		}
		b = append(b, `["`+krFixed(r.price, max(d.px, 5))+`","`+krFixed(r.qty, 8)+`",`...)
		b = strconv.AppendInt(b, r.us/1e6, 10)
		b = append(b, '.')
		b = append(b, []byte(strconv.FormatInt(1e6+r.us%1e6, 10))[1:]...)
		b = append(b, `,"`+side+`","`+krOrdType(ks, first+int64(i))[:1]+`","",`...)
		b = strconv.AppendInt(b, first+int64(i), 10)
		b = append(b, ']')
	}
	b = append(b, `],"last":"`...)
	b = strconv.AppendInt(b, lastNs, 10)
	b = append(b, `"}`...)
	krWrite(w, http.StatusOK, nil, string(b))
}

// krTradeNs is the nanosecond time of trade id (see trades); lo is the
// oldest trade kept. The caller holds the market's lock.
func krTradeNs(s *symState, lo, id int64) int64 {
	us := s.tradeAt(id).us
	rank := int64(0)
	for j := id - 1; j >= lo && rank < 999 && s.tradeAt(j).us == us; j-- {
		rank++
	}
	return us*1000 + rank
}
