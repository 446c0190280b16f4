package blas

import "sync"

// A freeList recycles objects. Unlike sync.Pool it never drops them, so a
// steady stream of calls allocates nothing even across garbage collections;
// it holds at most as many objects as were ever in use at once.
type freeList[T any] struct {
	mu   sync.Mutex
	list []*T
}

// get returns a recycled object, or a new zero one.
func (f *freeList[T]) get() *T {
	f.mu.Lock()
	if n := len(f.list); n > 0 {
		x := f.list[n-1]
		f.list[n-1] = nil
		f.list = f.list[:n-1]
		f.mu.Unlock()
		return x
	}
	f.mu.Unlock()
	return new(T)
}

// put recycles x.
func (f *freeList[T]) put(x *T) {
	f.mu.Lock()
	f.list = append(f.list, x)
	f.mu.Unlock()
}
