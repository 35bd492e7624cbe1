package feed

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/feedkeeper/feedkeeper/internal/backoff"
)

// Subscriber is implemented by venues that can build a subscribe request
// for any set of streams. With it, a refused request of several streams
// is split and each half asked for again, so that one stream the venue
// refuses does not keep the others of its request away; without it, the
// plan's own message is sent again.
type Subscriber interface {
	SubscribeMessage(id int64, streams []string) ([]byte, error)
}

// refusals keeps the subscribe requests that the venue refused, and sends
// them again with backoff on their plan's live connection until they are
// accepted. Its timers are stopped, and their sends waited for, by close.
type refusals struct {
	min, max time.Duration
	ctx      context.Context
	cancel   context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // timers scheduled and not stopped
	state  map[reqKey]*refusal
	nextID int64 // IDs of the requests made here, far above the plans'

	total   atomic.Int64 // refusals so far
	retries atomic.Int64 // requests sent again
}

type reqKey struct {
	plan int
	id   int64
}

// refusal is a request refused, or sent again and not answered yet.
type refusal struct {
	streams []string
	msg     []byte // what is sent again
	refused bool   // the last answer was a refusal
	attempt int
	timer   *time.Timer // nil unless a send is scheduled
}

func newRefusals(min, max time.Duration) *refusals {
	r := &refusals{min: min, max: max, state: make(map[reqKey]*refusal), nextID: 1 << 40}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

// close stops the retries and waits for the ones being sent.
func (r *refusals) close() {
	r.cancel()
	r.mu.Lock()
	r.closed = true
	for _, rf := range r.state {
		if rf.timer != nil && rf.timer.Stop() {
			r.wg.Done()
		}
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// refusedStreams counts the streams refused now.
func (r *refusals) refusedStreams() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, rf := range r.state {
		if rf.refused {
			n += int64(len(rf.streams))
		}
	}
	return n
}

// onReply handles a reply on a connection of plan, under g.mu.
func (g *Gateway) onReply(plan int, p ReplyParser, frame []byte, recv int64) {
	rep, err := p.ParseReply(frame)
	if err != nil || rep.ID == 0 {
		return
	}
	cp := &g.plans[plan]
	if rep.ID == cp.ConfirmID && cp.ConfirmID != 0 {
		if !rep.IsErr {
			g.confirm(plan, rep.List, recv)
		}
		return
	}
	streams, ok := g.requestStreams(plan, rep.ID)
	if !ok || len(streams) == 0 {
		return
	}
	if rep.IsErr {
		g.refused(plan, rep.ID, streams, rep.Err, recv)
	} else {
		g.accepted(plan, rep.ID, recv)
	}
}

// requestStreams returns the streams of request id of plan.
func (g *Gateway) requestStreams(plan int, id int64) ([]string, bool) {
	for _, rq := range g.plans[plan].Requests {
		if rq.ID == id {
			return rq.Streams, true
		}
	}
	r := g.refuse
	r.mu.Lock()
	defer r.mu.Unlock()
	if rf := r.state[reqKey{plan, id}]; rf != nil {
		return rf.streams, true
	}
	return nil, false
}

// confirm compares the streams the venue lists for a connection with its
// plan: the missing ones are refused, asked for in one request of their own.
func (g *Gateway) confirm(plan int, list []string, recv int64) {
	listed := make(map[string]bool, len(list))
	for _, s := range list {
		listed[strings.ToLower(s)] = true
	}
	r := g.refuse
	r.mu.Lock()
	pending := map[string]bool{} // asked for again already
	for k, rf := range r.state {
		if k.plan == plan {
			for _, s := range rf.streams {
				pending[s] = true
			}
		}
	}
	r.mu.Unlock()
	var missing []string
	for _, s := range g.plans[plan].Streams {
		if !listed[strings.ToLower(s)] && !pending[s] {
			missing = append(missing, s)
		}
	}
	// requests asked for again whose streams are all listed now succeeded
	r.mu.Lock()
	var done []int64
	for k, rf := range r.state {
		if k.plan != plan || !rf.refused {
			continue
		}
		all := true
		for _, s := range rf.streams {
			all = all && listed[strings.ToLower(s)]
		}
		if all {
			done = append(done, k.id)
		}
	}
	r.mu.Unlock()
	for _, id := range done {
		g.accepted(plan, id, recv)
	}
	if len(missing) == 0 {
		return
	}
	r.mu.Lock()
	id := r.nextID
	r.nextID++
	r.mu.Unlock()
	g.refused(plan, id, missing, errors.New("not listed by the venue after subscribing"), recv)
}

// refused records that the venue refused request id of plan (streams),
// and schedules it again: split in two when the venue can build requests
// and it holds several streams, else whole, after a backoff.
func (g *Gateway) refused(plan int, id int64, streams []string, why error, recv int64) {
	r := g.refuse
	r.total.Add(1)
	g.log.Warn("streams refused by the venue", "plan", plan, "request", id, "streams", strings.Join(streams, ","), "err", why)
	g.status(StatusRefused, recv, "streams "+strings.Join(streams, ",")+" refused: "+why.Error())
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	k := reqKey{plan, id}
	rf := r.state[k]
	if rf != nil && rf.timer != nil {
		return // a send is already scheduled
	}
	if rf == nil {
		// a plan's request sent again by a reconnect: its streams already
		// being asked for again are left to those requests
		pending := map[string]bool{}
		for pk, prf := range r.state {
			if pk.plan == plan {
				for _, s := range prf.streams {
					pending[s] = true
				}
			}
		}
		streams = slices.DeleteFunc(slices.Clone(streams), func(s string) bool { return pending[s] })
		if len(streams) == 0 {
			return
		}
	}
	sub, canBuild := g.cfg.Venue.(Subscriber)
	if canBuild && len(streams) > 1 {
		if rf != nil {
			delete(r.state, k)
		}
		half := len(streams) / 2
		attempt := 0
		if rf != nil {
			attempt = rf.attempt
		}
		for _, part := range [][]string{streams[:half], streams[half:]} {
			nid := r.nextID
			r.nextID++
			msg, err := sub.SubscribeMessage(nid, part)
			if err != nil {
				continue
			}
			nrf := &refusal{streams: slices.Clone(part), msg: msg, attempt: attempt}
			r.state[reqKey{plan, nid}] = nrf
			g.schedule(plan, nrf, r.min/4)
		}
		return
	}
	if rf == nil {
		rf = &refusal{streams: slices.Clone(streams)}
		r.state[k] = rf
		switch {
		case canBuild:
			rf.msg, _ = sub.SubscribeMessage(id, streams)
		default:
			for i, rq := range g.plans[plan].Requests {
				if rq.ID == id {
					rf.msg = g.plans[plan].Subscribe[i]
				}
			}
		}
	}
	rf.refused = true
	d := backoff.Exp(r.min, r.max, rf.attempt)
	rf.attempt++
	g.schedule(plan, rf, backoff.Half(d))
}

// schedule sends rf's request after d on plan's live connection, then the
// plan's confirmation request. Called with r.mu held.
func (g *Gateway) schedule(plan int, rf *refusal, d time.Duration) {
	r := g.refuse
	if rf.msg == nil || len(g.decoders) > 0 {
		return // nothing to send, or a replay
	}
	r.wg.Add(1)
	rf.timer = time.AfterFunc(d, func() {
		defer r.wg.Done()
		r.mu.Lock()
		rf.timer = nil
		r.mu.Unlock()
		s := g.sessions[plan]
		if err := s.Send(r.ctx, rf.msg); err != nil {
			r.mu.Lock()
			defer r.mu.Unlock()
			if !r.closed && r.ctx.Err() == nil && rf.timer == nil {
				g.schedule(plan, rf, r.min) // no connection now: try again
			}
			return
		}
		r.retries.Add(1)
		if cp := &g.plans[plan]; cp.Confirm != nil {
			_ = s.Send(r.ctx, cp.Confirm)
		}
	})
}

// confirmSubscriptions sends plan's Confirm request on its new connection,
// from a goroutine of the refusals (the message waits for the connection's
// message rate). Called with g.mu held.
func (g *Gateway) confirmSubscriptions(plan int) {
	cp := &g.plans[plan]
	r := g.refuse
	if cp.Confirm == nil || len(g.decoders) > 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		_ = g.sessions[plan].Send(r.ctx, cp.Confirm)
	}()
}

// accepted records that request id of plan is accepted.
func (g *Gateway) accepted(plan int, id int64, recv int64) {
	r := g.refuse
	k := reqKey{plan, id}
	r.mu.Lock()
	rf := r.state[k]
	if rf == nil {
		r.mu.Unlock()
		return
	}
	if rf.timer != nil && rf.timer.Stop() {
		r.wg.Done()
	}
	delete(r.state, k)
	r.mu.Unlock()
	g.log.Info("refused streams now subscribed", "plan", plan, "streams", strings.Join(rf.streams, ","))
	g.status(StatusSubscribed, recv, "streams "+strings.Join(rf.streams, ",")+" subscribed")
}
