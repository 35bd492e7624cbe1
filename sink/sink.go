// Package sink delivers normalized market-data events (feed.Event) to where
// they are kept or shared: stdout as JSON Lines (package sink/stdout),
// rotating JSON Lines files with optional zstd compression (sink/file) and
// NATS JetStream (sink/nats). Each destination implements the small Sink
// interface; Multi writes to several at once and Handler adapts a Sink to
// feed.GatewayConfig.Handler.
//
// Every sink puts a bounded buffer between Write and its destination,
// configured by a Buffer: Write encodes the event into the buffer and
// returns, and one goroutine owned by the sink drains it. When the buffer is
// full, the configured Policy decides: Block waits up to Buffer.Timeout for
// room, Drop refuses at once; either way a refused event is counted in
// Stats.Dropped and Write returns an error that matches ErrFull. Events the
// sink accepted but could not deliver (a write error, a message the server
// rejected, a message still unacknowledged when Close gives up) are counted
// in Stats.Lost and reported by Close with an error matching ErrLost.
//
// The JSON form of an event is the one of feed.Event.AppendJSON, documented
// in docs/schema.md.
package sink

import (
	"errors"
	"fmt"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
)

// Sink is a destination of events.
//
// Write is called by one goroutine at a time. It copies what it keeps, so
// the caller may reuse ev as soon as it returns. It never blocks longer than
// the sink's Buffer.Timeout. A nil error means the event was accepted: it
// will be delivered unless the destination fails, which Stats and Close
// report.
//
// Close stops accepting events, delivers everything accepted, releases the
// sink's goroutines and connections and returns the first error of the
// destination. It is safe to call more than once and concurrently with
// Write, which then returns an error matching ErrClosed.
//
// Stats may be called at any time from any goroutine.
type Sink interface {
	Write(ev *feed.Event) error
	Close() error
	Stats() Stats
}

// Stats are a sink's counters since it was opened.
type Stats struct {
	Accepted  int64 // events Write accepted
	Delivered int64 // accepted events the destination has: written to the file or writer, acknowledged by JetStream
	Dropped   int64 // events Write refused because the buffer stayed full (ErrFull)
	Lost      int64 // accepted events that did not reach the destination (ErrLost)
	Pending   int64 // accepted events neither delivered nor lost yet
	Bytes     int64 // bytes of JSON delivered, before compression
	Errors    int64 // failures of the destination: write errors, rejected or retried publishes, lost connections

	Files      int64 // file sink: files opened
	Retries    int64 // NATS sink: messages published again after a timeout, a refusal or a reconnect
	Duplicates int64 // NATS sink: messages JetStream acknowledged as duplicates of an earlier Nats-Msg-Id
}

// Add returns the sum of s and t, field by field.
func (s Stats) Add(t Stats) Stats {
	return Stats{
		Accepted: s.Accepted + t.Accepted, Delivered: s.Delivered + t.Delivered,
		Dropped: s.Dropped + t.Dropped, Lost: s.Lost + t.Lost, Pending: s.Pending + t.Pending,
		Bytes: s.Bytes + t.Bytes, Errors: s.Errors + t.Errors,
		Files: s.Files + t.Files, Retries: s.Retries + t.Retries, Duplicates: s.Duplicates + t.Duplicates,
	}
}

// Policy is what Write does when a sink's buffer is full.
type Policy uint8

// Slow-consumer policies.
const (
	// Block waits up to Buffer.Timeout for room, then refuses the event.
	Block Policy = iota
	// Drop refuses the event at once.
	Drop
)

var policyNames = [...]string{"block", "drop"}

// String returns "block" or "drop".
func (p Policy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// ParsePolicy parses "block" or "drop"; "" is Block.
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "block", "":
		return Block, nil
	case "drop":
		return Drop, nil
	}
	return Block, fmt.Errorf("sink: policy %q: want block or drop", s)
}

// Buffer configures the bounded buffer between Write and a sink's
// destination. The zero value is the default of each field.
//
// The buffer holds at most Events events and about Bytes bytes of encoded
// events. The stdout and file sinks' goroutine holds one more batch of at
// most that size while it writes it; the NATS sink counts the batch it
// holds against the bound, and keeps up to its MaxInFlight published
// messages beyond it until JetStream acknowledges them.
//
// The memory it takes grows with the bursts it meets, up to the bound, and
// stays: at most twice Bytes for the stdout and file sinks, Bytes and the
// messages in flight for the NATS sink.
type Buffer struct {
	Events  int           // default 32768
	Bytes   int           // default 8 MiB
	Policy  Policy        // default Block
	Timeout time.Duration // longest wait of Write under Block; default 1s
}

// Buffer defaults.
const (
	DefaultBufferEvents  = 32768
	DefaultBufferBytes   = 8 << 20
	DefaultBufferTimeout = time.Second
)

// WithDefaults returns b with each zero field set to its default.
func (b Buffer) WithDefaults() Buffer {
	if b.Events == 0 {
		b.Events = DefaultBufferEvents
	}
	if b.Bytes == 0 {
		b.Bytes = DefaultBufferBytes
	}
	if b.Timeout == 0 {
		b.Timeout = DefaultBufferTimeout
	}
	return b
}

// Validate reports the first field with a bad value.
func (b Buffer) Validate() error {
	switch {
	case b.Events < 0:
		return fmt.Errorf("sink: Buffer.Events %d: want > 0", b.Events)
	case b.Bytes < 0:
		return fmt.Errorf("sink: Buffer.Bytes %d: want > 0", b.Bytes)
	case b.Timeout < 0:
		return fmt.Errorf("sink: Buffer.Timeout %v: want > 0", b.Timeout)
	case b.Policy > Drop:
		return fmt.Errorf("sink: Buffer.Policy %v: want Block or Drop", b.Policy)
	}
	return nil
}

// Errors of every sink; test them with errors.Is.
var (
	// ErrFull: Write refused the event because the buffer was full (at
	// once under Drop, after Buffer.Timeout under Block).
	ErrFull = errors.New("buffer full")
	// ErrClosed: Write was called after Close.
	ErrClosed = errors.New("sink closed")
	// ErrLost: accepted events did not reach the destination.
	ErrLost = errors.New("events lost")
)

// Error is an error of one sink, named so that the errors of several sinks
// (Multi) can be told apart.
type Error struct {
	Sink string // the sink's name: "stdout", "file", "nats", or the configured one
	Err  error
}

func (e *Error) Error() string { return "sink " + e.Sink + ": " + e.Err.Error() }

// Unwrap returns the cause, which errors.Is compares with ErrFull, ErrClosed
// and ErrLost.
func (e *Error) Unwrap() error { return e.Err }

// LostError reports how many accepted events a sink could not deliver, and
// why. It matches ErrLost.
type LostError struct {
	Events int64
	Err    error // the last cause, if known
}

func (e *LostError) Error() string {
	s := fmt.Sprintf("%d %s", e.Events, ErrLost)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is matches ErrLost.
func (e *LostError) Is(target error) bool { return target == ErrLost }

// Unwrap returns the cause.
func (e *LostError) Unwrap() error { return e.Err }
