package file

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/sink/sinktest"
)

// crashedFile runs a sink that flushes three groups of events and is then
// stopped as by kill -9: the file holds what it had flushed, its last
// zstd frame unfinished. It returns the file's bytes, the bytes of the
// complete events, and the file size after each group with the events in
// it.
func crashedFile(t *testing.T, compress bool) (data, lines []byte, marks [][2]int64) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, Compress: compress, FlushInterval: 5 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	paths, _ := List(dir, "")
	evs := sinktest.Trades("BTCUSDT", 1, 90)
	for g := 0; g < 3; g++ {
		writeAll(t, s, evs[g*30:(g+1)*30])
		waitFor(t, func() bool { return s.Stats().Delivered == int64((g+1)*30) })
		st, err := os.Stat(paths[0])
		if err != nil {
			t.Fatal(err)
		}
		marks = append(marks, [2]int64{st.Size(), int64((g + 1) * 30)})
	}
	data, err = os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		lines = append(evs[i].AppendJSON(lines), '\n')
	}
	return data, lines, marks
}

// readAll reads every event of path with a Reader.
func readAll(t *testing.T, path string) ([]byte, int64, error) {
	t.Helper()
	r, err := OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []byte
	for {
		l, err := r.Next()
		if err != nil {
			if again, _ := r.Next(); again != nil {
				t.Fatal("Next returned a line after its error")
			}
			return out, r.Events(), err
		}
		out = append(append(out, l...), '\n')
	}
}

// TestCutAtEveryByte cuts a file left by a crash at every byte of its last
// flush: the reader
// returns exactly the complete events before the cut, at least every one
// flushed in full before it, and a CutError counting them; the cheap
// check of Open agrees.
func TestCutAtEveryByte(t *testing.T) {
	for _, compress := range []bool{false, true} {
		data, lines, marks := crashedFile(t, compress)
		if compress && !bytes.Equal(data[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}) {
			t.Fatalf("not a zstd file: %x", data[:4])
		}
		name := "events-20260101T000000.000Z-000001" + ExtPlain
		if compress {
			name = "events-20260101T000000.000Z-000001" + ExtZstd
		}
		path := filepath.Join(t.TempDir(), name)
		last := int64(0)
		// every byte of the last flush, one in 61 before it
		lastFlush := int(marks[1][0])
		for cut := 0; cut <= len(data); cut++ {
			if cut < lastFlush && cut%61 != 0 {
				continue
			}
			if err := os.WriteFile(path, data[:cut], 0o644); err != nil {
				t.Fatal(err)
			}
			got, n, err := readAll(t, path)
			if !bytes.HasPrefix(lines, got) || int64(bytes.Count(got, []byte{'\n'})) != n {
				t.Fatalf("compress %v, cut at %d: read %d events that are not the first ones written", compress, cut, n)
			}
			if n < last {
				t.Fatalf("compress %v, cut at %d: %d events, %d with fewer bytes", compress, cut, n, last)
			}
			last = n
			for _, m := range marks {
				if int64(cut) >= m[0] && n < m[1] {
					t.Fatalf("compress %v, cut at %d: %d events, but %d were flushed in the first %d bytes", compress, cut, n, m[1], m[0])
				}
			}
			why, cerr := checkEnd(path)
			var ce *CutError
			switch {
			case cut == 0:
				if err != io.EOF || why != "" || n != 0 {
					t.Fatalf("compress %v, empty file: %v, %q", compress, err, why)
				}
			case !compress && data[cut-1] == '\n': // a plain file cut between lines reads as complete
				if err != io.EOF || why != "" {
					t.Fatalf("plain file cut after a line: %d events, %v, %q", n, err, why)
				}
			default: // a zstd file is never finished before Close
				if !errors.As(err, &ce) || !errors.Is(err, ErrCut) || ce.Events != n || ce.Path != path {
					t.Fatalf("compress %v, cut at %d of %d: %v after %d events, want a CutError", compress, cut, len(data), err, n)
				}
				if why == "" || cerr != nil {
					t.Fatalf("compress %v, cut at %d: checkEnd %q, %v", compress, cut, why, cerr)
				}
			}
		}
		if last != 90 {
			t.Fatalf("compress %v: the whole file read %d events", compress, last)
		}
	}
}

// TestReaderDamaged: bytes that are not zstd are damage, not a cut.
func TestReaderDamaged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events-x-000001.jsonl.zst")
	os.WriteFile(path, []byte("this is not zstd at all\n"), 0o644)
	_, _, err := readAll(t, path)
	if err == nil || errors.Is(err, ErrCut) || !strings.Contains(err.Error(), path) {
		t.Fatalf("damaged file: %v", err)
	}
	if why, err := checkEnd(path); err == nil {
		t.Fatalf("checkEnd of a damaged file: %q", why)
	}
}

// TestOpenReportsCutFiles: a directory with a complete run and a run cut
// by a crash: the next Open names the cut file, once, and never touches
// it; complete files are not reported.
func TestOpenReportsCutFiles(t *testing.T) {
	for _, compress := range []bool{false, true} {
		dir := t.TempDir()
		// a run that rotates and ends cleanly
		s, err := Open(Config{Dir: dir, Compress: compress, MaxBytes: 4000, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, s, sinktest.Trades("BTCUSDT", 1, 100))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		clean, _ := List(dir, "")
		if len(clean) < 3 {
			t.Fatalf("%d files", len(clean))
		}
		// a run cut short: its file as it was before Close, less 3 bytes
		time.Sleep(2 * time.Millisecond) // a later name
		s, err = Open(Config{Dir: dir, Compress: compress, FlushInterval: 5 * time.Millisecond, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, s, sinktest.Trades("BTCUSDT", 101, 50))
		waitFor(t, func() bool { return s.Stats().Delivered == 50 })
		all, _ := List(dir, "")
		crashed := all[len(all)-1]
		data, _ := os.ReadFile(crashed)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		data = data[:len(data)-3]
		os.WriteFile(crashed, data, 0o644)

		var logs bytes.Buffer
		s, err = Open(Config{Dir: dir, Compress: compress, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, s, sinktest.Trades("BTCUSDT", 151, 10))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		text := logs.String()
		if strings.Count(text, "cut short") != 1 || !strings.Contains(text, crashed) {
			t.Fatalf("compress %v: log of Open:\n%s\nwant one line naming %s", compress, text, crashed)
		}
		for _, p := range clean {
			if strings.Contains(text, p) {
				t.Fatalf("a complete file reported: %s", text)
			}
		}
		if after, _ := os.ReadFile(crashed); !bytes.Equal(after, data) {
			t.Fatal("the cut file was changed")
		}
		all, _ = List(dir, "")
		if _, n, err := readAll(t, all[len(all)-1]); err != io.EOF || n != 10 {
			t.Fatalf("the new run's file: %d events, %v", n, err)
		}
	}
}

// syncFile counts the fsyncs of a file.
type syncFile struct {
	*os.File
	syncs *atomic.Int64
}

func (f syncFile) Sync() error { f.syncs.Add(1); return f.File.Sync() }

// TestSyncEveryFlush: Sync fsyncs what each flush wrote, and nothing when
// nothing was written.
func TestSyncEveryFlush(t *testing.T) {
	var syncs atomic.Int64
	create := func(path string) (writeFile, error) {
		f, err := createFile(path)
		if err != nil {
			return nil, err
		}
		return syncFile{File: f.(*os.File), syncs: &syncs}, nil
	}
	s, err := open(Config{Dir: t.TempDir(), Sync: true, FlushInterval: 5 * time.Millisecond, Logger: quiet}, create)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, s, sinktest.Trades("BTCUSDT", 1, 10))
	waitFor(t, func() bool { return s.Stats().Delivered == 10 })
	waitFor(t, func() bool { return syncs.Load() >= 1 })
	time.Sleep(30 * time.Millisecond) // several flushes with nothing to write
	if n := syncs.Load(); n != 1 {
		t.Fatalf("%d syncs for one flush of data", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
