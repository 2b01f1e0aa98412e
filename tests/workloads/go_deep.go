// A Go workload with deep stacks, for what Pyroscope's FixGoProfile does to
// them: main → spin → descend (recursive, to a depth that changes every
// call: 70, 110, 180 and 300 frames, the last past the 256 frames the
// walker follows) → hotLoop, for SECONDS. Built by the integration tests.
package main

import (
	"os"
	"strconv"
	"time"
)

var sink uint64

//go:noinline
func hotLoop(n int) uint64 {
	x := sink
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

//go:noinline
func descend(depth int) uint64 {
	if depth == 0 {
		return hotLoop(1 << 16)
	}
	return descend(depth-1) + 1
}

//go:noinline
func spin(end time.Time) {
	depths := []int{70, 110, 180, 300}
	for i := 0; time.Now().Before(end); i++ {
		sink = descend(depths[i%len(depths)])
	}
}

func main() {
	seconds := 10.0
	if len(os.Args) > 1 {
		if s, err := strconv.ParseFloat(os.Args[1], 64); err == nil {
			seconds = s
		}
	}
	spin(time.Now().Add(time.Duration(seconds * float64(time.Second))))
}
