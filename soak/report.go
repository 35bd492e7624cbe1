package soak

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/feedkeeper/feedkeeper/monitor"
)

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// chart is one chart of the HTML report: lines over the samples, drawn by
// the page's script (uPlot, inlined) with a legend, a time axis (elapsed
// since the start) and a y axis in Unit.
type chart struct {
	ID     string   `json:"id"`
	Title  string   `json:"title"`
	Unit   string   `json:"unit"`  // "bytes", "count", "per s": how ticks and values are written
	Lines  []string `json:"lines"` // one name per line
	Series [][]any  `json:"series"`
	Text   string   `json:"-"` // min, max and slope, for readers without script
}

// column returns f of every sample but the last (taken after Close).
func (r *Report) column(f func(Sample) float64) []any {
	ss := r.Samples
	if len(ss) > 1 {
		ss = ss[:len(ss)-1]
	}
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

// summary is the text under a chart: each line's range, and the fitted
// slope after warm-up where there is one.
func (r *Report) summary(lines []string, cols [][]any, format func(float64) string, slopes []float64) string {
	var b strings.Builder
	for i, name := range lines {
		if i > 0 {
			b.WriteString(" · ")
		}
		lo, hi, seen := 0.0, 0.0, false
		for _, v := range cols[i] {
			f, ok := v.(float64)
			if !ok {
				continue // no value: the first rate
			}
			if !seen || f < lo {
				lo = f
			}
			if !seen || f > hi {
				hi = f
			}
			seen = true
		}
		fmt.Fprintf(&b, "%s %s to %s", name, format(lo), format(hi))
		if i < len(slopes) && slopes[i] != 0 {
			fmt.Fprintf(&b, " (fitted slope after warm-up %s / min)", format(slopes[i]))
		}
	}
	return b.String()
}

func (r *Report) charts() []chart {
	f := func(g func(Sample) float64) []any { return r.column(g) }
	mk := func(id, title, unit string, lines []string, format func(float64) string, slopes []float64, cols ...[]any) chart {
		return chart{ID: id, Title: title, Unit: unit, Lines: lines, Series: cols, Text: r.summary(lines, cols, format, slopes)}
	}
	// events per second between samples
	ss := r.Samples
	if len(ss) > 1 {
		ss = ss[:len(ss)-1]
	}
	rate := make([]any, len(ss))
	for i := range ss {
		if i == 0 || ss[i].T <= ss[i-1].T {
			rate[i] = nil
			continue
		}
		rate[i] = float64(ss[i].Events-ss[i-1].Events) / (ss[i].T - ss[i-1].T)
	}
	if r.Audit != nil { // the gateway ran in child processes: what /proc tells of them
		return []chart{
			mk("memory", "Gateway memory (the running process)", "bytes", []string{"resident (RSS)"}, bytesFmt, nil,
				f(func(s Sample) float64 { return float64(s.RSS) })),
			mk("files", "Gateway open files", "count", []string{"open files"}, countFmt, nil,
				f(func(s Sample) float64 { return float64(s.FDs) })),
			mk("up", "Gateway running", "count", []string{"running"}, countFmt, nil,
				f(func(s Sample) float64 { return float64(s.Connected) })),
			mk("restarts", "Restarts, since start", "count", []string{"restarts"}, countFmt, nil,
				f(func(s Sample) float64 { return float64(s.Restarts) })),
		}
	}
	return []chart{
		mk("memory", "Memory", "bytes", []string{"resident (RSS)", "live heap after GC"}, bytesFmt, []float64{r.Slopes.RSS, r.Slopes.Heap},
			f(func(s Sample) float64 { return float64(s.RSS) }), f(func(s Sample) float64 { return float64(s.Heap) })),
		mk("goroutines", "Goroutines and open files", "count", []string{"goroutines", "open files"}, countFmt, []float64{r.Slopes.Goroutines, r.Slopes.FDs},
			f(func(s Sample) float64 { return float64(s.Goroutines) }), f(func(s Sample) float64 { return float64(s.FDs) })),
		mk("events", "Events delivered", "per s", []string{"events"}, countFmt, nil, rate),
		mk("connections", "Connections up", "count", []string{"connected"}, countFmt, nil,
			f(func(s Sample) float64 { return float64(s.Connected) })),
		mk("faults", "Reconnects and gaps, since start", "count", []string{"reconnects", "gaps"}, countFmt, nil,
			f(func(s Sample) float64 { return float64(s.Reconnects) }), f(func(s Sample) float64 { return float64(s.Gaps) })),
	}
}

func bytesFmt(v float64) string {
	switch a := max(v, -v); {
	case a >= 1<<30:
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case a >= 1<<20:
		return fmt.Sprintf("%.2f MiB", v/(1<<20))
	case a >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}

func countFmt(v float64) string { return fmt.Sprintf("%.1f", v) }

// script draws the charts from the data in #soak-data with uPlot.
const script = `
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("soak-data").textContent);
  const colors = ["#2563eb", "#0d9488", "#d97706", "#dc2626", "#7c3aed"];
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  function fmtBytes(n) {
    let i = 0, a = Math.abs(n);
    while (a >= 1024 && i < units.length - 1) { a /= 1024; n /= 1024; i++; }
    return (i === 0 ? Math.round(n) : n.toFixed(Math.abs(n) >= 100 ? 0 : 1)) + " " + units[i];
  }
  function fmtCount(n) {
    if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(Math.abs(n) >= 1e5 ? 0 : 1) + "k";
    return Number.isInteger(n) ? n.toLocaleString("en-US") : n.toFixed(Math.abs(n) >= 10 ? 1 : 2);
  }
  function fmtElapsed(s) {
    s = Math.round(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const pad = (x) => String(x).padStart(2, "0");
    return h > 0 ? h + ":" + pad(m) + ":" + pad(sec) : m + ":" + pad(sec);
  }
  const byteIncrs = [];
  for (let k = 0; k < 5; k++) for (const m of [1, 2, 5, 10, 20, 50, 100, 200, 500]) byteIncrs.push(m * Math.pow(1024, k));
  const timeIncrs = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  for (const c of data.charts) {
    const el = document.getElementById("chart-" + c.id);
    const fmt = c.unit === "bytes" ? fmtBytes : (v) => fmtCount(v) + (c.unit === "per s" ? "/s" : "");
    const tick = (v) => (v === 0 ? "0" : c.unit === "bytes" ? fmtBytes(v) : fmtCount(v));
    const opts = {
      width: Math.max(el.clientWidth, 300), height: 200,
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: false }, y: { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
      axes: [
        { label: "elapsed (h:mm:ss)", labelSize: 18, values: (u, vals) => vals.map(fmtElapsed), incrs: timeIncrs, space: 70,
          stroke: "#57606a", grid: { stroke: "#eef1f5" }, ticks: { stroke: "#e1e4e8" } },
        { label: c.unit, labelSize: 18, size: 70, values: (u, vals) => vals.map(tick),
          incrs: c.unit === "bytes" ? byteIncrs : undefined, stroke: "#57606a", grid: { stroke: "#eef1f5" }, ticks: { stroke: "#e1e4e8" } },
      ],
      series: [
        { label: "elapsed", value: (u, v) => (v == null ? "—" : fmtElapsed(v)) },
        ...c.lines.map((name, i) => ({ label: name, stroke: colors[i % colors.length], width: 1.5,
          value: (u, v) => (v == null ? "—" : fmt(v)), points: { show: false } })),
      ],
    };
    // away from the cursor, the legend gives the last values
    const latest = (u) => { if (u.cursor.idx == null && u.data[0].length) u.setLegend({ idx: u.data[0].length - 1 }); };
    opts.hooks = { setCursor: [latest] };
    c.u = new uPlot(opts, [data.t, ...c.series], el);
    latest(c.u);
  }
  window.soakCharts = data.charts;
})();
`

var page = template.Must(template.New("soak").Funcs(template.FuncMap{"inc": func(i int) int { return i + 1 }}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>feedkeeper soak report</title>
{{.Style}}
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#1d2430;background:#fafbfc}
h1{font-size:20px;margin:0 0 4px} .verdict{font-weight:700;padding:2px 8px;border-radius:4px;color:#fff}
.pass{background:#1f883d}.fail{background:#cf222e}
table{border-collapse:collapse;margin:12px 0}td,th{padding:3px 10px;border-bottom:1px solid #e1e4e8;text-align:left}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px}
.card{background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:10px 14px;min-width:0}
.card h2{font-size:15px;margin:0 0 6px}.card h2 .unit{font-weight:400;color:#57606a;font-size:12px}.meta{color:#57606a;font-size:12px}
.plot{min-height:200px}.u-legend{font-size:12px;text-align:left}.u-legend th{font-weight:400;border:none;padding:1px 2px}.u-legend td{border:none;padding:1px 4px;font-weight:600}
</style></head><body>
<h1>feedkeeper soak report <span class="verdict {{if .R.Pass}}pass">PASS{{else}}fail">FAIL{{end}}</span></h1>
<div class="meta">started {{.R.Started.Format "2006-01-02 15:04:05 MST"}} · {{printf "%.0f" .R.Duration}} s · {{len .R.Samples}} samples · streams {{range .R.Streams}}{{.}} {{end}}{{if .R.Faults}}· faults {{range .R.Faults}}{{.}} {{end}}{{end}}</div>
{{if .R.Failures}}<ul>{{range .R.Failures}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{with .R.Audit}}<h2 style="font-size:16px">Outputs of all runs against the simulator's trades</h2>
<table>
<tr><th>gateway runs</th><td>{{len .Runs}}</td><th>files read</th><td>{{.Files}} ({{.Partial}} cut short by a kill, read up to their last complete line)</td></tr>
<tr><th>trades expected</th><td>{{.Expected}}</td><th>delivered (distinct IDs)</th><td>{{.Delivered}}</td></tr>
<tr><th>missing</th><td>{{.Missing}}{{if .AnnouncedAtEnd}} (and {{.AnnouncedAtEnd}} announced at the end: a recovery the soak's end cut short){{end}}</td><th>re-delivered after a kill</th><td>{{.Redelivered}} (written after the last saved state; consumers drop them by ID)</td></tr>
<tr><th>delivered twice otherwise</th><td>{{.Duplicates}}</td><th>unknown IDs / unlike the truth</th><td>{{.Unknown}} / {{.Differ}}</td></tr>
</table>
<table><tr><th>venue</th><th>symbol</th><th>trades</th><th>IDs</th><th>expected</th><th>delivered</th><th>missing</th><th>re-delivered</th><th>twice otherwise</th><th>unknown</th><th>unlike the truth</th></tr>
{{range .Symbols}}<tr><td>{{.Venue}}</td><td>{{.Symbol}}</td><td>{{.Kind}}</td><td>{{.From}}..{{.To}}</td><td>{{.Expected}}</td><td>{{.Delivered}}</td><td>{{.Missing}}{{if .MissingIDs}} (first: {{.MissingIDs}}){{end}}</td><td>{{.Redelivered}}</td><td>{{.Duplicates}}</td><td>{{.Unknown}}</td><td>{{.Differ}}</td></tr>
{{end}}</table>
<table><tr><th>run</th><th>files</th><th>trades written</th><th>recovered over REST</th><th>ended</th></tr>
{{range $i, $r := .Runs}}<tr><td>{{inc $i}}</td><td>{{$r.Files}}</td><td>{{$r.Trades}}</td><td>{{$r.Recovered}}</td><td>{{if $r.CutShort}}cut short{{else}}complete{{end}}</td></tr>
{{end}}</table>{{end}}
{{if .R.Restarts}}<h2 style="font-size:16px">Restarts</h2>
<table><tr><th>#</th><th>at</th><th>signal</th><th>the run ended</th><th>no gateway for</th><th>trades re-delivered</th></tr>
{{range .R.Restarts}}<tr><td>{{.N}}</td><td>{{printf "%.1f" .At}} s</td><td>{{.Signal}}</td><td>{{.Exit}}</td><td>{{printf "%.1f" .Downtime}} s</td><td>{{.Redelivered}}</td></tr>
{{end}}</table>{{end}}
{{if not .R.Audit}}<table>
<tr><th>trades delivered</th><td>{{.R.Trades}}</td><th>recovered by backfill</th><td>{{.R.Recovered}}</td></tr>
<tr><th>trade IDs lost</th><td>{{.R.Lost}}</td><th>delivered twice</th><td>{{.R.Duplicates}}</td></tr>
<tr><th>announced as gaps during the run</th><td>{{.R.Announced}}</td><th>announced at the end (recovery cut short)</th><td>{{.R.AnnouncedAtClose}}</td></tr>
<tr><th>connections made</th><td>{{.R.Gateway.Connects}}</td><th>reconnects</th><td>{{.R.Gateway.Reconnects}}</td></tr>
<tr><th>rotations</th><td>{{.R.Gateway.Rotations}}</td><th>stale connections</th><td>{{.R.Gateway.Stale}}</td></tr>
<tr><th>gaps found</th><td>{{.R.Gateway.Gaps}} ({{.R.Gateway.Missing}} IDs)</td><th>duplicates dropped</th><td>{{.R.Gateway.Duplicates}}</td></tr>
<tr><th>trades backfilled</th><td>{{.R.Gateway.Backfilled}}</td><th>IDs that could not be filled</th><td>{{.R.Gateway.Unfilled}}</td></tr>
<tr><th>book resyncs</th><td>{{.R.Gateway.BookResyncs}}</td><th></th><td></td></tr>
<tr><th>live heap growth</th><td>{{.HeapGrowth}}</td><th>goroutines / files after Close vs before</th><td>{{.R.Growth.Goroutines}} / {{.R.Growth.FDs}}</td></tr>
</table>{{end}}
<div class="meta">Charts: drag across one to zoom in, double-click to zoom out; the legend gives each line's value under the cursor.</div>
<div class="grid">{{range .Charts}}<figure class="card" style="margin:0"><h2>{{.Title}} <span class="unit">{{.Unit}}</span></h2>
<div class="plot" id="chart-{{.ID}}"></div>
<div class="meta">{{.Text}}</div></figure>{{end}}</div>
{{.Data}}
{{.Script}}
</body></html>
`))

// WriteHTML writes a self-contained HTML page (no request leaves it: the
// chart library and the data are inline) with the verdict, the totals and
// the curves.
func (r *Report) WriteHTML(w io.Writer) error {
	if len(r.Samples) == 0 {
		return fmt.Errorf("soak: no samples")
	}
	charts := r.charts()
	ss := r.Samples
	if len(ss) > 1 {
		ss = ss[:len(ss)-1]
	}
	t := make([]float64, len(ss))
	for i, s := range ss {
		t[i] = s.T
	}
	data, err := json.Marshal(struct {
		T      []float64 `json:"t"`
		Charts []chart   `json:"charts"`
	}{t, charts})
	if err != nil {
		return fmt.Errorf("soak: report data: %w", err)
	}
	js, css := monitor.ChartLibrary()
	// json.Marshal escapes <, > and &, so the data cannot end its script
	// element; the library's script holds no "</script".
	return page.Execute(w, struct {
		R            *Report
		Charts       []chart
		HeapGrowth   string
		Style        template.HTML
		Data, Script template.HTML
	}{
		r, charts, bytesFmt(float64(r.Growth.Heap)),
		template.HTML("<style>" + string(css) + "</style>"),
		template.HTML(`<script type="application/json" id="soak-data">` + string(data) + `</script>`),
		template.HTML("<script>" + string(js) + "</script>\n<script>" + script + "</script>"),
	})
}
