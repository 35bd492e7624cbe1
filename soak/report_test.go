package soak

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var reportShot = flag.String("report-screenshot", "", "write a PNG of the test report to this file")

// chromium returns the path of the Chromium binary, or fails the test
// (FEEDKEEPER_SKIP_BROWSER=1 skips it).
func chromium(t *testing.T) string {
	t.Helper()
	if os.Getenv("FEEDKEEPER_SKIP_BROWSER") == "1" {
		t.Skip("FEEDKEEPER_SKIP_BROWSER=1: the report is not checked in a browser")
	}
	for _, p := range []string{os.Getenv("FEEDKEEPER_CHROMIUM"), "/usr/bin/chromium"} {
		if st, err := os.Stat(p); p != "" && err == nil && !st.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatal("Chromium is not installed (apt-get install -y chromium, or FEEDKEEPER_CHROMIUM=/path); FEEDKEEPER_SKIP_BROWSER=1 skips this test")
	return ""
}

// TestReportHTML writes the report of a run and opens it in headless
// Chromium from a file, with the network off: every chart is drawn, with
// a legend naming its lines, a time axis and a y axis in its unit.
func TestReportHTML(t *testing.T) {
	r := Report{Started: time.Unix(1700000000, 0), Duration: 60, Streams: []string{"btcusdt@aggTrade"},
		Baseline: Sample{Goroutines: 8, FDs: 8}, Samples: samples(60, 10<<10, 8), Trades: 100}
	for i := range r.Samples {
		r.Samples[i].Events = int64(i) * 500
		r.Samples[i].Connected = 2
		r.Samples[i].Reconnects = int64(i / 20)
	}
	cfg := Config{WSURL: "wss://x", RESTURL: "https://x", Streams: r.Streams, Duration: time.Minute}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	r.judge(cfg)
	var b strings.Builder
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	if m := regexp.MustCompile(`(?i)<(script|link|img)[^>]*(src|href)=`).FindString(html); m != "" {
		t.Fatalf("the report loads %q: it must stand alone", m)
	}
	file := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(file, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-component-update", true), chromedp.ProxyServer("http://127.0.0.1:9"),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+file)); err != nil {
		t.Fatal(err)
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string]("String("+js+")"))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	want := map[string]string{
		"memory":      "resident (RSS)|live heap after GC|bytes",
		"goroutines":  "goroutines|open files|count",
		"events":      "events|per s",
		"connections": "connected|count",
		"faults":      "reconnects|gaps|count",
	}
	for id, w := range want {
		got := eval(`(() => { const c = window.soakCharts.find(c => c.id === "` + id + `"); ` +
			`return Array.from(document.querySelectorAll("#chart-` + id + ` .u-legend .u-series:not(:first-child) .u-label")).map(e => e.textContent)` +
			`.concat([c.u.axes[1].label]).join("|") })()`)
		if got != w {
			t.Errorf("chart %s: legend and unit %q, want %q", id, got, w)
		}
	}
	if x := eval(`window.soakCharts[0].u.axes[0].label + " " + window.soakCharts[0].u.axes[0].values(window.soakCharts[0].u, [0, 75, 3725]).join(" ")`); x != "elapsed (h:mm:ss) 0:00 1:15 1:02:05" {
		t.Errorf("time axis %q", x)
	}
	if v := eval(`window.soakCharts[0].u.axes[1].values(window.soakCharts[0].u, [0, 31457280]).join(" ")`); v != "0 30.0 MiB" {
		t.Errorf("memory ticks %q", v)
	}
	if v := eval(`document.querySelector("#chart-memory .u-legend .u-series:nth-child(2) .u-value").textContent`); v != "30.0 MiB" {
		t.Errorf("legend away from the cursor shows %q, want the last RSS, 30.0 MiB", v)
	}
	if n := eval(`document.querySelectorAll(".u-over").length`); n != "5" {
		t.Errorf("%s charts drawn, want 5", n)
	}
	if *reportShot != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*reportShot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
