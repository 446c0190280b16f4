package datasets

import (
	"fmt"

	"github.com/pkg/errors"
)

// A Source is a data set a trainer or a predictor reads in rows: a [*Set],
// for a model with one input, or a [*Table], for one with several inputs or
// targets. Columns returns the model's inputs and targets, each a Set of
// Len() samples; row i of every column is sample i. A column used as a
// target gives its one-hot labels if it has Classes, its values X
// otherwise.
type Source interface {
	Len() int
	Columns() (inputs, targets []*Set)
}

// Columns returns s as its own input and target: a classifier learns s's
// labels from its values, an unlabelled set is its own target.
func (s *Set) Columns() (inputs, targets []*Set) { return []*Set{s}, []*Set{s} }

// A Table holds the samples of a model with several inputs or outputs:
// Inputs[k] feeds the model's input k and Targets[k] is the target of its
// output k. Every column holds the same N samples; row i of each column
// belongs to sample i. A Set may appear as several columns (a classifier's
// images and labels are one Set), and columns may have different shapes.
//
// For a Siamese network, say, Inputs are the first and second images of
// each pair (see [Set.Gather]) and Targets the pairs' same-or-not values.
type Table struct {
	Inputs, Targets []*Set
}

// Len returns the number of samples: the length of the first input column,
// 0 if there is none.
func (t *Table) Len() int {
	if len(t.Inputs) == 0 || t.Inputs[0] == nil {
		return 0
	}
	return t.Inputs[0].Len()
}

// Columns returns t.Inputs and t.Targets.
func (t *Table) Columns() (inputs, targets []*Set) { return t.Inputs, t.Targets }

// Validate reports whether t is usable: at least one input column, no nil
// column, every column valid (see [Set.Validate]) and of the same length.
// The error names the column, as Inputs[k] or Targets[k].
func (t *Table) Validate() error { return ValidateColumns(t) }

// ValidateColumns reports whether the columns of src are usable: at least
// one input, no nil column, every column valid and all of src.Len()
// samples. The error names the column, as Inputs[k] or Targets[k].
func ValidateColumns(src Source) error {
	if src == nil {
		return errors.New("datasets: no data")
	}
	inputs, targets := src.Columns()
	if len(inputs) == 0 {
		return errors.New("datasets: no input column")
	}
	n := src.Len()
	for _, part := range []struct {
		name string
		cols []*Set
	}{{"Inputs", inputs}, {"Targets", targets}} {
		for k, s := range part.cols {
			if s == nil {
				return errors.Errorf("datasets: %s[%d] is nil", part.name, k)
			}
			if err := s.Validate(); err != nil {
				return errors.Wrapf(err, "%s[%d]", part.name, k)
			}
			if s.Len() != n {
				return errors.Errorf("datasets: %s[%d] has %d samples, Inputs[0] has %d", part.name, k, s.Len(), n)
			}
		}
	}
	return nil
}

// Subset returns samples lo..hi-1 of every column, sharing their data (see
// [Set.Subset]). It panics unless 0 ≤ lo ≤ hi ≤ t.Len().
func (t *Table) Subset(lo, hi int) *Table {
	return t.each(func(s *Set) *Set { return s.Subset(lo, hi) })
}

// Split holds out n samples of every column, the same samples in each (the
// choice depends only on seed and t.Len(); see [Set.Split]). It panics
// unless 0 ≤ n ≤ t.Len().
func (t *Table) Split(n int, seed uint64) (rest, held *Table) {
	helds := map[*Set]*Set{}
	rest = t.each(func(s *Set) *Set {
		r, h := s.Split(n, seed)
		helds[s] = h
		return r
	})
	return rest, t.each(func(s *Set) *Set { return helds[s] })
}

// each returns a Table of f applied to every column; a Set that appears as
// several columns is mapped once and stays shared.
func (t *Table) each(f func(*Set) *Set) *Table {
	done := map[*Set]*Set{}
	apply := func(cols []*Set) []*Set {
		out := make([]*Set, len(cols))
		for k, s := range cols {
			if _, ok := done[s]; !ok {
				done[s] = f(s)
			}
			out[k] = done[s]
		}
		return out
	}
	return &Table{Inputs: apply(t.Inputs), Targets: apply(t.Targets)}
}

// Gather returns a copy of the samples of s at the given indices, in that
// order; an index may repeat. It is how pairs or triplets of samples are
// drawn from one set. Like indexing a slice, it panics if an index is
// outside 0..s.Len()-1.
func (s *Set) Gather(idx []int) *Set {
	n := s.Len()
	for k, i := range idx {
		if i < 0 || i >= n {
			panic(fmt.Sprintf("datasets: Gather: idx[%d] = %d out of range for a set of %d samples", k, i, n))
		}
	}
	return s.gather(idx)
}
