package ops

import (
	"sync"

	"github.com/retina-ml/retina/internal/par"
	"github.com/retina-ml/retina/internal/vec"
)

// parallelFor splits [0, n) into chunks of at least grain elements and runs
// fn(chunk, lo, hi) for each on every core (see package internal/par). The
// chunks depend on GOMAXPROCS: fn must not compute partial results that
// are combined across chunks, unless the chunks are fixed units of work
// (grain 1, as eachChunk does), for results not to depend on GOMAXPROCS.
func parallelFor(n, grain int, fn func(chunk, lo, hi int)) { par.For(n, grain, fn) }

// A loopPool keeps the states of one kind of parallel loop for reuse. A
// loop body that closes over its call's arguments is allocated at every
// call (parallelFor hands it to other goroutines); a state struct that
// holds the arguments and a body bound once (a method value) is not, once
// the pool has one. Every forward kernel an inference runs is written this
// way, so that a warm forward pass allocates nothing.
type loopPool[L any] struct {
	mu   sync.Mutex
	free []*L
}

// get returns a free state, or a new one from make.
func (p *loopPool[L]) get(make func() *L) *L {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		l := p.free[n-1]
		p.free = p.free[:n-1]
		return l
	}
	return make()
}

// put returns l, its slices cleared by the caller, to the pool.
func (p *loopPool[L]) put(l *L) {
	p.mu.Lock()
	p.free = append(p.free, l)
	p.mu.Unlock()
}

// poolFor returns the pool among p32 and p64 (pointers to loopPools of the
// float32 and float64 instances of a state) that holds L.
func poolFor[L any](p32, p64 any) *loopPool[L] {
	if p, ok := p32.(*loopPool[L]); ok {
		return p
	}
	p, _ := p64.(*loopPool[L])
	return p
}

// sumParts sets dst = parts[0] + parts[1] + … + parts[n−1], the n blocks
// of len(dst) elements of parts, added in that order (the partial sums of
// chunks of work, whose order fixes the rounding), on every core.
func sumParts[T Float](dst, parts []T, n int) {
	pool := poolFor[sumPartsLoop[T]](&sumPartsLoops32, &sumPartsLoops64)
	l := pool.get(newSumPartsLoop[T])
	l.dst, l.parts, l.n = dst, parts, n
	parallelFor(len(dst), ewGrain, l.body)
	l.dst, l.parts = nil, nil
	pool.put(l)
}

// sumPartsLoop is the state of sumParts' loop (see loopPool).
type sumPartsLoop[T Float] struct {
	dst, parts []T
	n          int
	body       func(chunk, lo, hi int) // run
}

var (
	sumPartsLoops32 loopPool[sumPartsLoop[float32]]
	sumPartsLoops64 loopPool[sumPartsLoop[float64]]
)

func newSumPartsLoop[T Float]() *sumPartsLoop[T] {
	l := &sumPartsLoop[T]{}
	l.body = l.run
	return l
}

func (l *sumPartsLoop[T]) run(_, lo, hi int) {
	m, dst := len(l.dst), l.dst[lo:hi]
	copy(dst, l.parts[lo:hi])
	for c := 1; c < l.n; c++ {
		vec.Add(dst, dst, l.parts[c*m+lo:c*m+hi])
	}
}
