package monitor

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// histogram is a latency histogram for the hot path: an observation is a
// short scan of the bounds and two atomic adds (the sum is kept in whole
// nanoseconds), about a third of the cost of a prometheus.Histogram. A
// scrape may see an observation in its bucket and not yet in the sum.
type histogram struct {
	labels   []string
	boundsNS []int64
	counts   []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sumNS    atomic.Int64
}

// observe records a duration in ns; a negative one counts as 0.
func (h *histogram) observe(ns int64) {
	ns = max(ns, 0)
	i := 0
	for i < len(h.boundsNS) && ns > h.boundsNS[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNS.Add(ns)
}

// histogramVec is a family of histograms labelled venue and type, exported
// as a Prometheus collector.
type histogramVec struct {
	desc     *prometheus.Desc
	bounds   []float64 // seconds
	boundsNS []int64

	mu       sync.Mutex
	children map[[2]string]*histogram
	order    []*histogram
}

func newHistogramVec(name, help string, bounds []float64) *histogramVec {
	v := &histogramVec{
		desc:     prometheus.NewDesc(namespace+"_"+name, help, []string{"venue", "type"}, nil),
		bounds:   bounds,
		boundsNS: make([]int64, len(bounds)),
		children: map[[2]string]*histogram{},
	}
	for i, b := range bounds {
		v.boundsNS[i] = int64(b * 1e9)
	}
	return v
}

// with returns the histogram of a venue and type, creating it on first use.
func (v *histogramVec) with(venue, typ string) *histogram {
	v.mu.Lock()
	defer v.mu.Unlock()
	k := [2]string{venue, typ}
	if h := v.children[k]; h != nil {
		return h
	}
	h := &histogram{labels: []string{venue, typ}, boundsNS: v.boundsNS, counts: make([]atomic.Uint64, len(v.bounds)+1)}
	v.children[k] = h
	v.order = append(v.order, h)
	return h
}

func (v *histogramVec) list() []*histogram {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]*histogram(nil), v.order...)
}

func (v *histogramVec) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }

func (v *histogramVec) Collect(ch chan<- prometheus.Metric) {
	for _, h := range v.list() {
		buckets := make(map[float64]uint64, len(v.bounds))
		var cum uint64
		for i, b := range v.bounds {
			cum += h.counts[i].Load()
			buckets[b] = cum
		}
		cum += h.counts[len(v.bounds)].Load()
		ch <- prometheus.MustNewConstHistogram(v.desc, cum, float64(h.sumNS.Load())/1e9, buckets, h.labels...)
	}
}

// cumulative returns the cumulative count of each bucket over every
// histogram of the family; the last element is the total.
func (v *histogramVec) cumulative() []uint64 {
	out := make([]uint64, len(v.bounds)+1)
	for _, h := range v.list() {
		var cum uint64
		for i := range h.counts {
			cum += h.counts[i].Load()
			out[i] += cum
		}
	}
	return out
}

// cumulativeOf is cumulative for the histograms of one venue.
func (v *histogramVec) cumulativeOf(venue string) []uint64 {
	out := make([]uint64, len(v.bounds)+1)
	for _, h := range v.list() {
		if h.labels[0] != venue {
			continue
		}
		var cum uint64
		for i := range h.counts {
			cum += h.counts[i].Load()
			out[i] += cum
		}
	}
	return out
}
