// Package httpx is the process's HTTPS client for venue REST APIs: one
// transport with a keep-alive pool and the shared TLS configuration (HTTP/2
// when the server offers it), context deadlines on every call, bodies always
// drained and closed, a request-weight limiter fed by the venue's limit and
// corrected by the used weight it reports, Retry-After honoured after a 429,
// every call stopped while a 418 ban lasts, bounded retries with capped
// jittered backoff, failover over the API's alternative hosts, a backoff of
// its own after a firewall's 403, and the venue's error bodies turned into
// typed errors. Whatever a server sends, an answer costs at most its cap
// (Request.MaxBody, Config.MaxBodyFor, Config.MaxBody) in memory: a
// declared length over it is refused unread, a body without one (chunked,
// or decompressed from gzip) the moment it passes it.
package httpx

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/feedkeeper/feedkeeper/internal/backoff"
	"github.com/feedkeeper/feedkeeper/internal/clienttls"
)

// Config describes a client for one venue's REST API. The zero value of
// every field but BaseURL is usable; without WeightLimit the client does
// not limit weight (but still honours 429 and 418).
type Config struct {
	// BaseURL of the API, e.g. https://data-api.binance.vision: the first
	// host every call tries.
	BaseURL string
	// BaseURLs are further base URLs of the same API (Binance:
	// https://api.binance.com, https://api-gcp.binance.com,
	// https://api1.binance.com …), in order of preference after BaseURL.
	// An attempt goes to the first host that is not set aside; a host whose
	// attempt gets no answer, a 5xx or a body cut short is set aside for
	// HostCooldown, doubling with each failure in a row up to
	// HostCooldownMax, and takes calls again once its cooldown has passed
	// (so calls return to BaseURL as soon as it may work again). When every
	// host is set aside, the one whose cooldown ends first is tried. The
	// weight limit, 429 pauses, 418 bans and 403 blocks are the client's,
	// shared by every host (the venue counts per IP). BaseURL may be empty
	// when BaseURLs is not.
	BaseURLs []string
	// Serves, when set, says whether the host at base serves path: a
	// call goes only to hosts that serve its path (Binance's market-data
	// host serves no historicalTrades). Nil: every host serves every path.
	Serves func(base, path string) bool
	// HostCooldown and HostCooldownMax bound how long a failing host is set
	// aside (only with BaseURLs). Defaults 30s and 5 minutes.
	HostCooldown, HostCooldownMax time.Duration
	// TLS is the process-wide TLS configuration (see TLSConfig). Nil: the
	// process default, system roots (the one wsconn.DefaultTLS returns).
	TLS *tls.Config
	// Timeout bounds one attempt, body included. Default 10s.
	Timeout time.Duration
	// MaxConns bounds the connections kept to the host. Default 8.
	MaxConns int
	// MaxBody bounds the body of an answer, for calls that give no cap of
	// their own (Request.MaxBody, MaxBodyFor). Default DefaultMaxBody
	// (64 MiB). An answer whose declared Content-Length is over the cap is
	// refused before any of it is read; one without a length is refused the
	// moment it passes the cap (see BodyTooLargeError). A body is held
	// once, in a buffer reused by later calls when it is at most 1 MiB.
	MaxBody int64
	// MaxBodyFor, when set, gives the cap of an answer to a request of path
	// with query that gives none of its own (Request.MaxBody); 0: MaxBody.
	// A venue sets it to its endpoints' documented maxima with a margin,
	// so that a broken server costs kilobytes, not MaxBody.
	MaxBodyFor func(path string, query url.Values) int64

	// WeightLimit is the request weight the venue allows per WeightWindow
	// (Binance: 6000 a minute). 0: no limit is enforced.
	WeightLimit int
	// WeightWindow is the length of the venue's weight windows, which are
	// aligned on the clock. Default 1 minute.
	WeightWindow time.Duration
	// ClockSkew is the most the local clock may differ from the venue's,
	// plus the time a request takes to reach it: a request sent within
	// ClockSkew of a window boundary is counted in both windows. Default
	// 1s (at most a tenth of WeightWindow).
	ClockSkew time.Duration
	// UsedWeightHeader names the answer header in which the venue reports
	// the weight used in the current window (Binance:
	// X-MBX-USED-WEIGHT-1M). Empty: only the client's own count is used.
	UsedWeightHeader string
	// Weight returns the weight of a request that does not give its own
	// (Request.Weight). Nil: 1 per request.
	Weight func(path string, query url.Values) int

	// MaxAttempts bounds the attempts of one call: 5xx answers, 429s,
	// network errors, truncated bodies and bodies that do not decode are
	// tried again up to this many attempts in all. Default 5.
	MaxAttempts int
	// BackoffMin and BackoffMax bound the jittered exponential delay
	// between attempts. Defaults 100ms and 5s.
	BackoffMin, BackoffMax time.Duration
	// BanTime is how long a 418 without Retry-After stops calls. Default 2 minutes.
	BanTime time.Duration
	// ForbiddenBackoff is how long every call fails at once with
	// ErrForbidden after a 403 (a firewall block); it doubles with each
	// further 403 in a row, up to ForbiddenBackoffMax, and a Retry-After
	// longer than it is honoured. An answer other than 403 ends the
	// streak. Defaults 30s and 10 minutes.
	ForbiddenBackoff, ForbiddenBackoffMax time.Duration

	// Classify, when set, reads every answer the venue's way: its error
	// code and message, and what the answer means (an HTTP 200 whose body
	// says "error", a rate limit answered 403, a ban with another status).
	// It sees the status, the headers and the body (at most the first
	// 64 KiB of an answer outside 2xx) and must not keep the body. Nil:
	// Binance's rules: {"code":…,"msg":…} bodies, 429 a rate limit, 418 a
	// ban, 403 a firewall block, 5xx passing, other non-2xx refusals.
	Classify func(status int, header http.Header, body []byte) Answer

	// Logger receives a line per 429 and per 418, one per streak of 403s
	// and one when it ends, and one when a host is set aside and when it
	// answers again. Nil: slog.Default().
	Logger *slog.Logger
}

// Request is one GET request.
type Request struct {
	Path  string     // appended to the base URL's path
	Query url.Values // may be nil
	// Header holds extra request headers; may be nil.
	Header http.Header
	// Weight of the request; 0: Config.Weight decides.
	Weight int
	// MaxBody caps the answer's body, in bytes; 0: Config.MaxBodyFor, or
	// Config.MaxBody, decides. See Config.MaxBody.
	MaxBody int64
}

// Client is safe for concurrent use. Create one per venue and share it:
// its weight budget, pauses and bans are the venue's.
type Client struct {
	cfg   Config
	hosts *hosts
	http  *http.Client
	tr    *http.Transport
	log   *slog.Logger
	w     weights
	block forbidden

	stats struct {
		requests, retries, rateLimited, bans, serverErrors atomic.Int64
		badBodies, netErrors, failures, waits, waitNanos   atomic.Int64
		http2, forbidden, failovers, oversized             atomic.Int64
	}
	now func() time.Time
}

// New validates cfg and builds the client.
func New(cfg Config) (*Client, error) {
	if cfg.TLS != nil && cfg.TLS.InsecureSkipVerify {
		return nil, errors.New("httpx: TLS: InsecureSkipVerify is refused; pass the server's CA instead")
	}
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	hs, err := newHosts(&cfg)
	if err != nil {
		return nil, err
	}
	tlsCfg := cfg.TLS
	if tlsCfg == nil {
		tlsCfg = clienttls.Default()
	}
	// the transport adds "h2" to NextProtos of the config it is given:
	// give it a clone, which shares the session cache
	tlsCfg = tlsCfg.Clone()
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: cfg.MaxConns,
		MaxConnsPerHost:     cfg.MaxConns,
		IdleConnTimeout:     90 * time.Second,
		// the venue's headers are a few KB; the default allows 10 MB
		MaxResponseHeaderBytes: maxHeaderBytes,
		// what an HTTP/2 server may send ahead of the reader: by default
		// 4 MB a stream and 1 GB a connection
		HTTP2: &http.HTTP2Config{
			MaxReceiveBufferPerStream:     h2StreamWindow,
			MaxReceiveBufferPerConnection: h2ConnWindow,
		},
	}
	c := &Client{
		cfg:   cfg,
		hosts: hs,
		tr:    tr,
		http:  &http.Client{Transport: tr},
		log:   cfg.Logger.With("component", "rest"),
		w:     weights{limit: cfg.WeightLimit, window: cfg.WeightWindow, skew: cfg.ClockSkew, header: cfg.UsedWeightHeader},
		block: forbidden{min: cfg.ForbiddenBackoff, max: cfg.ForbiddenBackoffMax},
		now:   time.Now,
	}
	return c, nil
}

func (cfg *Config) fill() error {
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 8
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.WeightWindow == 0 {
		cfg.WeightWindow = time.Minute
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = min(time.Second, cfg.WeightWindow/10)
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin = 100 * time.Millisecond
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = 5 * time.Second
	}
	if cfg.BanTime == 0 {
		cfg.BanTime = 2 * time.Minute
	}
	if cfg.HostCooldown == 0 {
		cfg.HostCooldown = 30 * time.Second
	}
	if cfg.HostCooldownMax == 0 {
		cfg.HostCooldownMax = max(5*time.Minute, cfg.HostCooldown)
	}
	if cfg.ForbiddenBackoff == 0 {
		cfg.ForbiddenBackoff = 30 * time.Second
	}
	if cfg.ForbiddenBackoffMax == 0 {
		cfg.ForbiddenBackoffMax = max(10*time.Minute, cfg.ForbiddenBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	switch {
	case cfg.Timeout < 0:
		return fmt.Errorf("httpx: Timeout %v is negative", cfg.Timeout)
	case cfg.MaxConns < 0:
		return fmt.Errorf("httpx: MaxConns %d is negative", cfg.MaxConns)
	case cfg.MaxBody < 0:
		return fmt.Errorf("httpx: MaxBody %d is negative", cfg.MaxBody)
	case cfg.WeightLimit < 0:
		return fmt.Errorf("httpx: WeightLimit %d is negative", cfg.WeightLimit)
	case cfg.WeightWindow < 0:
		return fmt.Errorf("httpx: WeightWindow %v is negative", cfg.WeightWindow)
	case cfg.ClockSkew < 0 || 2*cfg.ClockSkew >= cfg.WeightWindow:
		return fmt.Errorf("httpx: ClockSkew %v must be below half of WeightWindow (%v)", cfg.ClockSkew, cfg.WeightWindow)
	case cfg.MaxAttempts < 1:
		return fmt.Errorf("httpx: MaxAttempts %d is below 1", cfg.MaxAttempts)
	case cfg.BackoffMin < 0 || cfg.BackoffMax < cfg.BackoffMin:
		return fmt.Errorf("httpx: BackoffMin %v and BackoffMax %v: want 0 <= min <= max", cfg.BackoffMin, cfg.BackoffMax)
	case cfg.BanTime < 0:
		return fmt.Errorf("httpx: BanTime %v is negative", cfg.BanTime)
	case cfg.HostCooldown < 0 || cfg.HostCooldownMax < cfg.HostCooldown:
		return fmt.Errorf("httpx: HostCooldown %v and HostCooldownMax %v: want 0 < cooldown <= max", cfg.HostCooldown, cfg.HostCooldownMax)
	case cfg.ForbiddenBackoff < 0 || cfg.ForbiddenBackoffMax < cfg.ForbiddenBackoff:
		return fmt.Errorf("httpx: ForbiddenBackoff %v and ForbiddenBackoffMax %v: want 0 < backoff <= max", cfg.ForbiddenBackoff, cfg.ForbiddenBackoffMax)
	}
	return nil
}

// SetWeightLimit replaces the weight limit and window of the
// configuration, for a venue that publishes them (Binance: exchangeInfo's
// REQUEST_WEIGHT rate limit). limit 0 lifts the limit.
func (c *Client) SetWeightLimit(limit int, window time.Duration) error {
	if limit < 0 || window <= 0 {
		return fmt.Errorf("httpx: weight limit %d per %v: want a limit of 0 or more per positive window", limit, window)
	}
	c.w.setLimit(limit, window)
	return nil
}

// SetUsedWeightHeader replaces the configuration's UsedWeightHeader, for a
// venue that names the header after its window (Binance:
// X-MBX-USED-WEIGHT-1M for a one-minute window). Empty: only the client's
// own count is used.
func (c *Client) SetUsedWeightHeader(name string) {
	c.w.mu.Lock()
	c.w.header = name
	c.w.mu.Unlock()
}

// Close releases the idle connections. Calls in flight are not stopped:
// cancel their contexts.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// Stats is a snapshot of a client's counters.
type Stats struct {
	Requests     int64 // requests sent (every attempt)
	Retries      int64 // attempts made again after a failure that may pass
	RateLimited  int64 // rate limit answers (429, or the venue's Classify)
	Bans         int64 // ban answers (418, or the venue's Classify)
	ServerErrors int64 // answers of passing failures (5xx, or the venue's Classify)
	BadBodies    int64 // 2xx answers cut short, that did not decode, or over the cap
	Oversized    int64 // 2xx answers refused for a body over the call's cap (also in BadBodies)
	NetErrors    int64 // attempts that got no answer
	Failures     int64 // calls that returned an error
	Waits        int64 // times a call waited for weight or a 429's pause
	WaitTime     time.Duration
	HTTP2        int64 // answers received over HTTP/2
	Forbidden    int64 // 403 answers (firewall blocks)
	Failovers    int64 // attempts sent to another host than the first, which was set aside

	// ForbiddenUntil is the end of the backoff after a 403 in force; zero when none.
	ForbiddenUntil time.Time
	// Hosts is one entry per base URL, BaseURL first.
	Hosts []HostStats

	WeightLimit   int       // the weight limit in force (Config.WeightLimit or SetWeightLimit)
	WeightUsed    int       // weight used in the current window, as last known
	MaxWeightUsed int       // the highest used weight the venue reported
	BannedUntil   time.Time // the end of the ban in force; zero when none
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	now := c.now()
	used, maxUsed, limit, banned := c.w.snapshot(now)
	return Stats{
		Forbidden:      c.stats.forbidden.Load(),
		Failovers:      c.stats.failovers.Load(),
		ForbiddenUntil: c.block.until(now),
		Hosts:          c.hosts.stats(now),
		Requests:       c.stats.requests.Load(),
		Retries:        c.stats.retries.Load(),
		RateLimited:    c.stats.rateLimited.Load(),
		Bans:           c.stats.bans.Load(),
		ServerErrors:   c.stats.serverErrors.Load(),
		BadBodies:      c.stats.badBodies.Load(),
		Oversized:      c.stats.oversized.Load(),
		NetErrors:      c.stats.netErrors.Load(),
		Failures:       c.stats.failures.Load(),
		Waits:          c.stats.waits.Load(),
		WaitTime:       time.Duration(c.stats.waitNanos.Load()),
		HTTP2:          c.stats.http2.Load(),
		WeightLimit:    limit,
		WeightUsed:     used,
		MaxWeightUsed:  maxUsed,
		BannedUntil:    banned,
	}
}

// Get fetches path with query and decodes a JSON answer into v, with the
// retries, weight limit and pauses of Do. A non-2xx answer is an *APIError.
// A *json.RawMessage receives the answer's own buffer, checked to be JSON,
// rather than a copy of it, so that a large answer is held once.
func (c *Client) Get(ctx context.Context, path string, query url.Values, v any) (http.Header, error) {
	r := Request{Path: path, Query: query}
	if raw, ok := v.(*json.RawMessage); ok {
		return c.do(ctx, r, func(body []byte) error {
			if !json.Valid(body) {
				var any any
				if err := json.Unmarshal(body, &any); err != nil {
					return err
				}
				return errors.New("not JSON")
			}
			if cap(body) > 2*len(body) {
				body = bytes.Clone(body) // a reused buffer much larger than the answer
			}
			*raw = body
			return nil
		}, true)
	}
	return c.Do(ctx, r, func(body []byte) error { return json.Unmarshal(body, v) })
}

// Do sends a GET request and hands a 2xx answer's body to decode, which
// must not keep it. It first waits for room in the weight budget and for
// the end of a 429's pause (failing at once when the wait would outlast
// ctx's deadline), and fails at once with a *BanError while a 418 ban
// lasts, and with a *ForbiddenError while the block after a 403 lasts.
// 5xx answers, 429s, network errors, truncated bodies and decode errors are
// tried again, up to Config.MaxAttempts attempts, with capped jittered
// backoff (at once on the next host when the failing one was set aside and
// the next one was not); other answers outside 2xx return an *APIError at
// once. A 418 stops every call of the client until its Retry-After has
// passed, a 403 until its block has passed. An answer over the call's cap
// (Request.MaxBody) is a *BodyTooLargeError, tried again like a 5xx.
func (c *Client) Do(ctx context.Context, r Request, decode func(body []byte) error) (http.Header, error) {
	return c.do(ctx, r, decode, false)
}

// do is Do; with keep, decode may keep the body, whose buffer is then not
// reused.
func (c *Client) do(ctx context.Context, r Request, decode func(body []byte) error, keep bool) (http.Header, error) {
	limit := r.MaxBody
	if limit == 0 && c.cfg.MaxBodyFor != nil {
		limit = c.cfg.MaxBodyFor(r.Path, r.Query)
	}
	if limit <= 0 {
		limit = c.cfg.MaxBody
	}
	weight := r.Weight
	if weight == 0 {
		weight = 1
		if c.cfg.Weight != nil {
			weight = c.cfg.Weight(r.Path, r.Query)
		}
	}
	query := r.Query.Encode()
	for attempt := 1; ; attempt++ {
		if err := c.block.check(c.now()); err != nil {
			c.stats.failures.Add(1)
			return nil, fmt.Errorf("GET %s: %w", r.Path, err)
		}
		t, err := c.admit(ctx, weight)
		if err != nil {
			c.stats.failures.Add(1)
			return nil, fmt.Errorf("GET %s: %w", r.Path, err)
		}
		h := c.hosts.pick(c.now(), r.Path, c.cfg.Serves)
		if h != c.hosts.list[0] {
			c.stats.failovers.Add(1)
		}
		u := *h.base
		u.Path = strings.TrimSuffix(u.Path, "/") + r.Path
		u.RawQuery = query
		hdr, retry, err := c.attempt(ctx, t, h, u.String(), r, limit, decode, keep)
		if err == nil {
			return hdr, nil
		}
		err = fmt.Errorf("GET %s: %w", r.Path, err)
		if !retry || ctx.Err() != nil {
			c.stats.failures.Add(1)
			return hdr, err
		}
		if attempt >= c.cfg.MaxAttempts {
			c.stats.failures.Add(1)
			return hdr, fmt.Errorf("%w after %d attempts: %w", ErrExhausted, attempt, err)
		}
		c.stats.retries.Add(1)
		if errors.Is(err, ErrRateLimited) {
			continue // admit waits out the pause
		}
		now := c.now()
		if next := c.hosts.pick(now, r.Path, c.cfg.Serves); next != h && !c.hosts.skipped(next, now) {
			continue // the failing host was set aside: the next one, working, at once
		}
		if !backoff.Sleep(ctx, c.backoff(attempt)) {
			c.stats.failures.Add(1)
			return hdr, fmt.Errorf("%w (while retrying %w)", ctx.Err(), err)
		}
	}
}

// admit waits until the request may be sent.
func (c *Client) admit(ctx context.Context, weight int) (ticket, error) {
	waited := false
	for {
		now := c.now()
		t, wait, err := c.w.admit(now, weight)
		if err != nil || wait == 0 {
			return t, err
		}
		if dl, ok := ctx.Deadline(); ok && dl.Sub(now) < wait {
			return ticket{}, fmt.Errorf("%w: no room for weight %d for %v, beyond the deadline", ErrRateLimited, weight, wait.Round(time.Millisecond))
		}
		if !waited {
			waited = true
			c.stats.waits.Add(1)
		}
		c.stats.waitNanos.Add(int64(wait))
		if !backoff.Sleep(ctx, wait) {
			return ticket{}, ctx.Err()
		}
	}
}

// attempt sends one request r to host h and reads its answer, of at most
// limit bytes; retry says whether a failure may pass on another attempt.
func (c *Client) attempt(parent context.Context, t ticket, h *host, target string, r Request, limit int64, decode func([]byte) error, keep bool) (hdr http.Header, retry bool, err error) {
	ctx, cancel := context.WithTimeout(parent, c.cfg.Timeout)
	defer cancel()
	reported := -1
	defer func() { c.w.done(t, reported, c.now()) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, false, err
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	c.stats.requests.Add(1)
	h.requests.Add(1)
	sent := c.now()
	answered := false // the host answered: a failure is not its own
	defer func() {
		switch {
		case answered:
			if ok, n := c.hosts.answered(h); ok {
				c.log.Info("host answers again", "host", h.base.Host, "failures", n)
			}
		case err != nil && parent.Err() == nil:
			if until, started := c.hosts.failed(h, sent, c.now()); started {
				c.log.Warn("host failing: calls go to the next host", "host", h.base.Host, "until", until.UTC().Format(time.RFC3339), "err", err)
			}
		}
	}()
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			c.stats.netErrors.Add(1)
		}
		return nil, true, err
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
	}()
	if resp.ProtoMajor == 2 {
		c.stats.http2.Add(1)
	}
	hdr = resp.Header
	if name := c.w.usedHeader(); name != "" {
		if n, err := strconv.Atoi(hdr.Get(name)); err == nil && n >= 0 {
			reported = n
		}
	}
	if resp.StatusCode/100 != 2 {
		// an error answer: its first errorBodyMax bytes say what it is
		p, rerr := readBody(io.LimitReader(resp.Body, errorBodyMax), -1, errorBodyMax, r.Path)
		defer putBuf(p)
		a := c.classify(resp, *p)
		answered = rerr == nil && a.Verdict != VerdictRetry
		retry, err := c.failed(resp, a, h, sent)
		return hdr, retry, err
	}
	p, rerr := readBody(resp.Body, resp.ContentLength, limit, r.Path)
	if !keep {
		defer putBuf(p)
	}
	if rerr != nil {
		c.stats.badBodies.Add(1)
		var big *BodyTooLargeError
		if errors.As(rerr, &big) {
			c.stats.oversized.Add(1)
			return hdr, true, rerr
		}
		return hdr, true, fmt.Errorf("body: %w", rerr)
	}
	answered = true
	if c.cfg.Classify != nil {
		// a venue that says "error" in a 200's body
		if a := c.cfg.Classify(resp.StatusCode, resp.Header, *p); a.Verdict != VerdictOK {
			answered = a.Verdict != VerdictRetry
			retry, err := c.failed(resp, a, h, sent)
			return hdr, retry, err
		}
	}
	c.block.answered(c.log)
	if err := decode(*p); err != nil {
		c.stats.badBodies.Add(1)
		return hdr, true, fmt.Errorf("decode: %w", err)
	}
	return hdr, false, nil
}

// classify reads an answer outside 2xx: by the venue's Classify, or by
// Binance's rules.
func (c *Client) classify(resp *http.Response, body []byte) Answer {
	if c.cfg.Classify != nil {
		a := c.cfg.Classify(resp.StatusCode, resp.Header, body)
		if a.Verdict == VerdictOK {
			a.Verdict = defaultVerdict(resp.StatusCode) // not a good answer, whatever it says
		}
		return a
	}
	a := Answer{Verdict: defaultVerdict(resp.StatusCode)}
	var b struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	}
	if json.Unmarshal(body, &b) == nil {
		a.Code, a.Msg = b.Code, b.Msg
	}
	return a
}

// failed turns an error answer a of host h to a request sent at sent into
// an *APIError, applies a rate limit's pause, a ban or a firewall block,
// and says whether another attempt may pass.
func (c *Client) failed(resp *http.Response, a Answer, h *host, sent time.Time) (bool, error) {
	e := &APIError{Status: resp.StatusCode, Code: a.Code, Msg: a.Msg, Verdict: a.Verdict}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if secs, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && secs >= 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		}
	}
	now := c.now()
	switch a.Verdict {
	case VerdictRateLimited:
		c.stats.rateLimited.Add(1)
		d := e.RetryAfter
		if d == 0 {
			d = c.cfg.BackoffMax
		}
		c.w.pause(now.Add(d))
		c.log.Warn("rate limited: every call waits", "host", h.base.Host, "retry_after", d, "code", e.Code, "reason", e.Msg)
		return true, e
	case VerdictBanned:
		c.stats.bans.Add(1)
		d := e.RetryAfter
		if d == 0 {
			d = c.cfg.BanTime
		}
		c.w.ban(now.Add(d))
		c.log.Error("banned: REST calls stopped", "host", h.base.Host, "until", now.Add(d).UTC().Format(time.RFC3339), "retry_after", d, "code", e.Code, "reason", e.Msg)
		return false, e
	case VerdictForbidden:
		c.stats.forbidden.Add(1)
		if until, first := c.block.forbid(sent, now, e.RetryAfter); first {
			c.log.Error("forbidden by the venue's firewall (HTTP 403): REST calls held", "host", h.base.Host, "until", until.UTC().Format(time.RFC3339), "code", e.Code, "reason", e.Msg)
		}
		return false, e
	case VerdictRetry:
		c.stats.serverErrors.Add(1)
		return true, e
	}
	c.block.answered(c.log) // past the firewall
	return false, e
}

// backoff returns the delay before attempt n+1: exponential from
// BackoffMin, capped at BackoffMax, with its upper half jittered.
func (c *Client) backoff(n int) time.Duration {
	return backoff.Half(backoff.Exp(c.cfg.BackoffMin, c.cfg.BackoffMax, n-1))
}
