package monitor

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedkeeper/feedkeeper/sink"
)

// Defaults of the sink checks.
const (
	DefaultSinkStall  = 10 * time.Second
	DefaultSinkWindow = 30 * time.Second
)

// sinkTracker remembers, per sink, when its counters last moved, so that
// readiness can tell a sink that stopped delivering from one that is idle,
// and a recent loss from an old one.
type sinkTracker struct {
	mu    sync.Mutex
	sinks map[string]*sinkState
}

type sinkState struct {
	seen                     bool
	delivered, lost, dropped int64
	movedAt                  time.Time // Delivered moved, or nothing was pending
	lostAt, droppedAt        time.Time // zero: never
	lostN, droppedN          int64     // lost or refused since the window began
}

// check returns the sinks' problems at now, by sink name.
func (t *sinkTracker) check(sinks map[string]sink.Sink, stall, window time.Duration, now time.Time) []Problem {
	names := make([]string, 0, len(sinks))
	for n := range sinks {
		names = append(names, n)
	}
	sort.Strings(names)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sinks == nil {
		t.sinks = map[string]*sinkState{}
	}
	var ps []Problem
	for _, name := range names {
		s := sinks[name]
		st := s.Stats()
		ss := t.sinks[name]
		if ss == nil {
			ss = &sinkState{}
			t.sinks[name] = ss
		}
		if !ss.seen || st.Delivered != ss.delivered || st.Pending <= 0 {
			ss.movedAt = now
		}
		if st.Lost > ss.lost {
			if now.Sub(ss.lostAt) > window {
				ss.lostN = 0
			}
			ss.lostN += st.Lost - ss.lost
			ss.lostAt = now
		}
		if st.Dropped > ss.dropped {
			if now.Sub(ss.droppedAt) > window {
				ss.droppedN = 0
			}
			ss.droppedN += st.Dropped - ss.dropped
			ss.droppedAt = now
		}
		ss.seen, ss.delivered, ss.lost, ss.dropped = true, st.Delivered, st.Lost, st.Dropped

		add := func(detail string) { ps = append(ps, Problem{Check: "sink", Sink: name, Detail: detail}) }
		if h, ok := s.(sink.Healther); ok {
			if err := h.Health(); err != nil {
				add(err.Error())
			}
		}
		if d := now.Sub(ss.movedAt); d >= stall {
			add(fmt.Sprintf("%d events pending, none delivered for %v", st.Pending, d.Round(100*time.Millisecond)))
		}
		if !ss.lostAt.IsZero() && now.Sub(ss.lostAt) < window {
			add(fmt.Sprintf("%d events lost in the last %v (%d since start)", ss.lostN, window, st.Lost))
		}
		if !ss.droppedAt.IsZero() && now.Sub(ss.droppedAt) < window {
			add(fmt.Sprintf("%d events refused, buffer full, in the last %v (%d since start)", ss.droppedN, window, st.Dropped))
		}
	}
	return ps
}

// sinkView is one sink on the dashboard: its counters and, when it is not
// ready, why.
type sinkView struct {
	Name      string   `json:"name"`
	Ready     bool     `json:"ready"`
	Problems  []string `json:"problems,omitempty"`
	Accepted  int64    `json:"accepted"`
	Delivered int64    `json:"delivered"`
	Pending   int64    `json:"pending"`
	Dropped   int64    `json:"dropped"`
	Lost      int64    `json:"lost"`
	Errors    int64    `json:"errors"`
	Retries   int64    `json:"retries"`
}

// sinkViews returns the sinks' counters with their problems among ps.
func sinkViews(sinks map[string]sink.Sink, ps []Problem) []sinkView {
	names := make([]string, 0, len(sinks))
	for n := range sinks {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]sinkView, 0, len(names))
	for _, n := range names {
		st := sinks[n].Stats()
		v := sinkView{Name: n, Ready: true, Accepted: st.Accepted, Delivered: st.Delivered, Pending: st.Pending,
			Dropped: st.Dropped, Lost: st.Lost, Errors: st.Errors, Retries: st.Retries}
		for _, p := range ps {
			if p.Check == "sink" && p.Sink == n {
				v.Ready = false
				v.Problems = append(v.Problems, p.Detail)
			}
		}
		out = append(out, v)
	}
	return out
}

// sinkCollector exports each sink's counters and readiness, labelled by
// its name in Config.Sinks.
type sinkCollector struct {
	m                                                   *Monitor
	ready, pending                                      *prometheus.Desc
	accepted, delivered, dropped, lost, errors, retries *prometheus.Desc
}

func newSinkCollector(m *Monitor, constLabels prometheus.Labels) *sinkCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(namespace+"_sink_"+name, help, []string{"sink"}, constLabels)
	}
	return &sinkCollector{
		m:         m,
		ready:     d("ready", "1 while the sink delivers (as /readyz judges it), 0 when it does not."),
		pending:   d("pending_events", "Events accepted and neither delivered nor lost yet."),
		accepted:  d("accepted_events_total", "Events the sink accepted."),
		delivered: d("delivered_events_total", "Events the destination has: written, or acknowledged by JetStream."),
		dropped:   d("refused_events_total", "Events refused because the sink's buffer stayed full."),
		lost:      d("lost_events_total", "Accepted events that did not reach the destination."),
		errors:    d("errors_total", "Failures of the destination: write errors, refused or retried publishes, lost connections."),
		retries:   d("retries_total", "Messages published again (NATS)."),
	}
}

func (c *sinkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.ready, c.pending, c.accepted, c.delivered, c.dropped, c.lost, c.errors, c.retries} {
		ch <- d
	}
}

func (c *sinkCollector) Collect(ch chan<- prometheus.Metric) {
	cfg := &c.m.cfg
	ps := c.m.sinks.check(cfg.Sinks, cfg.SinkStall, cfg.SinkWindow, time.Now())
	for _, v := range sinkViews(cfg.Sinks, ps) {
		ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, b2f(v.Ready), v.Name)
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(v.Pending), v.Name)
		ch <- prometheus.MustNewConstMetric(c.accepted, prometheus.CounterValue, float64(v.Accepted), v.Name)
		ch <- prometheus.MustNewConstMetric(c.delivered, prometheus.CounterValue, float64(v.Delivered), v.Name)
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(v.Dropped), v.Name)
		ch <- prometheus.MustNewConstMetric(c.lost, prometheus.CounterValue, float64(v.Lost), v.Name)
		ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(v.Errors), v.Name)
		ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(v.Retries), v.Name)
	}
}
