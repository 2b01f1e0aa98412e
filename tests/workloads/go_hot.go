// A Go workload for the symbolizer: main → spin → hotLoop, for SECONDS.
// Built by the integration tests as is and stripped (-ldflags='-s -w').
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
func spin(end time.Time) {
	for time.Now().Before(end) {
		sink = hotLoop(1 << 20)
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
