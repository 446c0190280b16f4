package predict

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/datasets"
)

// A Confusion is the confusion matrix of a classifier over K classes: how
// many samples of each true class were predicted as each class. Rows are
// true classes, columns predicted ones. The zero value has no classes; use
// NewConfusion.
//
// Every ratio it reports defines 0/0 as 0: the precision of a class never
// predicted, the recall of a class never seen, their F1 when both are 0,
// the accuracy of an empty matrix (scikit-learn's zero_division=0).
type Confusion struct {
	k      int
	counts []int // k×k, row-major: counts[t*k+p]
}

// NewConfusion returns an empty confusion matrix of classes ≥ 1 classes.
func NewConfusion(classes int) (*Confusion, error) {
	if classes < 1 || classes > maxClasses {
		return nil, errors.Errorf("predict: a confusion matrix of %d classes, want 1 to %d", classes, maxClasses)
	}
	return &Confusion{k: classes, counts: make([]int, classes*classes)}, nil
}

// maxClasses bounds a Confusion's classes (2^28 counts, 2 GiB).
const maxClasses = 1 << 14

// Classes returns K.
func (c *Confusion) Classes() int { return c.k }

// Add counts one sample of class truth predicted as predicted, both in
// 0..K-1.
func (c *Confusion) Add(truth, predicted int) error {
	if truth < 0 || truth >= c.k || predicted < 0 || predicted >= c.k {
		return errors.Errorf("predict: confusion: true class %d, predicted %d: want 0 to %d", truth, predicted, c.k-1)
	}
	c.counts[truth*c.k+predicted]++
	return nil
}

// Count returns the number of samples of class truth predicted as
// predicted (0 outside 0..K-1).
func (c *Confusion) Count(truth, predicted int) int {
	if truth < 0 || truth >= c.k || predicted < 0 || predicted >= c.k {
		return 0
	}
	return c.counts[truth*c.k+predicted]
}

// Matrix returns a copy of the counts: Matrix()[truth][predicted].
func (c *Confusion) Matrix() [][]int {
	m := make([][]int, c.k)
	for t := range m {
		m[t] = append([]int(nil), c.counts[t*c.k:(t+1)*c.k]...)
	}
	return m
}

// Total returns the number of samples counted.
func (c *Confusion) Total() int {
	n := 0
	for _, v := range c.counts {
		n += v
	}
	return n
}

// Support returns the number of samples of true class class: its row's
// sum (0 outside 0..K-1).
func (c *Confusion) Support(class int) int {
	n := 0
	for p := range c.k {
		n += c.Count(class, p)
	}
	return n
}

// predicted returns the number of samples predicted as class: its
// column's sum.
func (c *Confusion) predicted(class int) int {
	n := 0
	for t := range c.k {
		n += c.Count(t, class)
	}
	return n
}

// ratio returns a/b, 0 when b is 0.
func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Accuracy returns the fraction of samples predicted as their true class
// (the trace over the total; 0 for an empty matrix).
func (c *Confusion) Accuracy() float64 {
	right := 0
	for t := range c.k {
		right += c.counts[t*c.k+t]
	}
	return ratio(right, c.Total())
}

// Precision returns the fraction of the samples predicted as class that
// are of that class: TP/(TP + FP), 0 when none was predicted as class (or
// class is outside 0..K-1).
func (c *Confusion) Precision(class int) float64 {
	return ratio(c.Count(class, class), c.predicted(class))
}

// Recall returns the fraction of the samples of class that were predicted
// as it: TP/(TP + FN), 0 when there is no sample of class (or class is
// outside 0..K-1).
func (c *Confusion) Recall(class int) float64 {
	return ratio(c.Count(class, class), c.Support(class))
}

// F1 returns the harmonic mean of Precision and Recall, 2TP/(2TP + FP +
// FN): 0 when both are 0.
func (c *Confusion) F1(class int) float64 {
	tp := c.Count(class, class)
	return ratio(2*tp, c.predicted(class)+c.Support(class))
}

// MacroPrecision returns the mean of Precision over the K classes, every
// class counting once whatever its support (classes never seen nor
// predicted included, with 0).
func (c *Confusion) MacroPrecision() float64 { return c.macro(c.Precision) }

// MacroRecall returns the mean of Recall over the K classes.
func (c *Confusion) MacroRecall() float64 { return c.macro(c.Recall) }

// MacroF1 returns the mean of F1 over the K classes (scikit-learn's
// f1_score(average="macro") with labels=range(K)), not the F1 of the macro
// precision and recall.
func (c *Confusion) MacroF1() float64 { return c.macro(c.F1) }

func (c *Confusion) macro(f func(int) float64) float64 {
	if c.k == 0 {
		return 0
	}
	var s float64
	for class := range c.k {
		s += f(class)
	}
	return s / float64(c.k)
}

// ClassMetrics are the metrics of one class in a Confusion's JSON.
type ClassMetrics struct {
	Class     int     `json:"class"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"` // samples of the class
}

// PerClass returns the precision, recall, F1 and support of each class.
func (c *Confusion) PerClass() []ClassMetrics {
	m := make([]ClassMetrics, c.k)
	for class := range m {
		m[class] = ClassMetrics{Class: class, Precision: c.Precision(class), Recall: c.Recall(class), F1: c.F1(class), Support: c.Support(class)}
	}
	return m
}

// confusionJSON is a Confusion as JSON.
type confusionJSON struct {
	Classes        int            `json:"classes"`
	Matrix         [][]int        `json:"matrix"`
	PerClass       []ClassMetrics `json:"per_class"`
	MacroPrecision float64        `json:"macro_precision"`
	MacroRecall    float64        `json:"macro_recall"`
	MacroF1        float64        `json:"macro_f1"`
	Accuracy       float64        `json:"accuracy"`
	Samples        int            `json:"samples"`
}

// MarshalJSON writes
//
//	{"classes": K, "matrix": [[…], …], "per_class": [{"class": 0, "precision": …, "recall": …, "f1": …, "support": …}, …],
//	 "macro_precision": …, "macro_recall": …, "macro_f1": …, "accuracy": …, "samples": …}
//
// with matrix[truth][predicted].
func (c *Confusion) MarshalJSON() ([]byte, error) {
	return json.Marshal(confusionJSON{
		Classes: c.k, Matrix: c.Matrix(), PerClass: c.PerClass(),
		MacroPrecision: c.MacroPrecision(), MacroRecall: c.MacroRecall(), MacroF1: c.MacroF1(),
		Accuracy: c.Accuracy(), Samples: c.Total(),
	})
}

// UnmarshalJSON reads what MarshalJSON writes: the classes and the matrix
// (the metrics are recomputed from them), which must be K×K counts ≥ 0.
func (c *Confusion) UnmarshalJSON(data []byte) error {
	var j struct {
		Classes int     `json:"classes"`
		Matrix  [][]int `json:"matrix"`
	}
	if err := json.Unmarshal(data, &j); err != nil {
		return errors.Wrap(err, "predict: confusion JSON")
	}
	d, err := NewConfusion(j.Classes)
	if err != nil {
		return errors.Wrap(err, "predict: confusion JSON")
	}
	if len(j.Matrix) != j.Classes {
		return errors.Errorf("predict: confusion JSON: %d matrix rows for %d classes", len(j.Matrix), j.Classes)
	}
	for t, row := range j.Matrix {
		if len(row) != j.Classes {
			return errors.Errorf("predict: confusion JSON: matrix row %d has %d counts for %d classes", t, len(row), j.Classes)
		}
		for p, v := range row {
			if v < 0 {
				return errors.Errorf("predict: confusion JSON: matrix[%d][%d] = %d, want ≥ 0", t, p, v)
			}
			d.counts[t*j.Classes+p] = v
		}
	}
	*c = *d
	return nil
}

// String formats the matrix as a table, true classes as rows, with each
// class's F1 and the accuracy.
func (c *Confusion) String() string {
	var b strings.Builder
	w := len(fmt.Sprint(max(c.Total(), c.k)))
	fmt.Fprintf(&b, "%*s", w+6, "true\\pred")
	for p := range c.k {
		fmt.Fprintf(&b, " %*d", w, p)
	}
	b.WriteString("     F1\n")
	for t := range c.k {
		fmt.Fprintf(&b, "%*d", w+6, t)
		for p := range c.k {
			fmt.Fprintf(&b, " %*d", w, c.counts[t*c.k+p])
		}
		fmt.Fprintf(&b, " %6.4f\n", c.F1(t))
	}
	fmt.Fprintf(&b, "accuracy %.4f, macro F1 %.4f over %d samples\n", c.Accuracy(), c.MacroF1(), c.Total())
	return b.String()
}

// Evaluate classifies every sample of set with p (see Predictor.Classify)
// and counts the results against the labels. set must be labelled, with
// as many classes as p tells apart, and samples of the size of p's model's
// only input.
func Evaluate(p *Predictor, set *datasets.Set) (*Confusion, error) {
	if p == nil || set == nil {
		return nil, errors.New("predict: Evaluate of a nil Predictor or set")
	}
	if err := set.Validate(); err != nil {
		return nil, errors.Wrap(err, "predict: Evaluate")
	}
	if set.Labels == nil || set.Classes == 0 {
		return nil, errors.New("predict: Evaluate needs a labelled set (Labels and Classes)")
	}
	if n := len(p.inSize); n != 1 {
		return nil, errors.Errorf("predict: Evaluate: model %s takes %d inputs, a set feeds one", p.model.Name(), n)
	}
	if set.SampleSize() != p.inSize[0] {
		return nil, errors.Errorf("predict: Evaluate: samples of shape %v (%d values), model %s's input is %v (%d values)",
			set.Shape, set.SampleSize(), p.model.Name(), p.model.Inputs()[0], p.inSize[0])
	}
	if err := p.classifier(); err != nil {
		return nil, err
	}
	if k := p.Classes(); k != set.Classes {
		return nil, errors.Errorf("predict: Evaluate: the set has %d classes, model %s tells %d apart", set.Classes, p.model.Name(), k)
	}
	c, err := NewConfusion(set.Classes)
	if err != nil {
		return nil, err
	}
	preds := make([]Prediction, min(p.batch, set.Len()))
	ss := set.SampleSize()
	for lo := 0; lo < set.Len(); lo += p.batch {
		hi := min(lo+p.batch, set.Len())
		batch := preds[:hi-lo]
		if err := p.ClassifyInto(batch, set.X[lo*ss:hi*ss]); err != nil {
			return nil, err
		}
		for i, pr := range batch {
			if err := c.Add(set.Labels[lo+i], pr.Class); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}
