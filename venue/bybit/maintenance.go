package bybit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
)

// Bybit announces maintenance on a stream of its own, not on the data
// connections ("System Status", docs/v5/websocket/system/system-status.mdx):
// the topic system.status on wss://stream.bybit.com/v5/public/misc/status
// pushes notices with an id, a state (scheduled, ongoing, completed,
// canceled), begin and end (ms), the services (serviceTypes, 5 = market
// data) and products (1 = futures, 2 = spot) concerned. Interruptions
// under 10 seconds and plain disconnects are not announced. The REST
// /v5/system/status gives the same list; the stream is read because it
// pushes.
//
// With Config.StatusStream the venue plans one more connection, to
// /v5/public/misc/status, subscribed to system.status (stream name
// StatusStream). A notice that concerns market data of a category the
// gateway reads, once its begin is Config.MaintenanceLead away or nearer
// (or when it is under way), replaces each data connection of that
// category make-before-break, as for Binance's serverShutdown: the next
// data frame read on each one reports IsShutdown, once per connection
// plan and notice (a plan that connects anew meanwhile is left alone). A
// connection that reads no data frame it can be told by (see IsShutdown)
// between the notice and the maintenance is not replaced. An operator is told by a TypeStatus event
// (StatusServerShutdown) naming the maintenance.

// StatusStream is the stream name of the system status connection.
const StatusStream = "misc/system.status"

// StatusPath is the path of Bybit's system status stream.
const StatusPath = "/v5/public/misc/status"

// DefaultMaintenanceLead is how long before a maintenance begins the
// connections are replaced (Config.MaintenanceLead).
const DefaultMaintenanceLead = time.Minute

// Notice is one maintenance notice of system.status.
type Notice struct {
	ID    string
	Title string
	// State: "scheduled", "ongoing", "completed" or "canceled".
	State      string
	Begin, End time.Time
	// ServiceTypes: 1 trading, 2 trading over HTTP, 3 trading over
	// WebSocket, 4 private streams, 5 market data. Product: 1 futures, 2
	// spot, 3 options, 4 spread. Env: 1 production, 2 the demo service.
	ServiceTypes, Product []int
	MaintainType, Env     int
}

// MarketData reports whether the notice concerns the public market data
// of production: serviceTypes lists 5 (or nothing), env is not the demo
// service's.
func (n Notice) MarketData() bool {
	return n.Env != 2 && (len(n.ServiceTypes) == 0 || slices.Contains(n.ServiceTypes, 5))
}

// Categories returns the categories of this package the notice's products
// cover: futures (1) is linear, spot (2) spot; no product is both.
func (n Notice) Categories() []Category {
	if len(n.Product) == 0 {
		return []Category{Spot, Linear}
	}
	var out []Category
	if slices.Contains(n.Product, 2) {
		out = append(out, Spot)
	}
	if slices.Contains(n.Product, 1) {
		out = append(out, Linear)
	}
	return out
}

// flexInt reads an integer written as a JSON number or string: the docs
// type maintainType and env as strings and show numbers.
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%s is not an integer", b)
	}
	*f = flexInt(v)
	return nil
}

// ParseNotices reads a system.status push:
// {"topic":"system.status","ts":…,"data":[{"id","title","state","begin","end",…}]}.
func ParseNotices(frame []byte) ([]Notice, error) {
	var msg struct {
		Topic string `json:"topic"`
		Data  []struct {
			ID           string    `json:"id"`
			Title        string    `json:"title"`
			State        string    `json:"state"`
			Begin        flexInt   `json:"begin"`
			End          flexInt   `json:"end"`
			ServiceTypes []flexInt `json:"serviceTypes"`
			Product      []flexInt `json:"product"`
			MaintainType flexInt   `json:"maintainType"`
			Env          flexInt   `json:"env"`
		} `json:"data"`
	}
	if err := json.Unmarshal(frame, &msg); err != nil {
		return nil, fmt.Errorf("%w: system.status: %w", ErrMalformed, err)
	}
	if msg.Topic != statusTopic {
		return nil, fmt.Errorf("%w: topic %q is not %s", ErrMalformed, msg.Topic, statusTopic)
	}
	out := make([]Notice, 0, len(msg.Data))
	for _, d := range msg.Data {
		if d.ID == "" || d.State == "" {
			return nil, fmt.Errorf("%w: system.status: a notice without id or state", ErrMalformed)
		}
		n := Notice{ID: d.ID, Title: d.Title, State: d.State, MaintainType: int(d.MaintainType), Env: int(d.Env),
			Begin: time.UnixMilli(int64(d.Begin)), End: time.UnixMilli(int64(d.End))}
		for _, s := range d.ServiceTypes {
			n.ServiceTypes = append(n.ServiceTypes, int(s))
		}
		for _, p := range d.Product {
			n.Product = append(n.Product, int(p))
		}
		out = append(out, n)
	}
	return out, nil
}

const statusTopic = "system.status"

// planIndex says which data connection plan carries each topic, and which
// plans a maintenance still has to replace. Plan makes a new one.
type planIndex struct {
	byTopic map[string][]int // topic → plans (a spot and a linear one at most)
	cats    []Category       // of each data plan
	due     []atomic.Bool    // the plan's connection is to be replaced
	pending atomic.Int32     // how many are due
}

// arm makes the data plans of cats due for a replacement.
func (ix *planIndex) arm(cats []Category) int {
	n := 0
	for i, c := range ix.cats {
		if slices.Contains(cats, c) && !ix.due[i].Swap(true) {
			ix.pending.Add(1)
			n++
		}
	}
	return n
}

// connected notes that plan i has a new connection: it is no longer due.
func (ix *planIndex) connected(i int) {
	if ix.due[i].CompareAndSwap(true, false) {
		ix.pending.Add(-1)
	}
}

// IsShutdown reports true for a data frame read on a connection that a
// maintenance notice asked to replace, once per connection plan and
// notice, unless the plan connected anew since (see Config.StatusStream);
// otherwise false, at the cost of one atomic load. A frame is matched to
// its plan by its topic; a topic planned on both categories
// (publicTrade.BTCUSDT on spot and on linear) by what Bybit documents of
// each category's frames (frameCategory), and not at all for
// orderbook.1, whose frames are alike on both.
func (v *Bybit) IsShutdown(frame []byte) bool {
	ix := v.index.Load()
	if ix == nil || ix.pending.Load() == 0 {
		return false
	}
	topic := frameTopic(frame)
	if topic == nil {
		return false
	}
	plans := ix.byTopic[string(topic)]
	if len(plans) > 1 {
		c, ok := frameCategory(frame, topic)
		if !ok {
			return false
		}
		for _, i := range plans {
			if ix.cats[i] == c {
				plans = []int{i}
				break
			}
		}
	}
	for _, i := range plans {
		if ix.due[i].CompareAndSwap(true, false) {
			ix.pending.Add(-1)
			return true
		}
	}
	return false
}

// frameCategory tells a spot frame from a linear one of the same topic by
// what the docs state: a linear trade carries "L", the tick direction
// ("Trade": "Unique field for Perps & futures"); a linear book of depth
// 50 and more writes "type" before "ts", a spot book "ts" first
// ("Orderbook": "Spot (all levels) & Futures (Level 1): the "ts" field
// appears before the "type" field"). Depth 1 books are alike: not told.
func frameCategory(frame, topic []byte) (Category, bool) {
	switch {
	case bytes.HasPrefix(topic, []byte("publicTrade.")):
		if bytes.Contains(frame, []byte(`"L":"`)) {
			return Linear, true
		}
		return Spot, true
	case bytes.HasPrefix(topic, []byte("orderbook.1.")):
		return "", false
	case bytes.HasPrefix(topic, []byte("orderbook.")):
		head := frame[:min(len(frame), 96)]
		typ, ts := bytes.Index(head, []byte(`"type"`)), bytes.Index(head, []byte(`"ts"`))
		if typ < 0 || ts < 0 {
			return "", false
		}
		if typ < ts {
			return Linear, true
		}
		return Spot, true
	}
	return Linear, true // tickers and allLiquidation are planned on linear only
}

var topicKey = []byte(`"topic":"`)

// frameTopic returns the value of a push's "topic", which Bybit writes
// first; nil when it is not in the first 64 bytes.
func frameTopic(frame []byte) []byte {
	head := frame[:min(len(frame), 64)]
	i := bytes.Index(head, topicKey)
	if i < 0 {
		return nil
	}
	rest := frame[i+len(topicKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return nil
	}
	return rest[:j]
}

// statusDecoder decodes the system status connection's frames: notices go
// to the venue's Watch; replies and pongs are read as on data connections.
type statusDecoder struct {
	*Decoder
	v *Bybit
}

func (d *statusDecoder) Decode(frame []byte, ev *feed.Event) (feed.Decoded, error) {
	if t := frameTopic(frame); string(t) == statusTopic {
		ev.Reset()
		ns, err := ParseNotices(frame)
		if err != nil {
			return 0, err
		}
		select {
		case d.v.notices <- ns:
		default:
			d.v.cfg.Logger.Warn("maintenance notices dropped: not read", "venue", Venue)
		}
		return feed.DecodedReply, nil
	}
	return d.Decoder.Decode(frame, ev)
}

var _ feed.Watcher = (*Bybit)(nil)

// Watch runs until ctx ends; it implements feed.Watcher (the gateway runs
// it and stops it when it closes). It acts on the maintenance notices of
// the system status connection (see Config.StatusStream): at
// MaintenanceLead before a scheduled maintenance of market data begins,
// or at once for one under way, it makes the data connections of the
// categories concerned due for replacement and announces it as a
// TypeStatus event (StatusServerShutdown); a notice is acted on once,
// "completed" and "canceled" forget it. With Config.REST it reads the
// instruments again every Config.RefreshEvery, merges them (Refresh) and
// announces each change as a TypeStatus event (Change.Event); a failed
// read is logged and tried at the next tick.
func (v *Bybit) Watch(ctx context.Context, announce func(*feed.Event)) {
	scheduled := map[string]Notice{}
	acted := map[string]bool{}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var refresh <-chan time.Time
	if v.cfg.REST != nil && v.cfg.RefreshEvery > 0 {
		t := time.NewTicker(v.cfg.RefreshEvery)
		defer t.Stop()
		refresh = t.C
	}
	announced := v.tab.Load() // what the events have said of the instruments
	act := func(n Notice, now time.Time) {
		acted[n.ID] = true
		delete(scheduled, n.ID)
		cats := n.Categories()
		replaced := 0
		if ix := v.index.Load(); ix != nil {
			replaced = ix.arm(cats)
		}
		names := make([]string, len(cats))
		for i, c := range cats {
			names[i] = string(c)
		}
		reason := fmt.Sprintf("maintenance %q (%s) %s, from %s to %s: replacing %d connections of %s",
			n.Title, n.ID, n.State, n.Begin.UTC().Format(time.RFC3339), n.End.UTC().Format(time.RFC3339), replaced, strings.Join(names, ", "))
		v.cfg.Logger.Info("maintenance announced", "venue", Venue, "id", n.ID, "title", n.Title, "state", n.State,
			"begin", n.Begin, "end", n.End, "replacing", replaced)
		announce(&feed.Event{Type: feed.TypeStatus, Venue: Venue, Status: feed.StatusServerShutdown, Reason: reason, ReceiveTime: now.UnixNano()})
	}
	for {
		now := time.Now()
		next := time.Duration(-1)
		for _, n := range scheduled {
			due := n.Begin.Add(-v.cfg.MaintenanceLead)
			if !now.Before(due) {
				act(n, now)
				continue
			}
			if d := due.Sub(now); next < 0 || d < next {
				next = d
			}
		}
		if next >= 0 {
			timer.Reset(next)
		}
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-refresh:
			timer.Stop()
			changes, now, err := v.refresh(ctx, announced)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				v.refreshErrors.Add(1)
				v.cfg.Logger.Warn("instruments refresh failed", "venue", Venue, "err", err)
				continue
			}
			v.refreshes.Add(1)
			announced = now
			for _, c := range changes {
				ev := c.Event()
				v.cfg.Logger.Info("instrument changed", "venue", Venue, "symbol", ev.Symbol, "status", c.New.Status,
					"price_scale", c.New.PriceScale, "qty_scale", c.New.QtyScale, "reason", ev.Reason)
				announce(&ev)
			}
		case ns := <-v.notices:
			timer.Stop()
			for _, n := range ns {
				switch {
				case !n.MarketData() || len(n.Categories()) == 0:
				case n.State == "completed" || n.State == "canceled":
					delete(scheduled, n.ID)
					delete(acted, n.ID)
				case acted[n.ID]:
				case n.State == "scheduled":
					scheduled[n.ID] = n
				case n.State == "ongoing":
					act(n, time.Now())
				}
			}
		}
	}
}
