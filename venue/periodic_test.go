package venue

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// fn runs every period, its failures reported, until stop, which ends the
// goroutine (goleak) and cancels a call under way; a period of 0 runs
// nothing.
func TestPeriodically(t *testing.T) {
	var calls, failures atomic.Int64
	blocked := make(chan struct{})
	stop := Periodically(10*time.Millisecond, func(ctx context.Context) error {
		if calls.Add(1) == 5 {
			close(blocked)
			<-ctx.Done() // stop must cancel it
			return ctx.Err()
		}
		return errors.New("read failed")
	}, func(error) { failures.Add(1) })
	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		t.Fatalf("%d calls in 10s", calls.Load())
	}
	stop()
	if n, f := calls.Load(), failures.Load(); n != 5 || f != 4 {
		t.Fatalf("%d calls, %d failures reported; want 5 and 4 (not the one stop ended)", n, f)
	}
	Periodically(0, func(context.Context) error { t.Error("called with period 0"); return nil }, nil)()
}
