package streak

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStreak(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), "write failed", 50*time.Millisecond)
	l.OK()
	boom := errors.New("boom")
	for range 10 {
		l.Fail(boom, "path", "/x")
	}
	time.Sleep(60 * time.Millisecond)
	l.Fail(boom)
	l.OK()
	l.OK()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want first failure, one after the interval, recovered:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{"failures=1 path=/x", "failures=10", `recovered" failures=11`} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d %q lacks %q", i, lines[i], want)
		}
	}
}
