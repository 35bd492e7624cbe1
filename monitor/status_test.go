package monitor

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// lockedBuffer is a bytes.Buffer safe for the status goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestStatusLineIsSilentOffTerminal(t *testing.T) {
	var buf lockedBuffer
	s := NewStatusLine(&buf)
	if s.Terminal() {
		t.Fatal("a buffer taken for a terminal")
	}
	s.Start(func() feed.GatewayStats { return feed.GatewayStats{Events: 1} }, 5*time.Millisecond)
	s.Write([]byte("level=INFO msg=hello\n"))
	time.Sleep(30 * time.Millisecond)
	s.Close()
	if got := buf.String(); got != "level=INFO msg=hello\n" {
		t.Fatalf("wrote %q", got)
	}
	// a file that is not a terminal
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if NewStatusLine(f).Terminal() {
		t.Fatal("a file taken for a terminal")
	}
}

func TestStatusLineOnTerminal(t *testing.T) {
	var buf lockedBuffer
	s := &StatusLine{w: &buf, tty: true, width: func() int { return 200 }}
	var mu sync.Mutex
	st := feed.GatewayStats{Events: 1000, Gaps: 2, Missing: 7, Sessions: []wsconn.Stats{
		{Status: wsconn.StatusConnected, Bytes: 1 << 20, Reconnects: 3},
		{Status: wsconn.StatusConnecting},
	}}
	stats := func() feed.GatewayStats {
		mu.Lock()
		defer mu.Unlock()
		st.Events += 500
		return st
	}
	s.Start(stats, 10*time.Millisecond)
	waitLine := func(what string, cond func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond(buf.String()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %q", what, buf.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitLine("a status line", func(out string) bool { return strings.Count(out, "\r") >= 3 })
	out := buf.String()
	for _, want := range []string{"○ 1/2 up", "ev/s", "gaps 2 (7 missing)", "reconnects 3", "heap ", "goroutines", "\x1b[K"} {
		if !strings.Contains(out, want) {
			t.Fatalf("status line lacks %q: %q", want, out)
		}
	}
	if strings.Contains(out, "\n") {
		t.Fatalf("a status line with a newline: %q", out)
	}

	// a log line goes above: clear, log, draw again
	n := len(buf.String())
	s.Write([]byte("level=WARN msg=reconnecting\n"))
	after := buf.String()[n:]
	if !strings.HasPrefix(after, "\r\x1b[Klevel=WARN msg=reconnecting\n\r") || !strings.Contains(after, "up │") {
		t.Fatalf("log through the status line: %q", after)
	}

	s.Close()
	s.Close()
	end := buf.String()
	if !strings.HasSuffix(end, "\r\x1b[K") {
		t.Fatalf("the line is not cleared on Close: %q", end[max(0, len(end)-40):])
	}
	time.Sleep(30 * time.Millisecond)
	if buf.String() != end {
		t.Fatal("drawn after Close")
	}
	s.Start(stats, time.Millisecond) // after Close: nothing
	time.Sleep(10 * time.Millisecond)
	if buf.String() != end {
		t.Fatal("drawn after Start following Close")
	}
}

func TestStatusLineFitsTheTerminal(t *testing.T) {
	var buf lockedBuffer
	s := &StatusLine{w: &buf, tty: true, width: func() int { return 40 }}
	s.draw("0123456789012345678901234567890123456789012345")
	line := strings.TrimSuffix(strings.TrimPrefix(buf.String(), "\r"), "\x1b[K")
	if n := len([]rune(line)); n != 39 || !strings.HasSuffix(line, "…") {
		t.Fatalf("%d runes: %q", n, line)
	}
}

func TestCountAndSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q", n, got)
		}
	}
	for n, want := range map[int64]string{10: "10 B", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q", n, got)
		}
	}
}

func TestQuantile(t *testing.T) {
	bounds := []float64{0.001, 0.002, 0.004}
	// 10 in (0,1ms], 80 in (1,2], 10 in (2,4]: cumulative 10, 90, 100; total 100
	cum := []uint64{10, 90, 100, 100}
	for q, want := range map[float64]float64{0.05: 0.5, 0.5: 1.5, 0.95: 3} {
		got := quantileMS(cum, bounds, q)
		if got == nil || *got != want {
			t.Errorf("q%.2f = %v ms, want %v", q, got, want)
		}
	}
	if quantileMS([]uint64{0, 0, 0, 0}, bounds, 0.5) != nil {
		t.Error("a quantile of nothing")
	}
	// beyond the last bucket: the last bound
	if got := quantileMS([]uint64{0, 0, 0, 10}, bounds, 0.5); got == nil || *got != 4 {
		t.Errorf("overflow: %v", got)
	}
}

// A gap is said as what it is: IDs and how many, a time window of trades
// that may be missing, or a gap of unknown size between two IDs.
func TestGapText(t *testing.T) {
	at := time.Date(2026, 11, 26, 7, 30, 1, 250e6, time.UTC).UnixNano()
	for _, tc := range []struct {
		ev   feed.Event
		want string
	}{
		{feed.Event{Symbol: "BTCUSDT", Missing: feed.TypeTrade, FirstID: 1002, ID: 1010, Reason: "backfill failed: 429"},
			"BTCUSDT trade: 9 missing (1002–1010): backfill failed: 429"},
		{feed.Event{Symbol: "linear/BTCUSDT", Missing: feed.TypeTrade, GapFrom: at, GapTo: at + 2e9},
			"linear/BTCUSDT trade: may be missing from 07:30:01.250 to 07:30:03.250 UTC"},
		{feed.Event{Symbol: "BTC/USD", Missing: feed.TypeBookDelta, FirstID: 1795674691253519, ID: 1795674691253519, Reason: feed.ReasonUncounted},
			"BTC/USD book_delta: " + feed.ReasonUncounted + ", between IDs 1795674691253519 and 1795674691253519"},
	} {
		if got := gapText(&tc.ev); got != tc.want {
			t.Errorf("gapText(%+v)\n got %q\nwant %q", tc.ev, got, tc.want)
		}
	}
}
