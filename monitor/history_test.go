package monitor

import (
	"testing"
	"time"
)

// TestHistoryIsBounded feeds ten days of one-second samples: each range
// keeps its bound, covers its span, and merges points as documented.
func TestHistoryIsBounded(t *testing.T) {
	h := newHistory(300)
	t0 := time.Unix(1700000000, 0).UnixMilli()
	const n = 10 * 24 * 3600
	for i := range n {
		lat := float64(i % 100)
		h.add(point{T: t0 + int64(i)*1000, Events: float64(i % 2 * 10), ExchP99: &lat, Reconnects: int64(i / 1000), Heap: int64(i % 7)})
	}
	last := t0 + (n-1)*1000
	check := func(name string, tr *tier, maxPts int, span time.Duration) {
		t.Helper()
		pts := tr.points()
		if len(pts) > maxPts+1 {
			t.Fatalf("%s: %d points, bound %d", name, len(pts), maxPts)
		}
		if pts[len(pts)-1].T != last {
			t.Fatalf("%s: last point at %d, want the last sample %d", name, pts[len(pts)-1].T, last)
		}
		if got := time.Duration(last-pts[0].T) * time.Millisecond; got < span*9/10 || got > span {
			t.Fatalf("%s: spans %v, want about %v", name, got, span)
		}
		for i := 1; i < len(pts); i++ {
			if pts[i].T <= pts[i-1].T {
				t.Fatalf("%s: point %d at %d after %d", name, i, pts[i].T, pts[i-1].T)
			}
		}
	}
	check("5m", &h.raw, 300, 300*time.Second)
	check("1h", &h.mid, midPoints, time.Hour)
	check("all", &h.all, allPoints, n*time.Second)
	if h.all.per <= allFactor {
		t.Fatalf("since start: %d samples a point after 10 days", h.all.per)
	}

	p := h.mid.pts[len(h.mid.pts)-1]
	if p.Events != 5 { // mean of 0 and 10
		t.Fatalf("merged rate %v, want the mean 5", p.Events)
	}
	if p.Heap != 6 {
		t.Fatalf("merged heap %v, want the highest 6", p.Heap)
	}
	if p.Reconnects != int64((p.T-t0)/1000/1000) {
		t.Fatalf("merged total %d, want the last", p.Reconnects)
	}
	if *p.ExchP99 < 9 {
		t.Fatalf("merged p99 %v, want the highest of its samples", *p.ExchP99)
	}
}

// TestHistoryMergesVenues: each venue's rate is averaged with its own when
// points merge; a point whose venues changed keeps the newer ones.
func TestHistoryMergesVenues(t *testing.T) {
	h := newHistory(10)
	for i := range midFactor {
		h.add(point{T: int64(i), Venues: []float64{float64(i % 2 * 10), 4}})
	}
	p := h.mid.pts[len(h.mid.pts)-1]
	if len(p.Venues) != 2 || p.Venues[0] != 5 || p.Venues[1] != 4 {
		t.Fatalf("merged venues %v, want each one's mean [5 4]", p.Venues)
	}
	if m := merge(point{Venues: []float64{1}}, 1, point{Venues: []float64{2, 3}}, 1); len(m.Venues) != 2 || m.Venues[0] != 2 || m.Venues[1] != 3 {
		t.Fatalf("merged across a change of venues: %v, want the newer [2 3]", m.Venues)
	}
	if m := merge(point{}, 1, point{}, 1); m.Venues != nil {
		t.Fatalf("merged without venues: %v", m.Venues)
	}
}
