// Package nats is the sink that publishes events to NATS JetStream, on an
// embedded server or on external servers, and the embedded server itself.
//
// Each event is one message: the subject is md.<venue>.<symbol>.<type>
// (AppendSubject), the payload the event's JSON (feed.Event.AppendJSON),
// and trades and book snapshots carry a Nats-Msg-Id (AppendMsgID) by which
// JetStream drops the copies that two gateways publishing the same feed, or
// a retry after a lost acknowledgement, would store twice.
//
// The sink publishes asynchronously, in the order of Write, keeping at most
// MaxInFlight messages unacknowledged; behind them, the sink's Buffer holds
// what Write accepted. A message not acknowledged in time, refused for the
// moment (a stream without a leader) or in flight when the connection was
// lost is published again, once NATS is back: nothing accepted is lost as
// long as the buffer holds out, and Write applies the buffer's policy to
// what it cannot hold. A message published again may be stored after
// messages written later, and, without a Nats-Msg-Id, twice.
package nats

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/sink"
	"github.com/feedkeeper/feedkeeper/sink/internal/counters"
	"github.com/feedkeeper/feedkeeper/sink/internal/queue"
	"github.com/feedkeeper/feedkeeper/sink/internal/streak"
)

// Defaults of Config.
const (
	DefaultStream        = "MD"
	DefaultSubjectPrefix = "md"
	DefaultMaxAge        = 24 * time.Hour
	DefaultMaxBytes      = 1 << 30
	DefaultDuplicates    = 30 * time.Second
	DefaultMaxInFlight   = 4096
	DefaultAckTimeout    = 5 * time.Second
	DefaultDrainTimeout  = 10 * time.Second
	DefaultSetupTimeout  = 15 * time.Second
)

// retryWait is how long a message JetStream could not take (no responders:
// the stream has no leader yet) waits before it is published again.
const retryWait = 250 * time.Millisecond

// Config configures a Sink. The zero value starts an embedded server on
// 127.0.0.1 at a random port with a temporary store.
type Config struct {
	// URLs are the NATS servers to publish to, for example the members of
	// a cluster; the client reconnects to any of them. Empty: the sink
	// starts an embedded server as Server says, and stops it on Close.
	URLs []string
	// Server configures the embedded server.
	Server ServerConfig
	// Options are more nats.go options (credentials, TLS, reconnect
	// timing), applied after the sink's own.
	Options []natsgo.Option

	// Stream is the JetStream stream, created by Open to capture
	// SubjectPrefix.> (see UpdateStream for one that exists); "" is "MD".
	Stream string
	// SubjectPrefix starts every subject; "" is "md".
	SubjectPrefix string
	// MaxAge and MaxBytes bound the stream: the oldest messages go first.
	// 0 is 24h and 1 GiB; negative, no bound.
	MaxAge   time.Duration
	MaxBytes int64
	// Duplicates is how long JetStream remembers message IDs to drop
	// duplicates; 0 is 30s. It costs about 155 bytes per remembered ID.
	Duplicates time.Duration
	// Replicas is the stream's replication factor in a cluster; 0 is 1.
	Replicas int
	// Storage is where the stream keeps its messages: jetstream.FileStorage
	// (the zero value) or jetstream.MemoryStorage.
	Storage jetstream.StorageType
	// UpdateStream lets Open change an existing stream whose settings
	// differ from these. Without it Open leaves a production stream as it
	// is and fails with a *StreamMismatchError that lists the differences.
	// The storage of an existing stream is never changed.
	UpdateStream bool

	// MaxInFlight bounds the messages published and not yet acknowledged;
	// 0 is 4096.
	MaxInFlight int
	// AckTimeout is how long a message waits for its acknowledgement
	// before it is published again; 0 is 5s.
	AckTimeout time.Duration
	// DrainTimeout bounds how long Close waits for the acknowledgements of
	// everything accepted; 0 is 10s.
	DrainTimeout time.Duration
	// SetupTimeout bounds the creation of the stream in Open, retried
	// while a cluster elects its leaders; 0 is 15s.
	SetupTimeout time.Duration

	// Name names the sink in errors and logs; "" is "nats".
	Name string
	// Buffer bounds the events accepted but not yet published.
	Buffer sink.Buffer
	// Logger: nil is slog.Default().
	Logger *slog.Logger
}

// Slot states.
const (
	stWaiting uint8 = iota // to be published (again), not before retryAt
	stSent                 // published, not acknowledged yet
	stDone                 // acknowledged, or given up
)

// slot is one message of the window of unacknowledged messages.
type slot struct {
	seq     uint64
	state   uint8
	retryAt time.Time
	sentAt  time.Time
	msg     natsgo.Msg
	hdr     natsgo.Header
	msgID   []string // the Nats-Msg-Id header's value
}

// Sink publishes events to a JetStream stream.
type Sink struct {
	cfg   Config
	log   *slog.Logger
	q     *queue.Queue
	srv   *Server // the embedded server, nil with URLs
	nc    *natsgo.Conn
	sub   *natsgo.Subscription
	inbox string // reply subjects are inbox.<seq in base 36>

	errFull, errClosed error

	c counters.Set

	mu       sync.Mutex
	win      []slot
	base     uint64 // seq of the oldest slot in the window
	next     uint64 // seq of the next message
	cursor   uint64 // slots from here on have never been published
	rescan   bool   // a slot below cursor waits to be published again
	finished bool   // the publisher stopped: late acknowledgements are ignored
	lastErr  error
	// stalled is since when no message was acknowledged as stored while
	// some waited: the send time of the oldest that timed out, or the
	// first refusal for the moment; zero after an acknowledgement.
	stalled time.Time

	disconnected atomic.Int64 // unix ns of the last disconnection; 0: connected

	reconnected atomic.Bool
	wake        chan struct{}
	abort       chan struct{}
	done        chan struct{}

	// owned by the publisher goroutine
	subjects map[string]string
	sending  []*slot

	pubFails, ackFails *streak.Log

	closeOnce, abortOnce sync.Once
	closeErr             error
}

var (
	_ sink.Sink     = (*Sink)(nil)
	_ sink.Healther = (*Sink)(nil)
)

// Open starts the embedded server (without URLs) or connects to URLs,
// creates or updates the stream and starts the publisher goroutine.
func Open(cfg Config) (*Sink, error) {
	if cfg.Name == "" {
		cfg.Name = "nats"
	}
	if err := cfg.fill(); err != nil {
		return nil, &sink.Error{Sink: cfg.Name, Err: err}
	}
	s := &Sink{
		cfg:       cfg,
		log:       cfg.Logger.With("sink", cfg.Name),
		q:         queue.New(cfg.Buffer, 0),
		errFull:   &sink.Error{Sink: cfg.Name, Err: sink.ErrFull},
		errClosed: &sink.Error{Sink: cfg.Name, Err: sink.ErrClosed},
		win:       make([]slot, cfg.MaxInFlight),
		wake:      make(chan struct{}, 1),
		abort:     make(chan struct{}),
		done:      make(chan struct{}),
		subjects:  make(map[string]string),
	}
	s.pubFails = streak.New(s.log, "publish failed", 10*time.Second)
	s.ackFails = streak.New(s.log, "publish not acknowledged", 10*time.Second)
	for i := range s.win {
		sl := &s.win[i]
		sl.msgID = make([]string, 1)
		sl.hdr = natsgo.Header{jetstream.MsgIDHeader: sl.msgID}
	}
	if err := s.connect(); err != nil {
		s.release()
		return nil, &sink.Error{Sink: cfg.Name, Err: err}
	}
	go s.run()
	return s, nil
}

func (c *Config) fill() error {
	switch {
	case c.MaxInFlight < 0:
		return fmt.Errorf("MaxInFlight %d: want > 0", c.MaxInFlight)
	case c.Replicas < 0 || c.Replicas > 5:
		return fmt.Errorf("Replicas %d: want 1 to 5", c.Replicas)
	case c.Storage != jetstream.FileStorage && c.Storage != jetstream.MemoryStorage:
		return fmt.Errorf("Storage %d: want jetstream.FileStorage or jetstream.MemoryStorage", c.Storage)
	case c.AckTimeout < 0 || c.DrainTimeout < 0 || c.SetupTimeout < 0 || c.Duplicates < 0:
		return errors.New("AckTimeout, DrainTimeout, SetupTimeout and Duplicates must not be negative")
	case strings.ContainsAny(c.SubjectPrefix, " *>") || strings.HasPrefix(c.SubjectPrefix, ".") || strings.HasSuffix(c.SubjectPrefix, "."):
		return fmt.Errorf("SubjectPrefix %q: want dot-separated subject tokens without wildcards", c.SubjectPrefix)
	}
	if err := c.Buffer.Validate(); err != nil {
		return err
	}
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = DefaultSubjectPrefix
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Duplicates == 0 {
		c.Duplicates = DefaultDuplicates
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.SetupTimeout == 0 {
		c.SetupTimeout = DefaultSetupTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Server.Logger == nil {
		c.Server.Logger = c.Logger
	}
	return nil
}

// connect starts the embedded server if there are no URLs, connects,
// subscribes to acknowledgements and sets the stream up.
func (s *Sink) connect() error {
	opts := []natsgo.Option{
		natsgo.Name("feedkeeper " + s.cfg.Name),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(250 * time.Millisecond),
		natsgo.ReconnectJitter(250*time.Millisecond, 250*time.Millisecond),
		natsgo.ReconnectBufSize(-1), // publishing while disconnected fails at once: the window keeps the message
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			s.disconnected.CompareAndSwap(0, time.Now().UnixNano())
			if err != nil {
				s.c.Errors.Add(1)
				s.log.Warn("disconnected from nats", "reason", err.Error())
			}
		}),
		natsgo.ReconnectHandler(func(nc *natsgo.Conn) {
			s.log.Info("reconnected to nats", "url", nc.ConnectedUrlRedacted())
			s.disconnected.Store(0)
			s.reconnected.Store(true)
			s.notify()
		}),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, _ *natsgo.Subscription, err error) {
			s.log.Warn("nats error", "reason", err.Error())
		}),
	}
	url := strings.Join(s.cfg.URLs, ",")
	if len(s.cfg.URLs) == 0 {
		srv, err := StartServer(s.cfg.Server)
		if err != nil {
			return err
		}
		s.srv = srv
		if url = srv.ClientURL(); url == "" || s.cfg.Server.TLS != nil {
			// net.Pipe, without TLS: only when the server does not listen
			// or speaks TLS, as loopback TCP is faster
			opts = append(opts, natsgo.InProcessServer(srv.NATS()))
			url = ""
		}
		switch {
		case s.cfg.Server.Token != "":
			opts = append(opts, natsgo.Token(s.cfg.Server.Token))
		case s.cfg.Server.User != "":
			opts = append(opts, natsgo.UserInfo(s.cfg.Server.User, s.cfg.Server.Password))
		}
		s.log.Info("embedded nats server", "url", srv.ClientURL(), "auth", s.cfg.Server.AuthString(),
			"store", srv.NATS().JetStreamConfig().StoreDir)
	}
	opts = append(opts, s.cfg.Options...)
	nc, err := natsgo.Connect(url, opts...)
	if err != nil {
		where := redactURLs(url)
		if where == "" {
			where = "to the embedded server"
		}
		return fmt.Errorf("connect %s: %w", where, ExplainConnectError(err))
	}
	s.nc = nc
	s.inbox = nc.NewInbox()
	if s.sub, err = nc.Subscribe(s.inbox+".*", s.onAck); err != nil {
		return fmt.Errorf("subscribe to acknowledgements: %w", err)
	}
	if err := s.sub.SetPendingLimits(-1, -1); err != nil {
		return err
	}
	return s.setupStream()
}

// StreamConfig returns the configuration Open gives the stream.
func (s *Sink) StreamConfig() jetstream.StreamConfig {
	sc := jetstream.StreamConfig{
		Name:        s.cfg.Stream,
		Description: "feedkeeper market data",
		Subjects:    []string{s.cfg.SubjectPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     s.cfg.Storage,
		Replicas:    s.cfg.Replicas,
		Duplicates:  s.cfg.Duplicates,
		MaxAge:      max(s.cfg.MaxAge, 0),
		MaxBytes:    s.cfg.MaxBytes,
		MaxMsgs:     -1,
	}
	if sc.MaxBytes < 0 {
		sc.MaxBytes = -1
	}
	return sc
}

// setupStream creates the stream, or checks an existing one against the
// sink's settings (and updates it when UpdateStream allows), retrying while
// JetStream is not ready (a cluster electing leaders).
func (s *Sink) setupStream() error {
	js, err := jetstream.New(s.nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.SetupTimeout)
	defer cancel()
	sc := s.StreamConfig()
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		attempt, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
		err = s.ensureStream(attempt, js, sc)
		cancelAttempt()
		if err == nil {
			s.log.Info("stream ready", "stream", sc.Name, "subjects", sc.Subjects[0], "replicas", sc.Replicas,
				"storage", strings.ToLower(sc.Storage.String()))
			return nil
		}
		var mismatch *StreamMismatchError
		var api *jetstream.APIError
		if errors.As(err, &mismatch) || errors.As(err, &api) && api.Code == 400 && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("stream %s: %w", sc.Name, err) // asking again changes nothing
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stream %s: %w", sc.Name, err)
		case <-time.After(wait):
		}
	}
}

// ensureStream creates the stream want, or compares the existing one with
// it.
func (s *Sink) ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) error {
	st, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		// Another gateway may create it first: ErrStreamNameAlreadyInUse,
		// and the next attempt compares.
		_, err = js.CreateStream(ctx, want)
		if err == nil {
			s.log.Info("stream created", "stream", want.Name, "replicas", want.Replicas)
		}
		return err
	}
	if err != nil {
		return err
	}
	diffs := StreamDiffs(st.CachedInfo().Config, want)
	if len(diffs) == 0 {
		return nil
	}
	mismatch := &StreamMismatchError{Stream: want.Name, Diffs: diffs}
	if !s.cfg.UpdateStream {
		return mismatch
	}
	for _, d := range diffs {
		if d.Field == "storage" {
			mismatch.Fixed = true
			return mismatch
		}
	}
	if _, err := js.UpdateStream(ctx, want); err != nil {
		return fmt.Errorf("update (%s): %w", mismatch.changes(), err)
	}
	s.log.Warn("stream updated", "stream", want.Name, "changes", mismatch.changes())
	return nil
}

// ErrStreamMismatch is matched by a *StreamMismatchError.
var ErrStreamMismatch = errors.New("the stream exists with other settings")

// StreamMismatchError is Open's refusal to change an existing stream whose
// settings differ from the sink's (Config.UpdateStream allows it; Fixed
// says it cannot be allowed: the storage of a stream never changes).
type StreamMismatchError struct {
	Stream string
	Diffs  []StreamDiff
	Fixed  bool
}

// StreamDiff is one setting of a stream that differs: Have is the
// existing stream's value, Want the sink's.
type StreamDiff struct {
	Field      string // subjects, replicas, max_age, max_bytes, max_msgs, duplicates, storage, retention, discard
	Have, Want string
}

func (e *StreamMismatchError) changes() string {
	parts := make([]string, len(e.Diffs))
	for i, d := range e.Diffs {
		parts[i] = fmt.Sprintf("%s %s, want %s", d.Field, d.Have, d.Want)
	}
	return strings.Join(parts, "; ")
}

func (e *StreamMismatchError) Error() string {
	if e.Fixed {
		return fmt.Sprintf("%v (%s): the storage of an existing stream cannot be changed; delete the stream or choose another name",
			ErrStreamMismatch, e.changes())
	}
	return fmt.Sprintf("%v (%s); left unchanged: allow the update explicitly to apply these settings", ErrStreamMismatch, e.changes())
}

// Is matches ErrStreamMismatch.
func (e *StreamMismatchError) Is(target error) bool { return target == ErrStreamMismatch }

// StreamDiffs lists the settings the sink gives a stream (subjects,
// replicas, limits, duplicate window, storage, retention, discard) on which
// have differs from want.
func StreamDiffs(have, want jetstream.StreamConfig) []StreamDiff {
	var d []StreamDiff
	add := func(field string, h, w any) {
		if h != w {
			d = append(d, StreamDiff{Field: field, Have: fmt.Sprint(h), Want: fmt.Sprint(w)})
		}
	}
	add("subjects", strings.Join(have.Subjects, ","), strings.Join(want.Subjects, ","))
	add("replicas", max(have.Replicas, 1), max(want.Replicas, 1))
	add("max_age", limitString(int64(have.MaxAge), time.Duration(have.MaxAge).String()), limitString(int64(want.MaxAge), time.Duration(want.MaxAge).String()))
	add("max_bytes", limitString(have.MaxBytes, strconv.FormatInt(have.MaxBytes, 10)), limitString(want.MaxBytes, strconv.FormatInt(want.MaxBytes, 10)))
	add("max_msgs", limitString(have.MaxMsgs, strconv.FormatInt(have.MaxMsgs, 10)), limitString(want.MaxMsgs, strconv.FormatInt(want.MaxMsgs, 10)))
	add("duplicates", have.Duplicates, want.Duplicates)
	add("storage", strings.ToLower(have.Storage.String()), strings.ToLower(want.Storage.String()))
	add("retention", have.Retention.String(), want.Retention.String())
	add("discard", have.Discard.String(), want.Discard.String())
	return d
}

// limitString is "unlimited" for JetStream's 0 or -1 limits, else s.
func limitString(v int64, s string) string {
	if v <= 0 {
		return "unlimited"
	}
	return s
}

// Server returns the embedded server, nil when the sink publishes to URLs.
func (s *Sink) Server() *Server { return s.srv }

// ClientURL returns the URL any NATS client can subscribe at: the embedded
// server's, or the one the sink is connected to.
func (s *Sink) ClientURL() string {
	if s.srv != nil {
		return s.srv.ClientURL()
	}
	return s.nc.ConnectedUrlRedacted()
}

// Write queues ev for publishing.
func (s *Sink) Write(ev *feed.Event) error {
	buf, err := s.q.Begin()
	if err != nil {
		if errors.Is(err, sink.ErrFull) {
			s.c.Dropped.Add(1)
			return s.errFull
		}
		return s.errClosed
	}
	buf = AppendSubject(buf, s.cfg.SubjectPrefix, ev)
	buf = append(buf, 0)
	buf, _ = AppendMsgID(buf, ev)
	buf = append(buf, 0)
	buf = ev.AppendJSON(buf)
	s.c.Accepted.Add(1) // before End: the event is not delivered before it is counted
	s.q.End(buf)
	return nil
}

// Close publishes every accepted event and waits for their
// acknowledgements, at most DrainTimeout; then it closes the connection and
// stops the embedded server. The error reports events JetStream rejected
// or did not acknowledge in time.
func (s *Sink) Close() error { return s.shutdown() }

// CloseNow stops at once, as a crash would: events accepted and not yet
// acknowledged are abandoned and counted as lost. For tests of redundancy,
// and for a second interrupt.
func (s *Sink) CloseNow() error {
	s.abortOnce.Do(func() { close(s.abort) })
	return s.shutdown()
}

func (s *Sink) shutdown() error {
	s.closeOnce.Do(func() {
		s.q.Close()
		<-s.done
		s.release()
		s.mu.Lock()
		lastErr := s.lastErr
		s.mu.Unlock()
		if n := s.c.Lost.Load(); n > 0 {
			s.closeErr = &sink.Error{Sink: s.cfg.Name, Err: &sink.LostError{Events: n, Err: lastErr}}
		}
	})
	return s.closeErr
}

func (s *Sink) release() {
	if s.nc != nil {
		s.nc.Close()
	}
	if s.srv != nil {
		if err := s.srv.Close(); err != nil {
			s.log.Warn("embedded nats server", "reason", err.Error())
		}
	}
}

// Stats returns the sink's counters.
func (s *Sink) Stats() sink.Stats { return s.c.Stats() }

// Health returns nil while the sink is connected and JetStream acknowledges
// what it publishes. Otherwise it returns an error matching ErrUnreachable
// (not connected to any server: since when, and the last error) or
// ErrNoAcks (connected, but messages have waited at least AckTimeout for
// an acknowledgement that stores them: a stream without a leader, a
// server that stopped answering).
func (s *Sink) Health() error {
	if st := s.nc.Status(); st != natsgo.CONNECTED {
		msg := strings.ToLower(st.String())
		if at := s.disconnected.Load(); at != 0 {
			msg += " for " + time.Since(time.Unix(0, at)).Round(100*time.Millisecond).String()
		}
		if err := s.nc.LastError(); err != nil {
			msg += ": " + err.Error()
		}
		return fmt.Errorf("%w: %s", ErrUnreachable, msg)
	}
	s.mu.Lock()
	since, waiting := s.stalled, s.next-s.base
	s.mu.Unlock()
	if since.IsZero() || waiting == 0 {
		return nil
	}
	if d := time.Since(since); d >= s.cfg.AckTimeout {
		return fmt.Errorf("%w: none for %v, %d messages waiting", ErrNoAcks, d.Round(100*time.Millisecond), waiting)
	}
	return nil
}

func (s *Sink) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the publisher goroutine: it moves records from the queue into the
// window, publishes them, publishes again what timed out or came back
// refused, and retires what is acknowledged.
func (s *Sink) run() {
	defer close(s.done)
	var b queue.Batch
	bi := 0
	tick := time.NewTicker(min(max(s.cfg.AckTimeout/4, 10*time.Millisecond), retryWait))
	defer tick.Stop()
	var drain <-chan time.Time
	closing := false
	for {
		if s.reconnected.Swap(false) {
			s.resendAll()
		}
		free := s.retire()
		pushed, pushedBytes := 0, 0
		for ; free > 0; free-- {
			if bi == b.Len() {
				bi = 0
				if s.q.Hold(&b) == 0 {
					break
				}
			}
			rec := b.Record(bi)
			s.push(rec)
			bi++
			pushed++
			pushedBytes += len(rec)
		}
		if pushed > 0 {
			s.q.Release(pushed, pushedBytes)
		}
		s.send(time.Now())
		if closing && bi == b.Len() && s.q.Len() == 0 && s.unacked() == 0 {
			s.finish(0)
			return
		}
		var ready, done <-chan struct{}
		if free > 0 {
			ready = s.q.Ready()
		}
		if !closing {
			done = s.q.Done()
		}
		select {
		case <-ready:
		case <-s.wake:
		case now := <-tick.C:
			s.checkTimeouts(now)
		case <-done:
			closing = true
			t := time.NewTimer(s.cfg.DrainTimeout)
			defer t.Stop()
			drain = t.C
		case <-drain:
			n := s.finish(b.Len() - bi)
			s.log.Warn("closed before every event was acknowledged", "events", n)
			return
		case <-s.abort:
			s.finish(b.Len() - bi)
			return
		}
	}
}

// retire drops the acknowledged slots at the start of the window and
// returns the number of free slots.
func (s *Sink) retire() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.base < s.next {
		sl := &s.win[s.base%uint64(len(s.win))]
		if sl.state != stDone {
			break
		}
		if cap(sl.msg.Data) > 64<<10 {
			sl.msg.Data = nil
		}
		s.base++
	}
	return len(s.win) - int(s.next-s.base)
}

// push puts one queued record (subject, 0, message ID, 0, payload) into
// the window's next slot.
func (s *Sink) push(rec []byte) {
	i := bytes.IndexByte(rec, 0)
	subj, rest := rec[:i], rec[i+1:]
	i = bytes.IndexByte(rest, 0)
	id, payload := rest[:i], rest[i+1:]

	s.mu.Lock()
	defer s.mu.Unlock()
	seq := s.next
	sl := &s.win[seq%uint64(len(s.win))]
	sl.seq, sl.state, sl.retryAt, sl.sentAt = seq, stWaiting, time.Time{}, time.Time{}
	subject, ok := s.subjects[string(subj)]
	if !ok {
		if len(s.subjects) >= 1<<14 {
			clear(s.subjects)
		}
		subject = string(subj)
		s.subjects[subject] = subject
	}
	sl.msg.Subject = subject
	sl.msg.Reply = s.inbox + "." + strconv.FormatUint(seq, 36)
	sl.msg.Data = append(sl.msg.Data[:0], payload...)
	if len(id) > 0 {
		sl.msgID[0] = string(id)
		sl.msg.Header = sl.hdr
	} else {
		sl.msg.Header = nil
	}
	s.next++
}

// send publishes the slots waiting to be, in order, while connected.
func (s *Sink) send(now time.Time) {
	if !s.nc.IsConnected() {
		return
	}
	s.mu.Lock()
	s.sending = s.sending[:0]
	from := s.cursor
	if s.rescan {
		from = s.base
		s.rescan = false
	}
	for seq := from; seq < s.next; seq++ {
		sl := &s.win[seq%uint64(len(s.win))]
		if sl.state != stWaiting {
			continue
		}
		if now.Before(sl.retryAt) {
			s.rescan = true
			continue
		}
		sl.state, sl.sentAt = stSent, now
		s.sending = append(s.sending, sl)
	}
	s.cursor = s.next
	s.mu.Unlock()

	for i, sl := range s.sending {
		err := s.nc.PublishMsg(&sl.msg)
		if err == nil {
			continue
		}
		s.c.Errors.Add(1)
		s.pubFails.Fail(err)
		s.mu.Lock()
		if errors.Is(err, natsgo.ErrMaxPayload) || errors.Is(err, natsgo.ErrBadSubject) {
			if sl.state == stSent {
				sl.state = stDone
				s.c.Lost.Add(1)
				s.lastErr = err
			}
			s.mu.Unlock()
			continue
		}
		for _, rest := range s.sending[i:] {
			if rest.state == stSent {
				rest.state = stWaiting
			}
		}
		s.rescan = true
		s.mu.Unlock()
		return
	}
	if len(s.sending) > 0 {
		s.pubFails.OK()
	}
}

// checkTimeouts makes the messages unacknowledged for AckTimeout wait to
// be published again.
func (s *Sink) checkTimeouts(now time.Time) {
	s.mu.Lock()
	n := 0
	for seq := s.base; seq < s.next; seq++ {
		sl := &s.win[seq%uint64(len(s.win))]
		if sl.state == stSent && now.Sub(sl.sentAt) >= s.cfg.AckTimeout {
			if s.stalled.IsZero() || sl.sentAt.Before(s.stalled) {
				s.stalled = sl.sentAt
			}
			sl.state, sl.retryAt = stWaiting, time.Time{}
			n++
		}
	}
	if n > 0 {
		s.rescan = true
	}
	s.mu.Unlock()
	if n > 0 {
		s.c.Retries.Add(int64(n))
		s.c.Errors.Add(1)
		s.ackFails.Fail(errors.New("acknowledgement timed out"), "events", n)
	}
}

// resendAll makes every unacknowledged message wait to be published again:
// after a reconnect, their acknowledgements may never come.
func (s *Sink) resendAll() {
	s.mu.Lock()
	n := 0
	for seq := s.base; seq < s.cursor; seq++ {
		sl := &s.win[seq%uint64(len(s.win))]
		if sl.state == stSent {
			sl.state, sl.retryAt = stWaiting, time.Time{}
			n++
		}
	}
	s.rescan = true
	s.mu.Unlock()
	s.c.Retries.Add(int64(n))
}

func (s *Sink) unacked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.next - s.base)
}

// finish stops the window: every message in it not yet acknowledged, the
// rest of the batch in hand and whatever is still queued are lost. It
// returns how many events that is.
func (s *Sink) finish(inHand int) int64 {
	s.mu.Lock()
	n := int64(inHand)
	for seq := s.base; seq < s.next; seq++ {
		if s.win[seq%uint64(len(s.win))].state != stDone {
			n++
		}
	}
	s.finished = true
	if n > 0 && s.lastErr == nil {
		s.lastErr = ErrUnacknowledged
	}
	s.mu.Unlock()
	var b queue.Batch
	for s.q.Take(&b) > 0 {
		n += int64(b.Len())
	}
	s.c.Lost.Add(n)
	return n
}

// ackKind is what an acknowledgement says.
type ackKind uint8

const (
	ackStored ackKind = iota
	ackDuplicate
	ackRetry  // JetStream could not take it now: publish again
	ackFailed // JetStream refused it for good
)

// statusHdr is the header of a status message, such as 503 for no responders.
const statusHdr = "Status"

// Errors of the NATS sink: the first two in the LostError that Close
// returns, the last two from Health.
var (
	// ErrRejected wraps JetStream's refusal of a message.
	ErrRejected = errors.New("jetstream rejected the message")
	// ErrUnacknowledged: messages were still unacknowledged when Close
	// gave up (DrainTimeout) or CloseNow was called.
	ErrUnacknowledged = errors.New("not acknowledged before the sink closed")
	// ErrUnreachable: Health found the sink connected to no server.
	ErrUnreachable = errors.New("nats server unreachable")
	// ErrNoAcks: Health found messages waiting longer than AckTimeout for
	// JetStream to store them.
	ErrNoAcks = errors.New("no acknowledgement from jetstream")
)

// errCodeDuplicateInProcess is JetStream's answer to a message whose ID
// is being stored from an earlier publish (a retry after a lost
// acknowledgement, while a cluster changes leader): publishing it again
// later is answered as stored or as a duplicate.
const errCodeDuplicateInProcess = 10158

var (
	ackPrefix   = []byte(`{"stream":`)
	ackDupKey   = []byte(`"duplicate":`)
	errNoStream = errors.New("no responders: the stream is not available")
)

// parseAck reads JetStream's answer to a publish.
func parseAck(m *natsgo.Msg) (ackKind, error) {
	if len(m.Data) == 0 {
		if m.Header.Get(statusHdr) == "503" {
			return ackRetry, errNoStream
		}
		return ackFailed, fmt.Errorf("%w: empty acknowledgement, status %q", ErrRejected, m.Header.Get(statusHdr))
	}
	if bytes.HasPrefix(m.Data, ackPrefix) {
		if bytes.Contains(m.Data, ackDupKey) {
			return ackDuplicate, nil
		}
		return ackStored, nil
	}
	var r struct {
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
		Stream    string `json:"stream"`
		Duplicate bool   `json:"duplicate"`
	}
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return ackFailed, fmt.Errorf("%w: bad acknowledgement %q", ErrRejected, m.Data)
	}
	switch {
	case r.Error != nil:
		err := fmt.Errorf("%w: %s (code %d, err_code %d)", ErrRejected, r.Error.Description, r.Error.Code, r.Error.ErrCode)
		if r.Error.Code == 503 || r.Error.ErrCode == errCodeDuplicateInProcess {
			return ackRetry, err
		}
		return ackFailed, err
	case r.Stream == "":
		return ackFailed, fmt.Errorf("%w: bad acknowledgement %q", ErrRejected, m.Data)
	case r.Duplicate:
		return ackDuplicate, nil
	}
	return ackStored, nil
}

// onAck handles an acknowledgement; it runs on the connection's
// subscription goroutine.
func (s *Sink) onAck(m *natsgo.Msg) {
	seq, err := strconv.ParseUint(m.Subject[len(s.inbox)+1:], 36, 64)
	if err != nil {
		return
	}
	kind, ackErr := parseAck(m)
	s.mu.Lock()
	if s.finished || seq < s.base || seq >= s.next {
		s.mu.Unlock()
		return
	}
	sl := &s.win[seq%uint64(len(s.win))]
	if sl.seq != seq || sl.state == stDone {
		s.mu.Unlock()
		return
	}
	switch kind {
	case ackStored, ackDuplicate:
		sl.state = stDone
		s.stalled = time.Time{}
		s.c.Delivered.Add(1)
		s.c.Bytes.Add(int64(len(sl.msg.Data)))
		if kind == ackDuplicate {
			s.c.Duplicates.Add(1)
		}
	case ackRetry:
		sl.state, sl.retryAt = stWaiting, time.Now().Add(retryWait)
		if s.stalled.IsZero() {
			s.stalled = sl.sentAt
		}
		s.rescan = true
		s.c.Retries.Add(1)
		s.c.Errors.Add(1)
	case ackFailed:
		sl.state = stDone
		s.c.Lost.Add(1)
		s.c.Errors.Add(1)
		s.lastErr = ackErr
	}
	s.mu.Unlock()
	if ackErr != nil {
		s.ackFails.Fail(ackErr)
	} else {
		s.ackFails.OK()
	}
	s.notify()
}
