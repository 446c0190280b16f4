package datasets

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"

	"github.com/pkg/errors"
)

// Set is an in-memory data set of N samples, each a float32 array of shape
// Shape (for example [1 28 28] for MNIST), with an optional integer label
// per sample.
//
// The zero value is an empty, valid set. A Set is not modified by any method
// of this package, so it may be shared by several goroutines and Loaders.
type Set struct {
	// X holds the N samples back to back, each SampleSize() values in
	// row-major order: len(X) == N*SampleSize().
	X []float32
	// Shape is the shape of one sample; empty means scalar samples.
	Shape []int
	// Labels holds one class index per sample, in 0..Classes-1, or is nil
	// for an unlabelled set (an autoencoder's input, say).
	Labels []int
	// Classes is the number of classes, used for one-hot encoding; 0 if
	// the set is unlabelled or the labels are not classes.
	Classes int
}

// Len returns the number of samples N: len(Labels) for a labelled set,
// len(X)/SampleSize() otherwise.
func (s *Set) Len() int {
	if s.Labels != nil {
		return len(s.Labels)
	}
	ss := s.SampleSize()
	if ss <= 0 {
		return 0
	}
	return len(s.X) / ss
}

// SampleSize returns the number of float32 values in one sample, the
// product of Shape (1 for an empty Shape).
func (s *Set) SampleSize() int {
	n := 1
	for _, d := range s.Shape {
		n *= d
	}
	return n
}

// Validate reports whether the fields of s are consistent: every Shape
// entry > 0, len(X) a multiple of SampleSize(), len(Labels) == Len() if
// labelled, Classes ≥ 0 and, if Classes > 0, every label in 0..Classes-1.
func (s *Set) Validate() error {
	for i, d := range s.Shape {
		if d <= 0 {
			return errors.Errorf("datasets: Shape[%d] = %d, expected > 0", i, d)
		}
	}
	ss := s.SampleSize()
	if len(s.X)%ss != 0 {
		return errors.Errorf("datasets: len(X) = %d is not a multiple of the sample size %d (shape %v)", len(s.X), ss, s.Shape)
	}
	if s.Labels != nil && len(s.Labels)*ss != len(s.X) {
		return errors.Errorf("datasets: %d labels but len(X) = %d holds %d samples of shape %v", len(s.Labels), len(s.X), len(s.X)/ss, s.Shape)
	}
	if s.Classes < 0 {
		return errors.Errorf("datasets: Classes = %d, expected ≥ 0", s.Classes)
	}
	if s.Classes > 0 {
		for i, l := range s.Labels {
			if l < 0 || l >= s.Classes {
				return errors.Errorf("datasets: Labels[%d] = %d, expected 0..%d", i, l, s.Classes-1)
			}
		}
	}
	return nil
}

// Subset returns samples lo..hi-1 of s as a new Set that shares X and
// Labels with s: nothing is copied, and writes through one are seen through
// the other. Appending to the subset's slices never overwrites s. Use
// s.Subset(0, min(n, s.Len())) to keep the first n samples.
//
// Like a slice expression, Subset panics unless 0 ≤ lo ≤ hi ≤ s.Len().
func (s *Set) Subset(lo, hi int) *Set {
	n := s.Len()
	if lo < 0 || hi < lo || hi > n {
		panic(fmt.Sprintf("datasets: Subset(%d, %d) out of range for a set of %d samples", lo, hi, n))
	}
	ss := s.SampleSize()
	t := &Set{X: s.X[lo*ss : hi*ss : hi*ss], Shape: slices.Clone(s.Shape), Classes: s.Classes}
	if s.Labels != nil {
		t.Labels = s.Labels[lo:hi:hi]
	}
	return t
}

// splitStream is the second PCG seed word used by Split, so that a Split
// and a Loader with the same seed draw unrelated permutations.
const splitStream = 0x5b1e_a7c4_d07e_b0a7

// Split holds out n samples, for validation say, and returns the other
// s.Len()-n samples as rest and the held-out ones as held. The held-out
// samples are the first n of a random permutation that depends only on seed
// and s.Len(), so the same call always selects the same samples; both
// results keep the original order of s. The data are copied.
//
// Split panics unless 0 ≤ n ≤ s.Len().
func (s *Set) Split(n int, seed uint64) (rest, held *Set) {
	total := s.Len()
	if n < 0 || n > total {
		panic(fmt.Sprintf("datasets: Split(%d) out of range for a set of %d samples", n, total))
	}
	perm := permutation(total, rand.NewPCG(seed, splitStream))
	heldIdx, restIdx := perm[:n], perm[n:]
	slices.Sort(heldIdx)
	slices.Sort(restIdx)
	return s.gather(restIdx), s.gather(heldIdx)
}

// gather returns a copy of the samples of s at the given indices.
func (s *Set) gather(idx []int) *Set {
	ss := s.SampleSize()
	t := &Set{X: make([]float32, len(idx)*ss), Shape: slices.Clone(s.Shape), Classes: s.Classes}
	if s.Labels != nil {
		t.Labels = make([]int, len(idx))
	}
	for k, i := range idx {
		copy(t.X[k*ss:(k+1)*ss], s.X[i*ss:(i+1)*ss])
		if s.Labels != nil {
			t.Labels[k] = s.Labels[i]
		}
	}
	return t
}

// permutation returns a uniformly random permutation of 0..n-1 drawn from
// src by a Fisher–Yates shuffle. It uses only src.Uint64, whose output the
// PCG algorithm fixes, so the result is the same on every Go version.
func permutation(n int, src *rand.PCG) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(uintn(src, uint64(i+1)))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// uintn returns a uniform value in [0, n), n > 0, by Lemire's
// multiply-and-reject method.
func uintn(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}
