package sink_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/sink"
	"github.com/feedkeeper/feedkeeper/sink/sinktest"
	"github.com/feedkeeper/feedkeeper/sink/stdout"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// memSink keeps the JSON of what it accepts; it refuses after limit events.
type memSink struct {
	mu     sync.Mutex
	name   string
	lines  [][]byte
	limit  int
	closed bool
}

var _ sink.Sink = (*memSink)(nil)

func (m *memSink) Write(ev *feed.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return &sink.Error{Sink: m.name, Err: sink.ErrClosed}
	}
	if m.limit > 0 && len(m.lines) >= m.limit {
		return &sink.Error{Sink: m.name, Err: sink.ErrFull}
	}
	m.lines = append(m.lines, ev.AppendJSON(nil))
	return nil
}

func (m *memSink) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *memSink) Stats() sink.Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := int64(len(m.lines))
	return sink.Stats{Accepted: n, Delivered: n}
}

func (m *memSink) read(testing.TB) [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lines
}

func TestMultiSuite(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		var out bytes.Buffer
		s, err := stdout.Open(stdout.Config{Out: &out, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		mem := &memSink{name: "mem"}
		multi := sink.NewMulti(s, mem)
		return sinktest.Target{
			Sink: &halfStats{multi},
			Read: func(t testing.TB) [][]byte {
				var fromOut [][]byte
				for l := range bytes.SplitSeq(out.Bytes(), []byte{'\n'}) {
					if len(l) > 0 {
						fromOut = append(fromOut, l)
					}
				}
				got := mem.read(t)
				if len(fromOut) != len(got) {
					t.Fatalf("stdout has %d events, the other sink %d", len(fromOut), len(got))
				}
				for i := range got {
					if err := sinktest.Equal(fromOut[i], got[i]); err != nil {
						t.Fatalf("event %d: %v", i, err)
					}
				}
				return got
			},
		}
	})
}

// halfStats halves the counters of a Multi of two sinks that get the same
// events, so that the suite's checks of one sink apply.
type halfStats struct{ *sink.Multi }

func (h *halfStats) Stats() sink.Stats {
	st := h.Multi.Stats()
	return sink.Stats{Accepted: st.Accepted / 2, Delivered: st.Delivered / 2, Dropped: st.Dropped / 2, Lost: st.Lost / 2, Pending: st.Pending / 2}
}

func TestMultiErrors(t *testing.T) {
	a := &memSink{name: "a", limit: 1}
	b := &memSink{name: "b", limit: 2}
	c := &memSink{name: "c"}
	m := sink.NewMulti(a, b, c)
	evs := sinktest.Trades("BTCUSDT", 1, 3)
	if err := m.Write(&evs[0]); err != nil {
		t.Fatal(err)
	}
	err := m.Write(&evs[1])
	var se *sink.Error
	if !errors.Is(err, sink.ErrFull) || !errors.As(err, &se) || se.Sink != "a" {
		t.Fatalf("one sink full: %v, want sink a's ErrFull", err)
	}
	err = m.Write(&evs[2])
	if !strings.Contains(err.Error(), "sink a:") || !strings.Contains(err.Error(), "sink b:") {
		t.Fatalf("two sinks full: %v, want both named", err)
	}
	if len(c.lines) != 3 {
		t.Fatalf("the sink with room got %d events, want 3", len(c.lines))
	}
	if st := m.Stats(); st.Accepted != 1+2+3 {
		t.Fatalf("Multi stats %+v: want the sum", st)
	}
	if len(m.Sinks()) != 3 {
		t.Fatal("Sinks")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if !a.closed || !b.closed || !c.closed {
		t.Fatal("Close did not close every sink")
	}
}

// nowSink records which of Close and CloseNow was called.
type nowSink struct {
	memSink
	now bool
}

func (n *nowSink) CloseNow() error {
	n.now = true
	return n.Close()
}

func TestMultiCloseNow(t *testing.T) {
	a, b := &nowSink{}, &memSink{name: "b"}
	if err := sink.NewMulti(a, b).CloseNow(); err != nil {
		t.Fatal(err)
	}
	if !a.now || !a.closed || !b.closed {
		t.Fatal("CloseNow did not stop a sink with CloseNow and close the other")
	}
}

func TestHandlerLogsRefusals(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	m := &memSink{name: "mem", limit: 2}
	h := sink.Handler(m, log)
	for _, ev := range sinktest.Trades("BTCUSDT", 1, 50) {
		h(&ev)
	}
	if len(m.lines) != 2 {
		t.Fatalf("sink got %d events", len(m.lines))
	}
	if n := strings.Count(logs.String(), "sink refused events"); n != 1 {
		t.Fatalf("%d log lines for 48 refusals in a burst, want 1:\n%s", n, logs.String())
	}
}

func TestPolicy(t *testing.T) {
	for _, s := range []string{"block", "drop", ""} {
		p, err := sink.ParsePolicy(s)
		if err != nil || (s != "" && p.String() != s) {
			t.Errorf("ParsePolicy(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := sink.ParsePolicy("wait"); err == nil {
		t.Error("ParsePolicy accepted wait")
	}
}

func TestLostError(t *testing.T) {
	cause := errors.New("disk full")
	err := error(&sink.Error{Sink: "file", Err: &sink.LostError{Events: 3, Err: cause}})
	if !errors.Is(err, sink.ErrLost) || !errors.Is(err, cause) {
		t.Fatalf("%v does not match ErrLost and its cause", err)
	}
	if got, want := err.Error(), "sink file: 3 events lost: disk full"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
}
