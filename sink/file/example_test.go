package file_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/feedkeeper/feedkeeper/sink/file"
)

// Hourly files of at most 256 MiB, compressed; List and OpenReader read
// them back in order, a file cut short by a crash up to its cut.
func Example() {
	s, err := file.Open(file.Config{Dir: "/var/lib/feedkeeper/events", Interval: time.Hour, Compress: true})
	if err != nil {
		panic(err) // the directory could not be created or written
	}
	// … s.Write(ev) for each event …
	if err := s.Close(); err != nil {
		panic(err)
	}

	paths, err := file.List("/var/lib/feedkeeper/events", "")
	if err != nil {
		panic(err)
	}
	for _, p := range paths {
		r, err := file.OpenReader(p)
		if err != nil {
			panic(err)
		}
		for {
			line, err := r.Next()
			if errors.Is(err, file.ErrCut) {
				// the last file of a sink that was killed: every complete
				// event was returned, the partial one is dropped
				fmt.Fprintln(os.Stderr, err)
				break
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				panic(err) // damaged
			}
			fmt.Println(string(line))
		}
		r.Close()
	}
}
