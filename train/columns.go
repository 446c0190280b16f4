package train

import (
	"reflect"
	"sync"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
)

// Data as the model sees it: the columns of a datasets.Source matched to
// the model's inputs and outputs, and batches of them.

// columns is a Source checked against a model. A Set that appears as
// several columns (a classifier's images and labels) is batched once.
type columns struct {
	sets    []*datasets.Set // the distinct columns
	in, tg  []int           // index in sets of each input and target
	samples int
}

// present reports whether src holds a data set: not nil, nor a nil pointer
// in an interface.
func present(src datasets.Source) bool {
	if src == nil {
		return false
	}
	v := reflect.ValueOf(src)
	return v.Kind() != reflect.Pointer || !v.IsNil()
}

// newColumns checks src against m: one input column per model input, each
// sample holding as many values as that input (whatever their shapes:
// (1, 28, 28) images feed a (784) model); with withTargets, one target per
// output, each as wide as that output (Classes for a labelled column). what
// names the data in errors ("training data", say).
func newColumns(m *graph.Model, src datasets.Source, withTargets bool, what string) (*columns, error) {
	if !present(src) {
		return nil, errors.Errorf("train: no %s", what)
	}
	if err := datasets.ValidateColumns(src); err != nil {
		return nil, errors.Wrapf(err, "train: %s", what)
	}
	inputs, targets := src.Columns()
	c := &columns{samples: src.Len()}
	index := map[*datasets.Set]int{}
	add := func(s *datasets.Set) int {
		i, ok := index[s]
		if !ok {
			i = len(c.sets)
			index[s] = i
			c.sets = append(c.sets, s)
		}
		return i
	}
	if len(inputs) != len(m.Inputs()) {
		return nil, errors.Errorf("train: %s has %d input columns, model %s takes %d inputs", what, len(inputs), m.Name(), len(m.Inputs()))
	}
	for k, s := range inputs {
		if want := m.Inputs()[k].TotalSize(); s.SampleSize() != want {
			return nil, errors.Errorf("train: %s: input column %d has samples of shape %v (%d values), model %s's input %d is %v (%d values)",
				what, k, s.Shape, s.SampleSize(), m.Name(), k, m.Inputs()[k], want)
		}
		c.in = append(c.in, add(s))
	}
	if !withTargets {
		return c, nil
	}
	if len(targets) != len(m.Outputs()) {
		return nil, errors.Errorf("train: %s has %d target columns, model %s has %d outputs", what, len(targets), m.Name(), len(m.Outputs()))
	}
	for k, s := range targets {
		width, kind := s.SampleSize(), "values"
		if s.Classes > 0 {
			width, kind = s.Classes, "classes"
		}
		if want := m.Outputs()[k].TotalSize(); width != want {
			return nil, errors.Errorf("train: %s: target column %d has %d %s per sample, model %s's output %d is %v (%d values)",
				what, k, width, kind, m.Name(), k, m.Outputs()[k], want)
		}
		c.tg = append(c.tg, add(s))
	}
	return c, nil
}

// subset returns samples lo..hi-1 of every column.
func (c *columns) subset(lo, hi int) *columns {
	d := *c
	d.sets = make([]*datasets.Set, len(c.sets))
	for i, s := range c.sets {
		d.sets[i] = s.Subset(lo, hi)
	}
	d.samples = hi - lo
	return &d
}

// labelled reports whether the only target has class labels.
func (c *columns) labelled() bool { return len(c.tg) == 1 && c.sets[c.tg[0]].Classes > 0 }

// A feed is one batch of rows: inputs[k] holds size rows of input k back to
// back, targets[k] size rows of target k (one-hot labels, or values).
type feed struct {
	inputs, targets [][]float32
	labels          []int // the only target's labels, if it has classes
	index           []int // each row's sample index in the data set
	size            int
}

// A slot holds one batch of every column and the feed that views it.
type slot struct {
	cols []datasets.Batch
	feed feed
}

func (c *columns) newSlot() *slot {
	return &slot{cols: make([]datasets.Batch, len(c.sets)),
		feed: feed{inputs: make([][]float32, len(c.in)), targets: make([][]float32, len(c.tg))}}
}

// batches iterates over the batches of one epoch of every column in
// lockstep: each column has its own datasets.Iter, and all draw the same
// order because a Loader's order depends only on its settings and the
// number of samples. next fills its own slot; nextInto fills another.
type batches struct {
	c   *columns
	its []*datasets.Iter
	*slot
	ended bool
}

// epoch returns the batches of epoch e under the loader settings l (its
// Set is ignored).
func (c *columns) epoch(l datasets.Loader, e int) *batches {
	b := &batches{c: c, slot: c.newSlot()}
	for _, s := range c.sets {
		l.Set = s
		b.its = append(b.its, l.Epoch(e))
	}
	return b
}

// next loads the next batch into b.feed and reports whether there was one.
func (b *batches) next() bool { return b.nextInto(b.slot) }

// nextInto loads the next batch into s.
func (b *batches) nextInto(s *slot) bool {
	if b.ended {
		return false
	}
	for i, it := range b.its {
		if !it.Next(&s.cols[i]) {
			b.ended = true
			return false
		}
	}
	f := &s.feed
	for k, i := range b.c.in {
		f.inputs[k] = s.cols[i].X
	}
	for k, i := range b.c.tg {
		f.targets[k] = targetRows(&s.cols[i])
	}
	f.labels = nil
	if b.c.labelled() {
		f.labels = s.cols[b.c.tg[0]].Labels
	}
	f.index = s.cols[0].Index
	f.size = s.cols[0].Size
	return true
}

// ahead loads the batches of an epoch one ahead of its consumer, in a
// goroutine: batch i+1 is loaded and prepared (augmented) while the
// consumer's step i runs. Two slots take turns.
type ahead struct {
	ready, free chan *slot
	stop        chan struct{}
	done        sync.WaitGroup
}

// loadAhead starts loading the rest of it's batches, applying prepare to
// each (nil: none).
func loadAhead(it *batches, prepare func(*feed)) *ahead {
	a := &ahead{ready: make(chan *slot, 1), free: make(chan *slot, 2), stop: make(chan struct{})}
	a.free <- it.c.newSlot()
	a.free <- it.c.newSlot()
	a.done.Add(1)
	go func() {
		defer a.done.Done()
		defer close(a.ready)
		for {
			var s *slot
			select {
			case s = <-a.free:
			case <-a.stop:
				return
			}
			if !it.nextInto(s) {
				return
			}
			if prepare != nil {
				prepare(&s.feed)
			}
			select {
			case a.ready <- s:
			case <-a.stop:
				return
			}
		}
	}()
	return a
}

// next returns the next loaded batch, or false at the end of the epoch.
// Give the slot back with release once done with it.
func (a *ahead) next() (*slot, bool) {
	s, ok := <-a.ready
	return s, ok
}

func (a *ahead) release(s *slot) { a.free <- s }

// close stops the loading goroutine and waits for it.
func (a *ahead) close() {
	close(a.stop)
	a.done.Wait()
}

// err returns the first column's iteration error.
func (b *batches) err() error {
	for _, it := range b.its {
		if err := it.Err(); err != nil {
			return err
		}
	}
	return nil
}

// targetRows returns a batch's rows as a target: one-hot labels when the
// set has classes, its values otherwise.
func targetRows(b *datasets.Batch) []float32 {
	if len(b.OneHot) > 0 {
		return b.OneHot
	}
	return b.X
}
