// Command conv-autoencoder trains a convolutional autoencoder on the 60,000
// MNIST training images, without their labels: strided convolutions down to
// a linear 30-unit code, transposed convolutions back up to 28×28 (see
// autoencoder.Conv). It reports the test reconstruction error beside PCA's
// for 30 components and the parameter count beside the deep
// 784-1000-500-250-30 autoencoder's (examples/deep-autoencoder).
//
//	go run ./examples/conv-autoencoder              # 30 epochs, BCE, Adam 1e-3, cosine schedule
//	go run ./examples/conv-autoencoder -epochs 1 -limit 5000
//
// The reconstruction error is the deep autoencoder's: squared error summed
// over the 784 pixels (intensities in [0, 1]), averaged over the 10,000 test
// images. Besides config.json, metrics.jsonl, a checkpoint and metrics.json
// (test_recon_error, parameters, pca_recon_error,
// deep_autoencoder_parameters), it writes reconstructions.png: one test
// digit of each class with its reconstructions by this autoencoder and by
// PCA-30. Ctrl-C saves a checkpoint; -out DIR -resume continues the run.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/examples/internal/cli"
	"github.com/retina-ml/retina/examples/internal/plots"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/autoencoder"
	"github.com/retina-ml/retina/train"
)

const pcaK = 30 // components of the PCA baseline, the width of the code

func main() {
	f := cli.Register(flag.CommandLine, cli.Flags{Epochs: 30, Batch: 64, LR: 1e-3, Seed: 1})
	maps := flag.Int("maps", 32, "feature maps of the first convolution (≥ 1); the second has twice as many")
	lossName := flag.String("loss", "bce", "training loss: bce (binary cross-entropy on the pixels) or mse")
	if err := f.Parse(os.Args[1:]); err != nil {
		cli.Fatal("conv-autoencoder", err)
	}
	if err := run(f, *maps, *lossName); err != nil {
		cli.Fatal("conv-autoencoder", err)
	}
}

func run(f *cli.Flags, maps int, lossName string) error {
	if err := cli.CheckInt("maps", maps, 1, 256); err != nil {
		return err
	}
	loss, err := train.ParseLoss(lossName)
	if err != nil {
		return errors.Wrapf(err, "-loss %q", lossName)
	}
	if loss == train.CrossEntropy {
		return errors.Errorf("-loss %q: want bce or mse", lossName)
	}
	r, err := cli.Start("conv-autoencoder", f, map[string]any{"maps": maps, "code": pcaK, "loss": lossName, "optimizer": "adam", "schedule": "cosine"})
	if err != nil {
		return err
	}
	defer r.Close()
	trainImages, testImages, err := r.MNIST()
	if err != nil {
		return err
	}
	trainSet, testSet := autoencoder.Unlabelled(trainImages), autoencoder.Unlabelled(testImages)

	model, err := autoencoder.Conv(maps, pcaK, graph.WithSeed(f.Seed))
	if err != nil {
		return err
	}
	fmt.Fprint(r.Out, model.Summary())
	deep, err := autoencoder.Hinton()
	if err != nil {
		return err
	}
	pca, err := autoencoder.FitPCA(trainSet, pcaK)
	if err != nil {
		return err
	}
	pcaTest, err := pca.ReconError(testSet)
	if err != nil {
		return err
	}

	tr, err := train.New(model, train.Config{
		Loss: loss, Reconstruct: true,
		Optimizer: &train.Adam{LearningRate: f.LR}, Schedule: train.Cosine{},
		Epochs: f.Epochs, Batch: f.Batch, Seed: f.Seed, Dir: r.Dir, Comm: r.Comm,
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
	aeTest := res.Last().Test.ReconError
	params, deepParams := model.Summary().Params(), deep.Summary().Params()
	m := cli.Summary(fmt.Sprintf("convolutional autoencoder, %d-%d maps, %d-unit code", maps, 2*maps, pcaK), f, res)
	m["loss"] = lossName
	m["test_recon_error"], m["train_recon_error"] = aeTest, trainEval.ReconError
	m["parameters"], m["deep_autoencoder_parameters"] = params, deepParams
	m["pca_recon_error"], m["pca_components"] = pcaTest, pcaK
	m["reconstructions_png"] = "reconstructions.png"
	if err := r.WriteMetrics(m); err != nil {
		return err
	}
	if err := r.SavePlot(func() error { return saveReconstructions(r.Dir, model, pca, testImages) }); err != nil {
		return err
	}
	fmt.Fprintf(r.Out, "test reconstruction error %.3f (train %.3f) with %d parameters; PCA-%d %.3f; the deep autoencoder has %d parameters\n",
		aeTest, trainEval.ReconError, params, pcaK, pcaTest, deepParams)
	fmt.Fprintf(r.Out, "%d epochs, %.0fs of training, %.0f samples/s; figure: %s\n",
		len(res.Epochs), res.TrainSeconds, res.SamplesPerSecond, filepath.Join(r.Dir, "reconstructions.png"))
	return nil
}

// saveReconstructions draws the first test image of each digit with its
// reconstructions by the model and by PCA (labels only pick the images).
func saveReconstructions(dir string, model *graph.Model, pca *autoencoder.PCA, test *datasets.Set) error {
	shown := plots.FirstOfEachDigit(test)
	outs, err := train.Predict(model, shown, 0)
	if err != nil {
		return err
	}
	pc, err := pca.Reconstruct(shown)
	if err != nil {
		return err
	}
	rows := []plots.DigitRow{{Name: "original", Images: shown.X}}
	for _, r := range []struct {
		name string
		x    []float32
	}{{"conv AE", outs[0]}, {fmt.Sprintf("PCA-%d", pcaK), pc}} {
		e, err := autoencoder.ReconError(r.x, shown.X, shown.SampleSize())
		if err != nil {
			return err
		}
		rows = append(rows, plots.DigitRow{Name: fmt.Sprintf("%s (%.1f)", r.name, e), Images: r.x})
	}
	return plots.Digits(filepath.Join(dir, "reconstructions.png"),
		"MNIST test digits and reconstructions (row's reconstruction error in brackets)", rows, 28)
}
