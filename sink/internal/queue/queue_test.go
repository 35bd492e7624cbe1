package queue

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/feedkeeper/feedkeeper/sink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func put(t *testing.T, q *Queue, s string) error {
	t.Helper()
	buf, err := q.Begin()
	if err != nil {
		return err
	}
	q.End(append(buf, s...))
	return nil
}

func TestFIFO(t *testing.T) {
	q := New(sink.Buffer{Events: 100}, 0)
	for i := range 10 {
		if err := put(t, q, "r"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-q.Ready():
	default:
		t.Fatal("no ready signal")
	}
	var b Batch
	if n := q.Take(&b); n != 10 {
		t.Fatalf("took %d, want 10", n)
	}
	for i := range 10 {
		if got := string(b.Record(i)); got != "r"+strconv.Itoa(i) {
			t.Fatalf("record %d = %q", i, got)
		}
	}
	if n := q.Take(&b); n != 0 {
		t.Fatalf("took %d from an empty queue", n)
	}
	if err := put(t, q, "again"); err != nil {
		t.Fatal(err)
	}
	if n := q.Take(&b); n != 1 || string(b.Record(0)) != "again" {
		t.Fatalf("took %d: %q", n, b.Buf)
	}
}

func TestDropWhenFull(t *testing.T) {
	q := New(sink.Buffer{Events: 2, Policy: sink.Drop, Timeout: time.Hour}, 0)
	put(t, q, "a")
	put(t, q, "b")
	start := time.Now()
	if err := put(t, q, "c"); !errors.Is(err, sink.ErrFull) {
		t.Fatalf("third put: %v, want ErrFull", err)
	}
	if d := time.Since(start); d >= time.Second {
		t.Fatalf("Drop waited %v", d)
	}
}

func TestBytesBound(t *testing.T) {
	q := New(sink.Buffer{Events: 100, Bytes: 10, Policy: sink.Drop}, 0)
	if err := put(t, q, "0123456789"); err != nil {
		t.Fatal(err)
	}
	if err := put(t, q, "x"); !errors.Is(err, sink.ErrFull) {
		t.Fatalf("put over the byte bound: %v, want ErrFull", err)
	}
}

func TestBlockTimesOut(t *testing.T) {
	q := New(sink.Buffer{Events: 1, Timeout: 50 * time.Millisecond}, 0)
	put(t, q, "a")
	start := time.Now()
	err := put(t, q, "b")
	if d := time.Since(start); !errors.Is(err, sink.ErrFull) || d < 50*time.Millisecond {
		t.Fatalf("put into a full queue: %v after %v, want ErrFull after 50ms", err, d)
	}
}

func TestBlockWakesOnTake(t *testing.T) {
	q := New(sink.Buffer{Events: 1, Timeout: 10 * time.Second}, 0)
	put(t, q, "a")
	errc := make(chan error)
	go func() {
		buf, err := q.Begin()
		if err == nil {
			q.End(append(buf, 'b'))
		}
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	var b Batch
	q.Take(&b)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("producer not woken by Take")
	}
	if q.Take(&b) != 1 || string(b.Record(0)) != "b" {
		t.Fatalf("queue holds %q", b.Buf)
	}
}

func TestCloseWakesProducer(t *testing.T) {
	q := New(sink.Buffer{Events: 1, Timeout: 10 * time.Second}, 0)
	put(t, q, "a")
	errc := make(chan error)
	go func() {
		_, err := q.Begin()
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	q.Close()
	q.Close()
	if err := <-errc; !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("blocked Begin after Close: %v, want ErrClosed", err)
	}
	if err := put(t, q, "b"); !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("put after Close: %v", err)
	}
	var b Batch
	if q.Take(&b) != 1 {
		t.Fatal("record queued before Close is gone")
	}
	select {
	case <-q.Done():
	default:
		t.Fatal("Done not closed")
	}
}

func TestWakeBytes(t *testing.T) {
	q := New(sink.Buffer{Events: 5}, 10)
	put(t, q, "12345")
	select {
	case <-q.Ready():
		t.Fatal("signal before wakeBytes")
	default:
	}
	put(t, q, "67890")
	select {
	case <-q.Ready():
	default:
		t.Fatal("no signal at wakeBytes")
	}
	put(t, q, "a")
	put(t, q, "b")
	put(t, q, "c")
	select {
	case <-q.Ready():
	default:
		t.Fatal("no signal when full")
	}
}

func TestHoldRelease(t *testing.T) {
	q := New(sink.Buffer{Events: 3, Policy: sink.Drop}, 0)
	put(t, q, "a")
	put(t, q, "bb")
	var b Batch
	if q.Hold(&b) != 2 {
		t.Fatal("Hold took the wrong count")
	}
	put(t, q, "c")
	if err := put(t, q, "d"); !errors.Is(err, sink.ErrFull) {
		t.Fatalf("held records do not count: %v", err)
	}
	q.Release(1, 1)
	if err := put(t, q, "d"); err != nil {
		t.Fatalf("after Release: %v", err)
	}
}

func BenchmarkPutTake(b *testing.B) {
	q := New(sink.Buffer{}, 0)
	rec := []byte(`{"v":1,"type":"trade","venue":"binance","symbol":"BTCUSDT","id":1}`)
	var batch Batch
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf, _ := q.Begin()
		q.End(append(buf, rec...))
		if i%64 == 63 {
			q.Take(&batch)
		}
	}
}
