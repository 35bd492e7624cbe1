package record

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
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
	writeOldFrames(t, dir, oldFrame{1, 7, "frame"})
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
	if len(r.Meta.Sources) != 1 || r.Meta.Sources[0].Venue != "binance" || string(r.Meta.Sources[0].VenueMeta) != old {
		t.Fatalf("sources %+v", r.Meta.Sources)
	}
	if f, err := r.Next(); err != nil || f.Source != 0 || f.Plan != 1 || string(f.Data) != "frame" {
		t.Fatalf("frame %+v %v", f, err)
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last frame: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, metaFile), []byte(`{"version":9}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Fatalf("version 9: %v", err)
	}
}

type oldFrame struct {
	plan int
	recv int64
	data string
}

// writeOldFrames writes frames.fkr.zst in dir as versions 1 and 2 laid
// out their records: no source.
func writeOldFrames(t *testing.T, dir string, frames ...oldFrame) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	for _, f := range frames {
		raw = binary.AppendUvarint(raw, uint64(f.plan))
		raw = binary.AppendVarint(raw, f.recv)
		raw = binary.AppendUvarint(raw, uint64(len(f.data)))
		raw = append(raw, f.data...)
	}
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	if err := os.WriteFile(filepath.Join(dir, framesFile), zw.EncodeAll(raw, nil), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSecondVersionReads: a recording of version 2 (one venue, its
// metadata under venue_meta, records without a source) opens as one
// source.
func TestSecondVersionReads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rec")
	writeOldFrames(t, dir, oldFrame{0, 5, "a"}, oldFrame{2, 6, "b"})
	meta := `{"version":2,"venue":"okx","streams":["BTC-USDT@trades-all"],"venue_meta":{"streams_per_conn":30},"started":"2026-11-25T10:00:00Z"}`
	if err := os.WriteFile(filepath.Join(dir, metaFile), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.Meta.Sources) != 1 || r.Meta.Sources[0].Venue != "okx" || r.Meta.Sources[0].Streams[0] != "BTC-USDT@trades-all" ||
		string(r.Meta.Sources[0].VenueMeta) != `{"streams_per_conn":30}` {
		t.Fatalf("sources %+v", r.Meta.Sources)
	}
	for i, want := range []oldFrame{{0, 5, "a"}, {2, 6, "b"}} {
		f, err := r.Next()
		if err != nil || f.Source != 0 || f.Plan != want.plan || f.Recv != want.recv || string(f.Data) != want.data {
			t.Fatalf("frame %d: %+v %v", i, f, err)
		}
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last frame: %v", err)
	}
}

// TestSeveralSources: a recording of several venues gives back each
// frame with its source, in the order written, and refuses a source it
// does not list (writing) or a frame of one (reading).
func TestSeveralSources(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rec")
	sources := []Source{
		{Venue: "binance", Streams: []string{"btcusdt@aggTrade"}, VenueMeta: json.RawMessage(`{"a":1}`)},
		{Venue: "okx", Streams: []string{"BTC-USDT@trades-all"}, VenueMeta: json.RawMessage(`{"b":2}`)},
		{Venue: "binance", Streams: []string{"ethusdt@trade"}, VenueMeta: json.RawMessage(`{"c":3}`)},
	}
	w, err := Create(dir, Meta{Sources: sources})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		if err := w.WriteSource(i%3, i%2, int64(i), []byte(fmt.Sprintf("%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteSource(3, 0, 1, []byte("x")); err == nil || !strings.Contains(err.Error(), "source 3 of a recording of 3") {
		t.Fatalf("a source out of range: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	mb, _ := os.ReadFile(filepath.Join(dir, metaFile))
	if strings.Contains(string(mb), `"venue_meta": null`) || !strings.Contains(string(mb), `"sources"`) {
		t.Fatalf("meta.json %s", mb)
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var vm bytes.Buffer
	if len(r.Meta.Sources) == 3 {
		json.Compact(&vm, r.Meta.Sources[2].VenueMeta)
	}
	if r.Meta.Version != Version || len(r.Meta.Sources) != 3 || r.Meta.Sources[1].Venue != "okx" || vm.String() != `{"c":3}` || r.Meta.Venue != "" {
		t.Fatalf("meta %+v", r.Meta)
	}
	for i := 0; i < 300; i++ {
		f, err := r.Next()
		if err != nil || f.Source != i%3 || f.Plan != i%2 || f.Recv != int64(i) || string(f.Data) != fmt.Sprint(i) {
			t.Fatalf("frame %d: %+v %v", i, f, err)
		}
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last frame: %v", err)
	}
	r.Close()
	// meta.json naming fewer sources than the frames use: damaged
	if err := os.WriteFile(filepath.Join(dir, metaFile), []byte(`{"version":3,"sources":[{"venue":"binance"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Next()
	if _, err := r.Next(); err == nil || !strings.Contains(err.Error(), "source 1") {
		t.Fatalf("a frame of a source meta.json lacks: %v", err)
	}
	if _, err := Create(filepath.Join(t.TempDir(), "x"), Meta{Sources: []Source{{}}}); err == nil {
		t.Fatal("a source without a venue was recorded")
	}
}
