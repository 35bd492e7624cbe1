//go:build !unix

package sinktest

import "time"

// cpuTime is not measured on this system.
func cpuTime() time.Duration { return 0 }
