// Package wstest serves WebSocket connections over TLS for tests of other
// packages: a small venue of the test's own making, with real frames.
package wstest

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
)

// Server is a TLS WebSocket server whose handler serves each connection.
// It ends when the test ends: every connection's Stop is closed, the
// sockets closed, and the handlers waited for.
type Server struct {
	srv  *httptest.Server
	stop chan struct{}

	mu     sync.Mutex
	closed bool
	live   map[*websocket.Conn]bool
	wg     sync.WaitGroup
}

// Conn is one connection: its socket, and a lock that serializes the
// handler's writes with those of goroutines it starts (gorilla allows one
// writer at a time).
type Conn struct {
	*websocket.Conn
	Stop <-chan struct{} // closed when the test ends
	wmu  sync.Mutex
}

// Write sends a text message, serialized with the connection's other writes.
func (c *Conn) Write(msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.WriteMessage(websocket.TextMessage, msg)
}

// Start serves every connection with handle, which returns when the
// connection is done (or Stop is closed).
func Start(t testing.TB, handle func(c *Conn)) *Server {
	s := &Server{stop: make(chan struct{}), live: map[*websocket.Conn]bool{}}
	up := websocket.Upgrader{}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		defer s.wg.Done()
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		s.mu.Lock()
		s.live[ws] = true
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			delete(s.live, ws)
			s.mu.Unlock()
		}()
		handle(&Conn{Conn: ws, Stop: s.stop})
	}))
	t.Cleanup(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stop)
		s.Drop()
		s.srv.Close()
		s.wg.Wait()
	})
	return s
}

// URL is the server's wss:// address.
func (s *Server) URL() string { return "wss" + strings.TrimPrefix(s.srv.URL, "https") + "/" }

// TLS trusts the server's certificate.
func (s *Server) TLS() *tls.Config { return s.srv.Client().Transport.(*http.Transport).TLSClientConfig }

// Drop resets every open connection: the socket closes without a close
// frame, as when a link or a server goes away.
func (s *Server) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.live {
		c.NetConn().Close()
	}
}
