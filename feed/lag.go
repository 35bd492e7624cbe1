package feed

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/feedkeeper/feedkeeper/wsconn"
)

// LagConfig bounds how far behind the venue a connection may fall. The lag
// of an event is its local receive time minus its event time at the venue,
// corrected by ClockOffset: a link too thin for its streams (or a venue
// host falling behind) shows as a lag that grows while data keeps coming,
// which the stale timeout never sees.
//
// A connection whose lag stays above MaxLag for LagFor is lagging: the
// gateway delivers a TypeStatus event with StatusLagging, logs one line,
// counts the episode (GatewayStats.Lag) and replaces the connection
// (make-before-break, wsconn.Session.Replace). When the lag of the newest
// connection stays at or below MaxLag for LagFor, a StatusCaughtUp event
// and a log line end the episode. A replacement that lags too is replaced
// again after ReplaceBackoff, doubled each time (also across episodes that
// follow each other within 5 minutes), so a link that is thin whatever the
// connection does not churn.
type LagConfig struct {
	// MaxLag is the bound. Default 5s; negative turns the watch off. Without
	// ClockOffset it must also cover the error of the local clock.
	MaxLag time.Duration
	// LagFor is how long the lag must stay above MaxLag before the
	// connection counts as lagging, and at or below it before it counts
	// as caught up. Default 10s.
	LagFor time.Duration
	// ReplaceBackoff is the least wait between two replacements of one
	// connection within an episode; it doubles each time, up to 5 minutes.
	// Default 30s.
	ReplaceBackoff time.Duration
	// ClockOffset returns the venue's clock minus the local clock (positive
	// when the venue is ahead), as monitor.Monitor.ClockOffset estimates
	// it. It is called for every event that carries an event time, from
	// the connection's goroutine: it must be cheap and safe for concurrent
	// use. Nil: no correction.
	ClockOffset func() time.Duration
}

const maxReplaceBackoff = 5 * time.Minute

// lagPublishEvery is how often the lag of a connection is published to
// Stats: ConnLag.Lag is at most this old (and the status events carry the
// lag of the frame that decided them).
const lagPublishEvery = 100 * time.Millisecond

func (c *LagConfig) fill() error {
	if c.MaxLag == 0 {
		c.MaxLag = 5 * time.Second
	}
	if c.LagFor == 0 {
		c.LagFor = 10 * time.Second
	}
	if c.ReplaceBackoff == 0 {
		c.ReplaceBackoff = 30 * time.Second
	}
	if c.LagFor < 0 {
		return fmt.Errorf("feed: Lag.LagFor %v: want a positive duration", c.LagFor)
	}
	if c.ReplaceBackoff < 0 {
		return fmt.Errorf("feed: Lag.ReplaceBackoff %v: want a positive duration", c.ReplaceBackoff)
	}
	return nil
}

// ConnLag is the lag watch of one connection plan (GatewayStats.Lag, by
// plan index: the same order as Sessions).
type ConnLag struct {
	// Lag is the lag of a recent event (at most 100ms older than the last
	// one) with an event time on the plan's newest connection.
	Lag time.Duration
	// Lagging is true during an episode: from StatusLagging to
	// StatusCaughtUp.
	Lagging bool
	// Since is when the current episode was declared (zero when not
	// lagging).
	Since time.Time
	// Episodes counts the episodes so far; Replacements the connections
	// replaced for lagging.
	Episodes, Replacements int64
}

// lagWatch follows the lag of one connection plan. Its plain fields are
// only touched by the plan's frame goroutine (under the gateway's lock);
// the atomics are read by Stats.
type lagWatch struct {
	conn       uint64 // the newest connection seen; frames of older ones are not judged
	overSince  int64  // receive time of the first frame of the current run above the bound; 0: none
	underSince int64  // while lagging: the same for frames at or below the bound
	peak       int64  // the highest lag of the current run above the bound
	nextRepl   int64  // earliest time of the next replacement
	backoff    time.Duration
	stored     int64 // receive time of the frame whose lag was last published in lag

	lag          atomic.Int64
	since        atomic.Int64 // ns; 0: not lagging
	episodes     atomic.Int64
	replacements atomic.Int64
}

// watchLag judges the lag of one decoded event of a frame of plan; it is
// on the hot path: no allocation and no lock of its own.
func (g *Gateway) watchLag(plan int, ev *Event, f *wsconn.Frame) {
	t := ev.EventTime
	if t == 0 {
		t = ev.ExchangeTime
	}
	if t == 0 || g.lag == nil {
		return
	}
	w := &g.lag[plan]
	if f.Conn < w.conn {
		return // the connection being replaced: its lag is known already
	}
	if f.Conn > w.conn {
		// a new connection is judged from its own frames
		w.conn, w.overSince, w.underSince = f.Conn, 0, 0
	}
	lag := f.Recv - t
	if off := g.cfg.Lag.ClockOffset; off != nil {
		lag += int64(off())
	}
	if f.Recv-w.stored >= int64(lagPublishEvery) {
		// an atomic store per event costs more than the rest of the watch
		w.lag.Store(lag)
		w.stored = f.Recv
	}
	lagging := w.since.Load() != 0
	if lag > int64(g.cfg.Lag.MaxLag) {
		w.underSince = 0
		if w.overSince == 0 {
			w.overSince, w.peak = f.Recv, lag
		}
		w.peak = max(w.peak, lag)
		if f.Recv-w.overSince < int64(g.cfg.Lag.LagFor) {
			return
		}
		if !lagging {
			g.lagging(plan, w, lag, f)
		} else if f.Recv >= w.nextRepl {
			g.replaceLagging(plan, w, lag, f)
		}
		return
	}
	w.overSince = 0
	if !lagging {
		return
	}
	if w.underSince == 0 {
		w.underSince = f.Recv
	}
	if f.Recv-w.underSince >= int64(g.cfg.Lag.LagFor) {
		g.caughtUp(plan, w, lag, f)
	}
}

// lagging starts an episode.
func (g *Gateway) lagging(plan int, w *lagWatch, lag int64, f *wsconn.Frame) {
	w.lag.Store(lag)
	w.since.Store(f.Recv)
	w.episodes.Add(1)
	if w.backoff == 0 || f.Recv > w.nextRepl+int64(maxReplaceBackoff) {
		w.backoff = g.cfg.Lag.ReplaceBackoff // quiet long enough: the backoff starts again
	}
	name := g.connName(plan)
	// a link lagging again soon after a replacement waits for the backoff
	replaced := f.Recv >= w.nextRepl && g.replace(plan, w, f.Recv)
	reason := "connection " + name + " lagging: " + fmtLag(lag) + " behind the venue, above " +
		g.cfg.Lag.MaxLag.String() + " for " + fmtLag(f.Recv-w.overSince)
	if replaced {
		reason += "; replacing connection " + strconv.FormatUint(f.Conn, 10)
	} else if f.Recv < w.nextRepl {
		reason += "; to be replaced in " + fmtLag(w.nextRepl-f.Recv) + " if it still lags"
	}
	g.log.Warn("connection lagging", "conn", name, "lag", time.Duration(lag).Round(time.Millisecond),
		"peak", time.Duration(w.peak).Round(time.Millisecond), "max_lag", g.cfg.Lag.MaxLag, "for", g.cfg.Lag.LagFor,
		"replacing", replaced, "episodes", w.episodes.Load())
	g.status(StatusLagging, f.Recv, reason)
}

// replaceLagging replaces a replacement that lags too.
func (g *Gateway) replaceLagging(plan int, w *lagWatch, lag int64, f *wsconn.Frame) {
	if g.replace(plan, w, f.Recv) {
		g.log.Warn("connection still lagging: replacing it again", "conn", g.connName(plan),
			"lag", time.Duration(lag).Round(time.Millisecond), "next_after", w.backoff)
	}
}

// replace asks the plan's session for a fresh connection, and sets when
// the next one may be asked for.
func (g *Gateway) replace(plan int, w *lagWatch, now int64) bool {
	w.nextRepl = now + int64(w.backoff)
	w.backoff = min(2*w.backoff, max(maxReplaceBackoff, g.cfg.Lag.ReplaceBackoff))
	if plan >= len(g.sessions) {
		return false
	}
	if !g.sessions[plan].Replace("lagging " + fmtLag(w.lag.Load()) + " behind the venue") {
		return false
	}
	w.replacements.Add(1)
	return true
}

// caughtUp ends an episode.
func (g *Gateway) caughtUp(plan int, w *lagWatch, lag int64, f *wsconn.Frame) {
	w.lag.Store(lag)
	since := w.since.Swap(0)
	w.underSince = 0
	name := g.connName(plan)
	g.log.Info("connection caught up", "conn", name, "lag", time.Duration(lag).Round(time.Millisecond),
		"lagged_for", time.Duration(f.Recv-since).Round(time.Millisecond))
	g.status(StatusCaughtUp, f.Recv, "connection "+name+" caught up: "+fmtLag(lag)+" behind the venue after "+
		fmtLag(f.Recv-since)+" lagging")
}

func (g *Gateway) connName(plan int) string {
	return g.cfg.Venue.Name() + "#" + strconv.Itoa(plan)
}

func fmtLag(ns int64) string { return time.Duration(ns).Round(time.Millisecond).String() }

func (g *Gateway) lagStats() []ConnLag {
	if g.lag == nil {
		return nil
	}
	out := make([]ConnLag, len(g.lag))
	for i := range g.lag {
		w := &g.lag[i]
		out[i] = ConnLag{Lag: time.Duration(w.lag.Load()), Episodes: w.episodes.Load(), Replacements: w.replacements.Load()}
		if s := w.since.Load(); s != 0 {
			out[i].Lagging, out[i].Since = true, time.Unix(0, s)
		}
	}
	return out
}
