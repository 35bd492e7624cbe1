package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/feedkeeper/feedkeeper/internal/simtest"
)

// TestDemoDashboardInBrowser runs `feedkeeper demo` and opens its
// dashboard in headless Chromium (Debian's chromium, which ./test.sh
// installs; FEEDKEEPER_CHROMIUM names another): live data must appear and
// then change. FEEDKEEPER_SKIP_BROWSER=1 skips it.
func TestDemoDashboardInBrowser(t *testing.T) {
	if os.Getenv("FEEDKEEPER_SKIP_BROWSER") == "1" {
		t.Skip("FEEDKEEPER_SKIP_BROWSER=1")
	}
	exe := os.Getenv("FEEDKEEPER_CHROMIUM")
	if exe == "" {
		var err error
		if exe, err = exec.LookPath("chromium"); err != nil {
			t.Fatal("Chromium is not installed (apt-get install -y chromium, or FEEDKEEPER_CHROMIUM=/path/to/chrome); ./test.sh installs it; FEEDKEEPER_SKIP_BROWSER=1 skips this test")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out, errOut syncBuffer
	go func() {
		done <- run(ctx, []string{"demo", "--http", addr, "--rate", "300", "--no-nats"}, &out, &errOut)
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("demo: %v\n%s", err, errOut.String())
		}
	}()
	simtest.WaitFor(t, 20*time.Second, "the dashboard URL in the demo's log", func() bool {
		return strings.Contains(errOut.String(), "dashboard: http://"+addr)
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	bctx, cancelT := context.WithTimeout(bctx, time.Minute)
	defer cancelT()
	if err := chromedp.Do(bctx, chromedp.Navigate("http://"+addr+"/")); err != nil {
		t.Fatalf("open the dashboard: %v", err)
	}
	text := func(id string) string {
		v, err := chromedp.Run(bctx, chromedp.Evaluate[string](`String((document.getElementById(`+strconv.Quote(id)+`) || {}).textContent || "")`))
		if err != nil {
			t.Fatalf("read #%s: %v", id, err)
		}
		return v
	}
	events := func() int64 {
		n, _ := strconv.ParseInt(strings.ReplaceAll(text("events-total"), ",", ""), 10, 64)
		return n
	}
	simtest.WaitFor(t, 30*time.Second, "events on the page", func() bool { return events() > 0 })
	simtest.WaitFor(t, 30*time.Second, "the connection up on the page", func() bool { return text("conns-up") == "1/1 up" })
	n := events()
	simtest.WaitFor(t, 30*time.Second, "the event count to grow", func() bool { return events() > n })
}
