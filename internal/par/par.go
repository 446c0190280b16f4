// Package par runs loops on every core with a pool of long-lived workers.
//
// Waking a parked goroutine's thread costs tens of microseconds on some
// machines (a virtual CPU that must be rescheduled), as much as a whole
// elementwise pass over a layer's activations. A training step runs dozens
// of such passes back to back, so the workers poll for the next job for a
// while (yielding their processor between polls) before they park, and the
// caller works on the loop itself instead of waiting for them to wake.
package par

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// For splits [0, n) into contiguous chunks of at least grain elements and
// calls fn(chunk, lo, hi) for each, on the calling goroutine and the pool's
// workers; which goroutine runs a chunk is not fixed. The chunk boundaries
// depend on GOMAXPROCS (see Chunks), so For suits elementwise loops only:
// work whose per-chunk partial results are combined (a sum, say) must cut
// its chunks from the problem size alone and use For to run them (n =
// chunks, grain = 1), for its results not to change with GOMAXPROCS. Loops
// started while the workers are busy (from fn, or from another goroutine)
// run with the workers that are free, or on the calling goroutine alone.
// fn must not panic. For itself allocates nothing: its jobs are reused.
func For(n, grain int, fn func(chunk, lo, hi int)) {
	chunks := Chunks(n, grain)
	if chunks <= 1 {
		fn(0, 0, n)
		return
	}
	j := newJob()
	j.fn, j.n, j.chunks = fn, n, chunks
	j.next.Store(0)
	j.done.Store(0)
	j.refs.Store(1)
	for i := 1; i < chunks; i++ {
		j.refs.Add(1)
		if !Offer(j) {
			j.refs.Add(-1)
			break
		}
	}
	j.run()
	Wait(&j.done, int32(chunks))
	j.release()
}

// jobs holds the jobs no goroutine refers to any more, for reuse.
var jobs struct {
	sync.Mutex
	free []*job
}

// newJob returns a free job. When none is, it makes as many as one caller
// can have in flight, its own and one held by each worker, so that a
// single goroutine's loops stop allocating after the first.
func newJob() *job {
	jobs.Lock()
	defer jobs.Unlock()
	if len(jobs.free) == 0 {
		block := make([]job, runtime.GOMAXPROCS(0)+1)
		for i := range block {
			jobs.free = append(jobs.free, &block[i])
		}
	}
	j := jobs.free[len(jobs.free)-1]
	jobs.free = jobs.free[:len(jobs.free)-1]
	return j
}

// Wait spins until *counter reaches target, yielding the processor between
// polls: the caller of a parallel loop waits for the workers this way rather
// than parking, which would cost a wake-up.
func Wait(counter *atomic.Int32, target int32) {
	for spins := 0; counter.Load() < target; spins++ {
		if spins > 64 {
			runtime.Gosched()
		}
	}
}

// Chunks returns the number of chunks For splits n elements into: up to
// four per processor (4·GOMAXPROCS), each at least grain elements.
func Chunks(n, grain int) int {
	if grain < 1 {
		grain = 1
	}
	c := min(4*runtime.GOMAXPROCS(0), n/grain)
	return max(c, 1)
}

// A Task is work handed to a pool worker.
type Task interface{ Run() }

// Offer hands t to a worker of the pool if one is free and reports whether
// one took it. The pool has GOMAXPROCS − 1 workers, shared by every user of
// the package (the ops' loops and the matrix multiplies of ops/blas), so
// that the workers never outnumber the processors.
func Offer(t Task) bool {
	for _, w := range workers(runtime.GOMAXPROCS(0) - 1) {
		if w.state.CompareAndSwap(idle, claimed) {
			w.task = t
			w.state.Store(ready)
			select {
			case w.wake <- struct{}{}:
			default:
			}
			return true
		}
	}
	return false
}

type job struct {
	fn        func(chunk, lo, hi int)
	n, chunks int
	next      atomic.Int32 // next chunk to claim
	done      atomic.Int32 // chunks finished
	refs      atomic.Int32 // the caller and the workers it was offered to
}

// Run claims and runs chunks until none is left.
func (j *job) Run() {
	j.run()
	j.release()
}

// release drops one reference to j. A worker may still be looking for a
// chunk after the caller saw the last one done, so whichever of them lets
// go last returns j to the pool.
func (j *job) release() {
	if j.refs.Add(-1) == 0 {
		j.fn = nil
		jobs.Lock()
		jobs.free = append(jobs.free, j)
		jobs.Unlock()
	}
}

func (j *job) run() {
	for {
		c := int(j.next.Add(1) - 1)
		if c >= j.chunks {
			return
		}
		j.fn(c, c*j.n/j.chunks, (c+1)*j.n/j.chunks)
		j.done.Add(1)
	}
}

// Worker states.
const (
	idle    = iota // waiting for a task
	claimed        // an Offer is storing a task
	ready          // the task is stored
)

type worker struct {
	state atomic.Int32
	task  Task
	wake  chan struct{}
}

const spinTime = 200 * time.Microsecond

var pool struct {
	sync.Mutex
	list []*worker
}

// workers returns n workers, starting them if needed.
func workers(n int) []*worker {
	if n <= 0 {
		return nil
	}
	pool.Lock()
	defer pool.Unlock()
	for len(pool.list) < n {
		w := &worker{wake: make(chan struct{}, 1)}
		pool.list = append(pool.list, w)
		go w.loop()
	}
	return pool.list[:n]
}

func (w *worker) loop() {
	for {
		w.wait()
		t := w.task
		w.task = nil
		t.Run()
		w.state.Store(idle)
	}
}

// wait returns once a task is ready, polling for spinTime before parking.
func (w *worker) wait() {
	start := time.Now()
	for i := 0; ; i++ {
		if w.state.Load() == ready {
			return
		}
		if i%16 == 15 && time.Since(start) > spinTime {
			break
		}
		runtime.Gosched()
	}
	for {
		<-w.wake
		if w.state.Load() == ready {
			return
		}
	}
}
