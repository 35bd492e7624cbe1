package feed

import "testing"

// By ChainPrevID a delta that names the last one continues the chain
// whatever its own ID (an OKX keep-alive names itself; IDs restart lower
// after a maintenance); one that names another is a gap, or a duplicate
// when its ID is already past.
func TestSequencerPrevIDChain(t *testing.T) {
	s := newSequencer(ChainPrevID)
	d := func(first, id, prev int64) *Event {
		return &Event{Type: TypeBookDelta, Symbol: "X", FirstID: first, ID: id, PrevID: prev}
	}
	for i, tt := range []struct {
		ev   *Event
		want verdict
	}{
		{&Event{Type: TypeBookSnapshot, Base: true, Symbol: "X", ID: 15}, verdictNew},
		{d(16, 20, 15), verdictNew},
		{d(20, 20, 20), verdictNew}, // keep-alive
		{d(3, 3, 20), verdictNew},   // IDs restart lower, the chain unbroken
		{d(5, 5, 3), verdictNew},
		{d(4, 5, 3), verdictDuplicate}, // sent again
		{d(9, 9, 7), verdictGap},       // names an update never seen
	} {
		if v, _, _ := s.check(tt.ev); v != tt.want {
			t.Fatalf("event %d (%+v): verdict %d, want %d", i, *tt.ev, v, tt.want)
		}
	}
}
