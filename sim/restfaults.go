package sim

import (
	"net/http"
	"time"
)

// weightAnswers is how a Binance REST front-end (spot /api/v3, USD-M
// /fapi/v1) reports request weight: its used-weight headers and its 429
// answer differ, the rules of the limit and of the REST faults do not.
type weightAnswers interface {
	setWeight(w http.ResponseWriter, used int)
	write429(w http.ResponseWriter, retryAfter time.Duration)
}

// admitWeight charges weight to ip in lim and writes the used-weight
// headers. Over the limit it answers 429, or 418 while ip is banned, and
// reports false.
func admitWeight(w http.ResponseWriter, a weightAnswers, lim *limiter, ip string, weight int, now time.Time) bool {
	used, v := lim.admit(ip, weight, now)
	a.setWeight(w, used)
	switch v.status {
	case http.StatusTooManyRequests:
		a.write429(w, v.retryAfter)
		return false
	case http.StatusTeapot:
		writeBanned(w, v.retryAfter, v.until)
		return false
	}
	return true
}

// restFaultBefore carries out the REST fault f that fired on a request of
// a Binance REST front-end, before its answer is made. rest-5xx, rest-429,
// rest-418 (banning ip in lim for f.Duration, default banFor) and rest-403
// answer the request and it reports true; rest-slow waits f.Duration
// (default 2s) and reads the clock again with now, reporting true if the
// client went away meanwhile; stale-snapshot and rest-lag set up c.
func restFaultBefore(w http.ResponseWriter, r *http.Request, f Fault, c *call, a weightAnswers, lim *limiter, ip string, banFor time.Duration, now func() time.Time) bool {
	switch f.Kind {
	case FaultREST5xx:
		writeServerError(w, orDefault(f.Code, http.StatusServiceUnavailable))
		return true
	case FaultREST429:
		a.write429(w, orDefault(f.Duration, time.Second))
		return true
	case FaultREST418:
		until := lim.ban(ip, orDefault(f.Duration, banFor), c.now)
		writeBanned(w, until.Sub(c.now), until)
		return true
	case FaultREST403:
		writeWAF(w)
		return true
	case FaultRESTSlow:
		t := time.NewTimer(orDefault(f.Duration, 2*time.Second))
		select {
		case <-t.C:
			c.now = now()
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	case FaultStaleSnapshot:
		c.back = int64(orDefault(f.Count, 1000))
	case FaultRESTLag:
		c.lag = orDefault(f.Duration, 5*time.Second)
	}
	return false
}

// writeRESTAnswer writes status and body, or, when the REST fault f fired
// (hit), what rest-truncate, rest-bad-json, rest-huge or rest-endless make
// of them.
func writeRESTAnswer(w http.ResponseWriter, r *http.Request, f Fault, hit bool, status int, body []byte) {
	switch {
	case hit && f.Kind == FaultRESTTruncate:
		writeTruncated(w, status, body)
	case hit && f.Kind == FaultRESTBadJSON:
		writeJSON(w, http.StatusOK, body[:len(body)/2])
	case hit && f.Kind == FaultRESTHuge:
		writeHuge(w, r, body, orDefault(f.Size, DefaultHugeSize), f.Duration)
	case hit && f.Kind == FaultRESTEndless:
		writeEndless(w, r, body, f.Duration)
	default:
		writeJSON(w, status, body)
	}
}
