package stdout

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/sink"
	"github.com/feedkeeper/feedkeeper/sink/sinktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// syncBuffer is a bytes.Buffer safe to read while the sink writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func lines(b []byte) [][]byte {
	var out [][]byte
	for l := range bytes.SplitSeq(b, []byte{'\n'}) {
		if len(l) > 0 {
			out = append(out, l)
		}
	}
	return out
}

func TestSuite(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		out := &syncBuffer{}
		s, err := Open(Config{Out: out, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return sinktest.Target{Sink: s, Read: func(testing.TB) [][]byte { return lines(out.Bytes()) }}
	})
}

func TestFlushWhenIdle(t *testing.T) {
	out := &syncBuffer{}
	s, err := Open(Config{Out: out, FlushInterval: 20 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev := sinktest.Trades("BTCUSDT", 1, 1)[0]
	if err := s.Write(&ev); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(out.Bytes()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("event not written while the sink was idle")
		}
		time.Sleep(5 * time.Millisecond)
	}
	sinktest.Check(t, lines(out.Bytes()), []feed.Event{ev})
	// the sink counts the event delivered once its write has returned: a
	// moment after the bytes are out
	for st := s.Stats(); st.Delivered != 1 || st.Pending != 0; st = s.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWriteLine(t *testing.T) {
	out := &syncBuffer{}
	s, err := Open(Config{Out: out, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ev := sinktest.Trades("BTCUSDT", 1, 1)[0]
	s.WriteLine([]byte(`{"e":"aggTrade"}`))
	s.Write(&ev)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := `{"e":"aggTrade"}` + "\n" + string(ev.AppendJSON(nil)) + "\n"
	if got := string(out.Bytes()); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if err := s.WriteLine(nil); !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("WriteLine after Close: %v", err)
	}
}

func TestBrokenPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r.Close()
	s, err := Open(Config{Out: w, FlushInterval: time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	evs := sinktest.Trades("BTCUSDT", 1, 100)
	for i := range evs {
		if err := s.Write(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close after the reader went away: %v, want nil", err)
	}
	if st := s.Stats(); st.Lost != 100 || st.Errors != 0 {
		t.Fatalf("stats %+v: want 100 lost, no error", st)
	}
}

// failWriter accepts n bytes, then fails.
type failWriter struct {
	n   int
	err error
}

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) <= f.n {
		f.n -= len(p)
		return len(p), nil
	}
	n := f.n
	f.n = 0
	return n, f.err
}

func TestWriteError(t *testing.T) {
	evs := sinktest.Trades("BTCUSDT", 1, 10)
	line := len(evs[0].AppendJSON(nil)) + 1
	boom := errors.New("device gone")
	s, err := Open(Config{Out: &failWriter{n: 3*line + 5, err: boom}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		s.Write(&evs[i])
	}
	err = s.Close()
	var lost *sink.LostError
	if !errors.Is(err, sink.ErrLost) || !errors.Is(err, boom) || !errors.As(err, &lost) {
		t.Fatalf("Close: %v, want a LostError caused by the write error", err)
	}
	if st := s.Stats(); st.Delivered != 3 || st.Lost != 7 || lost.Events != 7 || st.Errors != 1 {
		t.Fatalf("stats %+v, lost %d: want 3 delivered, 7 lost", st, lost.Events)
	}
}

// gate blocks every write until opened.
type gate struct {
	open chan struct{}
	out  syncBuffer
}

func (g *gate) Write(p []byte) (int, error) {
	<-g.open
	return g.out.Write(p)
}

func TestSlowConsumer(t *testing.T) {
	for _, policy := range []sink.Policy{sink.Block, sink.Drop} {
		t.Run(policy.String(), func(t *testing.T) {
			g := &gate{open: make(chan struct{})}
			const bound = 50
			timeout := 30 * time.Millisecond
			s, err := Open(Config{Out: g, FlushInterval: time.Millisecond, Logger: quiet,
				Buffer: sink.Buffer{Events: bound, Policy: policy, Timeout: timeout}})
			if err != nil {
				t.Fatal(err)
			}
			evs := sinktest.Trades("BTCUSDT", 1, 300)
			var accepted []feed.Event
			refused := 0
			for i := range evs {
				start := time.Now()
				err := s.Write(&evs[i])
				switch {
				case err == nil:
					accepted = append(accepted, evs[i])
				case errors.Is(err, sink.ErrFull):
					refused++
					d := time.Since(start)
					if policy == sink.Block && d < timeout {
						t.Fatalf("Block refused after %v, want %v", d, timeout)
					}
					if policy == sink.Drop && d >= time.Second {
						t.Fatalf("Drop waited %v", d)
					}
				default:
					t.Fatal(err)
				}
				if refused == 3 {
					break
				}
				if i == 2 {
					time.Sleep(20 * time.Millisecond) // the writer takes the first events and blocks on them
				}
			}
			if refused != 3 {
				t.Fatal("a blocked writer never filled the buffer")
			}
			if len(accepted) > 2*bound+3 {
				t.Fatalf("accepted %d events with a bound of %d", len(accepted), bound)
			}
			close(g.open)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			sinktest.Check(t, lines(g.out.Bytes()), accepted)
			if st := s.Stats(); st.Dropped != 3 || st.Delivered != int64(len(accepted)) {
				t.Fatalf("stats %+v: want 3 dropped, %d delivered", st, len(accepted))
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []Config{
		{FlushInterval: -1},
		{Buffer: sink.Buffer{Events: -1}},
		{Buffer: sink.Buffer{Policy: 7}},
	} {
		if _, err := Open(c); err == nil {
			t.Errorf("Open(%+v) accepted a bad config", c)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	s, err := Open(Config{Out: io.Discard, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	evs := sinktest.Trades("BTCUSDT", 1, 1024)
	b.ReportAllocs()
	done := sinktest.Measure(b)
	for i := 0; b.Loop(); i++ {
		if err := s.Write(&evs[i%len(evs)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	done()
}
