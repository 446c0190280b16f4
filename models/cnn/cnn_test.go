package cnn_test

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/train"
)

func TestBuilderShapesAndCounts(t *testing.T) {
	for _, tc := range []struct {
		name            string
		spec            cnn.Spec
		weights, biases int64
		shapes          []graph.Shape // outputs of conv and pool layers, in order
	}{
		{"SeedCNN", cnn.SeedCNN, 75 + 432*10, 3 + 10, []graph.Shape{{3, 24, 24}, {3, 12, 12}}},
		{"LeNet", cnn.LeNet, 500 + 25000 + 400000 + 5000, 20 + 50 + 500 + 10,
			[]graph.Shape{{20, 24, 24}, {20, 12, 12}, {50, 8, 8}, {50, 4, 4}}},
		{"StridedLeNet", cnn.StridedLeNet, 500 + 25000 + 50*7*7*500 + 5000, 20 + 50 + 500 + 10,
			[]graph.Shape{{20, 14, 14}, {50, 7, 7}}},
		{"RGB", cnn.Spec{Input: graph.Shape{3, 32, 32}, Convs: []cnn.Conv{{Maps: 8, Kernel: 3, Pad: 1, Pool: 2}}, Classes: 3},
			8*3*9 + 8*16*16*3, 8 + 3, []graph.Shape{{8, 32, 32}, {8, 16, 16}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.spec.Model()
			if err != nil {
				t.Fatal(err)
			}
			s := m.Summary()
			if s.Weights != tc.weights || s.Biases != tc.biases {
				t.Fatalf("%d weights + %d biases, want %d + %d", s.Weights, s.Biases, tc.weights, tc.biases)
			}
			var got []graph.Shape
			for _, r := range s.Rows {
				if r.Kind == "conv" || r.Kind == "pool" {
					got = append(got, r.Output)
				}
			}
			if len(got) != len(tc.shapes) {
				t.Fatalf("conv/pool outputs %v, want %v", got, tc.shapes)
			}
			for i := range got {
				if !got[i].Eq(tc.shapes[i]) {
					t.Fatalf("conv/pool outputs %v, want %v", got, tc.shapes)
				}
			}
			if !m.Outputs()[0].Eq(graph.Shape{tc.spec.Classes}) {
				t.Fatalf("output %v", m.Outputs()[0])
			}
		})
	}
}

func TestBuilderRejectsImpossibleStacks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spec  cnn.Spec
		words []string
	}{
		{"kernel larger than the map", cnn.Spec{Input: graph.Shape{1, 28, 28},
			Convs: []cnn.Conv{{Maps: 4, Kernel: 5, Pool: 2}, {Maps: 4, Kernel: 5, Pool: 2}, {Maps: 4, Kernel: 5}}, Classes: 10},
			[]string{"layer 6 (conv3)", "(4, 4, 4)", "kernel 5×5"}},
		{"pool larger than the map", cnn.Spec{Input: graph.Shape{1, 6, 6}, Convs: []cnn.Conv{{Maps: 2, Kernel: 3, Pool: 5}}, Classes: 2},
			[]string{"layer 2 (pool1)", "(2, 4, 4)", "kernel 5×5"}},
		{"flat input", cnn.Spec{Input: graph.Shape{784}, Classes: 10}, []string{"(784)", "(C, H, W)"}},
		{"no maps", cnn.Spec{Input: graph.Shape{1, 8, 8}, Convs: []cnn.Conv{{Kernel: 3}}, Classes: 2}, []string{"conv1", "Maps = 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.spec.Model()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// rgbSquares draws 3-channel 16×16 images of noise with a bright 4×4 square
// at a random place in one colour channel; the label is the channel. Only a
// network that looks at all three input channels can tell them apart.
func rgbSquares(n int, seed uint64) *datasets.Set {
	rng := rand.New(rand.NewPCG(seed, 3))
	s := &datasets.Set{Shape: []int{3, 16, 16}, Classes: 3}
	for i := 0; i < n; i++ {
		img := make([]float32, 3*16*16)
		for j := range img {
			img[j] = 0.3 * rng.Float32()
		}
		c, r0, c0 := rng.IntN(3), rng.IntN(12), rng.IntN(12)
		for r := r0; r < r0+4; r++ {
			for q := c0; q < c0+4; q++ {
				img[(c*16+r)*16+q] += 0.7
			}
		}
		s.X = append(s.X, img...)
		s.Labels = append(s.Labels, c)
	}
	return s
}

func TestRGBInput(t *testing.T) {
	spec := cnn.Spec{Input: graph.Shape{3, 16, 16}, Convs: []cnn.Conv{{Maps: 6, Kernel: 3, Pad: 1, Pool: 2}}, Classes: 3}
	m, err := spec.Model(graph.WithSeed(2))
	if err != nil {
		t.Fatal(err)
	}
	if w := m.Param("conv1/W").Value.Shape(); !w.Eq(graph.Shape{6, 3, 3, 3}) {
		t.Fatalf("filters %v: want 3-D (RGB) filters (6, 3, 3, 3)", w)
	}
	tr, err := train.New(m, train.Config{Epochs: 3, Batch: 32, Progress: io.Discard, Optimizer: &train.Adam{LearningRate: 3e-3}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Fit(context.Background(), train.Data{Train: rgbSquares(1500, 1), Test: rgbSquares(300, 2)})
	if err != nil {
		t.Fatal(err)
	}
	if acc := res.Last().Test.Accuracy; acc < 0.95 {
		t.Fatalf("RGB test accuracy %.3f", acc)
	}
}

// TestLeNetSmoke trains LeNet on 2,000 real MNIST images for one epoch and
// checks it beats 90% on 1,000 test images.
func TestLeNetSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on real MNIST")
	}
	trainSet, testSet, err := datasets.MNIST("")
	if err != nil {
		t.Fatal(err)
	}
	m, err := cnn.LeNet.Model()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := train.New(m, train.Config{Epochs: 1, Batch: 20, Progress: io.Discard, Optimizer: &train.Adam{LearningRate: 2e-3}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Fit(context.Background(), train.Data{Train: trainSet.Subset(0, 2000), Test: testSet.Subset(0, 1000)})
	if err != nil {
		t.Fatal(err)
	}
	if acc := res.Last().Test.Accuracy; acc < 0.90 {
		t.Fatalf("LeNet after one epoch on 2,000 images: %.2f%% on 1,000 test images", 100*acc)
	}
	t.Logf("LeNet, 2,000 images, 1 epoch: %.2f%% test accuracy, %.1fs", 100*res.Last().Test.Accuracy, res.TrainSeconds)
}

// TestLeNetDeterministic trains LeNet twice for 30 steps with the same seeds
// on real MNIST: the parameters must be bitwise equal. Matrix multiplies
// split over cores and parallel reductions must not depend on timing.
func TestLeNetDeterministic(t *testing.T) {
	trainSet, _, err := datasets.MNIST("")
	if err != nil {
		t.Fatal(err)
	}
	run := func() *graph.Model {
		m, err := cnn.LeNet.Model()
		if err != nil {
			t.Fatal(err)
		}
		tr, err := train.New(m, train.Config{Epochs: 1, Batch: 64, Progress: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		if _, err := tr.Fit(context.Background(), train.Data{Train: trainSet.Subset(0, 30*64)}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b := run(), run()
	for i, p := range a.Params() {
		x, y := p.Value.Float32s(), b.Params()[i].Value.Float32s()
		for j := range x {
			if math.Float32bits(x[j]) != math.Float32bits(y[j]) {
				t.Fatalf("%s[%d]: %v then %v", p.Name, j, x[j], y[j])
			}
		}
	}
}
