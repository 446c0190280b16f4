package ops

import "github.com/retina-ml/retina/ops/par"

// parallelFor splits [0, n) into chunks of at least grain elements and runs
// fn(chunk, lo, hi) for each on every core (see package ops/par). The
// chunks depend only on n, grain and GOMAXPROCS, so results are
// deterministic on a given machine.
func parallelFor(n, grain int, fn func(chunk, lo, hi int)) { par.For(n, grain, fn) }
