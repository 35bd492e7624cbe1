package sim

import (
	"context"
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// listener accepts TCP connections, applies the TLS faults, and wraps each
// connection in TLS. It can be closed for a while (the refuse fault) and
// opened again on the same address, so clients see connections refused.
type listener struct {
	addr   string // the bound address, fixed after the first listen
	venue  string // the venue served on it: its TLS faults are that venue's
	faults *faults
	certs  *certs
	tlsCfg *tls.Config

	mu      sync.Mutex
	inner   net.Listener
	reopen  chan struct{} // closed when a refused listener is open again
	closed  bool
	done    chan struct{}
	timers  sync.WaitGroup
	rngMu   sync.Mutex
	rng     *rand.Rand
	resumed func() // counts TLS session resumptions
}

func newListener(addr, venue string, fs *faults, c *certs, tlsCfg *tls.Config) (*listener, error) {
	inner, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &listener{
		addr:   inner.Addr().String(),
		venue:  venue,
		faults: fs,
		certs:  c,
		tlsCfg: tlsCfg,
		inner:  inner,
		done:   make(chan struct{}),
		rng:    fs.rng(1 << 62),
	}, nil
}

func (l *listener) Addr() net.Addr {
	a, _ := net.ResolveTCPAddr("tcp", l.addr)
	return a
}

// Accept returns the next connection, already wrapped in TLS (the handshake
// runs on first use, in the connection's own goroutine).
func (l *listener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		inner, reopen, closed := l.inner, l.reopen, l.closed
		l.mu.Unlock()
		if closed {
			return nil, net.ErrClosed
		}
		if inner == nil {
			select {
			case <-reopen:
				continue
			case <-l.done:
				return nil, net.ErrClosed
			}
		}
		c, err := inner.Accept()
		if err != nil {
			l.mu.Lock()
			refusing := l.inner != inner && !l.closed
			l.mu.Unlock()
			if refusing {
				continue
			}
			return nil, err
		}
		return l.wrap(c), nil
	}
}

func (l *listener) wrap(c net.Conn) net.Conn {
	l.rngMu.Lock()
	f, hit := l.faults.hitAt(l.venue, classTLS, l.rng, time.Now(), nil)
	l.rngMu.Unlock()
	cfg := l.tlsCfg
	if hit {
		switch f.Kind {
		case FaultTLSReset:
			c = &resetConn{Conn: c}
		case FaultTLSSlow:
			d := f.Duration
			if d == 0 {
				d = 5 * time.Second
			}
			c = &slowConn{Conn: c, delay: d, done: l.done}
		case FaultTLSWrongHost:
			cfg = cfg.Clone()
			cfg.Certificates = []tls.Certificate{l.certs.wrongHost}
		case FaultTLSUnknownCA:
			cfg = cfg.Clone()
			cfg.Certificates = []tls.Certificate{l.certs.unknownCA}
		}
	}
	return tls.Server(c, cfg)
}

// refuse closes the listening socket for d, then listens again on the same
// address. Connection attempts meanwhile are refused by the kernel.
func (l *listener) refuse(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.inner == nil {
		return
	}
	l.inner.Close()
	l.inner = nil
	l.reopen = make(chan struct{})
	l.timers.Add(1)
	go func() {
		defer l.timers.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		for {
			select {
			case <-l.done:
				return
			case <-t.C:
			}
			inner, err := net.Listen("tcp", l.addr)
			if err != nil { // the port may linger for a moment; try again shortly
				t.Reset(50 * time.Millisecond)
				continue
			}
			l.mu.Lock()
			if l.closed {
				l.mu.Unlock()
				inner.Close()
				return
			}
			l.inner = inner
			close(l.reopen)
			l.mu.Unlock()
			return
		}
	}()
}

func (l *listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	var err error
	if l.inner != nil {
		err = l.inner.Close()
	}
	l.mu.Unlock()
	l.timers.Wait()
	return err
}

// resetConn reads the client's first flight (its ClientHello) and then
// resets the TCP connection, as a middlebox or an overloaded server does.
type resetConn struct{ net.Conn }

func (c *resetConn) Read(b []byte) (int, error) {
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _ = c.Conn.Read(b)
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Conn.Close()
	return 0, errors.New("sim: TLS handshake reset (fault)")
}

// slowConn holds the handshake back for delay before reading anything.
type slowConn struct {
	net.Conn
	delay time.Duration
	done  <-chan struct{}
	once  sync.Once
}

func (c *slowConn) Read(b []byte) (int, error) {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.delay)
		defer cancel()
		select {
		case <-ctx.Done():
		case <-c.done:
		}
	})
	return c.Conn.Read(b)
}
