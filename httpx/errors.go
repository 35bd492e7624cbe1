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
// holds for status 429, errors.Is(err, ErrBanned) for 418,
// errors.Is(err, ErrForbidden) for 403.
type APIError struct {
	Status     int
	Code       int
	Msg        string
	RetryAfter time.Duration // from Retry-After, when given
}

func (e *APIError) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("HTTP %d: code %d: %s", e.Status, e.Code, e.Msg)
	}
	return fmt.Sprintf("HTTP %d", e.Status)
}

// Is matches ErrRateLimited for a 429, ErrBanned for a 418 and
// ErrForbidden for a 403.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	case ErrBanned:
		return e.Status == http.StatusTeapot
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	}
	return false
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
	if e.Status == http.StatusForbidden || e.Status == http.StatusTeapot {
		return e.RetryAfter
	}
	return -1
}

// Wait is how long the ban has yet to last: the error ends by itself.
func (e *BanError) Wait() time.Duration { return max(time.Until(e.Until), 0) }
