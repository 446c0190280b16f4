package dist

import "fmt"

// An Averager averages several float32 buffers over the ranks of a job with
// a single all-reduce: it packs them into one contiguous buffer, sums that
// buffer over the ranks, divides by the number of ranks and unpacks the
// result. The pack buffer is kept between calls, so Average allocates
// nothing once it has seen the largest total length. The zero value is ready
// to use. An Averager must not be used by several goroutines at once.
type Averager struct {
	buf []float32
}

// Average replaces every element of every slice in bufs by its mean over the
// ranks of r. It is a collective operation: every rank must call it with
// slices of the same lengths in the same order. With one rank it leaves bufs
// as they are and does not call r. If the all-reduce fails, bufs are left
// unchanged.
func (a *Averager) Average(r AllReducer, bufs [][]float32) error {
	size := r.Size()
	if size < 1 {
		return fmt.Errorf("dist: Average: AllReducer has size %d", size)
	}
	if size == 1 {
		return nil
	}
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	if cap(a.buf) < n {
		a.buf = make([]float32, n)
	}
	packed := a.buf[:n]
	off := 0
	for _, b := range bufs {
		off += copy(packed[off:], b)
	}
	if err := r.AllReduce(packed, packed); err != nil {
		return err
	}
	div := float32(size)
	off = 0
	for _, b := range bufs {
		for i, v := range packed[off : off+len(b)] {
			b[i] = v / div
		}
		off += len(b)
	}
	return nil
}

// Average averages bufs over the ranks of r with one all-reduce, like
// [Averager.Average]. It allocates a fresh pack buffer on every call; a
// training loop should keep an Averager instead.
func Average(r AllReducer, bufs ...[]float32) error {
	var a Averager
	return a.Average(r, bufs)
}

// SumFloat64s replaces each *v by its sum over the ranks of r, with one
// all-reduce; it is meant for metrics such as a summed loss and a sample
// count. It is a collective operation: every rank must pass the same number
// of values.
func SumFloat64s(r AllReducer, vals ...*float64) error {
	if r.Size() == 1 || len(vals) == 0 {
		return nil
	}
	buf := make([]float64, len(vals))
	for i, p := range vals {
		buf[i] = *p
	}
	if err := r.AllReduce64(buf, buf); err != nil {
		return err
	}
	for i, p := range vals {
		*p = buf[i]
	}
	return nil
}
