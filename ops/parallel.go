package ops

import "github.com/retina-ml/retina/internal/par"

// parallelFor splits [0, n) into chunks of at least grain elements and runs
// fn(chunk, lo, hi) for each on every core (see package internal/par). The
// chunks depend on GOMAXPROCS: fn must not compute partial results that
// are combined across chunks, unless the chunks are fixed units of work
// (grain 1, as eachChunk does), for results not to depend on GOMAXPROCS.
func parallelFor(n, grain int, fn func(chunk, lo, hi int)) { par.For(n, grain, fn) }
