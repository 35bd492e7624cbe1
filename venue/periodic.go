package venue

import (
	"context"
	"time"
)

// Periodically calls fn every period, from a goroutine of its own, until
// the returned stop is called: stop cancels fn's context and waits for the
// goroutine to end. A period ≤ 0 starts nothing (stop does nothing). An
// error of fn is handed to failed (unless stop caused it), and fn is
// called again at the next period: a venue's instruments read again while
// it runs, a failed read tried again later.
func Periodically(period time.Duration, fn func(ctx context.Context) error, failed func(error)) (stop func()) {
	if period <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				failed(err)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
