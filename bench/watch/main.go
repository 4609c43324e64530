// Benchmark program: a hot loop writing one global. Prints "N nanoseconds" for the loop.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

var counter int64

//go:noinline
func work(n int) {
	for i := 0; i < n; i++ {
		counter++ // @write
	}
}

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	start := time.Now()
	work(n)
	fmt.Printf("%d %d\n", n, time.Since(start).Nanoseconds())
}
