package cli

import (
	"bytes"
	"encoding/json"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/graph/weights"
	"github.com/retina-ml/retina/models/mlp"
	"github.com/retina-ml/retina/predict"
	"github.com/retina-ml/retina/train"
)

// digitSets returns a training and a test set of noisy 28×28 images of 10
// classes: each class brightens its own band of rows, which a short
// training learns.
func digitSets(train, test int) (*datasets.Set, *datasets.Set) {
	rng := rand.New(rand.NewPCG(1, 2))
	make := func(n int) *datasets.Set {
		s := &datasets.Set{Shape: []int{1, 28, 28}, Classes: 10, X: make([]float32, n*784), Labels: make([]int, n)}
		for i := range n {
			l := i % 10
			s.Labels[i] = l
			for j := range 784 {
				v := 0.3 * rng.Float32()
				if row := j / 28; row/3 == l {
					v += 0.7
				}
				s.X[i*784+j] = v
			}
		}
		return s
	}
	return make(train), make(test)
}

// TestTrainClassifierOutputs trains the MLP briefly on generated digits
// through TrainClassifier and checks what it adds to the run: the
// per-class metrics, the confusion matrix and its figure, the weights, and
// the F1 line.
func TestTrainClassifierOutputs(t *testing.T) {
	trainSet, testSet := digitSets(600, 130)
	loadDataset = func(name, dir string) (*datasets.Set, *datasets.Set, error) { return trainSet, testSet, nil }
	t.Cleanup(func() { loadDataset = datasets.Load })

	dir := filepath.Join(t.TempDir(), "run")
	f := newFlags(Flags{Epochs: 2, Batch: 32, LR: 0.05, Seed: 1})
	if err := f.Parse([]string{"-out", dir}); err != nil {
		t.Fatal(err)
	}
	r, err := Start("test", f, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out bytes.Buffer
	r.Out = &out
	m, err := mlp.Seed(graph.WithSeed(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.TrainClassifier("mlp", m, train.Config{Loss: train.CrossEntropy, Optimizer: &train.SGD{LearningRate: f.LR, Momentum: 0.9}, Progress: &bytes.Buffer{}}); err != nil {
		t.Fatal(err)
	}

	var metrics struct {
		Accuracy float64                `json:"test_accuracy"`
		Samples  int                    `json:"test_samples"`
		PerClass []predict.ClassMetrics `json:"test_per_class"`
		Matrix   [][]int                `json:"test_confusion"`
		MacroF1  *float64               `json:"test_macro_f1"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &metrics); err != nil {
		t.Fatal(err)
	}
	if len(metrics.PerClass) != 10 || len(metrics.Matrix) != 10 || metrics.MacroF1 == nil || metrics.Samples != 130 {
		t.Fatalf("metrics.json: %s", data)
	}
	// The matrix counts every test image once, by its label, and its
	// accuracy is the Trainer's.
	conf, err := predict.NewConfusion(10)
	if err != nil {
		t.Fatal(err)
	}
	total, right := 0, 0
	for tr, row := range metrics.Matrix {
		support := 0
		for p, n := range row {
			for range n {
				if err := conf.Add(tr, p); err != nil {
					t.Fatal(err)
				}
			}
			support += n
		}
		if support != 13 || metrics.PerClass[tr].Support != 13 || metrics.PerClass[tr].Class != tr {
			t.Errorf("class %d: %d samples in the matrix, support %d, want 13", tr, support, metrics.PerClass[tr].Support)
		}
		total += support
		right += row[tr]
	}
	if total != 130 || float64(right)/130 != metrics.Accuracy || conf.MacroF1() != *metrics.MacroF1 {
		t.Errorf("matrix total %d, accuracy %v (metrics %v), macro F1 %v (metrics %v)", total, float64(right)/130, metrics.Accuracy, conf.MacroF1(), *metrics.MacroF1)
	}
	if metrics.Accuracy < 0.5 {
		t.Errorf("test accuracy %v after 2 epochs on separable digits", metrics.Accuracy)
	}
	for k, pc := range metrics.PerClass {
		if pc.F1 != conf.F1(k) || pc.Precision != conf.Precision(k) || pc.Recall != conf.Recall(k) {
			t.Errorf("class %d: %+v, from the matrix F1 %v", k, pc, conf.F1(k))
		}
	}

	// The weights are the trained model's, in a file weights.Load reads.
	fresh, err := mlp.Seed(graph.WithSeed(9))
	if err != nil {
		t.Fatal(err)
	}
	if err := weights.Load(filepath.Join(dir, WeightsName), fresh); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		if !reflect.DeepEqual(fresh.Param(p.Name).Value.Data(), p.Value.Data()) {
			t.Errorf("%s differs in %s", p.Name, WeightsName)
		}
	}

	// The figure is a PNG of a sensible size.
	fh, err := os.Open(filepath.Join(dir, "confusion.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	cfg, err := png.DecodeConfig(fh)
	if err != nil || cfg.Width < 300 || cfg.Height < 300 {
		t.Errorf("confusion.png: %+v, %v", cfg, err)
	}

	// One line of per-class F1.
	var line string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "test F1 per class:") {
			line = l
		}
	}
	if !strings.Contains(line, " 0:") || !strings.Contains(line, " 9:") || !strings.Contains(line, "(macro ") {
		t.Errorf("no F1 line in the output:\n%s", out.String())
	}
	if entries, _ := os.ReadDir(dir); !slices.ContainsFunc(entries, func(e os.DirEntry) bool { return e.Name() == train.CheckpointName }) {
		t.Errorf("no checkpoint in %v", entries)
	}
}
