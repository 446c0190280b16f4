// Command lecture reproduces the CNN half of the course lecture "Advanced
// Neural Network Architectures" (CS 530) with figures Retina computes: the
// parameter counts of the dense net and the lecture's SeedCNN, the cost of
// edge detection by convolution, the dense net against SeedCNN and LeNet on
// MNIST, LeNet's learned filters and feature maps, translation
// equivariance and max-pooling, and receptive fields.
//
//	go run ./examples/lecture                         # 2 epochs per network
//	go run ./examples/lecture -epochs 1 -limit 10000 -out runs/lecture
//	go run ./examples/lecture -digit 4                # show test digit #4 in the figures
//
// It prints a lab report, one section per claim of the lecture with
// Retina's figure and a verdict, and writes to -out: report.md (the same
// text), metrics.json (every computed number), the PNG figures named in the
// report, config.json, and one folder per trained network (metrics.jsonl
// and a checkpoint). Training progress goes to stderr. Ctrl-C saves the
// current network's checkpoint; -out DIR -resume continues.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/examples/internal/cli"
	"github.com/retina-ml/retina/ops"
)

// checkDigit checks that test digit i exists and that its last 2 rows and
// columns hold no ink, so that it can be shifted by 2 pixels down and right
// without losing any.
func checkDigit(test *datasets.Set, i int) error {
	if len(test.Shape) != 3 || test.Shape[0] != 1 {
		return errors.Errorf("test images have shape %v, want (1, H, W)", test.Shape)
	}
	if i < 0 || i >= test.Len() {
		return errors.Errorf("-digit %d: the test set has digits 0…%d", i, test.Len()-1)
	}
	h, w := test.Shape[1], test.Shape[2]
	if lostInk(plane{V: test.X[i*h*w : (i+1)*h*w], H: h, W: w}, 2, 2) > 0 {
		return errors.Errorf("-digit %d has ink in its last 2 rows or columns: choose another", i)
	}
	return nil
}

func main() {
	f := cli.Register(flag.CommandLine, cli.Flags{Epochs: 2, Batch: 64, LR: 1e-3, Seed: 1})
	digit := flag.Int("digit", 3, "test digit the figures show (#3 is a 0); its last 2 rows and columns must be empty")
	if err := f.Parse(os.Args[1:]); err != nil {
		cli.Fatal("lecture", err)
	}
	if err := run(f, *digit); err != nil {
		cli.Fatal("lecture", err)
	}
}

func run(f *cli.Flags, featuredDigit int) error {
	start := time.Now()
	r, err := cli.Start("lecture", f, map[string]any{"optimizer": "adam", "models": []string{"mlp", "seedcnn", "lenet"}, "digit": featuredDigit})
	if err != nil {
		return err
	}
	defer r.Close()
	writeFiles = r.Primary()
	trainSet, testSet, err := r.MNIST()
	if err != nil {
		return errors.Wrap(err, "loading MNIST")
	}
	if err := checkDigit(testSet, featuredDigit); err != nil {
		return err
	}
	rep := newReport(r.Out)
	rep.printf("# The CNN lecture, reproduced with Retina\n\n")
	rep.para("Run: %d epoch(s) per network on %s MNIST training images, batch %d, Adam (learning rate %g), seed %d; "+
		"BLAS %s; %s; %s. Every number below is computed by this run; the lecture's figures are quoted as claims.",
		f.Epochs, commas(int64(trainSet.Len())), f.Batch, f.LR, f.Seed, ops.Backend(), cli.Machine(), time.Now().Format("2006-01-02"))

	metrics := map[string]any{
		"epochs": f.Epochs, "limit": f.Limit, "train_samples": trainSet.Len(), "test_samples": testSet.Len(),
		"seed": f.Seed, "batch": f.Batch, "lr": f.LR, "blas": ops.Backend(), "machine": cli.Machine(),
		"featured_digit": featuredDigit,
	}
	if metrics["parameters"], err = reportParams(rep); err != nil {
		return err
	}
	if metrics["edge_detection"], err = reportEdges(rep, r.Dir, testSet, featuredDigit); err != nil {
		return errors.Wrap(err, "edge detection")
	}
	ts, err := fitAll(r, trainSet, testSet)
	if err != nil {
		return err
	}
	metrics["training"] = reportTraining(rep, ts, f, trainSet.Len(), testSet.Len())
	lenet := ts[len(ts)-1].Model
	if metrics["filters"], err = reportFeatures(rep, r.Dir, lenet, testSet, featuredDigit); err != nil {
		return errors.Wrap(err, "filters and feature maps")
	}
	if metrics["translation"], err = reportShifts(rep, r.Dir, lenet, testSet, featuredDigit); err != nil {
		return errors.Wrap(err, "translation")
	}
	if metrics["receptive_fields"], err = reportFields(rep, lenet, testSet, featuredDigit); err != nil {
		return errors.Wrap(err, "receptive fields")
	}
	metrics["wall_seconds"] = time.Since(start).Seconds()
	rep.para("---\nWall time of the whole run: %.1f s. Files in %s: report.md, metrics.json, config.json, the PNG "+
		"figures named above, and mlp/, seedcnn/, lenet/ (per-epoch metrics and checkpoints).",
		time.Since(start).Seconds(), r.Dir)
	if !r.Primary() {
		return nil
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "report.md"), []byte(rep.String()), 0o644); err != nil {
		return errors.Wrap(err, "writing the report")
	}
	if err := r.WriteMetrics(metrics); err != nil {
		return errors.Wrap(err, "writing metrics.json")
	}
	fmt.Fprintf(os.Stderr, "lecture: report in %s\n", filepath.Join(r.Dir, "report.md"))
	return nil
}
