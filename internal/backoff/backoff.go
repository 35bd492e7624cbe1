// Package backoff holds the delays between retries shared by the clients:
// a capped exponential, its jitter, and a sleep that a context ends.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Exp returns base doubled n times, capped at limit: min(base<<n, limit),
// without overflow. A negative n counts as 0; a base of 0 or less is
// returned as is.
func Exp(base, limit time.Duration, n int) time.Duration {
	if base <= 0 {
		return base
	}
	n = max(n, 0)
	if n >= 63 || base > limit>>n {
		return limit
	}
	return min(base<<n, limit)
}

// Full returns a random delay in [1ns, d], uniform ("full jitter"); d
// itself when it is below 1ns.
func Full(d time.Duration) time.Duration {
	if d < 1 {
		return d
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

// Half returns a random delay in [d/2, d], uniform: the upper half of d
// jittered, so that a delay never shrinks below half its step. d itself
// when it is 1ns or less.
func Half(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d-d/2+1)
}

// Sleep waits for d or until ctx ends; it reports whether d passed. A d of
// 0 or less passes at once unless ctx has ended.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
