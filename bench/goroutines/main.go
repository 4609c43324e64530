// Benchmark program: parks N goroutines (default 100,000), each with its own pprof labels
// shard=i%100 and worker=i, then stops at @bench_stop.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
)

var (
	ready   sync.WaitGroup
	release = make(chan struct{})
)

//go:noinline
func park() {
	<-release
}

//go:noinline
func allParked(n int) int {
	return n // @bench_stop
}

func main() {
	n := 100000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	ready.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			labels := pprof.Labels("shard", strconv.Itoa(i%100), "worker", strconv.Itoa(i))
			pprof.Do(context.Background(), labels, func(context.Context) {
				ready.Done()
				park()
			})
		}(i)
	}
	ready.Wait()
	fmt.Println("parked", allParked(n))
	close(release)
}
