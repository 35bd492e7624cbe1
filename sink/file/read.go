package file

import (
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// OpenFile opens one file the sink wrote for reading its JSON Lines,
// decompressing a ".zst" file. The last file of a sink that crashed, or
// that met a write error, may end in a partial line, and a compressed one
// in an incomplete frame: reading it then ends with an error after every
// line that was flushed.
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
