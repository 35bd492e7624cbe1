// Package record keeps the raw frames a gateway receives, with their
// receive times, in a directory, and reads them back so that a run can be
// replayed through the same pipeline: a bug seen live can be reproduced,
// and benchmarks get a firehose that needs no network.
//
// A recording is a directory holding meta.json (its sources: the venues
// recorded, each with its streams and the venue's own metadata, such as
// its symbols' scales) and frames.fkr.zst: zstd-compressed records of
// uvarint source (the index of the venue in meta.json's sources), uvarint
// connection plan, varint receive time (ns since the Unix epoch), uvarint
// length, then the frame's bytes. One recording holds the frames of every
// venue of a run in the order they were received, so that a replay gives
// them back interleaved as they came. Versions 1 and 2 held one venue and
// no source in their records; they are still read.
package record

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

const (
	metaFile   = "meta.json"
	framesFile = "frames.fkr.zst"
	// Version of the format written. Version 1 held the venue's metadata
	// at the top of meta.json, beside the generic fields; version 2 held it
	// under venue_meta, for one venue; both are still read.
	Version = 3
	// maxFrame bounds a frame read back, as the live read limit does.
	maxFrame = 64 << 20
	// FlushEvery is how much receive time the frames written wait at most
	// before they reach the file (compressed, in finished zstd blocks): a
	// crash of the recording process loses the frames of about the last
	// second it received.
	FlushEvery = time.Second
)

// ErrCut is matched (errors.Is) by the error of Reader.Next on a
// recording cut short: the recording process was stopped at once (kill
// -9, a power loss) while it wrote. Every frame before the cut is intact;
// io.ErrUnexpectedEOF is matched too.
var ErrCut = errors.New("recording cut short")

// Meta describes a recording.
type Meta struct {
	Version int `json:"version"`
	// Sources are the venues recorded, in the order Frame.Source counts
	// them; a venue appears once per gateway of the run (a venues: list
	// may name one venue twice). Open fills them whatever the version
	// read.
	Sources []Source `json:"sources,omitempty"`
	// Venue, Streams and VenueMeta describe a recording of one venue: what
	// versions 1 and 2 held. Create takes them as the one source when
	// Sources is empty; Open sets them from the source when there is
	// exactly one. Reading a version 1 recording, VenueMeta is the whole of
	// meta.json, where the venue's fields were kept then.
	Venue     string          `json:"venue,omitempty"`
	Streams   []string        `json:"streams,omitempty"`
	VenueMeta json.RawMessage `json:"venue_meta,omitempty"`
	Started   time.Time       `json:"started"`
}

// Source is one venue of a recording: what a replay needs to open a
// gateway that decodes its frames.
type Source struct {
	Venue   string   `json:"venue"`
	Streams []string `json:"streams"`
	// VenueMeta is the venue's own metadata (venue.Setup.Meta): what its
	// replay needs, opaque here.
	VenueMeta json.RawMessage `json:"venue_meta"`
}

// Frame is one recorded frame.
type Frame struct {
	Source int // index in Meta.Sources; 0 in recordings of versions 1 and 2
	Plan   int
	Recv   int64
	Data   []byte // valid until the next call of Next
}

// Writer records frames. It is safe for concurrent use.
type Writer struct {
	mu     sync.Mutex
	f      *os.File
	zw     *zstd.Encoder
	bw     *bufio.Writer
	hdr    []byte
	frames int64
	bytes  int64
	err    error
	closed bool
	// flushed is the receive time of the last flush.
	flushed int64
	sources int // len(Meta.Sources)
}

// Create starts a recording in dir (created if needed; an existing
// recording there is refused) of the venues meta.Sources names, or of the
// one venue of meta.Venue when Sources is empty.
func Create(dir string, meta Meta) (*Writer, error) {
	if len(meta.Sources) == 0 {
		meta.Sources = []Source{{Venue: meta.Venue, Streams: meta.Streams, VenueMeta: meta.VenueMeta}}
	}
	meta.Venue, meta.Streams, meta.VenueMeta = "", nil, nil // in Sources
	for i, s := range meta.Sources {
		if s.Venue == "" {
			return nil, fmt.Errorf("record: source %d names no venue", i)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, metaFile)); err == nil {
		return nil, fmt.Errorf("record: %s already holds a recording", dir)
	}
	meta.Version = Version
	if meta.Started.IsZero() {
		meta.Started = time.Now()
	}
	b, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, metaFile), b, 0o644); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, framesFile))
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	zw, err := zstd.NewWriter(f, zstd.WithEncoderConcurrency(1))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("record: %w", err)
	}
	return &Writer{f: f, zw: zw, bw: bufio.NewWriterSize(zw, 64<<10), sources: len(meta.Sources)}, nil
}

// Write records one frame of the first source (the only one of a
// recording of one venue): WriteSource(0, …).
func (w *Writer) Write(plan int, recv int64, data []byte) error {
	return w.WriteSource(0, plan, recv, data)
}

// WriteSource records one frame received by the gateway of
// Meta.Sources[source]. The first error is kept and returned by every
// later call and by Close; the gateway's own output does not stop. The
// frames reach the file once FlushEvery of receive time has passed since
// the last flush, and at Close. A source out of range is refused (and not
// kept as the first error).
func (w *Writer) WriteSource(source, plan int, recv int64, data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("record: closed")
	}
	if w.err != nil {
		return w.err
	}
	if source < 0 || source >= w.sources {
		return fmt.Errorf("record: source %d of a recording of %d", source, w.sources)
	}
	w.hdr = binary.AppendUvarint(w.hdr[:0], uint64(source))
	w.hdr = binary.AppendUvarint(w.hdr, uint64(plan))
	w.hdr = binary.AppendVarint(w.hdr, recv)
	w.hdr = binary.AppendUvarint(w.hdr, uint64(len(data)))
	if _, err := w.bw.Write(w.hdr); err != nil {
		w.err = fmt.Errorf("record: %w", err)
		return w.err
	}
	if _, err := w.bw.Write(data); err != nil {
		w.err = fmt.Errorf("record: %w", err)
		return w.err
	}
	w.frames++
	w.bytes += int64(len(data))
	if recv-w.flushed >= int64(FlushEvery) {
		w.flushed = recv
		if err := w.bw.Flush(); err != nil {
			w.err = fmt.Errorf("record: %w", err)
			return w.err
		}
		if err := w.zw.Flush(); err != nil {
			w.err = fmt.Errorf("record: %w", err)
			return w.err
		}
	}
	return nil
}

// Stats returns the frames and bytes recorded.
func (w *Writer) Stats() (frames, bytes int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.frames, w.bytes
}

// Close flushes and closes the recording; every frame written before is
// in it.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.err
	}
	w.closed = true
	errs := []error{w.err, w.bw.Flush(), w.zw.Close(), w.f.Sync(), w.f.Close()}
	for _, err := range errs {
		if err != nil && w.err == nil {
			w.err = fmt.Errorf("record: %w", err)
		}
	}
	return w.err
}

// Reader reads a recording back.
type Reader struct {
	Meta Meta
	f    *os.File
	zr   *zstd.Decoder
	br   *bufio.Reader
	buf  []byte
	read int64
}

// Open opens the recording in dir.
func Open(dir string) (*Reader, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	var meta Meta
	if err := json.Unmarshal(b, &meta); err != nil {
		return nil, fmt.Errorf("record: %s: %w", metaFile, err)
	}
	switch meta.Version {
	case Version:
		if len(meta.Sources) == 0 {
			return nil, fmt.Errorf("record: %s: %s names no source", dir, metaFile)
		}
		if len(meta.Sources) == 1 {
			s := meta.Sources[0]
			meta.Venue, meta.Streams, meta.VenueMeta = s.Venue, s.Streams, s.VenueMeta
		}
	case 1, 2:
		if meta.Version == 1 {
			meta.VenueMeta = b
		}
		meta.Sources = []Source{{Venue: meta.Venue, Streams: meta.Streams, VenueMeta: meta.VenueMeta}}
	default:
		return nil, fmt.Errorf("record: %s: version %d, this program reads 1 to %d", dir, meta.Version, Version)
	}
	f, err := os.Open(filepath.Join(dir, framesFile))
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("record: %w", err)
	}
	return &Reader{Meta: meta, f: f, zr: zr, br: bufio.NewReaderSize(zr, 64<<10)}, nil
}

// Next returns the next frame, or io.EOF after the last. A recording cut
// short (a crash while recording) ends, after its last whole frame, with
// an error matching ErrCut and io.ErrUnexpectedEOF that says how many
// frames came before; a damaged one with another error.
func (r *Reader) Next() (Frame, error) {
	var source uint64
	if r.Meta.Version >= 3 {
		var err error
		if source, err = binary.ReadUvarint(r.br); err != nil {
			if errors.Is(err, io.EOF) {
				return Frame{}, io.EOF
			}
			return Frame{}, r.broken(err)
		}
		if source >= uint64(len(r.Meta.Sources)) {
			return Frame{}, fmt.Errorf("record: damaged after %d whole frames: a frame of source %d, and %s names %d", r.read, source, metaFile, len(r.Meta.Sources))
		}
	}
	plan, err := binary.ReadUvarint(r.br)
	if err != nil {
		if errors.Is(err, io.EOF) && r.Meta.Version < 3 {
			return Frame{}, io.EOF
		}
		return Frame{}, r.broken(err)
	}
	recv, err := binary.ReadVarint(r.br)
	if err != nil {
		return Frame{}, r.broken(err)
	}
	n, err := binary.ReadUvarint(r.br)
	if err != nil {
		return Frame{}, r.broken(err)
	}
	if n > maxFrame {
		return Frame{}, fmt.Errorf("record: a frame of %d bytes: the recording is damaged", n)
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	if _, err := io.ReadFull(r.br, r.buf); err != nil {
		return Frame{}, r.broken(err)
	}
	r.read++
	return Frame{Source: int(source), Plan: int(plan), Recv: recv, Data: r.buf}, nil
}

// broken returns the error of a read that met err inside a frame or the
// compressed stream.
func (r *Reader) broken(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("record: %w after %d whole frames (the recording process was stopped while it wrote): %w", ErrCut, r.read, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("record: damaged after %d whole frames: %w", r.read, err)
}

// Frames returns the number of whole frames Next has returned.
func (r *Reader) Frames() int64 { return r.read }

// Close releases the file.
func (r *Reader) Close() error {
	r.zr.Close()
	return r.f.Close()
}
