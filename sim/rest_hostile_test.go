package sim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// TestRESTHuge checks rest-huge: a declared length far over the answer,
// the real answer's start, spaces, and a connection cut at half.
func TestRESTHuge(t *testing.T) {
	f := newRESTFixture(t, Config{Symbols: []string{"BTCUSDT"}, Levels: 40})
	real := f.get(t, "/api/v3/depth?symbol=BTCUSDT&limit=20")
	if real.status != 200 {
		t.Fatalf("depth: %d %s", real.status, real.body)
	}
	const size = 8 << 20
	f.fs.add(Fault{Kind: FaultRESTHuge, Size: size, Times: 1})
	r := f.get(t, "/api/v3/depth?symbol=BTCUSDT&limit=20")
	if r.status != 200 || r.header.Get("Content-Length") != strconv.Itoa(size) {
		t.Fatalf("rest-huge: %d, Content-Length %q", r.status, r.header.Get("Content-Length"))
	}
	if !errors.Is(r.err, io.ErrUnexpectedEOF) || len(r.body) != size/2 {
		t.Fatalf("rest-huge: %d bytes read of %d announced, error %v: want half, cut short", len(r.body), size, r.err)
	}
	head := real.body[:len(real.body)-1]
	if !bytes.HasPrefix(r.body, head) || len(bytes.Trim(r.body[len(head):], " ")) != 0 {
		t.Fatalf("rest-huge: body %.80q… is not the answer's start and spaces", r.body)
	}
	if r := f.get(t, "/api/v3/ping"); r.status != 200 {
		t.Fatalf("after rest-huge: %d", r.status)
	}

	// the default size, and a client that refuses it unread
	f.fs.add(Fault{Kind: FaultRESTHuge, Times: 1})
	resp, err := f.srv.Client().Get(f.srv.URL + "/api/v3/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ContentLength != DefaultHugeSize {
		t.Fatalf("rest-huge by default announces %d bytes, want %d", resp.ContentLength, DefaultHugeSize)
	}

	// slowly: half of 1 MiB paced over 600ms takes about 300ms
	f.fs.add(Fault{Kind: FaultRESTHuge, Size: 1 << 20, Duration: 600 * time.Millisecond, Times: 1})
	start := time.Now()
	r = f.get(t, "/api/v3/ping")
	if took := time.Since(start); took < 250*time.Millisecond || len(r.body) != 1<<19 {
		t.Fatalf("paced rest-huge: %d bytes in %v, want %d in about 300ms", len(r.body), took, 1<<19)
	}
	if n := f.fs.counts()[FaultRESTHuge]; n != 3 {
		t.Fatalf("rest-huge fired %d times, want 3", n)
	}
}

// TestRESTEndless checks rest-endless on HTTP/1.1 and HTTP/2: no length,
// the answer's start, spaces for as long as the client reads, and the
// handler's end when the client goes away.
func TestRESTEndless(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1", true: "http2"}[h2], func(t *testing.T) {
			cfg := Config{Symbols: []string{"BTCUSDT"}, Levels: 40, History: 400}.withDefaults()
			m, fs := newTestMarket(t, cfg), newFaults(1)
			srv := httptest.NewUnstartedServer(newREST(m, fs, cfg))
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			defer srv.Close()
			get := func(ctx context.Context) *http.Response {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v3/aggTrades?symbol=BTCUSDT&fromId=0&limit=5", nil)
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				return resp
			}
			resp := get(context.Background())
			real, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || len(real) < 2 {
				t.Fatalf("aggTrades: %q %v", real, err)
			}
			head := real[:len(real)-1]
			fs.add(Fault{Kind: FaultRESTEndless, Times: 1})
			ctx, cancel := context.WithCancel(context.Background())
			resp = get(ctx)
			if resp.ContentLength != -1 || (!h2 && (len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked")) {
				t.Fatalf("rest-endless: Content-Length %d, Transfer-Encoding %v", resp.ContentLength, resp.TransferEncoding)
			}
			const want = 16 << 20
			var n int64
			n, err = io.Copy(io.Discard, io.LimitReader(resp.Body, want))
			if err != nil || n != want {
				t.Fatalf("rest-endless: %d bytes, %v: want %d and more", n, err, want)
			}
			cancel()
			resp.Body.Close()

			// with a duration: cut when it has passed
			fs.add(Fault{Kind: FaultRESTEndless, Duration: 200 * time.Millisecond, Times: 1})
			start := time.Now()
			resp = get(context.Background())
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil || time.Since(start) < 200*time.Millisecond || !bytes.HasPrefix(b, head) || len(bytes.Trim(b[len(head):], " ")) != 0 {
				t.Fatalf("rest-endless for 200ms: %d bytes %.20q, %v after %v: want the answer's start, cut after 200ms", len(b), b, err, time.Since(start))
			}

			start = time.Now()
			srv.Close() // waits for the handlers
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("the endless handler went on for %v after its client left", took)
			}
		})
	}
}

func TestParseHostileFaults(t *testing.T) {
	for _, in := range []string{"rest-huge:p=0.1,duration=2s,size=300000000", "rest-endless:times=3,duration=1s"} {
		f, err := ParseFault(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if g, err := ParseFault(f.String()); err != nil || g != f {
			t.Fatalf("%s: read back %+v from %q, %v", in, g, f.String(), err)
		}
	}
	if f, _ := ParseFault("rest-huge:times=1,size=300000000"); f.Kind != FaultRESTHuge || f.Size != 300000000 {
		t.Fatalf("rest-huge: %+v", f)
	}
}
