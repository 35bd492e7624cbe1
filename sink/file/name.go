package file

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Extensions of the files the sink writes.
const (
	ExtPlain = ".jsonl"
	ExtZstd  = ".jsonl.zst"
)

// nameTime is the layout of the time in a file name: UTC, fixed width, so
// that names sort by time.
const nameTime = "20060102T150405.000Z"

// fileName returns the name of the seq'th file opened at t.
func fileName(prefix string, t time.Time, seq int, compress bool) string {
	ext := ExtPlain
	if compress {
		ext = ExtZstd
	}
	return fmt.Sprintf("%s%s-%06d%s", prefix, t.UTC().Format(nameTime), seq, ext)
}

// fileSeq returns the sequence number in the name of a file the sink
// wrote: 1 for the first file of a run.
func fileSeq(path string) (int, bool) {
	name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ExtZstd), ExtPlain)
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(name[i+1:])
	return n, err == nil && n > 0
}

// List returns the paths of the JSON Lines files in dir whose names start
// with prefix ("" is the default, "events-"), oldest first: the order in
// which the sink wrote them.
func List(dir, prefix string) ([]string, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(n, prefix) && (strings.HasSuffix(n, ExtPlain) || strings.HasSuffix(n, ExtZstd)) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for i, n := range names {
		names[i] = filepath.Join(dir, n)
	}
	return names, nil
}
