//go:build race

package wsconn_test

// raceEnabled: the race detector drops pooled objects at random, so
// allocation counts are only exact without it.
const raceEnabled = true
