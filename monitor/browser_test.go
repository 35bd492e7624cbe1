package monitor_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/monitor"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/sink"
	natssink "github.com/feedkeeper/feedkeeper/sink/nats"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

var (
	screenshot = flag.String("screenshot", "", "write a PNG of the dashboard to this file (relative to monitor/) after running the demo for -screenshot-after")
	shotAfter  = flag.Duration("screenshot-after", 40*time.Second, "how long the demo runs before the screenshot, so the charts have a history")
)

// skipBrowserEnv set to 1 skips the browser test where Chromium is not installed.
const skipBrowserEnv = "FEEDKEEPER_SKIP_BROWSER"

// chromium returns the path of the Chromium binary, or fails the test.
func chromium(t *testing.T) string {
	t.Helper()
	if os.Getenv(skipBrowserEnv) == "1" {
		t.Skip(skipBrowserEnv + "=1: the dashboard is not tested in a browser")
	}
	for _, p := range []string{os.Getenv("FEEDKEEPER_CHROMIUM"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatalf("Chromium is not installed: the dashboard test needs it (apt-get install -y chromium: /usr/bin/chromium; " +
		"or FEEDKEEPER_CHROMIUM=/path/to/chrome). Set " + skipBrowserEnv + "=1 to skip this test.")
	return ""
}

// TestBrowserDashboard opens the dashboard in headless Chromium while a
// gateway streams from the simulator, and checks that live data appears,
// updates, and follows a fault.
func TestBrowserDashboard(t *testing.T) {
	exe := chromium(t)
	cfg := sim.Config{Rate: 300, Symbols: []string{"BTCUSDT", "ETHUSDT", "SOLUSDT"}, Faults: []sim.Fault{{Kind: sim.FaultTradeGap, Prob: 0.001}}}
	sample := 250 * time.Millisecond
	if *screenshot != "" {
		cfg.Faults = append(cfg.Faults, sim.Fault{Kind: sim.FaultDrop, Every: 9 * time.Second}, sim.Fault{Kind: sim.FaultMalformed, Prob: 0.05})
		cfg.MaxLifetime = 25 * time.Second
		sample = time.Second
	}
	s := startSim(t, cfg)
	// a NATS sink on a real server, stopped and started again below
	store := t.TempDir()
	srv, err := natssink.StartServer(natssink.ServerConfig{StoreDir: store, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	natsURL := srv.ClientURL()
	natsPort, _ := strconv.Atoi(natsURL[strings.LastIndexByte(natsURL, ':')+1:])
	ns, err := natssink.Open(natssink.Config{URLs: []string{natsURL}, AckTimeout: time.Second, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.CloseNow() })
	r := newRig(t, s, rigConfig{
		handler:  func(ev *feed.Event) { ns.Write(ev) },
		streams:  []string{"btcusdt@aggTrade", "btcusdt@bookTicker", "btcusdt@depth@100ms", "ethusdt@aggTrade", "ethusdt@bookTicker", "solusdt@aggTrade", "solusdt@bookTicker"},
		perConn:  4,
		recovery: true,
		session:  wsconn.Config{BackoffMin: 200 * time.Millisecond, BackoffMax: time.Second},
		mon: monitor.Config{SampleInterval: sample, BookSymbols: []string{"BTCUSDT"},
			Sinks: map[string]sink.Sink{"nats": ns}, SinkStall: 2 * time.Second},
	})
	clock, err := monitor.EstimateOffset(context.Background(), 3, r.serverTime)
	if err != nil {
		t.Fatal(err)
	}
	r.mon.SetClockOffset(clock)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second+*shotAfter)
	defer cancelT()

	if err := chromedp.Do(ctx, chromedp.Navigate(r.mon.URL())); err != nil {
		t.Fatalf("open %s: %v", r.mon.URL(), err)
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string]("String("+js+")"))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	text := func(id string) string {
		return eval(`(document.getElementById(` + strconv.Quote(id) + `) || {}).textContent || ""`)
	}
	number := func(id string) int64 {
		n, _ := strconv.ParseInt(strings.ReplaceAll(text(id), ",", ""), 10, 64)
		return n
	}
	waitPage := func(what string, cond func() bool) {
		t.Helper()
		waitFor(t, 20*time.Second, what+" on the page", cond)
	}

	waitPage("events", func() bool { return number("events-total") > 0 })
	waitPage("both connections up", func() bool { return text("conns-up") == "2/2 up" })
	waitPage("the ready pill", func() bool { return text("ready") == "READY" })
	waitPage("three symbols with quotes", func() bool {
		return eval(`Array.from(document.querySelectorAll("#quotes tbody tr[data-symbol]")).filter(r => r.querySelector(".bid").textContent !== "—").length`) == "3"
	})
	if rows := eval(`document.querySelectorAll("#conns tbody tr").length`); rows != "2" {
		t.Fatalf("%s rows in the connections table", rows)
	}
	if st := eval(`document.querySelector("#conns .state").textContent`); st != "connected" {
		t.Fatalf("connection state %q", st)
	}

	// live: the count grows between two reads, as the charts fill
	n1 := number("events-total")
	waitPage("the event count to grow", func() bool { return number("events-total") > n1 })
	if h := eval(`document.getElementById("chart-venues").hidden`); h != "true" {
		t.Fatalf("the venues chart shown for one venue")
	}
	waitPage("the rate chart", func() bool {
		return eval(`Number((document.getElementById("chart-rate").dataset || {}).points || 0) > 3`) == "true"
	})
	// the legend names every line of a chart with several, with its value
	for id, want := range map[string]string{
		"chart-rate":    "events frames",
		"chart-latency": "exchange→receive p99 exchange→receive p50 receive→sink p99",
		"chart-faults":  "reconnects gaps",
		"chart-memory":  "RSS Go heap",
	} {
		labels := eval(`Array.from(document.querySelectorAll("#` + id + ` .u-legend .u-series:not(:first-child) .u-label")).map(e => e.textContent).join(" ")`)
		if labels != want {
			t.Fatalf("%s legend %q, want %q", id, labels, want)
		}
	}
	waitPage("the legend's latest event rate", func() bool {
		v := eval(`document.querySelector("#chart-rate .u-legend .u-series:nth-child(2) .u-value").textContent`)
		return v != "—" && v != "" && v != "0"
	})
	// axes carry units
	if u := eval(`CHARTS.map(c => c.u.axes[1].values(c.u, [0, 2, 2048]).join("|")).join(" ")`); u != "0|2|2,048 0|2.0 ms|2.05 s 0|2|2,048 0|2 B/s|2.0 KiB/s 0|2 B|2.0 KiB 0|2|2,048" {
		t.Fatalf("ticks of the y axes %q", u)
	}

	// the range control: every sample over the last 5 minutes' worth (75 s
	// at 250 ms), one point per 10 samples over the last hour's worth (15
	// min), or since start
	dataset := func(k string) string { return eval(`document.getElementById("chart-rate").dataset.` + k) }
	if *screenshot == "" { // the screenshot samples every second: other ranges
		num := func(k string) int64 { n, _ := strconv.ParseInt(dataset(k), 10, 64); return n }
		if b := text("range"); !strings.Contains(b, "last 75 s") || !strings.Contains(b, "last 15 min") || !strings.Contains(b, "since start") {
			t.Fatalf("range buttons %q", b)
		}
		if dataset("range") != "5m" || num("step") != 250 {
			t.Fatalf("first range %s, step %s ms: want 5m, 250", dataset("range"), dataset("step"))
		}
		click := func(rg string) {
			t.Helper()
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#range button[data-range="`+rg+`"]`))); err != nil {
				t.Fatal(err)
			}
		}
		waitPage("a few seconds of samples", func() bool { return num("points") >= 20 })
		fine := num("points")
		click("1h")
		waitPage("the 1 h range", func() bool { return dataset("range") == "1h" && num("step") == 2500 })
		if coarse := num("points"); coarse >= fine/2 {
			t.Fatalf("1 h range shows %d points, the 5 min one %d", coarse, fine)
		}
		if note := text("range-note"); !strings.Contains(note, "last 15 min, one point per 2.5 s") {
			t.Fatalf("range note %q", note)
		}
		click("all")
		waitPage("the since-start range", func() bool { return dataset("range") == "all" && num("step") == 15000 })
		if sp, since := num("span"), time.Since(r.opened).Seconds(); sp <= 0 || float64(sp) > since+2 {
			t.Fatalf("since start spans %ds, the gateway opened %.0fs ago", sp, since)
		}
		if p := eval(`document.querySelector('#range button[data-range="all"]').getAttribute("aria-pressed")`); p != "true" {
			t.Fatalf("since start pressed: %s", p)
		}
		click("5m")
		waitPage("the 5 min range again", func() bool { return dataset("range") == "5m" && num("points") >= fine })

		// drag across the rate chart: it zooms in and stays zoomed as
		// samples come; a double-click returns to the range
		full := num("span")
		// (the page may shift between the measure and the drag when the
		// problems banner comes or goes: try again)
		var x0, x1, y float64
		for attempt := 0; ; attempt++ {
			box := strings.Split(eval(`(() => { const r = document.querySelector("#chart-rate .u-over").getBoundingClientRect(); return [r.left, r.top, r.width, r.height].join(" ") })()`), " ")
			var bx [4]float64
			for i := range bx {
				bx[i], _ = strconv.ParseFloat(box[i], 64)
			}
			y = bx[1] + bx[3]/2
			x0, x1 = bx[0]+bx[2]*0.3, bx[0]+bx[2]*0.6
			if err := chromedp.Do(ctx,
				chromedp.MouseEvent(chromedp.MouseMoved, x0, y),
				chromedp.MouseEvent(chromedp.MousePressed, x0, y, chromedp.ButtonLeft, chromedp.ClickCount(1)),
				chromedp.MouseEvent(chromedp.MouseMoved, (x0+x1)/2, y, chromedp.ButtonLeft),
				chromedp.MouseEvent(chromedp.MouseMoved, x1, y, chromedp.ButtonLeft),
				chromedp.MouseEvent(chromedp.MouseReleased, x1, y, chromedp.ButtonLeft, chromedp.ClickCount(1)),
			); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(3 * time.Second)
			for dataset("zoomed") != "true" && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if dataset("zoomed") == "true" || attempt == 2 {
				break
			}
			t.Logf("drag %d did not zoom", attempt+1)
		}
		// (spans are whole seconds: a zoom to 1.5 s of 5 s reads 2 of 5)
		waitPage("the zoom", func() bool { return dataset("zoomed") == "true" && 2*num("span") <= full })
		zoomed := num("span")
		time.Sleep(3 * sample)
		if dataset("zoomed") != "true" || num("span") != zoomed {
			t.Fatalf("zoom lost as samples came: span %ds, zoomed %s", num("span"), dataset("zoomed"))
		}
		if err := chromedp.Do(ctx, chromedp.DoubleClick(chromedp.CSS("#chart-rate .u-over"))); err != nil {
			t.Fatal(err)
		}
		waitPage("the range again after a double-click", func() bool { return dataset("zoomed") == "false" && num("span") >= full })
	}

	// the order book's sync state per symbol
	waitPage("BTCUSDT's book in sync", func() bool {
		return eval(`(document.querySelector('#quotes tr[data-symbol="BTCUSDT"] .book') || {}).textContent`) == "in sync"
	})
	if b := eval(`(document.querySelector('#quotes tr[data-symbol="ETHUSDT"] td:last-child') || {}).textContent`); b != "—" {
		t.Fatalf("ETHUSDT keeps no book, shown %q", b)
	}
	if lat := text("lat-exch"); lat == "—" || lat == "" {
		t.Fatalf("no latency shown: %q", lat)
	}
	if g := number("goroutines"); g <= 0 {
		t.Fatalf("goroutines %d", g)
	}

	// a sink that cannot reach its server shows, and why
	sinkRow := func() string {
		return eval(`(document.querySelector('#sinks tr[data-sink="nats"]') || {}).textContent || ""`)
	}
	waitPage("the NATS sink delivering", func() bool { return strings.Contains(sinkRow(), "delivering") })
	if *screenshot == "" {
		srv.Close()
		waitPage("the NATS sink not ready", func() bool {
			row := sinkRow()
			return strings.Contains(row, "not ready") && strings.Contains(row, "nats server unreachable") && text("ready") == "NOT READY"
		})
		if p := text("problems"); !strings.Contains(p, "sink nats: nats server unreachable") {
			t.Fatalf("problems shown: %q", p)
		}
		srv, err = natssink.StartServer(natssink.ServerConfig{StoreDir: store, Port: natsPort, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		waitPage("the NATS sink delivering again", func() bool { return strings.Contains(sinkRow(), "delivering") && text("ready") == "READY" })
	}

	// a fault shows: the connections drop and come back
	waitFor(t, 10*time.Second, "the server to see both connections", func() bool { return len(s.Conns()) == 2 })
	before := number("reconnects")
	if err := s.Fire(sim.Fault{Kind: sim.FaultDrop}); err != nil {
		t.Fatal(err)
	}
	waitPage("the reconnects", func() bool { return number("reconnects") >= before+2 })
	waitPage("the disconnection in recent events", func() bool { return strings.Contains(text("notices"), "disconnected") })
	waitPage("both connections back", func() bool { return text("conns-up") == "2/2 up" })

	if *screenshot == "" {
		return
	}
	time.Sleep(*shotAfter)
	waitPage("connections up for a few seconds", func() bool {
		up := eval(`Array.from(document.querySelectorAll("#conns tbody tr td:nth-child(3)")).map(td => td.textContent).join(" ")`)
		return !strings.ContainsAny(up, "—") && !strings.Contains(" "+up, " 0s") && !strings.Contains(" "+up, " 1s") && !strings.Contains(" "+up, " 2s")
	})
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(*screenshot), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(*screenshot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", *screenshot, len(png))
}

// TestBrowserVenues opens the dashboard of a process that runs two venues,
// Binance spot (trades lost at the source and recovered) and Binance USD-M,
// each from a simulator of its own: a row per venue shows that venue's own
// figures (connections, books, gaps, its dial budget) beside their total,
// the header names both; when spot's connections drop and are refused for a
// while, its row, its header tag and the problems say spot is not ready
// while USD-M stays ready and untouched.
func TestBrowserVenues(t *testing.T) {
	exe := chromium(t)
	r := newVenueRig(t, sim.Config{Rate: 200, Symbols: []string{"BTCUSDT", "ETHUSDT"},
		Faults: []sim.Fault{{Kind: sim.FaultTradeGap, Prob: 0.02}}},
		sim.Config{Rate: 100, Symbols: []string{"BTCUSDT"}}, 250*time.Millisecond)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1400, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate(r.mon.URL())); err != nil {
		t.Fatalf("open %s: %v", r.mon.URL(), err)
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string]("String("+js+")"))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	// cell is the text of a venue's figure k (data-k) in its row; venue ""
	// is the total row.
	cell := func(venue, k string) string {
		return eval(`(document.querySelector('#venues tr[data-venue="` + venue + `"] td[data-k="` + k + `"]') || {}).textContent || ""`)
	}
	number := func(venue, k string) int64 {
		f := strings.Fields(strings.ReplaceAll(cell(venue, k), ",", ""))
		if len(f) == 0 {
			return -1
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return -1
		}
		return n
	}
	waitPage := func(what string, cond func() bool) {
		t.Helper()
		waitFor(t, 20*time.Second, what+" on the page", cond)
	}

	usdmConns := len(r.gws[1].Load().Stats().Sessions)
	waitPage("a row per venue", func() bool {
		return eval(`Array.from(document.querySelectorAll("#venues tbody tr")).map(r => r.dataset.venue).join(" ")`) == "binance binance-usdm"
	})
	if h := eval(`document.getElementById("venues-card").hidden`); h != "false" {
		t.Fatalf("venues card hidden: %s", h)
	}
	waitPage("both venues up, in sync, ready", func() bool {
		return cell("binance", "conns") == "2/2 up" && cell("binance-usdm", "conns") == fmt.Sprintf("%d/%d up", usdmConns, usdmConns) &&
			cell("binance", "books") == "1/1" && cell("binance-usdm", "books") == "1/1" &&
			cell("binance", "state") == "ready" && cell("binance-usdm", "state") == "ready"
	})
	waitPage("spot's gaps and recovered trades", func() bool {
		return number("binance", "gaps") > 0 && number("binance", "recovered") > 0
	})
	// each row its own figures
	if g := number("binance-usdm", "gaps"); g != 0 {
		t.Errorf("USD-M shows %d gaps: it loses nothing", g)
	}
	for i, v := range []string{"binance", "binance-usdm"} {
		n := number(v, "events")
		if st := r.gws[i].Load().Stats(); n <= 0 || n > st.Events {
			t.Errorf("%s shows %d events, its gateway has delivered %d", v, n, st.Events)
		}
		if l := cell(v, "latency"); l == "—" || l == "" {
			t.Errorf("%s: no latency shown", v)
		}
		if rest := number(v, "rest"); rest <= 0 {
			t.Errorf("%s: REST %q", v, cell(v, "rest"))
		}
	}
	if d := cell("binance", "dials"); !strings.HasSuffix(d, "/200") {
		t.Errorf("spot's dial budget %q: want its own limit, 200", d)
	}
	if d := cell("binance-usdm", "dials"); !strings.HasSuffix(d, "/300") {
		t.Errorf("USD-M's dial budget %q: want its own limit, 300", d)
	}
	// the total row and the tiles keep the totals
	want := fmt.Sprintf("%d/%d up", 2+usdmConns, 2+usdmConns)
	if c, tile := cell("", "conns"), eval(`document.getElementById("conns-up").textContent`); c != want || tile != want {
		t.Errorf("total connections %q, tile %q: want %q", c, tile, want)
	}
	if d := cell("", "dials"); !strings.HasSuffix(d, "/500") {
		t.Errorf("total dial budget %q: want /500", d)
	}
	if tags := eval(`Array.from(document.querySelectorAll("#venue .vtag")).map(e => e.textContent + ":" + e.className).join(" ")`); tags != "binance:vtag vtag-ok binance-usdm:vtag vtag-ok" {
		t.Errorf("header venues %q", tags)
	}
	// a chart with a line per venue, its legend naming each with its rate
	if labels := eval(`Array.from(document.querySelectorAll("#chart-venues .u-legend .u-series:not(:first-child) .u-label")).map(e => e.textContent).join(" ")`); labels != "binance binance-usdm" {
		t.Errorf("the venues chart's legend %q", labels)
	}
	waitPage("each venue's latest rate in the chart's legend", func() bool {
		vals := strings.Split(eval(`Array.from(document.querySelectorAll("#chart-venues .u-legend .u-series:not(:first-child) .u-value")).map(e => e.textContent).join(" ")`), " ")
		return len(vals) == 2 && vals[0] != "—" && vals[0] != "0" && vals[1] != "—" && vals[1] != "0"
	})
	// the same symbol's book on both venues, each in its own row
	waitPage("BTCUSDT's books of both venues in sync", func() bool {
		return eval(`Array.from(document.querySelectorAll('#quotes tr[data-symbol="BTCUSDT"]')).map(r => r.dataset.venue + ":" + r.querySelector(".book").textContent).join(" ")`) ==
			"binance:in sync binance-usdm:in sync"
	})

	// spot goes down for a while
	if err := r.spot.Fire(sim.Fault{Kind: sim.FaultRefuse, Duration: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := r.spot.Fire(sim.Fault{Kind: sim.FaultDrop}); err != nil {
		t.Fatal(err)
	}
	waitPage("spot not ready, USD-M ready", func() bool {
		return cell("binance", "state") == "not ready" && cell("binance-usdm", "state") == "ready" &&
			eval(`document.querySelector('#venue .vtag[data-venue="binance"]').className`) == "vtag vtag-bad" &&
			eval(`document.querySelector('#venue .vtag[data-venue="binance-usdm"]').className`) == "vtag vtag-ok"
	})
	if p := eval(`document.getElementById("problems").textContent`); !strings.Contains(p, "connection binance#") || strings.Contains(p, "binance-usdm") {
		t.Errorf("problems shown: %q", p)
	}
	if c := cell("binance", "conns"); c == "2/2 up" {
		t.Errorf("spot's connections shown up: %q", c)
	}
	if c := cell("", "state"); c != "1/2 ready" {
		t.Errorf("total state %q", c)
	}
	// recent events say which venue lost its connections
	waitPage("spot's disconnection in recent events", func() bool {
		return eval(`Array.from(document.querySelectorAll('#notices li[data-venue="binance"] .text')).some(e => e.textContent.startsWith("binance disconnected"))`) == "true"
	})
	if n := eval(`Array.from(document.querySelectorAll('#notices li[data-venue="binance-usdm"] .text')).map(e => e.textContent).join("; ")`); strings.Contains(n, "disconnected") {
		t.Errorf("USD-M's recent events: %s", n)
	}
	waitPage("spot back", func() bool {
		return cell("binance", "state") == "ready" && cell("binance", "conns") == "2/2 up" && number("binance", "reconnects") >= 2
	})
	if n := number("binance-usdm", "reconnects"); n != 0 {
		t.Errorf("USD-M shows %d reconnects", n)
	}
}
