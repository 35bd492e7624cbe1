package sim

import (
	"strings"
	"testing"
	"time"
)

// countSink wants the streams want accepts and counts what it gets.
type countSink struct {
	want        func(stream string) bool
	micros      bool
	msgs, bytes int
}

func (s *countSink) wants(stream string) (bool, bool) {
	if s.want(stream) {
		return true, s.micros
	}
	return false, false
}

func (s *countSink) publish(m *Message) {
	s.msgs++
	s.bytes += len(m.Ms) + len(m.Us)
}

// BenchmarkAdvance measures one market update (ns/op is ns/update) on the
// four default symbols with 500 levels a side, encoding and publishing what
// the sink wants.
func BenchmarkAdvance(b *testing.B) {
	for _, c := range []struct {
		name   string
		want   func(string) bool
		micros bool
	}{
		{"aggTrade", func(s string) bool { return strings.HasSuffix(s, "@aggTrade") }, false},
		{"aggTrade+trade+bookTicker", func(string) bool { return true }, false},
		{"all+micros", func(string) bool { return true }, true},
		{"none", func(string) bool { return false }, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			m := newTestMarket(b, Config{})
			sink := &countSink{want: c.want, micros: c.micros}
			now := testStart
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += 1000 {
				now = now.Add(time.Millisecond)
				m.advance(now, min(1000, b.N-done), sink)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
			b.ReportMetric(float64(sink.msgs)/float64(b.N), "msgs/update")
		})
	}
}

// BenchmarkTick measures a tick with every depth stream of the four default
// symbols subscribed, the market making 50 updates per tick.
func BenchmarkTick(b *testing.B) {
	m := newTestMarket(b, Config{})
	sink := &countSink{want: func(s string) bool { return strings.Contains(s, "@depth") }}
	now := testStart
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		now = now.Add(10 * time.Millisecond)
		m.advance(now, 50, sink)
		m.tick(now, sink)
	}
}

func BenchmarkEncodeAggTrade(b *testing.B) {
	ev := rawEvent{kind: KindAggTrade, id: 3012345678, first: 4012345678, last: 4012345680,
		price: 6000001, qty: 1234, us: testStart.UnixMicro()}
	sc := scale{tick: 1e6, step: 1e3}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for range b.N {
		buf = appendAggTrade(buf[:0], sc, "BTCUSDT", &ev, false)
	}
}

// BenchmarkBookAt measures rebuilding an old book of 500 levels a side.
func BenchmarkBookAt(b *testing.B) {
	m := newTestMarket(b, Config{Symbols: []string{"BTCUSDT"}})
	drive(m, &countSink{want: func(string) bool { return false }}, testStart, 2000, 50)
	st := m.states()[0]
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		id := st.OldestUpdateID + int64(i)%(st.LastUpdateID-st.OldestUpdateID)
		if _, err := m.bookAt("BTCUSDT", id); err != nil {
			b.Fatal(err)
		}
	}
}
