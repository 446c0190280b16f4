package train

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

// pictures is blobs as 1×6×6 images.
func pictures(n int, seed uint64) *datasets.Set {
	s := blobs(n, 4, 36, seed)
	s.Shape = []int{1, 6, 6}
	return s
}

func smallCNN(t *testing.T) *graph.Model {
	t.Helper()
	m, err := graph.Sequential{graph.Conv2D{Maps: 4, Window: ops.Kernel(3, 3), Init: graph.HeUniform}, graph.ReLU{}, graph.Flatten{}, graph.Dense{Units: 4}}.Declare(graph.Shape{1, 6, 6}, graph.WithSeed(2))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAugmentedRunResumes trains with augmentation: the run differs from
// one without, and a run interrupted mid-epoch and resumed ends exactly as
// the uninterrupted one, batches loaded ahead or not.
func TestAugmentedRunResumes(t *testing.T) {
	aug := &datasets.Augmentation{Seed: 3, Steps: []datasets.Transform{datasets.Shift{Max: 1}, datasets.Rotate{MaxDegrees: 10}}}
	data := Data{Train: pictures(400, 1), Val: pictures(100, 2)}
	cfg := func(dir string, a *datasets.Augmentation) Config {
		return quiet(Config{Epochs: 3, Batch: 20, Dir: dir, Augment: a, Optimizer: &Adam{LearningRate: 0.01}})
	}
	plain := smallCNN(t)
	tp, err := New(plain, cfg(t.TempDir(), nil))
	if err != nil {
		t.Fatal(err)
	}
	unaugmented, err := tp.Fit(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	full := smallCNN(t)
	ta, err := New(full, cfg(t.TempDir(), aug))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ta.Fit(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	if want.Last().Train == unaugmented.Last().Train {
		t.Fatal("augmentation changed nothing")
	}

	dir := t.TempDir()
	tb, err := New(smallCNN(t), cfg(dir, aug))
	if err != nil {
		t.Fatal(err)
	}
	tb.interruptAt = 20 + 7
	if _, err := tb.Fit(context.Background(), data); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run: %v", err)
	}
	resumed := smallCNN(t)
	tc, err := New(resumed, cfg(dir, aug))
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.Resume(filepath.Join(dir, CheckpointName)); err != nil {
		t.Fatal(err)
	}
	got, err := tc.Fit(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	sameMetrics(t, want.Epochs, got.Epochs)
	sameParams(t, full, resumed)

	// Resuming with another augmentation is refused.
	other := &datasets.Augmentation{Seed: 4, Steps: aug.Steps}
	td, err := New(smallCNN(t), cfg(dir, other))
	if err != nil {
		t.Fatal(err)
	}
	if err := td.Resume(filepath.Join(dir, CheckpointName)); err == nil || !strings.Contains(err.Error(), "augmentation") {
		t.Fatalf("resume with another augmentation: %v", err)
	}
}

// TestAugmentNeedsImages: augmentation applies to columns of images,
// whatever shape the model reads them in, and refuses other data.
func TestAugmentNeedsImages(t *testing.T) {
	aug := &datasets.Augmentation{Steps: []datasets.Transform{datasets.Shift{Max: 1}}}
	fit := func(m *graph.Model, a *datasets.Augmentation, set *datasets.Set) error {
		tr, err := New(m, quiet(Config{Augment: a, Batch: 20}))
		if err != nil {
			return err
		}
		defer tr.Close()
		_, err = tr.Fit(context.Background(), Data{Train: set})
		return err
	}
	if err := fit(classifier(t, 1), aug, blobs(100, 4, 8, 1)); err == nil || !strings.Contains(err.Error(), "column of images") {
		t.Fatalf("augmenting vectors: %v", err)
	}
	bad := &datasets.Augmentation{Steps: []datasets.Transform{datasets.Shift{Max: 6}}}
	if err := fit(smallCNN(t), bad, pictures(100, 1)); err == nil || !strings.Contains(err.Error(), "Shift.Max = 6") {
		t.Fatalf("a shift as large as the image: %v", err)
	}
	// A dense model reading 6×6 images as 36 values is augmented too.
	flat, err := graph.Sequential{graph.Dense{Units: 4}}.Declare(graph.Shape{36})
	if err != nil {
		t.Fatal(err)
	}
	if err := fit(flat, aug, pictures(100, 1)); err != nil {
		t.Fatal(err)
	}
}
