// A Go workload for pprof labels (span correlation), standard library only.
//
//	go_labels SECONDS WORKERS MANY
//
// WORKERS goroutines run spans one after another, each span about 100 ms of
// CPU in labeledWork under pprof.Do with the labels tracers set:
// span_id (16 hex digits, OpenTelemetry/Pyroscope), "span id" and
// "local root span id" (decimal, Datadog), trace_id, "trace endpoint",
// span_name, and "custom" (not trace context). Span ids are distinct per worker and span:
// span id = worker*100000 + n. One goroutine runs unlabeledWork with no labels.
// With MANY > 0 one more goroutine runs manyLabelsWork under MANY labels
// (key000..), the span labels among them; with MANY < 0 the workers run
// labeledWork without labels (for benchmarks). Every span is printed as
// "span WORKER N SPANID" when it starts.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"
)

var sink [64]uint64

//go:noinline
func burn(slot int, d time.Duration) {
	end := time.Now().Add(d)
	x := sink[slot]
	for time.Now().Before(end) {
		for i := 0; i < 20000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	sink[slot] = x
}

//go:noinline
func labeledWork(slot int) { burn(slot, 100*time.Millisecond) }

//go:noinline
func unlabeledWork(slot int) { burn(slot, 100*time.Millisecond) }

//go:noinline
func manyLabelsWork(slot int) { burn(slot, 100*time.Millisecond) }

func spanLabels(span uint64) []string {
	return []string{
		"span_id", fmt.Sprintf("%016x", span),
		"span id", strconv.FormatUint(span, 10),
		"local root span id", strconv.FormatUint(span-span%100000, 10),
		"trace_id", fmt.Sprintf("%032x", span*7),
		"trace endpoint", "GET /work",
		"span_name", "work",
		"custom", "c" + strconv.FormatUint(span%3, 10),
	}
}

func main() {
	seconds, workers, many := 5.0, 2, 0
	if len(os.Args) > 1 {
		seconds, _ = strconv.ParseFloat(os.Args[1], 64)
	}
	if len(os.Args) > 2 {
		workers, _ = strconv.Atoi(os.Args[2])
	}
	if len(os.Args) > 3 {
		many, _ = strconv.Atoi(os.Args[3])
	}
	end := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 1; w <= workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := uint64(1); time.Now().Before(end); n++ {
				span := uint64(w)*100000 + n
				mu.Lock()
				fmt.Printf("span %d %d %d\n", w, n, span)
				mu.Unlock()
				if many < 0 {
					labeledWork(w) // the same work without labels
					continue
				}
				pprof.Do(context.Background(), pprof.Labels(spanLabels(span)...),
					func(context.Context) { labeledWork(w) })
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(end) {
			unlabeledWork(0)
		}
	}()
	if many > 0 {
		args := spanLabels(999999)
		for i := 0; len(args)/2 < many; i++ {
			args = append(args, fmt.Sprintf("key%03d", i), fmt.Sprintf("value%03d", i))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pprof.Do(context.Background(), pprof.Labels(args...), func(context.Context) {
				for time.Now().Before(end) {
					manyLabelsWork(63)
				}
			})
		}()
	}
	wg.Wait()
}
