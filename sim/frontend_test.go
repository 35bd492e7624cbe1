package sim

import (
	"io"
	"net/http"
	"testing"

	"github.com/gorilla/websocket"
)

// startVenue starts a simulator serving venue beside spot and returns it
// with its front-end, as get reads it from the server.
func startVenue[F any](t testing.TB, cfg Config, venue string, get func(*Server) *F) (*Server, *F) {
	t.Helper()
	cfg.Venues = []string{venue}
	s := startSim(t, cfg)
	f := get(s)
	if f == nil {
		t.Fatalf("the %s front-end is nil with Venues listing it", venue)
	}
	return s, f
}

// dialWS opens a WebSocket connection to url with the simulator's CA; the
// test's cleanup closes it.
func dialWS(t testing.TB, s *Server, url string) *websocket.Conn {
	t.Helper()
	c, resp, err := dialer(s).Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	resp.Body.Close()
	t.Cleanup(func() { c.Close() })
	return c
}

// sendText sends msg as one text frame.
func sendText(t testing.TB, c *websocket.Conn, msg string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// getURL sends GET url with the simulator's CA and reads the whole answer.
func getURL(t testing.TB, s *Server, url string) (int, http.Header, []byte) {
	t.Helper()
	c := httpsClient(s)
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}
