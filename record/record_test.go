package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rec")
	meta := Meta{Venue: "binance", Streams: []string{"btcusdt@aggTrade"}, VenueMeta: json.RawMessage(`{"streams_per_conn":200}`)}
	w, err := Create(dir, meta)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		if err := w.Write(i%3, int64(1e18)+int64(i), []byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(dir, meta); err == nil {
		t.Fatal("a recording was overwritten")
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var vm bytes.Buffer
	json.Compact(&vm, r.Meta.VenueMeta)
	if r.Meta.Venue != "binance" || vm.String() != `{"streams_per_conn":200}` || r.Meta.Version != Version {
		t.Fatalf("meta %+v", r.Meta)
	}
	for i := 0; i < 1000; i++ {
		f, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if f.Plan != i%3 || f.Recv != int64(1e18)+int64(i) || string(f.Data) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("frame %d: %+v %s", i, f, f.Data)
		}
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last frame: %v", err)
	}
}

func TestCutShortRecording(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rec")
	w, err := Create(dir, Meta{Venue: "binance"})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(0, 1, bytes.Repeat([]byte("x"), 1000))
	w.Write(0, 2, bytes.Repeat([]byte("y"), 1000))
	w.Close()
	// lose the end of the file, as a crash would
	path := filepath.Join(dir, framesFile)
	b, _ := os.ReadFile(path)
	whole := b
	if err := os.WriteFile(path, whole[:len(whole)-8], 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var n int
	for {
		_, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				t.Fatal("a damaged recording read to a clean end")
			}
			break
		}
		n++
	}
	if n > 2 {
		t.Fatalf("%d frames from a recording of 2", n)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(t.TempDir()); err == nil {
		t.Fatal("an empty directory opened as a recording")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, metaFile), []byte(`{"version":99}`), 0o644)
	if _, err := Open(dir); err == nil {
		t.Fatal("an unknown version opened")
	}
}

// TestCrashWhileRecording reads a recording as a crash leaves it: the file
// as it is before Close, cut at every byte of its last flush. Every frame
// flushed before the cut is read back, in order, and the end matches
// ErrCut.
func TestCrashWhileRecording(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rec")
	w, err := Create(dir, Meta{Venue: "binance"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, framesFile)
	frame := func(i int) []byte {
		return []byte(fmt.Sprintf(`{"e":"aggTrade","a":%d,"pad":"%s"}`, i, strings.Repeat("p", i%50)))
	}
	var marks [][2]int64 // file size after a flush, frames in it
	sec := int64(time.Second)
	for i := 0; i < 30; i++ {
		if err := w.Write(i%3, int64(i)*sec/10, frame(i)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 { // the write of receive time 0, 1s, 2s flushed
			st, _ := os.Stat(path)
			marks = append(marks, [2]int64{st.Size(), int64(i + 1)})
		}
	}
	crashed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if int64(len(crashed)) != marks[2][0] || marks[2][0] <= marks[1][0] {
		t.Fatalf("file of %d bytes before Close; flushes at %v", len(crashed), marks)
	}
	for cut := int(marks[1][0]); cut <= len(crashed); cut++ {
		os.WriteFile(path, crashed[:cut], 0o644)
		r, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for {
			f, err := r.Next()
			if err != nil {
				if !errors.Is(err, ErrCut) || !errors.Is(err, io.ErrUnexpectedEOF) || r.Frames() != n {
					t.Fatalf("cut at %d: %v after %d frames", cut, err, n)
				}
				break
			}
			if string(f.Data) != string(frame(int(n))) || f.Plan != int(n%3) {
				t.Fatalf("cut at %d: frame %d is %q", cut, n, f.Data)
			}
			n++
		}
		r.Close()
		for _, m := range marks {
			if int64(cut) >= m[0] && n < m[1] {
				t.Fatalf("cut at %d: %d frames, but %d were flushed in the first %d bytes", cut, n, m[1], m[0])
			}
		}
	}
}

// TestFirstVersionReads: a recording of version 1 kept the venue's fields
// at the top of meta.json; it still opens, with the whole file as the
// venue's metadata, and a version this program does not know is refused.
func TestFirstVersionReads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rec")
	w, err := Create(dir, Meta{Venue: "binance"})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(1, 7, []byte("frame"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	old := `{"version":1,"venue":"binance","ws_url":"wss://x","streams":["btcusdt@aggTrade"],"streams_per_conn":200,"micros":false,"symbols":[{"name":"BTCUSDT","price_scale":2,"qty_scale":5}],"started":"2026-11-25T10:00:00Z"}`
	if err := os.WriteFile(filepath.Join(dir, metaFile), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Meta.Venue != "binance" || r.Meta.Streams[0] != "btcusdt@aggTrade" || string(r.Meta.VenueMeta) != old {
		t.Fatalf("meta %+v", r.Meta)
	}
	if f, err := r.Next(); err != nil || f.Plan != 1 || string(f.Data) != "frame" {
		t.Fatalf("frame %+v %v", f, err)
	}
	if err := os.WriteFile(filepath.Join(dir, metaFile), []byte(`{"version":9}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Fatalf("version 9: %v", err)
	}
}
