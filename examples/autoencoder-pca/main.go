// Command autoencoder-pca checks the lecture's "PCA using neural networks":
// it trains the linear hourglass Linear(784, k) on the MNIST training images
// (without labels) with squared error, computes PCA of the same images with
// gonum, and reports both test reconstruction errors — squared error summed
// over the 784 pixels, averaged over the 10,000 test images — and the
// principal angles between the decoder's subspace and the top-k principal
// subspace.
//
//	go run ./examples/autoencoder-pca              # k = 30, 30 epochs, Adam 1e-3, cosine schedule
//	go run ./examples/autoencoder-pca -epochs 2 -limit 10000
//
// The bar: the linear autoencoder's test error within 2% of PCA's. It
// writes config.json, metrics.jsonl (one line per epoch), a checkpoint and
// metrics.json to -out.
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"

	"github.com/retina-ml/retina/examples/internal/cli"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/autoencoder"
	"github.com/retina-ml/retina/train"
)

// tolerance is the bar: the autoencoder's test error may exceed PCA's by 2%.
const tolerance = 0.02

func main() {
	f := cli.Register(flag.CommandLine, cli.Flags{Epochs: 30, Batch: 64, LR: 1e-3, Seed: 1})
	k := flag.Int("k", 30, "code width: number of linear code units and of principal components")
	if err := f.Parse(os.Args[1:]); err != nil {
		cli.Fatal("autoencoder-pca", err)
	}
	if err := run(f, *k); err != nil {
		cli.Fatal("autoencoder-pca", err)
	}
}

func run(f *cli.Flags, k int) error {
	if err := cli.CheckInt("k", k, 1, 784); err != nil {
		return err
	}
	r, err := cli.Start("autoencoder-pca", f, map[string]any{"k": k, "loss": "mse", "optimizer": "adam", "schedule": "cosine"})
	if err != nil {
		return err
	}
	defer r.Close()
	trainImages, testImages, err := r.MNIST()
	if err != nil {
		return err
	}
	trainSet, testSet := autoencoder.Unlabelled(trainImages), autoencoder.Unlabelled(testImages)
	n := trainSet.SampleSize()

	pca, err := autoencoder.FitPCA(trainSet, k)
	if err != nil {
		return err
	}
	pcaTest, err := pca.ReconError(testSet)
	if err != nil {
		return err
	}
	fmt.Fprintf(r.Out, "PCA-%d of %d training images: %.1f%% of the variance; test reconstruction error %.3f\n",
		k, trainSet.Len(), 100*pca.ExplainedVariance(), pcaTest)

	model, err := autoencoder.Linear(n, k, graph.WithSeed(f.Seed))
	if err != nil {
		return err
	}
	fmt.Fprint(r.Out, model.Summary())
	tr, err := train.New(model, train.Config{
		Loss: train.MSE, Reconstruct: true,
		Optimizer: &train.Adam{LearningRate: f.LR},
		Schedule:  train.Cosine{},
		Epochs:    f.Epochs, Batch: f.Batch, Seed: f.Seed, Dir: r.Dir, Comm: r.Comm,
	})
	if err != nil {
		return err
	}
	defer tr.Close()
	res, err := r.Fit(tr, train.Data{Train: trainSet, Test: testSet})
	if err != nil {
		return err
	}
	trainEval, err := tr.Evaluate(trainSet)
	if err != nil {
		return err
	}

	// The decoder reconstructs in the row space of decoder/dense1/W (k, n): compare
	// it, as the column space of its transpose, with the principal subspace.
	dec, err := autoencoder.ParamMatrix(model, "decoder/dense1/W")
	if err != nil {
		return err
	}
	angles, err := autoencoder.PrincipalAngles(dec.T(), pca.Components)
	if err != nil {
		return err
	}

	aeTest := res.Last().Test.ReconError
	ratio := aeTest / pcaTest
	within := ratio <= 1+tolerance
	m := cli.Summary(fmt.Sprintf("linear autoencoder %d-%d-%d", n, k, n), f, res)
	m["k"] = k
	m["test_recon_error"] = aeTest
	m["train_recon_error"] = trainEval.ReconError
	m["pca_recon_error"] = pcaTest
	m["pca_train_recon_error"] = pca.ResidualVariance()
	m["pca_explained_variance"] = pca.ExplainedVariance()
	m["ratio_to_pca"] = ratio
	m["within_2_percent"] = within
	m["principal_angles_deg"] = angles
	m["max_principal_angle_deg"] = slices.Max(angles)
	m["median_principal_angle_deg"] = angles[len(angles)/2]
	m["angles_below_1_deg"] = countBelow(angles, 1)
	if err := r.WriteMetrics(m); err != nil {
		return err
	}

	fmt.Fprintf(r.Out, "\n%-28s %10s %10s\n", "reconstruction error", "train", "test")
	fmt.Fprintf(r.Out, "%-28s %10.3f %10.3f\n", fmt.Sprintf("PCA, %d components", k), pca.ResidualVariance(), pcaTest)
	fmt.Fprintf(r.Out, "%-28s %10.3f %10.3f\n", fmt.Sprintf("linear autoencoder, %d units", k), trainEval.ReconError, aeTest)
	verdict := "meets"
	if !within {
		verdict = "misses"
	}
	fmt.Fprintf(r.Out, "autoencoder / PCA = %.4f: %s the %.0f%% bar\n", ratio, verdict, 100*tolerance)
	fmt.Fprintf(r.Out, "principal angles between the decoder's row space and the top-%d principal subspace (degrees):\n", k)
	for i, a := range angles {
		fmt.Fprintf(r.Out, "%7.2f", a)
		if i%10 == 9 || i == len(angles)-1 {
			fmt.Fprintln(r.Out)
		}
	}
	fmt.Fprintf(r.Out, "%d of %d below 1°; largest %.2f°. %.1fs of training, %.0f samples/s\n",
		countBelow(angles, 1), len(angles), slices.Max(angles), res.TrainSeconds, res.SamplesPerSecond)
	return nil
}

// countBelow counts the angles under limit degrees.
func countBelow(angles []float64, limit float64) int {
	c := 0
	for _, a := range angles {
		if a < limit {
			c++
		}
	}
	return c
}
