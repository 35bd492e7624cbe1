package monitor

import (
	"embed"
	"io/fs"
	"net/http"
	"time"
)

//go:embed web
var webFS embed.FS

// maxStreams bounds the dashboard streams open at once.
const maxStreams = 32

// dashboard serves the page and its assets, embedded in the binary.
func dashboard() http.Handler {
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err)
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// serveEvents streams the dashboard's snapshots as server-sent events: an
// "init" event with the charts' history, then one message per sample. It
// ends when the client goes or the Monitor closes.
func (m *Monitor) serveEvents(w http.ResponseWriter, r *http.Request) {
	if m.streams.Add(1) > maxStreams {
		m.streams.Add(-1)
		http.Error(w, "too many dashboard streams", http.StatusServiceUnavailable)
		return
	}
	defer m.streams.Add(-1)
	rc := http.NewResponseController(w)
	ch, init := m.sampler.subscribe()
	defer m.sampler.unsubscribe(ch)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	write := func(event string, data []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		var b []byte
		if event != "" {
			b = append(b, "event: "...)
			b = append(b, event...)
			b = append(b, '\n')
		}
		b = append(b, "data: "...)
		b = append(b, data...)
		b = append(b, "\n\n"...)
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if _, err := w.Write([]byte("retry: 2000\n\n")); err != nil {
		return
	}
	if !write("init", init) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case b, ok := <-ch:
			if !ok || !write("", b) {
				return
			}
		}
	}
}

// serveSnapshot answers the last snapshot as JSON.
func (m *Monitor) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	b := m.sampler.lastSnapshot()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if b == nil {
		w.Write([]byte("{}"))
		return
	}
	w.Write(b)
}

// ChartLibrary returns the chart library of the dashboard: uPlot's script
// and style sheet (MIT licence: web/vendor/uPlot.LICENSE), for pages that
// must stand alone, such as the soak report, to inline. The slices are
// fresh copies.
func ChartLibrary() (script, style []byte) {
	js, err := webFS.ReadFile("web/vendor/uPlot.iife.min.js")
	if err != nil {
		panic(err)
	}
	css, err := webFS.ReadFile("web/vendor/uPlot.min.css")
	if err != nil {
		panic(err)
	}
	return js, css
}
