package feed

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/feedkeeper/feedkeeper/internal/logthrottle"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// GatewayConfig describes a gateway: which venue, which streams, where the
// events go, and how the connections behave.
type GatewayConfig struct {
	Venue   Venue
	Streams []string
	// Handler receives every event, one at a time, in order per sequence.
	// It is called from the gateway's goroutines (one per connection, and
	// the recovery workers), never from two at once. The event and its
	// level slices are reused after it returns: copy what must be kept
	// (Event.CopyTo). It must not call Close.
	Handler func(*Event)
	// Tap, when set, sees every data frame before it is decoded, with the
	// index of its connection plan, serialized with Handler (a recorder).
	// It must not keep the frame's data after it returns.
	Tap func(plan int, data []byte, recv int64)
	// TLS is the process-wide TLS configuration (httpx.TLSConfig).
	TLS *tls.Config
	// Session is the template of every connection's settings; URL,
	// Subscribe, IsShutdown, Lifetime, MessageRate, Dials, TLS and Logger
	// are filled in by the gateway.
	Session wsconn.Config
	// Dials limits connection attempts over all the venue's connections:
	// first connects, reconnects and rotations. Nil: wsconn.DefaultBudget(),
	// the process-wide budget of 240 attempts in any 5 minutes, 10 back to
	// back then one every 625 ms (Binance allows 300 per 5 minutes per IP).
	// Gateways of the same IP's limit must share one.
	Dials wsconn.DialLimiter
	// Subscribes limits subscribe messages over all the venue's
	// connections. Nil: 10 a second with a burst of 10.
	Subscribes *rate.Limiter
	// Logger: nil is slog.Default().
	Logger *slog.Logger
	// Resume holds the positions of an earlier gateway (Gateway.Positions,
	// saved before it stopped): the first trade of each sequence shows the
	// IDs missing since, recovered like any gap. Positions of other venues
	// are ignored.
	Resume []Position
	// LeaveGaps says a next gateway will resume from this one's Positions
	// (a state file): at Close, a trade gap still being recovered is left to
	// it rather than announced, and the trades held behind the gap are not
	// delivered; Positions stay below the gap, so the next gateway recovers
	// the gap and delivers those trades, in order, each once. Without it,
	// Close announces the gap (a TypeGap event) and delivers the held trades.
	LeaveGaps bool
	// ResumeMaxAge bounds the downtime recovered: a position older than
	// this has the trades since announced by a TypeGap event instead.
	// Default 1 hour.
	ResumeMaxAge time.Duration
	// RefusedRetryMin and RefusedRetryMax bound the backoff between
	// attempts to subscribe again to streams the venue refused. Defaults
	// 2s and 5 minutes.
	RefusedRetryMin, RefusedRetryMax time.Duration

	// Recovery, when set, makes the delivered streams complete. A gap in a
	// symbol's aggregate trade IDs is fetched over REST (the symbol's live
	// trades are held meanwhile) and delivered in ID order, the recovered
	// trades marked Recovered; what cannot be recovered is announced by a
	// TypeGap event. The diff depth stream of each symbol keeps a local
	// order book in sync from REST snapshots: its deltas are delivered once
	// the book is in sync, after a Derived TypeBookSnapshot of the whole
	// book, with a Derived TypeTopOfBook whenever its best bid or ask
	// changes; any break resyncs it. Nil: gaps are announced by TypeGap
	// events only and deltas are delivered as they come.
	Recovery Recovery
	// RecoveryConfig tunes Recovery.
	RecoveryConfig RecoveryConfig

	// Lag bounds how far behind the venue each connection may fall before
	// it is reported (StatusLagging) and replaced. The zero value watches
	// with the defaults; a negative MaxLag turns the watch off. Replay
	// gateways do not watch.
	Lag LagConfig
}

// Gateway streams a venue's market data: one resilient session per
// connection of the venue's plan, frames decoded into events, duplicates
// dropped and gaps reported, events handed to the Handler.
type Gateway struct {
	cfg      GatewayConfig
	log      *slog.Logger
	sessions []*wsconn.Session
	plans    []ConnPlan
	decoders []*planDecoder // replay only: one per plan

	rules      Rules
	streamPlan map[string]int // the plan of each stream
	windows    []tradeWindows // by plan, for opaque trade IDs; guarded by mu

	mu  sync.Mutex // serializes the sequencer, recovery states, the tap and the handler
	seq *sequencer
	aux Event
	rec *recovery // nil without a Recovery

	refuse  *refusals
	lag     []lagWatch          // by plan; nil: not watched
	resumed map[seqKey]Position // sequences resumed whose first event is still to come; nil: none

	watchCancel context.CancelFunc // nil unless the venue is a Watcher
	watchDone   chan struct{}

	stats     gatewayCounters
	gapLog    logthrottle.Limiter // lines about trade gaps
	skipLog   logthrottle.Limiter // lines about skipped frames
	closeOnce sync.Once
}

type gatewayCounters struct {
	events, duplicates, gaps, missing atomic.Int64
	tradeGaps, tradeMissing           atomic.Int64
	malformed, unknown, binary        atomic.Int64
	replyErrors, shutdowns            atomic.Int64
}

// GatewayStats is a snapshot of a gateway's counters.
type GatewayStats struct {
	Events     int64 // delivered to the handler
	Duplicates int64 // dropped as already delivered
	Gaps       int64 // gaps found in sequences (trades and book updates)
	Missing    int64 // IDs missing in those gaps
	// TradeGaps and TradeMissing are the gaps found in trade IDs (either
	// kind) and the IDs missing in them; Backfilled + UnfilledIDs account
	// for those IDs once recovered (HeldOverflow adds IDs recovered that
	// arrived live but could not be held).
	TradeGaps, TradeMissing int64
	Malformed               int64 // frames that could not be decoded
	Unknown                 int64 // frames of unknown symbols or event types
	Binary                  int64 // binary frames (the venue sends text)
	Replies                 int64 // error replies to requests
	Shutdowns               int64 // shutdown announcements
	Sessions                []wsconn.Stats
	// Lag is the lag watch of each connection, in the order of Sessions;
	// nil when the watch is off.
	Lag []ConnLag

	RefusedStreams int64 // streams the venue refuses now (asked for again with backoff)
	Refusals       int64 // refusals of requests so far
	Resubscribes   int64 // refused requests sent again

	// With a Recovery:
	Backfilled       int64 // trades recovered over REST and delivered
	Unfilled         int64 // TypeGap events for trades that could not be recovered
	UnfilledIDs      int64 // trade IDs in them
	BackfillPending  int64 // symbols whose trade gaps are being recovered now
	HeldOverflow     int64 // live trades not held (buffer full) and recovered over REST instead
	BookSyncs        int64 // books loaded from a snapshot
	BookResyncs      int64 // books thrown away: updates missing, crossed, failed verification
	StaleSnapshots   int64 // snapshots refused as older than the diffs held
	BadSnapshots     int64 // snapshots refused as unsorted, crossed, or not meeting the diffs held
	BooksInSync      int64 // books in sync now
	DiffOverflow     int64 // diffs dropped while a snapshot was awaited (buffer full)
	VerifyMatches    int64 // verifications that found the book equal to a fresh snapshot
	VerifyMismatches int64 // verifications that found it different (each resyncs the book)
	VerifySkipped    int64 // verifications that proved nothing (snapshot older than the book)
	RecoveryErrors   int64 // REST calls of the recovery that failed
	LagRetries       int64 // trade pages asked again because the venue's history had not caught up
	// ChecksumMismatches counts books whose checksum did not match the
	// venue's (each rebuilds the book).
	ChecksumMismatches int64
	// StreamResubscribes counts book streams asked for again to rebuild
	// their book (BookFromStream).
	StreamResubscribes int64
}

// OpenGateway plans the connections and starts them.
func OpenGateway(cfg GatewayConfig) (*Gateway, error) { return open(cfg, false) }

func open(cfg GatewayConfig, replay bool) (*Gateway, error) {
	if cfg.Venue == nil {
		return nil, errors.New("feed: GatewayConfig.Venue is nil")
	}
	if cfg.Handler == nil {
		return nil, errors.New("feed: GatewayConfig.Handler is nil")
	}
	if len(cfg.Streams) == 0 {
		return nil, errors.New("feed: GatewayConfig.Streams is empty")
	}
	plans, err := cfg.Venue.Plan(cfg.Streams)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Dials == nil {
		cfg.Dials = wsconn.DefaultBudget()
	}
	if cfg.Subscribes == nil {
		cfg.Subscribes = rate.NewLimiter(10, 10)
	}
	if cfg.ResumeMaxAge == 0 {
		cfg.ResumeMaxAge = time.Hour
	}
	if cfg.RefusedRetryMin == 0 {
		cfg.RefusedRetryMin = 2 * time.Second
	}
	if cfg.RefusedRetryMax == 0 {
		cfg.RefusedRetryMax = 5 * time.Minute
	}
	if cfg.RefusedRetryMin < 0 || cfg.RefusedRetryMax < cfg.RefusedRetryMin {
		return nil, fmt.Errorf("feed: RefusedRetryMin %v, RefusedRetryMax %v: want 0 < min <= max", cfg.RefusedRetryMin, cfg.RefusedRetryMax)
	}
	rules := cfg.Venue.Rules()
	if rules.BookChain > ChainPrevID {
		return nil, fmt.Errorf("feed: venue %s: unknown book chain rule %v", cfg.Venue.Name(), rules.BookChain)
	}
	if _, ok := cfg.Venue.(Resubscriber); rules.Book == BookFromStream && !ok {
		return nil, fmt.Errorf("feed: venue %s: books from the stream need a Resubscriber", cfg.Venue.Name())
	} else if rules.Book > BookFromStream {
		return nil, fmt.Errorf("feed: venue %s: unknown book procedure %d", cfg.Venue.Name(), rules.Book)
	}
	g := &Gateway{
		rules:   rules,
		cfg:     cfg,
		log:     cfg.Logger.With("venue", cfg.Venue.Name()),
		plans:   plans,
		seq:     newSequencer(rules.BookChain),
		refuse:  newRefusals(cfg.RefusedRetryMin, cfg.RefusedRetryMax),
		gapLog:  logthrottle.Limiter{Every: logEvery, Burst: logBurst},
		skipLog: logthrottle.Limiter{Every: logEvery},
	}
	g.seq.opaque = rules.Trades == TradeIDsOpaque
	if g.seq.opaque {
		g.windows = make([]tradeWindows, len(plans))
	}
	g.streamPlan = make(map[string]int)
	for i, p := range plans {
		for _, st := range p.Streams {
			g.streamPlan[st] = i
		}
	}
	g.resume(cfg.Resume)
	if !replay && cfg.Lag.MaxLag >= 0 {
		if err := g.cfg.Lag.fill(); err != nil {
			return nil, err
		}
		g.lag = make([]lagWatch, len(plans))
	}
	if cfg.Recovery != nil {
		if g.rec, err = newRecovery(cfg.Recovery, cfg.RecoveryConfig); err != nil {
			return nil, err
		}
		g.rec.start(g)
	}
	if replay {
		for _, p := range plans {
			g.decoders = append(g.decoders, newPlanDecoder(cfg.Venue.NewDecoder(p)))
		}
		return g, nil
	}
	// frames wait for every session to be in g.sessions (a refused
	// subscription is sent again on its plan's session)
	g.mu.Lock()
	for i, p := range plans {
		sc := cfg.Session
		sc.URL, sc.AltURLs = p.URL, p.AltURLs
		sc.Name = cfg.Venue.Name() + "#" + strconv.Itoa(i)
		msgs := p.Subscribe
		sc.Subscribe = func() [][]byte { return msgs }
		if p.Build != nil {
			sc.Subscribe = p.Build
		}
		if pinger, ok := cfg.Venue.(Pinger); ok && sc.Keepalive.Interval == 0 {
			sc.Keepalive = pinger.Keepalive()
		}
		sc.IsShutdown = cfg.Venue.IsShutdown
		if sc.Lifetime == 0 {
			sc.Lifetime = cfg.Venue.Lifetime()
		}
		if sc.MessageRate == 0 {
			sc.MessageRate = cfg.Venue.MessageRate()
		}
		sc.Dials = cfg.Dials
		sc.Subscribes = cfg.Subscribes
		sc.TLS = cfg.TLS
		sc.Logger = cfg.Logger.With("venue", cfg.Venue.Name(), "streams", len(p.Streams))
		dec := newPlanDecoder(cfg.Venue.NewDecoder(p))
		plan := i
		sess, err := wsconn.Open(sc, func(f *wsconn.Frame) { g.onFrame(plan, dec, f) })
		if err != nil {
			g.mu.Unlock()
			g.Close()
			return nil, fmt.Errorf("feed: connection %d: %w", i, err)
		}
		g.sessions = append(g.sessions, sess)
	}
	g.mu.Unlock()
	if w, ok := cfg.Venue.(Watcher); ok {
		ctx, cancel := context.WithCancel(context.Background())
		g.watchCancel, g.watchDone = cancel, make(chan struct{})
		go func() {
			defer close(g.watchDone)
			w.Watch(ctx, g.announce)
		}()
	}
	g.log.Info("gateway open", "streams", len(cfg.Streams), "connections", len(plans))
	return g, nil
}

// Close closes every connection and stops the recovery workers, cancelling
// their REST calls; events already received are delivered before it
// returns, and trade gaps still being recovered are announced by TypeGap
// events, followed by the live trades held behind them. Safe to call more
// than once.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		var wg sync.WaitGroup
		for _, s := range g.sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.Close()
			}()
		}
		wg.Wait()
		if g.watchCancel != nil {
			g.watchCancel()
			<-g.watchDone
		}
		g.refuse.close()
		if g.rec != nil {
			g.rec.stop()
			g.mu.Lock()
			g.flushTrades()
			g.mu.Unlock()
		}
		if g.windows != nil {
			g.mu.Lock()
			g.flushWindows(time.Now().UnixNano())
			g.mu.Unlock()
		}
	})
	return nil
}

// Stats returns the gateway's counters.
func (g *Gateway) Stats() GatewayStats {
	st := GatewayStats{
		Events:     g.stats.events.Load(),
		Duplicates: g.stats.duplicates.Load(),
		Gaps:       g.stats.gaps.Load(),
		Missing:    g.stats.missing.Load(),

		TradeGaps:    g.stats.tradeGaps.Load(),
		TradeMissing: g.stats.tradeMissing.Load(),
		Malformed:    g.stats.malformed.Load(),
		Unknown:      g.stats.unknown.Load(),
		Binary:       g.stats.binary.Load(),
		Replies:      g.stats.replyErrors.Load(),
		Shutdowns:    g.stats.shutdowns.Load(),

		RefusedStreams: g.refuse.refusedStreams(),
		Refusals:       g.refuse.total.Load(),
		Resubscribes:   g.refuse.retries.Load(),
	}
	for _, s := range g.sessions {
		st.Sessions = append(st.Sessions, s.Stats())
	}
	st.Lag = g.lagStats()
	if r := g.rec; r != nil {
		c := &r.stats
		st.Backfilled, st.Unfilled, st.UnfilledIDs = c.backfilled.Load(), c.unfilled.Load(), c.unfilledIDs.Load()
		st.BackfillPending, st.HeldOverflow = c.pending.Load(), c.overflowTrades.Load()
		st.BookSyncs, st.BookResyncs, st.StaleSnapshots, st.BadSnapshots = c.syncs.Load(), c.resyncs.Load(), c.stale.Load(), c.bad.Load()
		st.BooksInSync, st.DiffOverflow = c.inSync.Load(), c.overflowDiffs.Load()
		st.VerifyMatches, st.VerifyMismatches, st.VerifySkipped = c.verifyMatch.Load(), c.verifyMismatch.Load(), c.verifySkip.Load()
		st.RecoveryErrors, st.LagRetries = c.restErrors.Load(), c.lagRetries.Load()
		st.ChecksumMismatches, st.StreamResubscribes = c.checksumMismatch.Load(), c.streamResubscribes.Load()
	}
	return st
}

// planDecoder decodes the frames of one connection plan. It belongs to
// the plan's dispatcher goroutine: frames are decoded there before the
// gateway's lock is taken, so connections decode in parallel and the lock
// covers only what orders and delivers.
type planDecoder struct {
	dec   Decoder
	ev    Event
	kind  Decoded
	err   error
	batch []Event // the events after the first of a DecodedBatch frame
	n     int     // … in batch
	lost  bool    // the decoder saw messages of the connection missing before this frame (LossReporter)
	loss  LossReporter
}

func newPlanDecoder(dec Decoder) *planDecoder {
	pd := &planDecoder{dec: dec}
	pd.loss, _ = dec.(LossReporter)
	return pd
}

// decode decodes one data frame into the planDecoder's events.
func (pd *planDecoder) decode(data []byte) {
	pd.n = 0
	pd.kind, pd.err = pd.dec.Decode(data, &pd.ev)
	if pd.loss != nil {
		pd.lost = pd.loss.Lost()
	}
	if pd.err != nil || pd.kind != DecodedBatch {
		return
	}
	b, ok := pd.dec.(BatchDecoder)
	if !ok {
		return
	}
	for {
		if pd.n == len(pd.batch) {
			pd.batch = append(pd.batch, Event{})
		}
		if !b.Next(&pd.batch[pd.n]) {
			return
		}
		pd.n++
	}
}

// onFrame runs in the dispatcher goroutine of one session.
func (g *Gateway) onFrame(plan int, pd *planDecoder, f *wsconn.Frame) {
	if f.Kind == wsconn.Data && !f.Binary {
		pd.decode(f.Data)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch f.Kind {
	case wsconn.Data:
		if g.cfg.Tap != nil {
			g.cfg.Tap(plan, f.Data, f.Recv)
		}
		g.onData(plan, pd, f)
	case wsconn.Connected:
		g.status(StatusConnected, f.Recv, "connection "+strconv.FormatUint(f.Conn, 10)+" up")
		g.confirmSubscriptions(plan)
	case wsconn.Disconnected:
		reason := "connection " + strconv.FormatUint(f.Conn, 10) + " down"
		if f.Err != nil {
			reason += ": " + f.Err.Error()
		}
		g.status(StatusDisconnected, f.Recv, reason)
		g.windowsDown(plan, f.Err)
	case wsconn.Gap:
		g.status(StatusConnected, f.Recv, strconv.FormatInt(f.Dropped, 10)+" frames dropped: consumer too slow")
		// trades whose IDs cannot show it were in those frames
		g.windowsDown(plan, nil)
	}
}

// onData handles a data frame that pd has decoded.
func (g *Gateway) onData(plan int, pd *planDecoder, f *wsconn.Frame) {
	if f.Binary {
		g.stats.binary.Add(1)
		g.skipped("binary frame", nil, f)
		return
	}
	ev, kind, err := &pd.ev, pd.kind, pd.err
	if kind == DecodedReply {
		if err != nil {
			g.stats.replyErrors.Add(1)
		}
		if p, ok := pd.dec.(ReplyParser); ok {
			g.onReply(plan, p, f.Data, f.Recv)
		} else if err != nil {
			g.log.Warn("request refused", "conn", f.Conn, "err", err)
		}
		return
	}
	if err != nil {
		if errors.Is(err, ErrUnknown) {
			g.stats.unknown.Add(1)
		} else {
			g.stats.malformed.Add(1)
		}
		g.skipped("undecodable frame", err, f)
		return
	}
	if pd.lost {
		// messages of the connection went missing before this one: trades
		// whose IDs cannot show it may have been among them
		g.windowsDown(plan, nil)
	}
	if kind == DecodedShutdown {
		g.stats.shutdowns.Add(1)
		g.status(StatusServerShutdown, f.Recv, "server announced shutdown: rotating")
		return
	}
	ev.ReceiveTime = f.Recv
	g.watchLag(plan, ev, f)
	g.deliverDecoded(plan, ev, f)
	if kind == DecodedBatch {
		for i := range pd.batch[:pd.n] {
			b := &pd.batch[i]
			b.ReceiveTime = f.Recv
			g.deliverDecoded(plan, b, f)
		}
	}
}

// deliverDecoded delivers one event decoded from frame f. A trade of a
// venue whose trade IDs cannot show a gap or a repeat is first matched
// against the trades the connection it came on replaced delivered (see
// repeated): a repeat is dropped, counted as a duplicate; otherwise it
// moves the connection's gap window on (traded).
func (g *Gateway) deliverDecoded(plan int, ev *Event, f *wsconn.Frame) {
	if g.windows != nil && ev.Type == TypeTrade {
		if g.repeated(plan, ev, f.Conn) {
			g.stats.duplicates.Add(1)
			return
		}
		g.traded(plan, ev)
	}
	g.deliverData(ev, f)
}

// deliverData sequences a market-data event, recovers what it shows
// missing, and delivers it.
func (g *Gateway) deliverData(ev *Event, f *wsconn.Frame) {
	v, from, to := g.seq.check(ev)
	if g.resumed != nil && ev.Type == TypeTrade && v != verdictGap {
		g.resumedSeen(ev)
	}
	switch v {
	case verdictDuplicate:
		g.stats.duplicates.Add(1)
		return
	case verdictGap:
		g.stats.gaps.Add(1)
		uncounted := g.rules.BookIDsUncounted && ev.Type != TypeTrade
		if !uncounted {
			g.stats.missing.Add(to - from + 1)
		}
		if ev.Type == TypeTrade {
			g.stats.tradeGaps.Add(1)
			g.stats.tradeMissing.Add(to - from + 1)
		}
		if g.resumed != nil && ev.Type == TypeTrade && g.resumedGap(ev, from, to) {
			break
		}
		if g.rec != nil && ev.Type == TypeTrade {
			g.tradeGap(ev, from, to)
			break
		}
		gap := &g.aux
		gap.Reset()
		*gap = Event{Type: TypeGap, Missing: ev.Type, Venue: ev.Venue, Symbol: ev.Symbol, Instrument: ev.Instrument, FirstID: from, ID: to,
			ReceiveTime: f.Recv, Aggregated: ev.Aggregated, Reason: "IDs missing from the stream", Bids: gap.Bids, Asks: gap.Asks}
		if uncounted {
			gap.Reason = ReasonUncounted
		}
		g.deliver(gap)
	}
	if g.rec != nil {
		switch {
		case ev.Type == TypeTrade:
			if g.holdTrade(ev) {
				return
			}
		case ev.Type == TypeBookDelta:
			g.onDelta(ev, v == verdictGap, f.Recv)
			return
		case ev.Base && g.rules.Book == BookFromStream:
			g.onBase(ev, f.Recv)
			return
		}
	}
	g.deliver(ev)
}

// announce delivers an event of the venue's Watcher.
func (g *Gateway) announce(ev *Event) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deliver(ev)
}

func (g *Gateway) deliver(ev *Event) {
	g.stats.events.Add(1)
	g.cfg.Handler(ev)
}

func (g *Gateway) status(st Status, recv int64, reason string) {
	ev := &g.aux
	*ev = Event{Type: TypeStatus, Status: st, Venue: g.cfg.Venue.Name(), ReceiveTime: recv, Reason: reason, Bids: ev.Bids[:0], Asks: ev.Asks[:0]}
	g.deliver(ev)
}

// skipped logs a skipped frame, at most once every 10 seconds.
func (g *Gateway) skipped(what string, err error, f *wsconn.Frame) {
	if ok, _ := g.skipLog.Allow(); !ok {
		return
	}
	sample := f.Data
	if len(sample) > 120 {
		sample = sample[:120]
	}
	g.log.Warn("frame skipped", "reason", what, "err", err, "conn", f.Conn, "frame", string(sample),
		"malformed_total", g.stats.malformed.Load(), "unknown_total", g.stats.unknown.Load(), "binary_total", g.stats.binary.Load())
}

// ErrUnknown is matched (errors.Is) by decoder errors for frames of unknown
// symbols or event types: counted apart from malformed frames.
var ErrUnknown = errors.New("feed: unknown symbol or event")

// OpenReplay opens a gateway that reads no network: frames recorded from
// the same venue and streams (the same connection plans) are fed to it with
// Feed, and go through the same decoding, sequencing, recovery and Handler
// as live ones. Close it when done.
func OpenReplay(cfg GatewayConfig) (*Gateway, error) { return open(cfg, true) }

// Feed hands one recorded data frame of connection plan to a replay
// gateway. Calls must not overlap.
func (g *Gateway) Feed(plan int, data []byte, recv int64) error {
	if plan < 0 || plan >= len(g.decoders) {
		return fmt.Errorf("feed: replay: connection plan %d of %d", plan, len(g.decoders))
	}
	f := wsconn.Frame{Kind: wsconn.Data, Data: data, Recv: recv, Conn: uint64(plan) + 1}
	g.onFrame(plan, g.decoders[plan], &f)
	return nil
}
