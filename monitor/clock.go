package monitor

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Offset is an estimate of how far the venue's clock is ahead of ours.
type Offset struct {
	// Offset is the venue's clock minus the local clock: positive when the
	// venue is ahead.
	Offset time.Duration
	// RTT is the round trip of the sample used; the offset is known to
	// within RTT/2 plus the venue clock's resolution.
	RTT time.Duration
	// At is when the sample was taken (local clock).
	At time.Time
}

// EstimateOffset asks the venue for its time samples times (at least once)
// and estimates the offset from the round trip that was shortest: the
// venue's time is taken as read at the midpoint of that round trip. Failed
// samples are skipped; it fails only when all of them fail, or when ctx
// ends. serverTime should return the middle of the venue clock's tick: a
// clock that reads whole milliseconds (Binance's serverTime) is on average
// half a millisecond later than it says.
func EstimateOffset(ctx context.Context, samples int, serverTime func(context.Context) (time.Time, error)) (Offset, error) {
	var best Offset
	var errs []error
	for i := 0; i < max(samples, 1); i++ {
		if err := ctx.Err(); err != nil {
			return Offset{}, err
		}
		t0 := time.Now()
		st, err := serverTime(ctx)
		t1 := time.Now()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rtt := t1.Sub(t0)
		if best.At.IsZero() || rtt < best.RTT {
			mid := t0.Add(rtt / 2)
			best = Offset{Offset: st.Sub(mid), RTT: rtt, At: mid}
		}
	}
	if best.At.IsZero() {
		return Offset{}, fmt.Errorf("monitor: clock offset: every sample failed: %w", errors.Join(errs...))
	}
	return best, nil
}

// SetClockOffset sets the offset by which exchange latency is corrected,
// and the clock_offset gauges. Safe for concurrent use.
func (m *Monitor) SetClockOffset(o Offset) {
	m.clock.Store(&o)
	m.obs.offset.Store(int64(o.Offset))
	m.clockOffset.Set(o.Offset.Seconds())
	m.clockRTT.Set(o.RTT.Seconds())
	if !o.At.IsZero() {
		m.clockAt.Set(float64(o.At.UnixNano()) / 1e9)
	}
}

// ClockOffset returns the offset in use.
func (m *Monitor) ClockOffset() time.Duration { return time.Duration(m.obs.offset.Load()) }

// trackClock estimates the offset now and every ClockInterval until the
// Monitor closes.
func (m *Monitor) trackClock() {
	t := time.NewTimer(0)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
		o, err := EstimateOffset(ctx, m.cfg.ClockSamples, m.cfg.ServerTime)
		cancel()
		switch {
		case m.ctx.Err() != nil:
			return
		case err != nil:
			m.clockErrors.Inc()
			if !failing {
				m.log.Warn("clock offset: estimate failed", "err", err)
			}
			failing = true
		default:
			m.SetClockOffset(o)
			if failing {
				m.log.Info("clock offset: estimate recovered")
			}
			failing = false
			m.log.Debug("clock offset", "offset", o.Offset, "rtt", o.RTT)
		}
		t.Reset(m.cfg.ClockInterval)
	}
}
