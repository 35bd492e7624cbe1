package httpx

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// Bounds of the memory one answer may take.
const (
	// DefaultMaxBody is Config.MaxBody when it is left at 0.
	DefaultMaxBody = 64 << 20
	// errorBodyMax bounds what is read of an answer outside 2xx: an error
	// of the venue is a short JSON object or an HTML page of a few KB; the
	// rest, if any, is not read.
	errorBodyMax = 64 << 10
	// poolMaxBuf is the largest buffer kept for reuse: one depth snapshot
	// of 5000 levels a side fits, and one huge answer does not stay pinned
	// in the pool after it was refused or decoded.
	poolMaxBuf = 1 << 20
	// firstBuf is the first size of a buffer for an answer without a
	// declared length.
	firstBuf = 32 << 10
	// maxHeaderBytes bounds an answer's header (the transport's default is
	// 10 MB; the venue's headers are a few KB).
	maxHeaderBytes = 256 << 10
	// h2StreamWindow and h2ConnWindow bound what an HTTP/2 server may send
	// ahead of the reader, per call and per connection (the transport's
	// defaults are 4 MB and 1 GB): 1 MiB a call still carries 10 MB/s
	// over a round trip of 100 ms.
	h2StreamWindow = 1 << 20
	h2ConnWindow   = 8 << 20
)

// BodyTooLargeError is an answer refused because its body is over the
// call's cap (Request.MaxBody, Config.MaxBodyFor or Config.MaxBody): either
// its declared Content-Length is, and nothing of it was read, or it came
// without a length and passed the cap while it was read, and was refused
// at that moment. errors.Is(err, ErrBodyTooLarge) holds for it.
//
// No answer of a venue the caps were set for is that large: it comes from
// a broken server or something between (a proxy, a captive portal). Like
// a 5xx, the call tries again (another host first, when there is one),
// within Config.MaxAttempts, with backoff; refusing costs no memory, so a
// server that keeps doing it costs a few requests, not memory.
type BodyTooLargeError struct {
	Path  string // the request's path
	Limit int64  // the cap in force for the call, bytes
	// Length is the declared Content-Length; -1 when the answer declared
	// none and was cut off after Limit+1 bytes read.
	Length int64
}

func (e *BodyTooLargeError) Error() string {
	if e.Length >= 0 {
		return fmt.Sprintf("httpx: answer to %s declares %d bytes, over the cap of %d: refused unread", e.Path, e.Length, e.Limit)
	}
	return fmt.Sprintf("httpx: answer to %s without a declared length passed the cap of %d bytes: refused", e.Path, e.Limit)
}

// Is reports whether target is ErrBodyTooLarge.
func (e *BodyTooLargeError) Is(target error) bool { return target == ErrBodyTooLarge }

// bufPool holds answer buffers of at most poolMaxBuf bytes.
var bufPool sync.Pool // *[]byte

func getBuf(n int) *[]byte {
	if n <= poolMaxBuf {
		if p, _ := bufPool.Get().(*[]byte); p != nil {
			if cap(*p) >= n {
				*p = (*p)[:0]
				return p
			}
			bufPool.Put(p)
		}
	}
	b := make([]byte, 0, n)
	return &b
}

func putBuf(p *[]byte) {
	if p != nil && cap(*p) <= poolMaxBuf {
		*p = (*p)[:0]
		bufPool.Put(p)
	}
}

// readBody reads an answer's body of declared length (-1: none) into a
// buffer taken from the pool, refusing it as soon as it is known to be
// over limit: before reading when its declared length is, else the moment
// one byte more than limit has been read. A body with a declared length is
// read into one buffer of exactly that size, so it is never held twice
// while it grows. The caller owns the buffer (putBuf).
func readBody(r io.Reader, length, limit int64, path string) (*[]byte, error) {
	if length > limit {
		return nil, &BodyTooLargeError{Path: path, Limit: limit, Length: length}
	}
	if length >= 0 {
		p := getBuf(int(length))
		b := (*p)[:length]
		n, err := io.ReadFull(r, b)
		*p = b[:n]
		if errors.Is(err, io.EOF) && length > 0 {
			err = io.ErrUnexpectedEOF
		}
		return p, err
	}
	p := getBuf(int(min(limit+1, firstBuf)))
	lr := io.LimitReader(r, limit+1)
	for {
		if b := *p; len(b) == cap(b) {
			// grow by doubling, never past limit+1: the read that passes
			// the cap needs one byte of room, no more
			nb := make([]byte, len(b), min(max(2*cap(b), firstBuf), int(limit+1)))
			copy(nb, b)
			putBuf(p)
			p = &nb
		}
		b := *p
		n, err := lr.Read(b[len(b):cap(b)])
		*p = b[:len(b)+n]
		if int64(len(*p)) > limit {
			putBuf(p)
			return nil, &BodyTooLargeError{Path: path, Limit: limit, Length: -1}
		}
		if err == io.EOF {
			return p, nil
		}
		if err != nil {
			return p, err
		}
	}
}
