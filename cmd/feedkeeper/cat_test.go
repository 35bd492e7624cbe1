package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/record"
	"github.com/feedkeeper/feedkeeper/sim"
	filesink "github.com/feedkeeper/feedkeeper/sink/file"
	"github.com/feedkeeper/feedkeeper/sink/sinktest"
)

// TestKilledRunReadsBack kills (SIGKILL) a run writing compressed files
// and a recording, as a crash would: cat writes every complete event of
// the cut file, names it and exits 1; replay replays the recording up to
// its cut and exits 1; the next run on the same directory names the cut
// file and leaves it alone.
func TestKilledRunReadsBack(t *testing.T) {
	s, ca := startSim(t, sim.Config{Rate: 400, TradeShare: 0.5})
	dir := t.TempDir()
	live, rec := filepath.Join(dir, "live"), filepath.Join(dir, "rec")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(exe, "run", "btcusdt@aggTrade", "btcusdt@depth@100ms", "--ws-endpoint", s.WSURL(),
		"--rest-endpoint", s.RESTURL(), "--ca", ca, "--http", "", "--out", "file:"+live, "--flush-every", "50ms",
		"--record", rec, "--duration", "60s")
	child.Env = append(os.Environ(), cliChildEnv+"=1")
	var childErr syncBuffer
	child.Stderr = &childErr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			child.Process.Kill()
			child.Wait()
		}
	}()
	// the recording flushes every second of receive time: wait for two
	deadline := time.Now().Add(20 * time.Second)
	for {
		files, _ := filesink.List(live, "")
		st, err := os.Stat(filepath.Join(rec, "frames.fkr.zst"))
		if len(files) == 1 && err == nil && st.Size() > 0 {
			if fst, err := os.Stat(files[0]); err == nil && fst.Size() > 2000 && time.Until(deadline) < 17*time.Second {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no data written:\n%s", childErr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	child.Process.Kill() // SIGKILL: no flush, no Close
	child.Wait()
	waited = true
	files, _ := filesink.List(live, "")
	if len(files) != 1 {
		t.Fatalf("%d files", len(files))
	}
	cut := files[0]

	var out, errOut syncBuffer
	err = run(context.Background(), []string{"cat", live}, &out, &errOut)
	if !errors.Is(err, errCatBroken) || exitCode(err, &syncBuffer{}) != exitFailure {
		t.Fatalf("cat of a cut file: %v (exit %d)", err, exitCode(err, &syncBuffer{}))
	}
	lines := jsonLines(t, out.String())
	if len(lines) < 20 {
		t.Fatalf("cat wrote %d events", len(lines))
	}
	want := cut + ": cut short after " + strconv.Itoa(len(lines)) + " complete events"
	if !strings.Contains(errOut.String(), want) {
		t.Fatalf("cat's stderr %q does not say %q", errOut.String(), want)
	}
	// the same through a process: stderr and exit code
	stderr, code := runChild(t, "", "cat", cut)
	if code != exitFailure || !strings.Contains(stderr, want) {
		t.Fatalf("cat in a process: exit %d, %q", code, stderr)
	}

	// replay: everything up to the cut, then exit 1 naming the cut
	replayed := filepath.Join(dir, "replayed")
	err = run(context.Background(), []string{"replay", rec, "--out", "file:" + replayed, "--compress", "none"}, &out, &errOut)
	if !errors.Is(err, record.ErrCut) || exitCode(err, &syncBuffer{}) != exitFailure || !strings.Contains(err.Error(), rec) {
		t.Fatalf("replay of a cut recording: %v", err)
	}
	if n := len(readEvents(t, replayed)); n < 20 {
		t.Fatalf("replay of a cut recording wrote %d events", n)
	}

	// the next run on the same directory says so, and leaves the file alone
	before, _ := os.ReadFile(cut)
	var runOut, runErr syncBuffer
	if err := run(context.Background(), []string{"run", "btcusdt@aggTrade", "--ws-endpoint", s.WSURL(), "--rest-endpoint", s.RESTURL(),
		"--ca", ca, "--http", "", "--out", "file:" + live, "--duration", "1s"}, &runOut, &runErr); err != nil {
		t.Fatalf("run: %v\n%s", err, runErr.String())
	}
	if strings.Count(runErr.String(), "cut short by a crash") != 1 || !strings.Contains(runErr.String(), cut) {
		t.Fatalf("the next run did not name the cut file:\n%s", runErr.String())
	}
	if after, _ := os.ReadFile(cut); !bytes.Equal(before, after) {
		t.Fatal("the next run changed the cut file")
	}
	// cat reads both runs, the cut one first
	out, errOut = syncBuffer{}, syncBuffer{}
	err = run(context.Background(), []string{"cat", live}, &out, &errOut)
	if !errors.Is(err, errCatBroken) || !strings.Contains(err.Error(), "1 of 2 files") {
		t.Fatalf("cat of both runs: %v", err)
	}
	if n := len(jsonLines(t, out.String())); n <= len(lines) {
		t.Fatalf("cat of both runs: %d events, %d in the cut file alone", n, len(lines))
	}
}

// TestCatCompleteFilesAndUsage: complete files give every event and exit
// 0, in argument order; a missing path or a directory without event files
// is a usage error naming it.
func TestCatCompleteFilesAndUsage(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for i, d := range []string{a, b} {
		for _, compress := range []bool{false, true} {
			s, err := filesink.Open(filesink.Config{Dir: d, Compress: compress})
			if err != nil {
				t.Fatal(err)
			}
			from := int64(i * 100)
			if compress {
				from += 10
			}
			for _, ev := range sinktest.Trades("BTCUSDT", from, 3) {
				s.Write(&ev)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	var out, errOut syncBuffer
	if err := run(context.Background(), []string{"cat", b, a}, &out, &errOut); err != nil {
		t.Fatalf("cat: %v\n%s", err, errOut.String())
	}
	var ids []int64
	for _, ev := range jsonLines(t, out.String()) {
		ids = append(ids, int64(ev["id"].(float64)))
	}
	want := "[100 101 102 110 111 112 0 1 2 10 11 12]"
	if got := fmt.Sprint(ids); got != want {
		t.Fatalf("cat b a: ids %s, want %s", got, want)
	}
	if errOut.String() != "" {
		t.Fatalf("stderr: %s", errOut.String())
	}
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	for _, arg := range []string{filepath.Join(dir, "none"), empty} {
		var ue *usageError
		err := run(context.Background(), []string{"cat", arg}, &out, &errOut)
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), arg) {
			t.Fatalf("cat %s: %v", arg, err)
		}
	}
}
