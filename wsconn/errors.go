package wsconn

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

var (
	// ErrClosed is returned by a session that was closed.
	ErrClosed = errors.New("wsconn: session closed")
	// ErrNotConnected is returned by Send while no connection is up.
	ErrNotConnected = errors.New("wsconn: not connected")
	// ErrStale means no frame at all arrived within the stale timeout.
	ErrStale = errors.New("wsconn: connection stale")
	// ErrTooSlow means the consumer did not keep up and the Block policy
	// gave up waiting.
	ErrTooSlow = errors.New("wsconn: consumer too slow")
	// ErrFrameTooLarge means the server sent a frame above the read limit.
	ErrFrameTooLarge = errors.New("wsconn: frame larger than the read limit")
	// ErrServerShutdown means the server announced it is going away.
	ErrServerShutdown = errors.New("wsconn: server shutdown announced")
	// ErrRotated means the connection was replaced on schedule, before the
	// server's lifetime limit.
	ErrRotated = errors.New("wsconn: connection rotated")
	// ErrReplaced means the connection was replaced on the consumer's
	// request (Session.Replace): it was up but not good enough.
	ErrReplaced = errors.New("wsconn: connection replaced")
)

// CloseError is a close frame received from the server.
type CloseError struct {
	Code int
	Text string
}

func (e *CloseError) Error() string {
	return "wsconn: server closed with " + strconv.Itoa(e.Code) + " " + strconv.Quote(e.Text)
}

// Policy reports whether the code asks the client to slow down (1008).
func (e *CloseError) Policy() bool { return e.Code == ClosePolicyViolation }

// DialError is a failed connection attempt. TLS reports whether the TLS
// handshake or certificate verification failed: an unknown CA or a
// certificate for another host is never accepted.
type DialError struct {
	URL    string
	Status int // HTTP status of a refused WebSocket handshake, if any
	// RetryAfter is the wait a refused handshake asked for (Retry-After).
	RetryAfter time.Duration
	TLS        bool
	Err        error
}

// Limited reports whether the server refused the handshake for too many
// attempts (HTTP 429, or 418 for an IP banned): the next attempt waits
// at least RetryAfter, and long.
func (e *DialError) Limited() bool { return e.Status == 429 || e.Status == 418 }

func (e *DialError) Error() string {
	what := "dial"
	if e.TLS {
		what = "TLS handshake"
	}
	if e.Status != 0 {
		return fmt.Sprintf("wsconn: %s %s: HTTP %d: %v", what, e.URL, e.Status, e.Err)
	}
	return fmt.Sprintf("wsconn: %s %s: %v", what, e.URL, e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }
