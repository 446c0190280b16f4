// Command code-width shows the lecture's warning that an autoencoder whose
// code layer is too wide, or whose network is too powerful, overfits: it
// trains the same autoencoder, 784-512-w-512-784 (ReLU hidden units, linear
// code, sigmoid outputs), for several code widths w on a small subset of the
// MNIST training images, and compares the reconstruction error on those
// images with the error on the 10,000 test images, next to PCA's with w
// components fitted on the same subset.
//
//	go run ./examples/code-width                       # widths 2,8,32,128,512; 1,000 images; 150 epochs
//	go run ./examples/code-width -widths 2,32 -epochs 20 -limit 500
//
// The error is squared error summed over the 784 pixels, averaged over
// images. It writes to -out config.json, metrics.json (one entry per width),
// code-width.png (training and test error against width) and, per width, a
// folder width-W with that run's metrics.jsonl and checkpoint. Ctrl-C
// saves a checkpoint; -out DIR -resume continues.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/examples/internal/cli"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/autoencoder"
	"github.com/retina-ml/retina/train"
)

// defaultLimit is the size of the small training subset.
const defaultLimit = 1000

type options struct {
	widths []int // code widths
	hidden []int // hidden widths between the input and the code
	loss   string
}

func main() {
	// A small training set is the point here: -limit defaults to it.
	f := cli.Register(flag.CommandLine, cli.Flags{Epochs: 150, Batch: 32, LR: 1e-3, Seed: 1, Limit: defaultLimit})
	widths := flag.String("widths", "2,8,32,128,512", "comma-separated code widths to compare")
	hidden := flag.String("hidden", "512", "comma-separated hidden widths of the encoder (mirrored in the decoder)")
	loss := flag.String("loss", "bce", "training loss: bce or mse")
	err := f.Parse(os.Args[1:])
	o := options{loss: *loss}
	if err == nil {
		o.widths, err = parseWidths("widths", *widths)
	}
	if err == nil {
		o.hidden, err = parseWidths("hidden", *hidden)
	}
	if err == nil {
		err = run(f, o)
	}
	if err != nil {
		cli.Fatal("code-width", err)
	}
}

// parseWidths reads flag's comma-separated list of positive integers.
func parseWidths(flag, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		w, err := strconv.Atoi(f)
		if err != nil || w < 1 {
			return nil, errors.Errorf("-%s %q: width %q: want a positive integer", flag, s, f)
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		return nil, errors.Errorf("-%s %q: no widths", flag, s)
	}
	return out, nil
}

// result is one code width's run.
type result struct {
	Width            int     `json:"code_width"`
	Params           int64   `json:"parameters"`
	Epochs           int     `json:"epochs"`
	TrainError       float64 `json:"train_recon_error"`
	TestError        float64 `json:"test_recon_error"`
	Gap              float64 `json:"gap"` // test − train
	PCATrainError    float64 `json:"pca_train_recon_error"`
	PCATestError     float64 `json:"pca_test_recon_error"`
	TrainSeconds     float64 `json:"train_seconds"`
	SamplesPerSecond float64 `json:"samples_per_second"`
	samples          int     // training samples seen
}

func run(f *cli.Flags, o options) error {
	loss, err := train.ParseLoss(o.loss)
	if err != nil {
		return errors.Wrapf(err, "-loss %q", o.loss)
	}
	r, err := cli.Start("code-width", f, map[string]any{
		"widths": o.widths, "hidden": o.hidden, "loss": o.loss, "optimizer": "adam", "schedule": "cosine",
	})
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
	fmt.Fprintf(r.Out, "%d training images, %d test images; autoencoder %v-w-%v, %d epochs each\n",
		trainSet.Len(), testSet.Len(), append([]int{n}, o.hidden...), reversed(append([]int{n}, o.hidden...)), f.Epochs)

	var results []result
	var seconds float64
	var samples int
	for _, w := range o.widths {
		res, err := runWidth(r, f, o, loss, w, trainSet, testSet)
		if err != nil {
			return errors.Wrapf(err, "code width %d", w)
		}
		results = append(results, *res)
		seconds += res.TrainSeconds
		samples += res.samples
	}

	model := fmt.Sprintf("autoencoder %v-w-%v, ReLU hidden, linear code, sigmoid out", append([]int{n}, o.hidden...), reversed(append([]int{n}, o.hidden...)))
	m := map[string]any{
		"model": model, "epochs": f.Epochs, "seed": f.Seed, "batch": f.Batch, "lr": f.LR, "loss": o.loss,
		"train_images": trainSet.Len(), "test_images": testSet.Len(), "widths": o.widths, "runs": results,
		"train_seconds": seconds, "samples_per_second": float64(samples) / seconds, "plot": "code-width.png",
		"machine": cli.Machine(),
	}
	if err := r.WriteMetrics(m); err != nil {
		return err
	}
	title := fmt.Sprintf("Autoencoders trained on %d MNIST images: squared error per image by code width", trainSet.Len())
	if err := r.SavePlot(func() error { return savePlot(filepath.Join(r.Dir, "code-width.png"), title, results) }); err != nil {
		return err
	}
	fmt.Fprintf(r.Out, "\n%6s %10s %10s %10s %10s %10s\n", "width", "train", "test", "gap", "PCA train", "PCA test")
	for _, x := range results {
		fmt.Fprintf(r.Out, "%6d %10.3f %10.3f %10.3f %10.3f %10.3f\n", x.Width, x.TrainError, x.TestError, x.Gap, x.PCATrainError, x.PCATestError)
	}
	fmt.Fprintf(r.Out, "%.0fs of training; plot: %s\n", seconds, filepath.Join(r.Dir, "code-width.png"))
	return nil
}

// runWidth trains the autoencoder with code width w and PCA with w
// components (at most the number of pixels) on the training subset.
func runWidth(r *cli.Run, f *cli.Flags, o options, loss train.Loss, w int, trainSet, testSet *datasets.Set) (*result, error) {
	widths := append(append([]int{trainSet.SampleSize()}, o.hidden...), w)
	model, err := autoencoder.Deep(widths, graph.ReLU{}, graph.WithSeed(f.Seed))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(r.Out, "\ncode width %d: %s parameters\n", w, strconv.FormatInt(model.Summary().Params(), 10))
	dir := filepath.Join(r.Dir, fmt.Sprintf("width-%d", w))
	tr, err := train.New(model, train.Config{
		Loss: loss, Reconstruct: true,
		Optimizer: &train.Adam{LearningRate: f.LR}, Schedule: train.Cosine{},
		Epochs: f.Epochs, Batch: f.Batch, Seed: f.Seed, Dir: dir, Comm: r.Comm,
	})
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	res, err := r.FitIn(tr, train.Data{Train: trainSet}, dir)
	if err != nil {
		return nil, err
	}
	trainEval, err := tr.Evaluate(trainSet)
	if err != nil {
		return nil, err
	}
	testEval, err := tr.Evaluate(testSet)
	if err != nil {
		return nil, err
	}
	x := &result{
		Width: w, Params: model.Summary().Params(), Epochs: len(res.Epochs),
		TrainError: trainEval.ReconError, TestError: testEval.ReconError, Gap: testEval.ReconError - trainEval.ReconError,
		TrainSeconds: res.TrainSeconds, SamplesPerSecond: res.SamplesPerSecond,
	}
	for _, e := range res.Epochs {
		x.samples += e.Train.Samples
	}
	pca, err := autoencoder.FitPCA(trainSet, min(w, trainSet.SampleSize()))
	if err != nil {
		return nil, err
	}
	x.PCATrainError = pca.ResidualVariance()
	if x.PCATestError, err = pca.ReconError(testSet); err != nil {
		return nil, err
	}
	fmt.Fprintf(r.Out, "code width %d: train %.3f, test %.3f (PCA-%d: train %.3f, test %.3f)\n",
		w, x.TrainError, x.TestError, pca.K(), x.PCATrainError, x.PCATestError)
	return x, nil
}

func reversed(s []int) []int {
	out := make([]int, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}
