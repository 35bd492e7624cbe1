package httpx

import (
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/feedkeeper/feedkeeper/internal/backoff"
)

// host is one base URL of the API and how its calls have fared.
type host struct {
	base *url.URL
	raw  string

	requests, failures, skips atomic.Int64

	// under hosts.mu
	streak   int       // failures in a row
	failedAt time.Time // when the streak last grew
	until    time.Time // skipped until then
}

// hosts is the ordered list of a client's base URLs. A host whose attempt
// fails (no answer, a 5xx, a body cut short) is skipped for a cooldown
// that doubles with each failure in a row, up to a maximum; an answer
// ends its streak. Every attempt goes to the first host not skipped, so
// calls come back to the first host as soon as its cooldown ends; when
// every host is skipped, to the one whose cooldown ends first.
type hosts struct {
	list          []*host
	cooldown, max time.Duration

	mu sync.Mutex
}

func parseBaseURL(field, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("httpx: %s %q is not an http(s) URL without query", field, raw)
	}
	return u, nil
}

// newHosts parses the base URLs of cfg: BaseURL first (when set), then
// BaseURLs.
func newHosts(cfg *Config) (*hosts, error) {
	h := &hosts{cooldown: cfg.HostCooldown, max: cfg.HostCooldownMax}
	seen := map[string]string{}
	add := func(field, raw string) error {
		u, err := parseBaseURL(field, raw)
		if err != nil {
			return err
		}
		key := u.Scheme + "://" + u.Host + u.Path
		if prev, dup := seen[key]; dup {
			return fmt.Errorf("httpx: %s %q repeats %s", field, raw, prev)
		}
		seen[key] = field
		h.list = append(h.list, &host{base: u, raw: raw})
		return nil
	}
	if cfg.BaseURL != "" {
		if err := add("BaseURL", cfg.BaseURL); err != nil {
			return nil, err
		}
	}
	for i, raw := range cfg.BaseURLs {
		if err := add(fmt.Sprintf("BaseURLs[%d]", i), raw); err != nil {
			return nil, err
		}
	}
	if len(h.list) == 0 {
		return nil, fmt.Errorf("httpx: BaseURL %q is not an http(s) URL (and BaseURLs is empty)", cfg.BaseURL)
	}
	return h, nil
}

// pick returns the host the next attempt for path goes to: the first
// that serves it (serves nil: all do) and is not set aside, else the
// serving one whose cooldown ends first.
func (h *hosts) pick(now time.Time, path string, serves func(base, path string) bool) *host {
	if len(h.list) == 1 {
		return h.list[0]
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var best *host
	for _, x := range h.list {
		if serves != nil && !serves(x.raw, path) {
			continue
		}
		if !now.Before(x.until) {
			return x
		}
		if best == nil || x.until.Before(best.until) {
			best = x
		}
	}
	if best == nil {
		return h.list[0] // no host serves it: the first says so
	}
	return best
}

// skipped reports whether x is set aside at now.
func (h *hosts) skipped(x *host, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return now.Before(x.until)
}

// failed records a failed attempt on x, sent at sent and seen at now. It
// returns the end of the cooldown when this failure starts or extends
// one, and whether the host was fine before (the streak starts). Failures
// of attempts sent before the streak last grew are part of the same
// outage and do not lengthen the cooldown again.
func (h *hosts) failed(x *host, sent, now time.Time) (until time.Time, started bool) {
	x.failures.Add(1)
	if len(h.list) == 1 {
		return time.Time{}, false // nowhere else to go: the retry backoff paces it
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if x.streak > 0 && sent.Before(x.failedAt) {
		return time.Time{}, false
	}
	x.streak++
	x.failedAt = now
	d := backoff.Exp(h.cooldown, h.max, x.streak-1)
	x.until = now.Add(d)
	x.skips.Add(1)
	return x.until, x.streak == 1
}

// answered records an answer from x; it reports whether that ended a
// streak of failures, and how many failures it held.
func (h *hosts) answered(x *host) (recovered bool, streak int) {
	if len(h.list) == 1 {
		return false, 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	streak = x.streak
	x.streak = 0
	x.until = time.Time{}
	return streak > 0, streak
}

// HostStats is how the calls to one base URL have fared.
type HostStats struct {
	BaseURL  string
	Requests int64 // attempts sent to it
	Failures int64 // attempts that got no answer, a 5xx or a body cut short
	Skips    int64 // times it was set aside after a failure (with several hosts)
	// SkippedUntil is the end of its cooldown; zero when it takes calls.
	SkippedUntil time.Time
}

func (h *hosts) stats(now time.Time) []HostStats {
	out := make([]HostStats, len(h.list))
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, x := range h.list {
		out[i] = HostStats{BaseURL: x.raw, Requests: x.requests.Load(), Failures: x.failures.Load(), Skips: x.skips.Load()}
		if now.Before(x.until) {
			out[i].SkippedUntil = x.until
		}
	}
	return out
}
