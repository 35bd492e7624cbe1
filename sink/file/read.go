package file

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// OpenFile opens one file the sink wrote for reading its JSON Lines,
// decompressing a ".zst" file. The last file of a sink that crashed, or
// that met a write error, may end in a partial line, and a compressed one
// in an incomplete frame: reading it then ends with an error after every
// line that was flushed. Reader reads whole events and tells a cut from
// damage.
func OpenFile(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(path, ".zst") {
		return f, nil
	}
	d, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
	if err != nil {
		f.Close()
		return nil, err
	}
	return &zstdFile{d: d, f: f}, nil
}

type zstdFile struct {
	d *zstd.Decoder
	f *os.File
}

func (z *zstdFile) Read(p []byte) (int, error) { return z.d.Read(p) }

func (z *zstdFile) Close() error {
	z.d.Close()
	return z.f.Close()
}

// ErrCut is matched (errors.Is) by the error that ends the reading of a
// file cut short: one that ends in a partial line or, compressed, in an
// unfinished zstd frame. The sink was stopped at once (kill -9, a power
// loss) while it wrote the file; every complete event before the cut is
// intact, what followed it was never written.
var ErrCut = errors.New("cut short")

// CutError reports a file cut short: where it ends and how much of it is
// whole.
type CutError struct {
	Path string
	// Events is the number of complete events before the cut.
	Events int64
	// Partial is the number of bytes of a partial line after them that
	// were readable (decompressed), and are dropped.
	Partial int
	// Err is what the reader met at the cut: io.ErrUnexpectedEOF, or nil
	// for a partial line at the end of a plain file.
	Err error
}

func (e *CutError) Error() string {
	s := fmt.Sprintf("%s: cut short after %d complete events", e.Path, e.Events)
	if e.Partial > 0 {
		s += fmt.Sprintf(" and a partial line of %d bytes", e.Partial)
	}
	if strings.HasSuffix(e.Path, ".zst") {
		s += ", in an unfinished zstd frame"
	}
	return s + " (the sink was stopped while it wrote the file)"
}

// Is makes errors.Is(err, ErrCut) true.
func (e *CutError) Is(target error) bool { return target == ErrCut }

// Unwrap returns Err.
func (e *CutError) Unwrap() error { return e.Err }

// maxLine bounds one line read back: no event is near it.
const maxLine = 64 << 20

// Reader reads the events of one file the sink wrote, one JSON line at a
// time, and tells a file cut short (*CutError, matching ErrCut) from one
// that is damaged. It is not safe for concurrent use.
type Reader struct {
	path   string
	rc     io.ReadCloser
	br     *bufio.Reader
	line   []byte
	events int64
	err    error
}

// OpenReader opens the file at path (".zst": compressed) for Next.
func OpenReader(path string) (*Reader, error) {
	rc, err := OpenFile(path)
	if err != nil {
		return nil, err
	}
	return &Reader{path: path, rc: rc, br: bufio.NewReaderSize(rc, 256<<10)}, nil
}

// Next returns the next complete event, a JSON line without its newline,
// valid until the next call. After the last one it returns io.EOF, or,
// for a file cut short, a *CutError; a file damaged otherwise (not a
// zstd stream, a checksum that does not match) ends with an error naming
// the file and the events read before. The same error is returned by
// every later call.
func (r *Reader) Next() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	r.line = r.line[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		if err == nil {
			if len(r.line) > 0 {
				r.line = append(r.line, chunk...)
				chunk = r.line
			}
			r.events++
			return chunk[:len(chunk)-1], nil
		}
		r.line = append(r.line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(r.line) > maxLine {
				r.err = fmt.Errorf("%s: damaged after %d events: a line longer than %d bytes", r.path, r.events, maxLine)
				return nil, r.err
			}
			continue
		}
		switch {
		case err == io.EOF && len(r.line) == 0:
			r.err = io.EOF
		case err == io.EOF:
			r.err = &CutError{Path: r.path, Events: r.events, Partial: len(r.line)}
		case errors.Is(err, io.ErrUnexpectedEOF):
			r.err = &CutError{Path: r.path, Events: r.events, Partial: len(r.line), Err: err}
		default:
			r.err = fmt.Errorf("%s: damaged after %d events: %w", r.path, r.events, err)
		}
		return nil, r.err
	}
}

// Events returns the number of complete events returned so far.
func (r *Reader) Events() int64 { return r.events }

// Close releases the file.
func (r *Reader) Close() error { return r.rc.Close() }

// checkEnd tells, without decompressing, whether the file at path ends
// where the sink ends a file it closes: after a newline, or after a
// complete zstd frame. It reports why not ("" when it does).
func checkEnd(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	size := st.Size()
	if size == 0 {
		return "", nil
	}
	if !strings.HasSuffix(path, ".zst") {
		var last [1]byte
		if _, err := f.ReadAt(last[:], size-1); err != nil {
			return "", err
		}
		if last[0] != '\n' {
			return "ends in a partial line", nil
		}
		return "", nil
	}
	return zstdEnd(f, size)
}

// zstdEnd walks the frame and block headers of a zstd file (RFC 8878),
// skipping the blocks' contents, and says whether its last frame is
// complete.
func zstdEnd(f io.ReaderAt, size int64) (string, error) {
	const unfinished = "ends in an unfinished zstd frame"
	var hdr [14]byte
	read := func(off int64, n int) ([]byte, bool, error) {
		if off+int64(n) > size {
			return nil, false, nil
		}
		if _, err := f.ReadAt(hdr[:n], off); err != nil {
			return nil, false, err
		}
		return hdr[:n], true, nil
	}
	for off := int64(0); off < size; {
		b, ok, err := read(off, 4)
		if err != nil || !ok {
			return unfinished, err
		}
		magic := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		if magic&0xFFFFFFF0 == 0x184D2A50 { // a skippable frame
			b, ok, err := read(off+4, 4)
			if err != nil || !ok {
				return unfinished, err
			}
			n := int64(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
			if off += 8 + n; off > size {
				return unfinished, nil
			}
			continue
		}
		if magic != 0xFD2FB528 {
			if bytes.Count(mustRead(f, off, size), []byte{0}) == int(size-off) {
				return "ends in zeros after its last zstd frame", nil
			}
			return "", fmt.Errorf("byte %d: not a zstd frame", off)
		}
		b, ok, err = read(off+4, 1)
		if err != nil || !ok {
			return unfinished, err
		}
		fhd := b[0]
		single := fhd&0x20 != 0
		checksum := fhd&0x04 != 0
		n := int64(1)
		if !single {
			n++ // window descriptor
		}
		n += [4]int64{0, 1, 2, 4}[fhd&3]
		n += [4]int64{0, 2, 4, 8}[fhd>>6]
		if single && fhd>>6 == 0 {
			n++
		}
		off += 4 + n
		for {
			b, ok, err := read(off, 3)
			if err != nil || !ok {
				return unfinished, err
			}
			bh := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
			last := bh&1 != 0
			bsize := int64(bh >> 3)
			switch (bh >> 1) & 3 {
			case 1: // RLE: one byte repeated
				bsize = 1
			case 3:
				return "", fmt.Errorf("byte %d: a reserved zstd block type", off)
			}
			off += 3 + bsize
			if off > size {
				return unfinished, nil
			}
			if last {
				break
			}
		}
		if checksum {
			if off += 4; off > size {
				return unfinished, nil
			}
		}
	}
	return "", nil
}

// mustRead returns the bytes of f from off to size (at most 64 KiB), or
// nil.
func mustRead(f io.ReaderAt, off, size int64) []byte {
	n := min(size-off, 64<<10)
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		return nil
	}
	return b
}
