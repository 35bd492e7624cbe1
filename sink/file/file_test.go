package file

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.uber.org/goleak"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/sink"
	"github.com/feedkeeper/feedkeeper/sink/sinktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// readFile returns the lines of one file, and the error that ended them.
func readFile(t testing.TB, path string) ([][]byte, error) {
	t.Helper()
	r, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out [][]byte
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	return out, sc.Err()
}

// readDir returns the lines of every file in dir, in name order.
func readDir(t testing.TB, dir string) [][]byte {
	t.Helper()
	paths, err := List(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, p := range paths {
		ls, err := readFile(t, p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, ls...)
	}
	return out
}

func TestSuite(t *testing.T) {
	for _, compress := range []bool{false, true} {
		name := "plain"
		if compress {
			name = "zstd"
		}
		t.Run(name, func(t *testing.T) {
			sinktest.Run(t, func(t *testing.T) sinktest.Target {
				dir := t.TempDir()
				s, err := Open(Config{Dir: dir, Compress: compress, Logger: quiet})
				if err != nil {
					t.Fatal(err)
				}
				return sinktest.Target{Sink: s, Read: func(t testing.TB) [][]byte { return readDir(t, dir) }}
			})
		})
	}
}

func writeAll(t *testing.T, s sink.Sink, evs []feed.Event) {
	t.Helper()
	for i := range evs {
		if err := s.Write(&evs[i]); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
}

func TestRotateBySize(t *testing.T) {
	for _, compress := range []bool{false, true} {
		dir := t.TempDir()
		const maxBytes = 4000
		s, err := Open(Config{Dir: dir, MaxBytes: maxBytes, Compress: compress, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		evs := sinktest.Trades("BTCUSDT", 1, 500)
		big := sinktest.Events()
		big = big[len(big)-1:] // one snapshot larger than maxBytes
		evs = slices.Insert(evs, 250, big[0])
		writeAll(t, s, evs)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		paths, err := List(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); int64(len(paths)) != st.Files || len(paths) < 30 {
			t.Fatalf("compress %v: %d files, stats %+v", compress, len(paths), st)
		}
		oversize := 0
		for _, p := range paths {
			ls, err := readFile(t, p)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, l := range ls {
				n += len(l) + 1
			}
			if n > maxBytes {
				oversize++
				if len(ls) != 1 {
					t.Fatalf("%s: %d bytes in %d lines, over MaxBytes", p, n, len(ls))
				}
			}
		}
		if oversize != 1 {
			t.Fatalf("%d files over MaxBytes, want the one of the big snapshot", oversize)
		}
		sinktest.Check(t, readDir(t, dir), evs)
		sinktest.CheckStats(t, s.Stats(), int64(len(evs)))
	}
}

func TestRotateByTime(t *testing.T) {
	dir := t.TempDir()
	const interval = 100 * time.Millisecond
	s, err := Open(Config{Dir: dir, Interval: interval, Compress: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	evs := sinktest.Trades("BTCUSDT", 1, 40)
	for i := range evs {
		if err := s.Write(&evs[i]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	paths, err := List(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 3 {
		t.Fatalf("%d files in %v with a %v interval", len(paths), 40*10*time.Millisecond, interval)
	}
	var slots []int64
	for _, p := range paths {
		name := strings.TrimPrefix(filepath.Base(p), DefaultPrefix)
		ts, err := time.Parse(nameTime, name[:len(nameTime)])
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		slot := ts.UnixNano() / int64(interval)
		if len(slots) > 0 && slot <= slots[len(slots)-1] {
			t.Fatalf("%s opened in interval %d, after a file of interval %d", p, slot, slots[len(slots)-1])
		}
		slots = append(slots, slot)
		if ls, err := readFile(t, p); err != nil || len(ls) == 0 {
			t.Fatalf("%s: %d lines, %v", p, len(ls), err)
		}
	}
	sinktest.Check(t, readDir(t, dir), evs)
}

func TestZstd(t *testing.T) {
	plainDir, zstdDir := t.TempDir(), t.TempDir()
	evs := sinktest.Trades("BTCUSDT", 1, 2000)
	for _, c := range []Config{{Dir: plainDir}, {Dir: zstdDir, Compress: true, Level: zstd.SpeedBetterCompression}} {
		c.Logger = quiet
		s, err := Open(c)
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, s, evs)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	size := func(dir string) (n int64, magic []byte) {
		paths, _ := List(dir, "")
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			n += int64(len(b))
			magic = b[:4]
		}
		return n, magic
	}
	plain, _ := size(plainDir)
	packed, magic := size(zstdDir)
	if !bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		t.Fatalf("compressed file starts %x, not a zstd frame", magic)
	}
	if packed*4 > plain {
		t.Fatalf("zstd: %d bytes for %d plain", packed, plain)
	}
	sinktest.Check(t, readDir(t, zstdDir), evs)
	sinktest.Check(t, readDir(t, plainDir), evs)
}

func TestCloseFlushes(t *testing.T) {
	for _, compress := range []bool{false, true} {
		dir := t.TempDir()
		s, err := Open(Config{Dir: dir, Compress: compress, FlushInterval: time.Hour, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		evs := sinktest.Trades("BTCUSDT", 1, 100)
		writeAll(t, s, evs)
		time.Sleep(20 * time.Millisecond)
		if st := s.Stats(); st.Delivered != 0 {
			t.Fatalf("delivered %d before a flush", st.Delivered)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		sinktest.Check(t, readDir(t, dir), evs)
		sinktest.CheckStats(t, s.Stats(), int64(len(evs)))
	}
}

// TestCrashKeepsFlushed reads the file being written, as after a crash:
// every flushed event is there, in a zstd frame not yet finished.
func TestCrashKeepsFlushed(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, Compress: true, FlushInterval: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs := sinktest.Trades("BTCUSDT", 1, 300)
	writeAll(t, s, evs)
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Delivered < int64(len(evs)) {
		if time.Now().After(deadline) {
			t.Fatalf("not flushed: %+v", s.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	paths, _ := List(dir, "")
	if len(paths) != 1 {
		t.Fatalf("%d files", len(paths))
	}
	got, err := readFile(t, paths[0])
	if err == nil {
		t.Log("the unfinished frame read without error")
	}
	sinktest.Check(t, got, evs)
}

func TestEmptyFileRemoved(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if paths, _ := List(dir, ""); len(paths) != 1 {
		t.Fatalf("Open made %d files, want the first one", len(paths))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if paths, _ := List(dir, ""); len(paths) != 0 {
		t.Fatalf("files left without events: %v", paths)
	}
}

func TestUnusableDir(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{f, filepath.Join(f, "sub")} {
		_, err := Open(Config{Dir: dir, Logger: quiet})
		var se *sink.Error
		if err == nil || !errors.As(err, &se) || !strings.Contains(err.Error(), f) {
			t.Fatalf("Open(%s): %v, want a sink error naming the path", dir, err)
		}
		if !errors.Is(err, syscall.ENOTDIR) && !errors.Is(err, syscall.EEXIST) {
			t.Fatalf("Open(%s): %v, want the cause", dir, err)
		}
		t.Log(err)
	}
	if _, err := Open(Config{Logger: quiet}); err == nil || !strings.Contains(err.Error(), "Dir") {
		t.Fatalf("Open without Dir: %v", err)
	}
}

// disk hands out files that fail with ENOSPC once the disk holds quota
// bytes, and creations that fail while refuse is set.
type disk struct {
	mu     sync.Mutex
	quota  int
	refuse error
}

type diskFile struct {
	*os.File
	d *disk
}

func (d *disk) create(path string) (writeFile, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refuse != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: d.refuse}
	}
	f, err := createFile(path)
	if err != nil {
		return nil, err
	}
	return &diskFile{File: f.(*os.File), d: d}, nil
}

func (f *diskFile) Write(p []byte) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if len(p) <= f.d.quota {
		f.d.quota -= len(p)
		return f.File.Write(p)
	}
	n, _ := f.File.Write(p[:f.d.quota])
	f.d.quota = 0
	return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
}

func (d *disk) set(quota int, refuse error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.quota, d.refuse = quota, refuse
}

func TestDiskFull(t *testing.T) {
	for _, compress := range []bool{false, true} {
		dir := t.TempDir()
		d := &disk{quota: 20000}
		if compress {
			d.quota = 1500
		}
		s, err := open(Config{Dir: dir, Compress: compress, FlushInterval: time.Millisecond, Logger: quiet}, d.create)
		if err != nil {
			t.Fatal(err)
		}
		evs := sinktest.Trades("BTCUSDT", 1, 400)
		writeAll(t, s, evs[:200])
		waitFor(t, func() bool { st := s.Stats(); return st.Pending == 0 && st.Lost > 0 })
		d.set(1<<30, nil)
		writeAll(t, s, evs[200:])
		err = s.Close()
		var lost *sink.LostError
		if !errors.Is(err, syscall.ENOSPC) || !errors.As(err, &lost) {
			t.Fatalf("compress %v: Close: %v, want a LostError of ENOSPC", compress, err)
		}
		st := s.Stats()
		if st.Delivered+st.Lost != 400 || st.Lost != lost.Events || st.Errors == 0 || st.Files < 2 {
			t.Fatalf("compress %v: stats %+v, lost %d", compress, st, lost.Events)
		}
		// Whatever was delivered reads back; the broken file may end early.
		paths, _ := List(dir, "")
		var got [][]byte
		for _, p := range paths {
			ls, _ := readFile(t, p)
			got = append(got, ls...)
		}
		if int64(len(got)) < st.Delivered {
			t.Fatalf("compress %v: %d events read back, %d delivered", compress, len(got), st.Delivered)
		}
		sinktest.Check(t, got[len(got)-200:], evs[200:])
		t.Logf("compress %v: %v", compress, err)
	}
}

func TestCreateFailsThenRecovers(t *testing.T) {
	dir := t.TempDir()
	d := &disk{quota: 1 << 30}
	s, err := open(Config{Dir: dir, MaxBytes: 2000, FlushInterval: time.Millisecond, Logger: quiet}, d.create)
	if err != nil {
		t.Fatal(err)
	}
	evs := sinktest.Trades("BTCUSDT", 1, 300)
	writeAll(t, s, evs[:5])
	waitFor(t, func() bool { return s.Stats().Delivered == 5 })
	d.set(1<<30, syscall.EACCES)
	writeAll(t, s, evs[5:100]) // the rotation fails: lines after it are lost, then the sink waits
	waitFor(t, func() bool { return s.Stats().Errors > 0 })
	writeAll(t, s, evs[100:]) // held in the buffer while files cannot be created
	time.Sleep(150 * time.Millisecond)
	d.set(1<<30, nil)
	err = s.Close()
	if !errors.Is(err, syscall.EACCES) {
		t.Fatalf("Close: %v, want the EACCES", err)
	}
	st := s.Stats()
	if st.Delivered+st.Lost != 300 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	got := readDir(t, dir)
	sinktest.Check(t, got[len(got)-200:], evs[100:])
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []Config{
		{Dir: dir, FlushInterval: -1},
		{Dir: dir, Compress: true, Level: 9},
		{Dir: dir, Buffer: sink.Buffer{Bytes: -1}},
	} {
		if _, err := Open(c); err == nil {
			t.Errorf("Open(%+v) accepted a bad config", c)
		}
	}
}

func benchmarkWrite(b *testing.B, compress bool) {
	dir := b.TempDir()
	s, err := Open(Config{Dir: dir, Compress: compress, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	evs := sinktest.Trades("BTCUSDT", 1, 1024)
	b.ReportAllocs()
	done := sinktest.Measure(b)
	for i := 0; b.Loop(); i++ {
		ev := &evs[i%len(evs)]
		ev.ID = int64(i + 1)
		ev.ReceiveTime += int64(i)
		if err := s.Write(ev); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	done()
	st := s.Stats()
	var disk int64
	paths, _ := List(dir, "")
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			disk += fi.Size()
		}
	}
	b.ReportMetric(float64(disk)/float64(b.N), "disk-B/event")
	b.ReportMetric(float64(st.Bytes)/float64(b.N), "json-B/event")
}

func BenchmarkWritePlain(b *testing.B) { benchmarkWrite(b, false) }
func BenchmarkWriteZstd(b *testing.B)  { benchmarkWrite(b, true) }

var _ io.Writer = (*diskFile)(nil)
