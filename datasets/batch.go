package datasets

import (
	"fmt"
	"math/rand/v2"

	"github.com/pkg/errors"
)

// DefaultBatchSize is the batch size a [Loader] uses when its BatchSize is 0.
const DefaultBatchSize = 32

// PartialPolicy says what a [Loader] does with the last batch of an epoch
// when the number of samples N is not a multiple of the batch size B.
type PartialPolicy int

const (
	// DropPartial, the zero value and the training default, skips the
	// last N mod B samples of each epoch, so every batch holds exactly B
	// real samples (a graph compiled for a fixed batch size can consume
	// them all). With shuffling the dropped samples differ from epoch to
	// epoch, so no sample is left out for good. An epoch has N/B batches
	// (rounded down), none at all if N < B.
	DropPartial PartialPolicy = iota

	// PadPartial, for evaluation, keeps the last samples: the final batch
	// is filled up to B rows by repeating samples from the start of the
	// epoch's order, and its Size field counts only the real ones, so a
	// metric that looks at the first Size rows sees every sample exactly
	// once. An epoch has ⌈N/B⌉ batches.
	PadPartial
)

func (p PartialPolicy) String() string {
	switch p {
	case DropPartial:
		return "DropPartial"
	case PadPartial:
		return "PadPartial"
	}
	return fmt.Sprintf("PartialPolicy(%d)", int(p))
}

// A Batch is a mini-batch of B samples, B being the Loader's batch size.
// [Iter.Next] fills a Batch in place and reuses its slices, so a Batch must
// not be retained across calls to Next; copy what must outlive it.
type Batch struct {
	// X holds B samples back to back: shape (B, Shape...) in row-major
	// order, len(X) == B*SampleSize().
	X []float32
	// Labels holds the B labels; empty if the set is unlabelled.
	Labels []int
	// OneHot holds Labels one-hot encoded, shape (B, Classes) row-major;
	// empty if the set is unlabelled or Classes is 0.
	OneHot []float32
	// Size is the number of real samples: rows 0..Size-1 are real and
	// rows Size..B-1, present only in the last batch under PadPartial,
	// are padding that metrics should ignore. Size == B otherwise.
	Size int
	// Index holds the index in the Set of the sample in each of the B
	// rows, padding rows included.
	Index []int
}

// A Loader cuts a [Set] into batches, one epoch at a time. The zero value
// (plus a Set) gives unshuffled batches of [DefaultBatchSize] samples,
// dropping the partial last batch. A Loader holds no state between epochs
// and may be used by several goroutines at once.
//
// With Shuffle set, the order of epoch e is a random permutation of the
// samples that depends only on (Seed, e): it is drawn from
// rand.NewPCG(Seed, uint64(e)) (math/rand/v2) by a Fisher–Yates shuffle
// implemented in this package, so it is the same on every run, machine and
// Go version. Training resumed at epoch e therefore reproduces the
// interrupted run exactly, with no random-number state to save: call
// Epoch(e) with the same Seed. Without Shuffle, every epoch visits the
// samples in order.
type Loader struct {
	// Set is the data to iterate over.
	Set *Set
	// BatchSize is the number of rows B of every batch; 0 means
	// DefaultBatchSize. Negative values are an error.
	BatchSize int
	// Shuffle selects a fresh random order for each epoch.
	Shuffle bool
	// Seed selects the family of per-epoch permutations.
	Seed uint64
	// Partial is the last-partial-batch policy; the zero value is
	// DropPartial.
	Partial PartialPolicy
}

func (l *Loader) batchSize() int {
	if l.BatchSize == 0 {
		return DefaultBatchSize
	}
	return l.BatchSize
}

// Batches returns the number of batches in one epoch: N/B rounded down
// under DropPartial, rounded up under PadPartial. It returns 0 if the
// Loader is invalid (nil Set, negative BatchSize).
func (l *Loader) Batches() int {
	b := l.batchSize()
	if l.Set == nil || b < 0 {
		return 0
	}
	n := l.Set.Len()
	if l.Partial == PadPartial {
		return (n + b - 1) / b
	}
	return n / b
}

// Epoch returns an iterator over the batches of epoch number epoch (any
// integer; by convention the first epoch is 0). The Set is validated here,
// and the permutation, if any, is computed here; each call allocates one
// []int of length N when shuffling. Changing the Loader or the Set while an
// iterator is in use has undefined results.
func (l *Loader) Epoch(epoch int) *Iter {
	it := &Iter{set: l.Set, size: l.batchSize()}
	switch {
	case l.Set == nil:
		it.err = errors.New("datasets: Loader has no Set")
	case it.size < 0:
		it.err = errors.Errorf("datasets: Loader.BatchSize = %d, expected ≥ 0", l.BatchSize)
	case l.Partial != DropPartial && l.Partial != PadPartial:
		it.err = errors.Errorf("datasets: unknown %v", l.Partial)
	}
	if it.err != nil {
		return it
	}
	if err := l.Set.Validate(); err != nil {
		it.err = err
		return it
	}
	it.n = l.Set.Len()
	it.batches = l.Batches()
	if l.Shuffle {
		it.order = permutation(it.n, rand.NewPCG(l.Seed, uint64(epoch)))
	}
	return it
}

// An Iter iterates over the batches of one epoch; see [Loader.Epoch].
type Iter struct {
	set     *Set
	size    int   // batch size B
	n       int   // samples in the set
	order   []int // epoch order; nil means 0..n-1
	batches int   // batches in the epoch
	next    int   // index of the next batch
	err     error
}

// Next fills b with the next batch of the epoch and reports whether there
// was one. It reuses b's slices when they are large enough, so once b has
// held one batch, Next allocates nothing. Next returns false, leaving b
// unchanged, at the end of the epoch or if the Loader was invalid;
// [Iter.Err] tells which.
func (it *Iter) Next(b *Batch) bool {
	if it.err != nil || it.next >= it.batches {
		return false
	}
	s, size := it.set, it.size
	ss := s.SampleSize()
	start := it.next * size
	it.next++

	b.X = resize(b.X, size*ss)
	b.Index = resize(b.Index, size)
	labelled := s.Labels != nil
	if labelled {
		b.Labels = resize(b.Labels, size)
	} else {
		b.Labels = b.Labels[:0]
	}
	for r := range size {
		// Positions past the end wrap around to the start of the
		// order: this is PadPartial's padding.
		i := (start + r) % it.n
		if it.order != nil {
			i = it.order[i]
		}
		b.Index[r] = i
		copy(b.X[r*ss:(r+1)*ss], s.X[i*ss:(i+1)*ss])
		if labelled {
			b.Labels[r] = s.Labels[i]
		}
	}
	b.Size = min(size, it.n-start)
	if labelled && s.Classes > 0 {
		b.OneHot = resize(b.OneHot, size*s.Classes)
		OneHot(b.Labels, s.Classes, b.OneHot)
	} else {
		b.OneHot = b.OneHot[:0]
	}
	return true
}

// Err returns the error that made the iterator invalid, or nil if it is
// valid (whether or not the epoch is over).
func (it *Iter) Err() error { return it.err }

// resize returns s with length n, reusing its array if it is large enough.
func resize[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// OneHot writes the one-hot encoding of labels into dst, which is treated
// as a (len(labels), classes) row-major matrix: row i is all zeros except
// for a 1 in column labels[i]. It panics if len(dst) < len(labels)*classes
// or a label is outside 0..classes-1.
func OneHot(labels []int, classes int, dst []float32) {
	if len(dst) < len(labels)*classes {
		panic(fmt.Sprintf("datasets: OneHot: len(dst) = %d, need %d×%d", len(dst), len(labels), classes))
	}
	dst = dst[:len(labels)*classes]
	clear(dst)
	for i, l := range labels {
		if l < 0 || l >= classes {
			panic(fmt.Sprintf("datasets: OneHot: labels[%d] = %d, expected 0..%d", i, l, classes-1))
		}
		dst[i*classes+l] = 1
	}
}
