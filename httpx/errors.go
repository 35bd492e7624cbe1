package httpx

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Errors callers tell apart with errors.Is.
var (
	// ErrBanned: the venue answered 418 (an IP ban for using too much
	// weight after 429s). Every call to the venue fails with it, without a
	// request, until the ban's Retry-After has passed. The error is a
	// *BanError, or an *APIError with status 418.
	ErrBanned = errors.New("httpx: banned by the venue")
	// ErrRateLimited: the venue answered 429 on every attempt, or the
	// weight limit leaves no room before the call's deadline.
	ErrRateLimited = errors.New("httpx: rate limited")
	// ErrExhausted: the call failed on each of its attempts; the error
	// also wraps the last failure.
	ErrExhausted = errors.New("httpx: attempts exhausted")
	// ErrForbidden: the venue answered 403, which Binance uses when a rule
	// of its web application firewall blocks the request (a security rule,
	// or too many requests by its own measure): not a weight problem, and
	// not counted as a 429 or 418. The call that met it fails at once (an
	// *APIError with status 403, not tried again), and every call of the
	// client then fails at once, without a request, with a *ForbiddenError
	// until the block's backoff has passed.
	ErrForbidden = errors.New("httpx: forbidden by the venue's firewall")
	// ErrBodyTooLarge: an answer's body was over the call's cap and was
	// refused (see BodyTooLargeError); after MaxAttempts such answers the
	// call fails with ErrExhausted wrapping it.
	ErrBodyTooLarge = errors.New("httpx: answer body over the cap")
)

// APIError is an error answer of the venue: HTTP status plus the venue's
// code and message when the body has them. errors.Is(err, ErrRateLimited)
// holds for a rate limit (status 429, or what the venue's Classify calls
// one), errors.Is(err, ErrBanned) for a ban (418), errors.Is(err,
// ErrForbidden) for a firewall block (403).
type APIError struct {
	Status     int
	Code       int
	Msg        string
	RetryAfter time.Duration // from Retry-After, when given
	// Verdict is what the answer meant for the client.
	Verdict Verdict
}

func (e *APIError) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("HTTP %d: code %d: %s", e.Status, e.Code, e.Msg)
	}
	return fmt.Sprintf("HTTP %d", e.Status)
}

// Is matches ErrRateLimited for a rate limit, ErrBanned for a ban and
// ErrForbidden for a firewall block.
func (e *APIError) Is(target error) bool {
	v := e.verdict()
	switch target {
	case ErrRateLimited:
		return v == VerdictRateLimited
	case ErrBanned:
		return v == VerdictBanned
	case ErrForbidden:
		return v == VerdictForbidden
	}
	return false
}

// verdict is the error's Verdict, or the one its status implies by
// default when none was set.
func (e *APIError) verdict() Verdict {
	if e.Verdict != VerdictOK {
		return e.Verdict
	}
	return defaultVerdict(e.Status)
}

// Verdict says what a venue's answer means for the client. A venue whose
// answers do not follow HTTP statuses as Binance's do (HTTP 200 with an
// error code in the body, a rate limit answered 403) says it with
// Config.Classify.
type Verdict uint8

const (
	VerdictOK          Verdict = iota // a good answer: decoded for the caller
	VerdictError                      // the request is refused: the call fails at once
	VerdictRetry                      // a passing failure of the venue: tried again with backoff
	VerdictRateLimited                // over the venue's rate limit: every call waits (Retry-After, or BackoffMax), this one is tried again
	VerdictBanned                     // the IP is banned: every call fails at once until Retry-After (or BanTime)
	VerdictForbidden                  // a firewall block: every call fails at once for the block's backoff
)

// Answer is a venue's reading of one answer: its own error code and
// message, and what the answer means.
type Answer struct {
	Code    int
	Msg     string
	Verdict Verdict
}

// defaultVerdict is the meaning of an HTTP status by Binance's rules,
// which many venues share.
func defaultVerdict(status int) Verdict {
	switch {
	case status/100 == 2:
		return VerdictOK
	case status == http.StatusTooManyRequests:
		return VerdictRateLimited
	case status == http.StatusTeapot:
		return VerdictBanned
	case status == http.StatusForbidden:
		return VerdictForbidden
	case status >= 500:
		return VerdictRetry
	}
	return VerdictError
}

// BanError is returned, without a request being sent, while the venue's
// ban is in force. errors.Is(err, ErrBanned) holds for it.
type BanError struct {
	Until time.Time // when calls may resume
}

func (e *BanError) Error() string {
	return fmt.Sprintf("httpx: banned by the venue until %s", e.Until.UTC().Format(time.RFC3339))
}

// Is reports whether target is ErrBanned.
func (e *BanError) Is(target error) bool { return target == ErrBanned }

// ForbiddenError is returned, without a request being sent, while the
// backoff after a 403 lasts. errors.Is(err, ErrForbidden) holds for it.
type ForbiddenError struct {
	Until time.Time // when calls may resume
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("httpx: forbidden by the venue's firewall (HTTP 403): calls held until %s", e.Until.UTC().Format(time.RFC3339))
}

// Is reports whether target is ErrForbidden.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// Wait is how long the block has yet to last: the error ends by itself.
func (e *ForbiddenError) Wait() time.Duration { return max(time.Until(e.Until), 0) }

// Wait is, for a 403 (a firewall block) or a 418 (a ban), which end by
// themselves, the answer's Retry-After; -1 for other answers, which do not
// end by waiting.
func (e *APIError) Wait() time.Duration {
	if v := e.verdict(); v == VerdictForbidden || v == VerdictBanned {
		return e.RetryAfter
	}
	return -1
}

// Wait is how long the ban has yet to last: the error ends by itself.
func (e *BanError) Wait() time.Duration { return max(time.Until(e.Until), 0) }
