package httpx_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/httpx"
)

// hostile answers n bytes of JSON (an array of spaces-padded numbers):
// with a Content-Length (declared) or without one (chunked), and counts
// what it managed to write.
type hostile struct {
	written atomic.Int64
}

func (h *hostile) write(w http.ResponseWriter, r *http.Request, n int64, declared bool) {
	if declared {
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	}
	w.WriteHeader(http.StatusOK)
	if n < 2 {
		return
	}
	pad := bytes.Repeat([]byte{' '}, 32<<10)
	if _, err := w.Write([]byte("[")); err != nil {
		return
	}
	h.written.Add(1)
	for left := n - 2; left > 0; {
		k := min(left, int64(len(pad)))
		if _, err := w.Write(pad[:k]); err != nil {
			return
		}
		h.written.Add(k)
		left -= k
	}
	if _, err := w.Write([]byte("]")); err == nil {
		h.written.Add(1)
	}
}

// TestBodyCap checks the cap at its edge, with and without a declared
// length, given by the request, by MaxBodyFor or by MaxBody.
func TestBodyCap(t *testing.T) {
	const limit = 100 << 10
	for _, c := range []struct {
		name     string
		size     int64
		declared bool
		cfg      httpx.Config
		req      int64
		refused  bool
	}{
		{"declared at the cap", limit, true, httpx.Config{}, limit, false},
		{"declared one over", limit + 1, true, httpx.Config{}, limit, true},
		{"chunked at the cap", limit, false, httpx.Config{}, limit, false},
		{"chunked one over", limit + 1, false, httpx.Config{}, limit, true},
		{"MaxBodyFor", limit + 1, true, httpx.Config{MaxBodyFor: func(string, url.Values) int64 { return limit }}, 0, true},
		{"request over MaxBodyFor", limit + 1, true, httpx.Config{MaxBodyFor: func(string, url.Values) int64 { return limit }}, limit + 1, false},
		{"MaxBody", limit + 1, false, httpx.Config{MaxBody: limit}, 0, true},
		{"empty", 0, true, httpx.Config{MaxBody: limit}, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var h hostile
			v := newVenue(t, &venue{answer: func(n int, w http.ResponseWriter, r *http.Request) { h.write(w, r, c.size, c.declared) }})
			c.cfg.BaseURL, c.cfg.MaxAttempts = v.srv.URL, 1
			cl := newClient(t, c.cfg)
			var got int
			_, err := cl.Do(context.Background(), httpx.Request{Path: "/api/x", MaxBody: c.req}, func(b []byte) error {
				got = len(b)
				return nil
			})
			if !c.refused {
				if err != nil || int64(got) != c.size {
					t.Fatalf("%d bytes, %v: want %d bytes", got, err, c.size)
				}
				return
			}
			var big *httpx.BodyTooLargeError
			if !errors.As(err, &big) || !errors.Is(err, httpx.ErrBodyTooLarge) {
				t.Fatalf("err %v: want a BodyTooLargeError", err)
			}
			want := int64(-1)
			if c.declared {
				want = c.size
			}
			if big.Path != "/api/x" || big.Limit != limit || big.Length != want {
				t.Fatalf("%+v: want path /api/x, limit %d, length %d", big, limit, want)
			}
			for _, s := range []string{"/api/x", strconv.Itoa(limit)} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q does not name %s", err, s)
				}
			}
			if st := cl.Stats(); st.Oversized != 1 || st.BadBodies != 1 {
				t.Fatalf("stats %+v: want 1 oversized", st)
			}
		})
	}
}

// TestBodyHostile checks that a declared 200 MiB answer is refused
// unread, an endless one at the cap, each attempt tried again like a 5xx
// within MaxAttempts, and that the next sound answer passes.
func TestBodyHostile(t *testing.T) {
	for _, declared := range []bool{true, false} {
		t.Run(map[bool]string{true: "declared", false: "endless"}[declared], func(t *testing.T) {
			var h hostile
			v := newVenue(t, &venue{answer: func(n int, w http.ResponseWriter, r *http.Request) {
				if n == 4 {
					fmt.Fprint(w, `[1,2,3]`)
					return
				}
				size := int64(200 << 20)
				if !declared {
					size = 1 << 40 // for ever, as far as the client is concerned
				}
				h.write(w, r, size, declared)
			}})
			cl := newClient(t, httpx.Config{BaseURL: v.srv.URL, MaxAttempts: 3, MaxBody: 256 << 10})
			start := time.Now()
			_, err := cl.Do(context.Background(), httpx.Request{Path: "/api/v3/depth"}, func([]byte) error { return nil })
			if !errors.Is(err, httpx.ErrExhausted) || !errors.Is(err, httpx.ErrBodyTooLarge) {
				t.Fatalf("err %v: want attempts exhausted on bodies over the cap", err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("3 refused answers took %v", took)
			}
			if st := cl.Stats(); st.Requests != 3 || st.Oversized != 3 || st.Retries != 2 {
				t.Fatalf("stats %+v: want 3 requests, 3 oversized, 2 retries", st)
			}
			// what the server could push before the client hung up: socket
			// buffers and the 64 KiB drained, not the body
			if n := h.written.Load(); n > 3*(256<<10)+3*(8<<20) {
				t.Fatalf("the server wrote %d bytes", n)
			}
			var got []int
			if _, err := cl.Get(context.Background(), "/api/v3/depth", nil, &got); err != nil || len(got) != 3 {
				t.Fatalf("the sound answer after them: %v %v", got, err)
			}
		})
	}
}

// TestErrorBodyBounded checks that an error answer with an endless body
// is read only as far as an error needs.
func TestErrorBodyBounded(t *testing.T) {
	var h hostile
	v := newVenue(t, &venue{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadRequest)
		pad := bytes.Repeat([]byte("<p>"), 10<<10)
		for {
			if _, err := w.Write(pad); err != nil {
				return
			}
			h.written.Add(int64(len(pad)))
		}
	}})
	cl := newClient(t, httpx.Config{BaseURL: v.srv.URL})
	_, err := cl.Do(context.Background(), httpx.Request{Path: "/api/x"}, func([]byte) error { return nil })
	var api *httpx.APIError
	if !errors.As(err, &api) || api.Status != http.StatusBadRequest {
		t.Fatalf("err %v: want an APIError 400", err)
	}
}

// TestGetRawMessage checks that Get hands a RawMessage the answer itself,
// checked to be JSON.
func TestGetRawMessage(t *testing.T) {
	v := newVenue(t, &venue{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			fmt.Fprint(w, `{"a":[1,2`)
			return
		}
		fmt.Fprint(w, `{"a":[1,2]}`)
	}})
	cl := newClient(t, httpx.Config{BaseURL: v.srv.URL})
	var raw json.RawMessage
	if _, err := cl.Get(context.Background(), "/x", nil, &raw); err != nil || string(raw) != `{"a":[1,2]}` {
		t.Fatalf("%s %v", raw, err)
	}
	if st := cl.Stats(); st.BadBodies != 1 || st.Retries != 1 {
		t.Fatalf("stats %+v: want the broken answer refused once", st)
	}
	var raw2 json.RawMessage
	if _, err := cl.Get(context.Background(), "/x", nil, &raw2); err != nil || string(raw) != `{"a":[1,2]}` {
		t.Fatalf("a later call changed an earlier answer: %s %v", raw, err)
	}
}

// TestBodiesConcurrent checks that concurrent answers of many sizes, with
// and without a declared length, each reach decode whole and unchanged
// while it runs: buffers grown, pooled and reused are never shared.
func TestBodiesConcurrent(t *testing.T) {
	body := func(i int) []byte {
		b := bytes.Repeat([]byte{byte('a' + i%26)}, 1000+i*7919%(900<<10))
		return b
	}
	v := newVenue(t, &venue{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		b := body(i)
		if i%2 == 0 {
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		}
		for len(b) > 0 { // in pieces, so that an answer without a length is chunked
			k := min(len(b), 10000)
			if _, err := w.Write(b[:k]); err != nil {
				return
			}
			b = b[k:]
		}
	}})
	cl := newClient(t, httpx.Config{BaseURL: v.srv.URL, MaxConns: 8, MaxBody: 1 << 20})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < 200; i += 8 {
				want := body(i)
				_, err := cl.Do(context.Background(), httpx.Request{Path: "/x", Query: url.Values{"i": {strconv.Itoa(i)}}}, func(b []byte) error {
					time.Sleep(time.Millisecond) // others read meanwhile
					if !bytes.Equal(b, want) {
						return fmt.Errorf("answer %d: %d bytes, not the %d sent", i, len(b), len(want))
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestBodyGzipBomb checks that a small gzip answer that inflates past the
// cap is refused at the cap: the cap holds for what is decompressed.
func TestBodyGzipBomb(t *testing.T) {
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(bytes.Repeat([]byte{' '}, 16<<20))
	zw.Close()
	v := newVenue(t, &venue{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Length", strconv.Itoa(zipped.Len()))
		w.Write(zipped.Bytes())
	}})
	cl := newClient(t, httpx.Config{BaseURL: v.srv.URL, MaxAttempts: 1, MaxBody: 1 << 20})
	_, err := cl.Do(context.Background(), httpx.Request{Path: "/x"}, func([]byte) error { return nil })
	var big *httpx.BodyTooLargeError
	if !errors.As(err, &big) || big.Length != -1 || big.Limit != 1<<20 {
		t.Fatalf("%d bytes of gzip inflating to 16 MiB: %v, want refused at the cap", zipped.Len(), err)
	}
}
