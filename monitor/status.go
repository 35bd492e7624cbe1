package monitor

import (
	"fmt"
	"io"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/feedkeeper/feedkeeper/feed"
)

// StatusLine keeps a one-line live status (rates, connections, gaps,
// memory) at the bottom of a terminal, rewritten in place with \r. On
// anything but a terminal it draws nothing and passes writes through.
//
// Write logs through it (it is an io.Writer: give it to the log handler)
// so that a log line never lands in the middle of the status line: the line
// is cleared, the log written, and the line drawn again below it.
type StatusLine struct {
	w     io.Writer
	tty   bool
	width func() int

	mu         sync.Mutex
	drawn      string // what is on the screen now; "" when nothing is
	err        error  // the first write error of the status line: it stops drawing
	closed     bool
	stop, done chan struct{}
}

// fder is what *os.File offers to find out whether it is a terminal.
type fder interface{ Fd() uintptr }

// NewStatusLine returns a StatusLine writing to w; it draws only when w is
// a terminal (an *os.File on a TTY). Start starts the updates.
func NewStatusLine(w io.Writer) *StatusLine {
	s := &StatusLine{w: w, width: func() int { return 0 }}
	if f, ok := w.(fder); ok && term.IsTerminal(int(f.Fd())) {
		s.tty = true
		fd := int(f.Fd())
		s.width = func() int {
			if wd, _, err := term.GetSize(fd); err == nil {
				return wd
			}
			return 0
		}
	}
	return s
}

// Terminal reports whether the status line is drawn.
func (s *StatusLine) Terminal() bool { return s.tty }

// Write writes p (whole log lines) above the status line.
func (s *StatusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.drawn == "" {
		return s.w.Write(p)
	}
	if _, err := io.WriteString(s.w, "\r\x1b[K"); err != nil {
		return 0, err
	}
	n, err := s.w.Write(p)
	if err == nil && len(p) > 0 && p[len(p)-1] == '\n' {
		_, err = io.WriteString(s.w, s.drawn)
	} else {
		s.drawn = ""
	}
	return n, err
}

// Start draws the status of the gateway whose counters stats returns every
// interval (default 1s), from a goroutine that Close stops. It does nothing
// when the output is not a terminal, or when called again.
func (s *StatusLine) Start(stats func() feed.GatewayStats, every time.Duration) {
	if !s.tty || stats == nil {
		return
	}
	if every <= 0 {
		every = time.Second
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.stop != nil {
		return
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.run(stats, every, s.stop, s.done)
}

// Close stops the updates and clears the status line. Safe to call more
// than once.
func (s *StatusLine) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	stop, done := s.stop, s.done
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.drawn != "" {
		io.WriteString(s.w, "\r\x1b[K")
		s.drawn = ""
	}
	return nil
}

func (s *StatusLine) run(stats func() feed.GatewayStats, every time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(every)
	defer t.Stop()
	var st statusState
	s.draw(st.line(stats(), time.Now()))
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			s.draw(st.line(stats(), now))
		}
	}
}

func (s *StatusLine) draw(line string) {
	if w := s.width(); w > 1 && len([]rune(line)) >= w {
		line = string([]rune(line)[:w-2]) + "…"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	text := "\r" + line + "\x1b[K"
	if _, err := io.WriteString(s.w, text); err != nil {
		s.err = err
		s.drawn = ""
		return
	}
	s.drawn = text
}

// statusState turns successive snapshots into a status line.
type statusState struct {
	prevT                time.Time
	prevEvents, prevByte int64
	mem                  []metrics.Sample
}

func (st *statusState) line(g feed.GatewayStats, now time.Time) string {
	var bytes int64
	up := 0
	var reconnects int64
	for i := range g.Sessions {
		s := &g.Sessions[i]
		bytes += s.Bytes
		reconnects += s.Reconnects
		if connUp(s.Status) {
			up++
		}
	}
	var evRate, byteRate float64
	if !st.prevT.IsZero() {
		if dt := now.Sub(st.prevT).Seconds(); dt > 0 {
			evRate = float64(g.Events-st.prevEvents) / dt
			byteRate = float64(bytes-st.prevByte) / dt
		}
	}
	st.prevT, st.prevEvents, st.prevByte = now, g.Events, bytes
	if st.mem == nil {
		st.mem = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/sched/goroutines:goroutines"}}
	}
	metrics.Read(st.mem)

	mark := "●"
	if up < len(g.Sessions) {
		mark = "○"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d/%d up │ %s ev/s %s/s │ gaps %s", mark, up, len(g.Sessions),
		count(int64(evRate)), size(int64(byteRate)), count(g.Gaps))
	if g.Missing > 0 {
		fmt.Fprintf(&b, " (%s missing)", count(g.Missing))
	}
	lagging := 0
	for i := range g.Lag {
		if g.Lag[i].Lagging {
			lagging++
		}
	}
	if lagging > 0 {
		fmt.Fprintf(&b, " │ %d lagging", lagging)
	}
	if g.Backfilled > 0 || g.Unfilled > 0 {
		fmt.Fprintf(&b, " │ backfilled %s unfillable %s", count(g.Backfilled), count(g.Unfilled))
	}
	fmt.Fprintf(&b, " │ reconnects %s │ heap %s rss %s │ %d goroutines",
		count(reconnects), size(int64(st.mem[0].Value.Uint64())), size(rss()), st.mem[1].Value.Uint64())
	return b.String()
}

// count formats n with thousands separators.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	if neg {
		return "-" + string(b)
	}
	return string(b)
}

// size formats a number of bytes (1.5 MiB).
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB"} {
		f /= unit
		if f < unit || u == "GiB" {
			return strconv.FormatFloat(f, 'f', 1, 64) + " " + u
		}
	}
	return ""
}
