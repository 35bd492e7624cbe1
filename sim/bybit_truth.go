package sim

import "slices"

// bybitNumbering is an order book numbering a bybit-restart ended: the
// last u it reached, the first it kept, and the market update ID of each
// u at u % len(hist).
type bybitNumbering struct {
	u, lo int64
	hist  []int64
}

// endNumbering keeps bc's numbering as a bybit-restart ends it, so that
// the books of its pushes can still be checked. Called under feed.mu.
func (bc *bybitCat) endNumbering() {
	bc.ended = append(bc.ended, bybitNumbering{u: bc.u, lo: bc.histLo, hist: slices.Clone(bc.hist)})
}

// endedMarketID finds push u, not reached by the current numbering, in
// the numberings restarts ended, newest first. Called under feed.mu.
func (bc *bybitCat) endedMarketID(u int64) (int64, bool) {
	for i := len(bc.ended) - 1; i >= 0; i-- {
		nb := &bc.ended[i]
		if n := int64(len(nb.hist)); u <= nb.u && u >= nb.lo && u > nb.u-n {
			return nb.hist[u%n], true
		}
	}
	return 0, false
}
