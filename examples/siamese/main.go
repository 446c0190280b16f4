// Command siamese trains a Siamese network on MNIST: two images go through
// one convolutional tower, the same parameter tensors for both, and the
// model outputs the distance between their embeddings. A contrastive loss
// (Hadsell, Chopra & LeCun 2006) pulls same-digit pairs together and pushes
// other pairs at least a margin apart. The example reports how well that
// distance tells whether two unseen test images show the same digit.
//
//	go run ./examples/siamese              # 8 epochs of 60,000 pairs, Adam
//	go run ./examples/siamese -epochs 1 -limit 5000 -pairs 5000
//
// Training pairs are drawn once from the training images (half same-digit,
// half not) with -seed; 10,000 balanced test pairs are drawn from the test
// images with a fixed seed, so every run is scored on the same pairs. A
// pair counts as "same digit" when its distance is below the threshold
// that classifies the training pairs best.
//
// It writes config.json, metrics.jsonl, a checkpoint, metrics.json (with
// test_pair_accuracy) and embedding.png, the test images' embeddings
// coloured by digit, to -out. Ctrl-C saves a checkpoint; -out DIR -resume
// continues the run.
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/examples/internal/cli"
	"github.com/retina-ml/retina/examples/internal/plots"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/autoencoder"
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/train"
)

// Test pairs: how many, and the seed they are drawn with, whatever -seed.
const (
	testPairCount = 10000
	testPairSeed  = 20061017
)

func main() {
	f := cli.Register(flag.CommandLine, cli.Flags{Epochs: 8, Batch: 64, LR: 1e-3, Seed: 1})
	pairs := flag.Int("pairs", 60000, "training pairs drawn from the training images, half of them same-digit (≥ 2)")
	dim := flag.Int("dim", 2, "embedding dimensions (≥ 1); the plot shows the first two principal components beyond 2")
	margin := flag.Float64("margin", 1, "contrastive margin (> 0): pairs of different digits are pushed at least this far apart")
	if err := f.Parse(os.Args[1:]); err != nil {
		cli.Fatal("siamese", err)
	}
	if err := run(f, *pairs, *dim, *margin); err != nil {
		cli.Fatal("siamese", err)
	}
}

// towerSpec is the shared tower: LeNet's convolutions, a dense layer of 128
// and a linear embedding of dim units.
func towerSpec(dim int) cnn.Spec {
	s := cnn.LeNet
	s.Dense, s.Classes = []int{128}, dim
	return s
}

func run(f *cli.Flags, pairs, dim int, margin float64) error {
	if err := cli.CheckInt("pairs", pairs, 2, math.MaxInt32); err != nil {
		return err
	}
	if err := cli.CheckInt("dim", dim, 1, 1024); err != nil {
		return err
	}
	if err := cli.CheckFloat("margin", margin, math.SmallestNonzeroFloat64, math.MaxFloat32); err != nil {
		return err
	}
	r, err := cli.Start("siamese", f, map[string]any{"optimizer": "adam", "pairs": pairs, "dim": dim, "margin": margin,
		"test_pairs": testPairCount, "test_pair_seed": testPairSeed})
	if err != nil {
		return err
	}
	defer r.Close()
	trainSet, testSet, err := r.MNIST()
	if err != nil {
		return err
	}
	tower, err := towerSpec(dim).Model(graph.WithName("tower"), graph.WithSeed(f.Seed))
	if err != nil {
		return err
	}
	model, err := siamese(tower)
	if err != nil {
		return err
	}
	fmt.Fprint(r.Out, model.Summary())
	trainPairs, err := drawPairs(trainSet, pairs, f.Seed)
	if err != nil {
		return errors.Wrap(err, "training pairs")
	}
	testPairs, err := drawPairs(testSet, testPairCount, testPairSeed)
	if err != nil {
		return errors.Wrap(err, "test pairs")
	}
	tr, err := train.New(model, train.Config{
		Loss: contrastive{margin: margin}, Optimizer: &train.Adam{LearningRate: f.LR},
		Epochs: f.Epochs, Batch: f.Batch, Seed: f.Seed, Dir: r.Dir, Comm: r.Comm,
	})
	if err != nil {
		return err
	}
	defer tr.Close()
	res, err := r.Fit(tr, train.Data{Train: trainPairs, Test: testPairs})
	if err != nil {
		return err
	}

	// Pick the threshold on the training pairs, score the test pairs.
	trainDist, err := train.Predict(model, trainPairs, 0)
	if err != nil {
		return err
	}
	threshold, trainAcc := bestThreshold(trainDist[0], same(trainPairs))
	testDist, err := train.Predict(model, testPairs, 0)
	if err != nil {
		return err
	}
	testAcc := pairAccuracy(testDist[0], same(testPairs), threshold)
	m := cli.Summary("siamese", f, res)
	m["test_pair_accuracy"], m["train_pair_accuracy"], m["threshold"] = testAcc, trainAcc, threshold
	if err := r.WriteMetrics(m); err != nil {
		return err
	}
	if err := r.SavePlot(func() error { return saveEmbedding(r.Dir, tower, testSet, testAcc) }); err != nil {
		return err
	}
	fmt.Fprintf(r.Out, "test pair accuracy %.2f%% (%d pairs, threshold %.3f; training pairs %.2f%%) after %d epochs, %.1fs of training\n",
		100*testAcc, testPairs.Len(), threshold, 100*trainAcc, len(res.Epochs), res.TrainSeconds)
	return nil
}

// drawPairs draws n pairs of samples of set, alternately of the same label
// and of different labels, as a two-input Table whose target is 1 for a
// same-label pair and 0 otherwise. The pairs depend only on seed and set.
func drawPairs(set *datasets.Set, n int, seed uint64) (*datasets.Table, error) {
	if set.Classes < 2 || len(set.Labels) == 0 {
		return nil, errors.New("pairs need a labelled set of two classes or more")
	}
	byLabel := make([][]int, set.Classes)
	for i, l := range set.Labels {
		byLabel[l] = append(byLabel[l], i)
	}
	var labels []int // the labels that have samples
	for l, idx := range byLabel {
		if len(idx) > 0 {
			labels = append(labels, l)
		}
	}
	if len(labels) < 2 {
		return nil, errors.Errorf("pairs of different digits need two digits, the set has %d", len(labels))
	}
	rng := rand.New(rand.NewPCG(seed, 0x5ea3e5e))
	first, second := make([]int, n), make([]int, n)
	target := &datasets.Set{X: make([]float32, n), Shape: []int{1}}
	for i := range n {
		a := rng.IntN(len(labels))
		b := a
		if i%2 == 1 {
			b = (a + 1 + rng.IntN(len(labels)-1)) % len(labels)
		} else {
			target.X[i] = 1
		}
		ia, ib := byLabel[labels[a]], byLabel[labels[b]]
		first[i], second[i] = ia[rng.IntN(len(ia))], ib[rng.IntN(len(ib))]
	}
	return &datasets.Table{Inputs: []*datasets.Set{set.Gather(first), set.Gather(second)}, Targets: []*datasets.Set{target}}, nil
}

// same returns the pairs' targets: true for a same-digit pair.
func same(pairs *datasets.Table) []bool {
	t := pairs.Targets[0].X
	s := make([]bool, len(t))
	for i, v := range t {
		s[i] = v == 1
	}
	return s
}

// bestThreshold returns the distance threshold that best separates
// same-digit pairs (distance below it) from others, and the accuracy it
// reaches on these pairs. Among equally good thresholds it returns the
// midpoint of the first gap.
func bestThreshold(dist []float32, same []bool) (threshold, accuracy float64) {
	order := make([]int, len(dist))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case dist[a] < dist[b]:
			return -1
		case dist[a] > dist[b]:
			return 1
		}
		return 0
	})
	// Threshold below every distance: every pair called different.
	correct := 0
	for _, s := range same {
		if !s {
			correct++
		}
	}
	best, bestAt := correct, -1
	for k, i := range order {
		if same[i] {
			correct++
		} else {
			correct--
		}
		if correct > best && (k+1 == len(order) || dist[order[k+1]] > dist[i]) {
			best, bestAt = correct, k
		}
	}
	switch {
	case bestAt < 0:
		threshold = float64(dist[order[0]])
	case bestAt+1 == len(order):
		threshold = math.Nextafter(float64(dist[order[bestAt]]), math.Inf(1))
	default:
		threshold = (float64(dist[order[bestAt]]) + float64(dist[order[bestAt+1]])) / 2
	}
	return threshold, float64(best) / float64(len(dist))
}

// pairAccuracy returns the share of pairs classified right by calling a
// pair same-digit when its distance is below threshold.
func pairAccuracy(dist []float32, same []bool, threshold float64) float64 {
	correct := 0
	for i, d := range dist {
		if (float64(d) < threshold) == same[i] {
			correct++
		}
	}
	return float64(correct) / float64(len(dist))
}

// saveEmbedding plots the tower's embeddings of the test images, coloured
// by digit: the embedding itself for two dimensions, its first two
// principal components for more.
func saveEmbedding(dir string, tower *graph.Model, test *datasets.Set, acc float64) error {
	outs, err := train.Predict(tower, test, 0)
	if err != nil {
		return err
	}
	emb, dim := outs[0], tower.Outputs()[0].TotalSize()
	axes := [2]string{"embedding unit 1", "embedding unit 2"}
	switch {
	case dim == 1:
		// Spread the points vertically by digit.
		points := make([]float32, 0, 2*len(emb))
		for i, v := range emb {
			points = append(points, v, float32(test.Labels[i]))
		}
		emb, axes[1] = points, "digit"
	case dim > 2:
		pca, err := autoencoder.FitPCA(&datasets.Set{X: emb, Shape: []int{dim}}, 2)
		if err != nil {
			return err
		}
		codes, err := pca.Project(&datasets.Set{X: emb, Shape: []int{dim}})
		if err != nil {
			return err
		}
		emb = emb[:0:0]
		for i := range test.Len() {
			emb = append(emb, float32(codes.At(i, 0)), float32(codes.At(i, 1)))
		}
		axes = [2]string{"principal component 1", "principal component 2"}
	}
	title := fmt.Sprintf("Siamese embeddings of the %d test images (test pair accuracy %.2f%%)", test.Len(), 100*acc)
	return plots.Scatter(filepath.Join(dir, "embedding.png"), title, axes[0], axes[1], emb, test.Labels)
}
