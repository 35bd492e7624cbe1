package file_test

import (
	"bufio"
	"fmt"
	"time"

	"github.com/feedkeeper/feedkeeper/sink/file"
)

// Hourly files of at most 256 MiB, compressed; List and OpenFile read them
// back in order.
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
		r, err := file.OpenFile(p)
		if err != nil {
			panic(err)
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			fmt.Println(sc.Text())
		}
		r.Close()
	}
}
