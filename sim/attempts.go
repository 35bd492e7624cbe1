package sim

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"
)

// attemptBudget counts WebSocket connection attempts per client IP, as
// web-socket-streams.md's "WebSocket Limits" has it: "There is a limit of
// 300 connections per attempt every 5 minutes per IP" (CHANGELOG
// 2023-02-17: "The WS-API and Websocket Stream now only allows 300
// connections requests every 5 minutes. This limit is per IP address.").
//
// The window slides: an attempt is refused when the limit attempts before
// it all fall within the window. Every attempt counts, the refused ones
// too, so a client that keeps redialling while over the budget stays over
// it.
type attemptBudget struct {
	limit  int
	window time.Duration

	mu    sync.Mutex
	byIP  map[string]*ipAttempts
	total AttemptStats
}

// ipAttempts is one IP's recent attempts: a ring of the last limit times.
type ipAttempts struct {
	times []time.Time
	next  int
	stats AttemptStats
}

// AttemptStats counts WebSocket connection attempts (upgrade requests to
// /ws, /ws/… and /stream) and how many were refused for being over the
// connection-attempt budget.
type AttemptStats struct {
	Attempts int64 `json:"attempts"`
	Refused  int64 `json:"refused"`
}

func newAttemptBudget(limit int, window time.Duration) *attemptBudget {
	return &attemptBudget{limit: limit, window: window, byIP: make(map[string]*ipAttempts)}
}

// attempt records an attempt from ip at now and reports whether it is
// within the budget; when it is not, retry says when the oldest attempt
// of the window leaves it.
func (b *attemptBudget) attempt(ip string, now time.Time) (ok bool, retry time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.byIP[ip]
	if a == nil {
		a = &ipAttempts{times: make([]time.Time, 0, min(b.limit, 64))}
		b.byIP[ip] = a
	}
	a.stats.Attempts++
	b.total.Attempts++
	ok = true
	if len(a.times) == b.limit {
		oldest := a.times[a.next] // the limit-th attempt before this one
		if now.Sub(oldest) < b.window {
			ok, retry = false, b.window-now.Sub(oldest)
			a.stats.Refused++
			b.total.Refused++
		}
		a.times[a.next] = now
		a.next = (a.next + 1) % b.limit
	} else {
		a.times = append(a.times, now)
	}
	return ok, retry
}

func (b *attemptBudget) totals() AttemptStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

// IPAttempts is what one client IP made of its connection-attempt budget.
type IPAttempts struct {
	IP string `json:"ip"`
	AttemptStats
}

func (b *attemptBudget) perIP() []IPAttempts {
	b.mu.Lock()
	out := make([]IPAttempts, 0, len(b.byIP))
	for ip, a := range b.byIP {
		out = append(out, IPAttempts{IP: ip, AttemptStats: a.stats})
	}
	b.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].IP < out[j].IP })
	return out
}

// wsClientIP is the IP part of an http.Request's RemoteAddr.
func wsClientIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// writeTooManyAttempts refuses an upgrade over the budget. The WebSocket
// documentation does not say what the refusal looks like; errors.md names
// the error: "-1034 TOO_MANY_CONNECTIONS ... Too many connection attempts
// from IP; current limit is %s per '%s'." The simulator answers HTTP 429,
// the status of every other rate limit of the API, with that error as the
// body and, as the REST API does with its 429s, a Retry-After header in
// seconds.
func writeTooManyAttempts(w http.ResponseWriter, limit int, window, retry time.Duration) {
	body := fmt.Sprintf(`{"code":-1034,"msg":"Too many connection attempts from IP; current limit is %d per '%s'."}`,
		limit, windowWords(window))
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Retry-After", strconv.FormatInt(max(1, int64((retry+time.Second-1)/time.Second)), 10))
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write([]byte(body))
}

// windowWords writes a window as the rate limits of exchangeInfo name
// theirs: "5 MINUTE", "10 SECOND".
func windowWords(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + " DAY"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + " HOUR"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + " MINUTE"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + " SECOND"
	}
	return d.String()
}

// ConnAttempts returns how many WebSocket connection attempts the server
// has seen from every IP together, and how many of them it refused for
// being over Config.ConnAttemptLimit. A client test asserts refused == 0
// to show it never needed more than the real service allows.
func (s *Server) ConnAttempts() (attempts, refused int64) {
	t := s.attempts.totals()
	return t.Attempts, t.Refused
}

// ConnAttemptsByIP returns the connection attempts and refusals per client
// IP, sorted by IP.
func (s *Server) ConnAttemptsByIP() []IPAttempts { return s.attempts.perIP() }

// parseTimeUnit reads the timeUnit parameter of a stream URL. CHANGELOG
// 2024-12-17: "A new optional parameter timeUnit can be used in the
// connection URL to select the time unit. ... Supported values are:
// MILLISECOND, millisecond, MICROSECOND, microsecond. If the time unit is
// not selected, milliseconds will be used by default." No other spelling
// (not "Microsecond", not "us") is accepted.
func parseTimeUnit(q url.Values) (micros, ok bool) {
	if !q.Has("timeUnit") {
		return false, true
	}
	switch q.Get("timeUnit") {
	case "MILLISECOND", "millisecond":
		return false, true
	case "MICROSECOND", "microsecond":
		return true, true
	}
	return false, false
}

// writeInvalidTimeUnit refuses a stream URL with a timeUnit that is not one
// of the four spellings. errors.md names the error: "-1194
// INVALID_TIME_UNIT: Invalid value for time unit; expected either
// MICROSECOND or MILLISECOND." The WebSocket documentation does not say how
// the stream endpoint delivers it; the simulator refuses the upgrade with
// HTTP 400 and that error as the body, as the API answers a bad parameter.
func writeInvalidTimeUnit(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte(`{"code":-1194,"msg":"Invalid value for time unit; expected either MICROSECOND or MILLISECOND."}`))
}
