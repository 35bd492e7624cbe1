package soak

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
)

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// chart is one line chart of the HTML report.
type chart struct {
	Title  string
	Unit   string
	Points string // SVG polyline points
	Min    string
	Max    string
	Slope  string
}

const chartW, chartH = 560.0, 160.0

func (r *Report) chart(title, unit string, slope float64, f func(Sample) float64, format func(float64) string) chart {
	ss := r.Samples
	if len(ss) > 1 {
		ss = ss[:len(ss)-1] // the last sample is after Close
	}
	lo, hi := f(ss[0]), f(ss[0])
	for _, s := range ss {
		lo, hi = min(lo, f(s)), max(hi, f(s))
	}
	span := hi - lo
	if span == 0 {
		span = 1
	}
	tmax := ss[len(ss)-1].T
	if tmax == 0 {
		tmax = 1
	}
	var pts strings.Builder
	for _, s := range ss {
		x := s.T / tmax * chartW
		y := chartH - (f(s)-lo)/span*(chartH-10) - 5
		fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
	}
	c := chart{Title: title, Unit: unit, Points: pts.String(), Min: format(lo), Max: format(hi)}
	if slope != 0 || unit != "" {
		c.Slope = format(slope) + " / min"
	}
	return c
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

var page = template.Must(template.New("soak").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>feedkeeper soak report</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#1d2430;background:#fafbfc}
h1{font-size:20px;margin:0 0 4px} .verdict{font-weight:700;padding:2px 8px;border-radius:4px;color:#fff}
.pass{background:#1f883d}.fail{background:#cf222e}
table{border-collapse:collapse;margin:12px 0}td,th{padding:3px 10px;border-bottom:1px solid #e1e4e8;text-align:left}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(600px,1fr));gap:16px}
.card{background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:10px 14px}
.card h2{font-size:15px;margin:0 0 6px}.meta{color:#57606a;font-size:12px}
svg{background:#f6f8fa;border-radius:4px} polyline{fill:none;stroke:#0969da;stroke-width:1.5}
</style></head><body>
<h1>feedkeeper soak report <span class="verdict {{if .R.Pass}}pass">PASS{{else}}fail">FAIL{{end}}</span></h1>
<div class="meta">started {{.R.Started.Format "2006-01-02 15:04:05 MST"}} · {{printf "%.0f" .R.Duration}} s · {{len .R.Samples}} samples · streams {{range .R.Streams}}{{.}} {{end}}{{if .R.Faults}}· faults {{range .R.Faults}}{{.}} {{end}}{{end}}</div>
{{if .R.Failures}}<ul>{{range .R.Failures}}<li>{{.}}</li>{{end}}</ul>{{end}}
<table>
<tr><th>trades delivered</th><td>{{.R.Trades}}</td><th>recovered by backfill</th><td>{{.R.Recovered}}</td></tr>
<tr><th>trade IDs lost</th><td>{{.R.Lost}}</td><th>delivered twice</th><td>{{.R.Duplicates}}</td></tr>
<tr><th>connections made</th><td>{{.R.Gateway.Connects}}</td><th>reconnects</th><td>{{.R.Gateway.Reconnects}}</td></tr>
<tr><th>rotations</th><td>{{.R.Gateway.Rotations}}</td><th>stale connections</th><td>{{.R.Gateway.Stale}}</td></tr>
<tr><th>gaps found</th><td>{{.R.Gateway.Gaps}} ({{.R.Gateway.Missing}} IDs)</td><th>duplicates dropped</th><td>{{.R.Gateway.Duplicates}}</td></tr>
<tr><th>trades backfilled</th><td>{{.R.Gateway.Backfilled}}</td><th>IDs that could not be filled</th><td>{{.R.Gateway.Unfilled}}</td></tr>
<tr><th>book resyncs</th><td>{{.R.Gateway.BookResyncs}}</td><th></th><td></td></tr>
<tr><th>live heap growth</th><td>{{.HeapGrowth}}</td><th>goroutines / files after Close vs before</th><td>{{.R.Growth.Goroutines}} / {{.R.Growth.FDs}}</td></tr>
</table>
<div class="grid">{{range .Charts}}<div class="card"><h2>{{.Title}}</h2>
<svg width="560" height="160" viewBox="0 0 560 160"><polyline points="{{.Points}}"/></svg>
<div class="meta">min {{.Min}} · max {{.Max}}{{if .Slope}} · fitted slope after warm-up {{.Slope}}{{end}}</div></div>{{end}}</div>
</body></html>
`))

// WriteHTML writes a self-contained HTML page with the curves (inline SVG)
// and the verdict.
func (r *Report) WriteHTML(w io.Writer) error {
	if len(r.Samples) == 0 {
		return fmt.Errorf("soak: no samples")
	}
	charts := []chart{
		r.chart("Resident memory (RSS)", "bytes", r.Slopes.RSS, func(s Sample) float64 { return float64(s.RSS) }, bytesFmt),
		r.chart("Live heap (after GC)", "bytes", r.Slopes.Heap, func(s Sample) float64 { return float64(s.Heap) }, bytesFmt),
		r.chart("Goroutines", "count", r.Slopes.Goroutines, func(s Sample) float64 { return float64(s.Goroutines) }, countFmt),
		r.chart("Open files", "count", r.Slopes.FDs, func(s Sample) float64 { return float64(s.FDs) }, countFmt),
		r.chart("Connections up", "", 0, func(s Sample) float64 { return float64(s.Connected) }, countFmt),
		r.chart("Reconnects (total)", "", 0, func(s Sample) float64 { return float64(s.Reconnects) }, countFmt),
	}
	return page.Execute(w, struct {
		R          *Report
		Charts     []chart
		HeapGrowth string
	}{r, charts, bytesFmt(float64(r.Growth.Heap))})
}
