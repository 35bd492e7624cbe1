package sim

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// registerStreamTruth mounts the ground truth of the computed streams and
// of the connection-attempt budget:
//
//	GET /sim/kline?symbol=BTCUSDT&interval=1m[&tz=+08:00][&start=MS][&at=MS]
//	    the <symbol>@kline_<interval> event the stream sends at time at
//	    (default now) for the kline holding time start (default at), in
//	    milliseconds: a client checks an event it got against
//	    start=k.t&at=E. tz=+08:00 (%2B08:00 in a URL) is the @+08:00 variant.
//	GET /sim/ticker?symbol=BTCUSDT&window=24h|1h|4h|1d|mini|avgPrice[&at=MS]
//	    the <symbol>@ticker (24h), @ticker_<window>, @miniTicker (mini) or
//	    @avgPrice event the stream sends at time at (default now). The best
//	    bid and ask of the 24h ticker are the book's at the time of the query.
//	GET /sim/conn-attempts
//	    {"attempts":N,"refused":N,"ips":[{"ip":"127.0.0.1","attempts":N,"refused":N}]}:
//	    the WebSocket connection attempts and those over Config.ConnAttemptLimit
//
// A figure covers the trades still kept (Config.History). Errors are
// {"error":"…"}: 400 for a bad parameter, 404 for an unknown symbol.
func (s *Server) registerStreamTruth(mux *http.ServeMux) {
	m := s.market
	mux.HandleFunc("GET /sim/kline", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		sym, err := truthSymbol(m, q.Get("symbol"))
		if err != nil {
			writeTruthError(w, err)
			return
		}
		iv := klineIndex(q.Get("interval"))
		if iv < 0 {
			writeTruthError(w, &paramError{"interval", q.Get("interval"), "is not a kline interval (1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M)"})
			return
		}
		var tz bool
		switch v := q.Get("tz"); strings.TrimSpace(v) { // a raw "+" reads as a space
		case "":
		case klineTZ, "08:00":
			tz = true
		default:
			writeTruthError(w, &paramError{"tz", v, "is not +08:00, the only timezone of kline streams"})
			return
		}
		at, err := m.truthTime(q.Get("at"), "at")
		if err != nil {
			writeTruthError(w, err)
			return
		}
		start := at
		if v := q.Get("start"); v != "" {
			if start, err = m.truthTime(v, "start"); err != nil {
				writeTruthError(w, err)
				return
			}
		}
		m.mu.Lock()
		body := m.appendKline(nil, sym, iv, tz, start, at, false)
		m.mu.Unlock()
		writeTruthRaw(w, body)
	})
	mux.HandleFunc("GET /sim/ticker", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		sym, err := truthSymbol(m, q.Get("symbol"))
		if err != nil {
			writeTruthError(w, err)
			return
		}
		at, err := m.truthTime(q.Get("at"), "at")
		if err != nil {
			writeTruthError(w, err)
			return
		}
		window := q.Get("window")
		m.mu.Lock()
		var body []byte
		switch window {
		case "24h", "":
			st := m.statsBetween(sym, at-dayUs, at)
			body = appendTicker(nil, sym, &st, sym.top(), at-dayUs, at, false)
		case "mini":
			st := m.statsBetween(sym, at-dayUs, at)
			body = appendMiniTicker(nil, sym, &st, at, false)
		case "avgPrice":
			st := m.statsBetween(sym, at-avgPriceWindow.Microseconds(), at)
			body = appendAvgPrice(nil, sym, &st, at, false)
		default:
			if wi := windowIndex(window); wi >= 0 {
				from := windowFrom(wi, at)
				st := m.statsBetween(sym, from, at)
				body = appendWindowTicker(nil, sym, wi, &st, from, at, false)
			}
		}
		m.mu.Unlock()
		if body == nil {
			writeTruthError(w, &paramError{"window", window, "is not one of 24h, 1h, 4h, 1d, mini, avgPrice"})
			return
		}
		writeTruthRaw(w, body)
	})
	mux.HandleFunc("GET /sim/conn-attempts", func(w http.ResponseWriter, r *http.Request) {
		a, refused := s.ConnAttempts()
		writeTruthJSON(w, http.StatusOK, struct {
			Attempts int64        `json:"attempts"`
			Refused  int64        `json:"refused"`
			IPs      []IPAttempts `json:"ips"`
		}{a, refused, s.ConnAttemptsByIP()})
	})
}

// truthTime reads an optional time in milliseconds; the default is the
// current millisecond of the market.
func (m *market) truthTime(v, name string) (int64, error) {
	if v == "" {
		m.mu.Lock()
		at := max(time.Now().UnixMicro(), m.lastUs)
		m.mu.Unlock()
		return at - at%1000, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < 0 {
		return 0, &paramError{name, v, "is not a time in milliseconds"}
	}
	return ms * 1000, nil
}

func writeTruthRaw(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
