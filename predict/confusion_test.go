package predict_test

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/predict"
)

// handConfusion is 14 samples of 4 classes, counted by hand:
//
//	true\pred  0  1  2  3
//	0          5  1  0  0    support 6
//	1          2  3  1  0    support 6
//	2          0  0  0  0    never seen, predicted once
//	3          0  0  0  2    support 2
//
// class 0: TP 5, FP 2, FN 1: precision 5/7, recall 5/6, F1 10/13
// class 1: TP 3, FP 1, FN 3: precision 3/4, recall 1/2, F1 6/10
// class 2: TP 0, FP 1, FN 0: precision 0/1, recall 0/0 := 0, F1 0/1
// class 3: TP 2, FP 0, FN 0: 1, 1, 1
// accuracy 10/14.
var handConfusion = [][]int{{5, 1, 0, 0}, {2, 3, 1, 0}, {0, 0, 0, 0}, {0, 0, 0, 2}}

func newHandConfusion(t *testing.T) *predict.Confusion {
	t.Helper()
	c, err := predict.NewConfusion(4)
	if err != nil {
		t.Fatal(err)
	}
	for truth, row := range handConfusion {
		for pred, n := range row {
			for range n {
				if err := c.Add(truth, pred); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return c
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12 }

func TestConfusionMath(t *testing.T) {
	c := newHandConfusion(t)
	if c.Classes() != 4 || c.Total() != 14 || !reflect.DeepEqual(c.Matrix(), handConfusion) {
		t.Fatalf("classes %d, total %d, matrix %v", c.Classes(), c.Total(), c.Matrix())
	}
	for _, tc := range []struct {
		class                 int
		precision, recall, f1 float64
		support               int
	}{
		{0, 5.0 / 7, 5.0 / 6, 10.0 / 13, 6},
		{1, 3.0 / 4, 1.0 / 2, 6.0 / 10, 6},
		{2, 0, 0, 0, 0},
		{3, 1, 1, 1, 2},
		{4, 0, 0, 0, 0},  // outside the classes
		{-1, 0, 0, 0, 0}, // outside the classes
	} {
		if p, r, f, s := c.Precision(tc.class), c.Recall(tc.class), c.F1(tc.class), c.Support(tc.class); !near(p, tc.precision) || !near(r, tc.recall) || !near(f, tc.f1) || s != tc.support {
			t.Errorf("class %d: precision %v recall %v F1 %v support %d; want %v %v %v %d", tc.class, p, r, f, s, tc.precision, tc.recall, tc.f1, tc.support)
		}
	}
	if a := c.Accuracy(); !near(a, 10.0/14) {
		t.Errorf("accuracy %v, want 10/14", a)
	}
	if f := c.MacroF1(); !near(f, (10.0/13+0.6+0+1)/4) {
		t.Errorf("macro F1 %v", f)
	}
	if p := c.MacroPrecision(); !near(p, (5.0/7+0.75+0+1)/4) {
		t.Errorf("macro precision %v", p)
	}
	if r := c.MacroRecall(); !near(r, (5.0/6+0.5+0+1)/4) {
		t.Errorf("macro recall %v", r)
	}
	if c.Count(1, 0) != 2 || c.Count(0, 9) != 0 {
		t.Errorf("Count(1, 0) = %d, Count(0, 9) = %d", c.Count(1, 0), c.Count(0, 9))
	}
	// An empty matrix: every ratio 0/0 = 0.
	e, err := predict.NewConfusion(3)
	if err != nil {
		t.Fatal(err)
	}
	if e.Accuracy() != 0 || e.MacroF1() != 0 || e.Precision(1) != 0 || e.Recall(1) != 0 || e.F1(1) != 0 {
		t.Errorf("empty matrix: accuracy %v, macro F1 %v", e.Accuracy(), e.MacroF1())
	}
}

func TestConfusionJSON(t *testing.T) {
	c := newHandConfusion(t)
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Classes  int     `json:"classes"`
		Matrix   [][]int `json:"matrix"`
		PerClass []struct {
			Class                 int
			Precision, Recall, F1 float64
			Support               int
		} `json:"per_class"`
		MacroF1  float64 `json:"macro_f1"`
		Accuracy float64 `json:"accuracy"`
		Samples  int     `json:"samples"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Classes != 4 || !reflect.DeepEqual(got.Matrix, handConfusion) || len(got.PerClass) != 4 || got.Samples != 14 ||
		!near(got.Accuracy, 10.0/14) || !near(got.MacroF1, c.MacroF1()) {
		t.Fatalf("JSON %s", data)
	}
	for i, pc := range got.PerClass {
		if pc.Class != i || !near(pc.Precision, c.Precision(i)) || !near(pc.Recall, c.Recall(i)) || !near(pc.F1, c.F1(i)) || pc.Support != c.Support(i) {
			t.Errorf("per_class[%d] = %+v", i, pc)
		}
	}
	for _, key := range []string{`"classes":4`, `"matrix":[[5,1,0,0],[2,3,1,0],[0,0,0,0],[0,0,0,2]]`, `"per_class":[{"class":0,"precision":`, `"macro_f1":`, `"accuracy":`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("JSON lacks %s: %s", key, data)
		}
	}
	// Round trip.
	var back predict.Confusion
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Matrix(), handConfusion) || back.MacroF1() != c.MacroF1() {
		t.Errorf("round trip: %v", back.Matrix())
	}
	for _, bad := range []struct{ json, want string }{
		{`{"classes":2,"matrix":[[1,2]]}`, "1 matrix rows for 2 classes"},
		{`{"classes":2,"matrix":[[1,2],[3]]}`, "matrix row 1 has 1 counts for 2 classes"},
		{`{"classes":2,"matrix":[[1,2],[3,-4]]}`, "matrix[1][1] = -4, want ≥ 0"},
		{`{"classes":0,"matrix":[]}`, "a confusion matrix of 0 classes"},
		{`[1]`, "predict: confusion JSON"},
	} {
		var d predict.Confusion
		if err := json.Unmarshal([]byte(bad.json), &d); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want an error containing %q", bad.json, err, bad.want)
		}
	}
}

func TestConfusionErrors(t *testing.T) {
	for _, k := range []int{0, -1, 1 << 20} {
		if c, err := predict.NewConfusion(k); c != nil || err == nil || !strings.Contains(err.Error(), "predict: a confusion matrix of") {
			t.Errorf("NewConfusion(%d): %v, %v", k, c, err)
		}
	}
	c, err := predict.NewConfusion(3)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range [][2]int{{3, 0}, {0, 3}, {-1, 0}, {0, -1}} {
		if err := c.Add(tp[0], tp[1]); err == nil || !strings.Contains(err.Error(), "want 0 to 2") {
			t.Errorf("Add(%d, %d): %v", tp[0], tp[1], err)
		}
	}
	if c.Total() != 0 {
		t.Errorf("refused samples were counted: %d", c.Total())
	}
	if s := c.String(); !strings.Contains(s, "accuracy 0.0000") {
		t.Errorf("String of an empty matrix: %q", s)
	}
}

// TestEvaluate evaluates a model whose logits are its input on samples
// whose predicted classes are known, in batches that split and pad.
func TestEvaluate(t *testing.T) {
	m := scoreModel(t, 3, nil)
	// Each sample's largest value is its predicted class.
	preds := []int{0, 1, 2, 2, 1, 0, 0}
	labels := []int{0, 1, 1, 2, 2, 2, 0}
	set := &datasets.Set{Shape: []int{3}, Labels: labels, Classes: 3}
	for _, p := range preds {
		x := []float32{0, 0, 0}
		x[p] = 1
		set.X = append(set.X, x...)
	}
	want := [][]int{{2, 0, 0}, {0, 1, 1}, {1, 1, 1}}
	for _, batch := range []int{1, 3, 7, 100} {
		p, err := predict.New(m, batch)
		if err != nil {
			t.Fatal(err)
		}
		c, err := predict.Evaluate(p, set)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.Matrix(), want) || !near(c.Accuracy(), 4.0/7) {
			t.Errorf("batch %d: matrix %v, accuracy %v", batch, c.Matrix(), c.Accuracy())
		}
		p.Close()
	}

	p, err := predict.New(m, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	two := testModels(t)[3].m
	q, err := predict.New(two, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	image, err := graph.Sequential{graph.Dense{Units: 3}, graph.Reshape{To: graph.Shape{3, 1}}}.Declare(graph.Shape{3})
	if err != nil {
		t.Fatal(err)
	}
	r, err := predict.New(image, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, tc := range []struct {
		name string
		p    *predict.Predictor
		set  *datasets.Set
		want string
	}{
		{"nil set", p, nil, "predict: Evaluate of a nil Predictor or set"},
		{"unlabelled", p, &datasets.Set{X: set.X, Shape: []int{3}}, "predict: Evaluate needs a labelled set (Labels and Classes)"},
		{"classes", p, &datasets.Set{X: set.X, Shape: []int{3}, Labels: labels, Classes: 4}, "predict: Evaluate: the set has 4 classes, model model tells 3 apart"},
		{"sample size", p, &datasets.Set{X: set.X[:14], Shape: []int{2}, Labels: labels, Classes: 3}, "predict: Evaluate: samples of shape [2] (2 values), model model's input is (3) (3 values)"},
		{"invalid set", p, &datasets.Set{X: set.X[:5], Shape: []int{3}, Labels: labels, Classes: 3}, "predict: Evaluate: datasets:"},
		{"two inputs", q, set, "predict: Evaluate: model model takes 2 inputs, a set feeds one"},
		{"not a classifier", r, set, "classifying needs a vector of class scores"},
	} {
		if c, err := predict.Evaluate(tc.p, tc.set); c != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, %v; want an error containing %q", tc.name, c, err, tc.want)
		}
	}
}
