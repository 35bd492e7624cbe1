package monitor

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// The charts' history is kept at three resolutions, so that the dashboard
// can show the last 5 minutes, the last hour and everything since start
// from a bounded memory:
//
//   - every sample, the last Config.History of them (5 minutes at 1s);
//   - one point per midFactor samples, the last midPoints of them (1 hour
//     at 1s);
//   - one point per allFactor samples at first, at most allPoints of them:
//     when full, neighbours merge in pairs and each point covers twice the
//     time (12 hours at one point a minute, then 24 at two, and so on).
//
// With the defaults that is at most 300 + 360 + 720 points (about 200
// bytes each as JSON).
const (
	midFactor = 10
	midPoints = 360
	allFactor = 60
	allPoints = 720
)

// A merged point is the mean of its samples for rates, the largest value
// for latency quantiles, memory and goroutines, and the last value for
// running totals.

// tier is one resolution of the history.
type tier struct {
	per   int     // samples per point
	max   int     // points kept
	grow  bool    // when full, merge pairs and double per, instead of dropping the oldest
	pts   []point // complete points, oldest first
	cur   point   // the point being filled
	curN  int     // samples in cur
	total int     // samples seen
}

func (t *tier) add(p point) {
	t.total++
	if t.curN == 0 {
		t.cur = p
	} else {
		t.cur = merge(t.cur, t.curN, p, 1)
	}
	t.curN++
	if t.curN < t.per {
		return
	}
	t.push(t.cur)
	t.cur, t.curN = point{}, 0
}

func (t *tier) push(p point) {
	if len(t.pts) < t.max {
		t.pts = append(t.pts, p)
		return
	}
	if !t.grow {
		copy(t.pts, t.pts[1:])
		t.pts[len(t.pts)-1] = p
		return
	}
	n := 0
	for i := 0; i+1 < len(t.pts); i += 2 {
		t.pts[n] = merge(t.pts[i], 1, t.pts[i+1], 1)
		n++
	}
	if len(t.pts)%2 == 1 {
		t.pts[n] = t.pts[len(t.pts)-1]
		n++
	}
	t.pts = append(t.pts[:n], p)
	t.per *= 2
}

// points returns the complete points and the one being filled.
func (t *tier) points() []point {
	out := make([]point, 0, len(t.pts)+1)
	out = append(out, t.pts...)
	if t.curN > 0 {
		out = append(out, t.cur)
	}
	return out
}

// merge combines a (standing for na samples) with b (nb samples).
func merge(a point, na int, b point, nb int) point {
	wa, wb := float64(na), float64(nb)
	mean := func(x, y float64) float64 { return (x*wa + y*wb) / (wa + wb) }
	mx := func(x, y *float64) *float64 {
		switch {
		case x == nil:
			return y
		case y == nil || *x >= *y:
			return x
		}
		return y
	}
	var venues []float64
	if len(a.Venues) == len(b.Venues) && len(b.Venues) > 0 {
		venues = make([]float64, len(b.Venues))
		for i := range venues {
			venues[i] = mean(a.Venues[i], b.Venues[i])
		}
	} else if len(b.Venues) > 0 {
		venues = append(venues, b.Venues...)
	}
	return point{
		T:      b.T,
		Venues: venues,
		Events: mean(a.Events, b.Events), Frames: mean(a.Frames, b.Frames), Bytes: mean(a.Bytes, b.Bytes),
		ExchP50: mx(a.ExchP50, b.ExchP50), ExchP99: mx(a.ExchP99, b.ExchP99), SinkP99: mx(a.SinkP99, b.SinkP99),
		Reconnects: b.Reconnects, Gaps: b.Gaps, Missing: b.Missing,
		Heap: max(a.Heap, b.Heap), RSS: max(a.RSS, b.RSS), Goroutines: max(a.Goroutines, b.Goroutines),
	}
}

// history holds the three tiers; guarded by sampler.mu.
type history struct {
	raw, mid, all tier
}

func newHistory(samples int) history {
	return history{
		raw: tier{per: 1, max: samples},
		mid: tier{per: midFactor, max: midPoints},
		all: tier{per: allFactor, max: allPoints, grow: true},
	}
}

func (h *history) add(p point) {
	h.raw.add(p)
	h.mid.add(p)
	h.all.add(p)
}

// Ranges of /api/history.
var historyRanges = map[string]func(h *history) *tier{
	"5m":  func(h *history) *tier { return &h.raw },
	"1h":  func(h *history) *tier { return &h.mid },
	"all": func(h *history) *tier { return &h.all },
}

// rangeView describes a range the dashboard offers: how long it spans
// (0: since start) and the time one point covers.
type rangeView struct {
	ID     string `json:"id"`
	SpanMS int64  `json:"span_ms,omitempty"`
	StepMS int64  `json:"step_ms"`
}

// historyView is the body of /api/history.
type historyView struct {
	Range  string  `json:"range"`
	StepMS int64   `json:"step_ms"` // the time one point covers (its last sample's time is T)
	Points []point `json:"points"`
}

// serveHistory answers /api/history?range=5m|1h|all: the charts' points
// over that range, at its resolution.
func (m *Monitor) serveHistory(w http.ResponseWriter, r *http.Request) {
	rg := r.URL.Query().Get("range")
	if rg == "" {
		rg = "5m"
	}
	pick, ok := historyRanges[rg]
	if !ok {
		http.Error(w, "range "+strconv.Quote(rg)+": want 5m, 1h or all", http.StatusBadRequest)
		return
	}
	s := m.sampler
	s.mu.Lock()
	t := pick(&s.hist)
	v := historyView{Range: rg, StepMS: int64(t.per) * m.cfg.SampleInterval.Milliseconds(), Points: t.points()}
	s.mu.Unlock()
	if rg == "5m" {
		// the last History samples, whatever the interval
		v.StepMS = m.cfg.SampleInterval.Milliseconds()
	}
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}
