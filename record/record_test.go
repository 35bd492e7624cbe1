package record

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rec")
	meta := Meta{Venue: "binance", WSURL: "wss://x", Streams: []string{"btcusdt@aggTrade"}, PerConn: 200,
		Symbols: []Symbol{{Name: "BTCUSDT", PriceScale: 2, QtyScale: 5}}}
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
	if r.Meta.Venue != "binance" || r.Meta.PerConn != 200 || r.Meta.Symbols[0].QtyScale != 5 || r.Meta.Version != Version {
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
