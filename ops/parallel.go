package ops

import (
	"runtime"
	"sync"
)

// workers is the number of goroutines the ops split their loops over.
func workers() int { return runtime.GOMAXPROCS(0) }

// parallelFor splits [0, n) into at most workers() contiguous chunks and runs
// fn(w, lo, hi) for chunk w concurrently. The split depends only on n and the
// worker count, so reductions done per chunk and combined in chunk order are
// deterministic. Small n (below grain) runs inline.
func parallelFor(n, grain int, fn func(w, lo, hi int)) {
	p := workers()
	if grain < 1 {
		grain = 1
	}
	if p > n/grain {
		p = n / grain
	}
	if p <= 1 {
		fn(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	wg.Add(p - 1)
	for w := 1; w < p; w++ {
		lo, hi := w*n/p, (w+1)*n/p
		go func(w, lo, hi int) {
			defer wg.Done()
			fn(w, lo, hi)
		}(w, lo, hi)
	}
	fn(0, 0, n/p)
	wg.Wait()
}
