package httpx_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/httpx"
)

// okxLike reads answers as a venue that says "error" in a 200's body
// ({"code":"50011","msg":…}, "0" for success) and whose rate limit is
// code 50011 (HTTP 429) or, on another venue's rules, HTTP 403.
func okxLike(status int, _ http.Header, body []byte) httpx.Answer {
	var b struct {
		Code string `json:"code"`
		Msg  string `json:"msg"`
	}
	if json.Unmarshal(body, &b) != nil {
		if status/100 == 2 {
			return httpx.Answer{}
		}
		return httpx.Answer{Verdict: httpx.VerdictRetry}
	}
	code, _ := strconv.Atoi(b.Code)
	switch {
	case status == http.StatusForbidden || code == 50011:
		return httpx.Answer{Code: code, Msg: b.Msg, Verdict: httpx.VerdictRateLimited}
	case code == 50001: // service temporarily unavailable
		return httpx.Answer{Code: code, Msg: b.Msg, Verdict: httpx.VerdictRetry}
	case code != 0:
		return httpx.Answer{Code: code, Msg: b.Msg, Verdict: httpx.VerdictError}
	}
	return httpx.Answer{}
}

// A venue's own reading of its answers: an error code in a 200's body fails
// the call with that code, a passing one is tried again, and a rate limit
// answered 403 pauses every call and is tried again, not taken for a
// firewall block.
func TestClassify(t *testing.T) {
	v := newVenue(t, &venue{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			fmt.Fprint(w, `{"code":"51001","msg":"Instrument ID does not exist","data":[]}`)
		case 2:
			fmt.Fprint(w, `{"code":"50001","msg":"Service temporarily unavailable","data":[]}`)
		case 4:
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"code":"50011","msg":"Too Many Requests"}`, http.StatusForbidden)
		default:
			fmt.Fprint(w, `{"code":"0","msg":"","ok":true}`)
		}
	}})
	c := newClient(t, httpx.Config{BaseURL: v.srv.URL, Classify: okxLike})
	err := get(c)
	var ae *httpx.APIError
	if !errors.As(err, &ae) || ae.Status != 200 || ae.Code != 51001 || ae.Msg != "Instrument ID does not exist" || v.requests() != 1 {
		t.Fatalf("an error in a 200's body: %v after %d requests; want code 51001 at once", err, v.requests())
	}
	if err := get(c); err != nil || v.requests() != 3 {
		t.Fatalf("a passing error in a 200's body: %v after %d requests; want success on the second attempt", err, v.requests()-1)
	}
	start := time.Now()
	if err := get(c); err != nil || v.requests() != 5 {
		t.Fatalf("a rate limit answered 403: %v after %d requests; want success on the second attempt", err, v.requests()-3)
	}
	if d := time.Since(start); d < 950*time.Millisecond {
		t.Fatalf("tried again %v after a rate limit with Retry-After 1", d)
	}
	st := c.Stats()
	if st.RateLimited != 1 || st.ServerErrors != 1 || st.Failures != 1 {
		t.Fatalf("stats %+v: want 1 rate limit, 1 passing failure, 1 failed call", st)
	}
	// no firewall block was recorded: the next call goes out at once
	if err := get(c); err != nil {
		t.Fatalf("after the rate limit: %v", err)
	}
	var limited = &httpx.APIError{Status: 403, Verdict: httpx.VerdictRateLimited}
	if !errors.Is(limited, httpx.ErrRateLimited) || errors.Is(limited, httpx.ErrForbidden) || limited.Wait() != -1 {
		t.Fatal("a 403 the venue calls a rate limit matches ErrForbidden or waits like a block")
	}
}
