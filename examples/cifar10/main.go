// Command cifar10 trains a convolutional network on CIFAR-10, 32×32 colour
// images of 10 classes, and reports its test accuracy. It is the lecture's
// RGB case: an input of 3 channels, so every first-layer filter is 3-D,
// 5×5×3, and sees the red, green and blue planes at once.
//
//	go run ./examples/cifar10 -data ~/cifar-10-batches-bin
//	go run ./examples/cifar10 -data ~/cifar-10-batches-bin -epochs 1 -limit 5000
//
// The data are the binary version of CIFAR-10 (see datasets.CIFAR10):
// get them with
//
//	curl -O https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
//	md5sum cifar-10-binary.tar.gz   # c32a1d4ab5d03f1284b67883e8d87530
//	tar xzf cifar-10-binary.tar.gz  # makes cifar-10-batches-bin/
//
// and pass -data the folder cifar-10-batches-bin (data_batch_1.bin …
// data_batch_5.bin, test_batch.bin) or the folder holding it. Without
// -data, the files are looked for in $RETINA_DATA and
// $RETINA_DATA/cifar-10-batches-bin; there is no other default, and no
// download: without the files the command stops and says where to put
// them. All 50,000 training images (or the first -limit) are used, and
// all 10,000 test images.
//
// The network ([Net], 1,105,098 parameters): conv 5×5×32 pad 2 (32×32×32)
// – ReLU – max-pool 2/2 (16×16×32) – conv 5×5×64 pad 2 (16×16×64) – ReLU –
// max-pool 2/2 (8×8×64) – dense 256 – ReLU – dense 10, on inputs scaled to
// [0, 1], without normalisation or augmentation. Defaults: 20 epochs of
// SGD with momentum 0.9 and L2 weight decay 5·10⁻⁴, batch 128, learning
// rate 0.05 following a cosine to 0 over the run, seed 1.
//
// No accuracy or run time is quoted here: the real files could not be
// downloaded where this example was written, so it has only been run, by
// its test, on small generated files.
//
// It prints per-epoch progress and the final accuracy, and writes
// config.json, metrics.jsonl, a checkpoint, metrics.json (with
// test_accuracy and per-class precision, recall and F1), confusion.png (the
// test set's confusion matrix, classes named) and model.safetensors to
// -out. Ctrl-C saves a checkpoint; -out DIR -resume continues the run.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/examples/internal/cli"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/train"
)

// Net is the network described in the package comment.
var Net = cnn.Spec{
	Input:   graph.Shape{3, 32, 32},
	Convs:   []cnn.Conv{{Maps: 32, Kernel: 5, Pad: 2, Pool: 2}, {Maps: 64, Kernel: 5, Pad: 2, Pool: 2}},
	Dense:   []int{256},
	Classes: 10,
}

// options are the example's own flags.
type options struct {
	momentum, decay float64
}

// loader loads the training and test sets from a folder ("" for the
// default); main uses datasets.CIFAR10, whose counts are the published
// ones, and the test a loader of smaller generated files.
type loader func(dir string) (train, test *datasets.Set, err error)

func main() {
	f, o := register(flag.CommandLine)
	if err := f.Parse(os.Args[1:]); err != nil {
		cli.Fatal("cifar10", err)
	}
	if err := run(f, o, datasets.CIFAR10); err != nil {
		cli.Fatal("cifar10", err)
	}
}

// register defines the standard flags, with this example's defaults, and
// its own on fs.
func register(fs *flag.FlagSet) (*cli.Flags, *options) {
	f := cli.Register(fs, cli.Flags{Epochs: 20, Batch: 128, LR: 0.05, Seed: 1})
	fs.Lookup("dataset").Usage = "not used: this example trains on CIFAR-10 (mnist, the default, is accepted)"
	fs.Lookup("data").Usage = "folder with the CIFAR-10 binary files data_batch_1.bin … data_batch_5.bin and test_batch.bin, or the folder holding cifar-10-batches-bin (default: $RETINA_DATA)"
	o := &options{}
	fs.Float64Var(&o.momentum, "momentum", 0.9, "SGD momentum")
	fs.Float64Var(&o.decay, "weight-decay", 5e-4, "L2 weight decay")
	return f, o
}

func run(f *cli.Flags, o *options, load loader) error {
	if f.Dataset != "mnist" {
		return errors.Errorf("-dataset %s: this example trains on CIFAR-10 from -data", f.Dataset)
	}
	if err := cli.CheckFloat("momentum", o.momentum, 0, 1); err != nil {
		return err
	}
	if err := cli.CheckFloat("weight-decay", o.decay, 0, math.Inf(1)); err != nil {
		return err
	}
	// Load before Start, so that missing data leave no run folder.
	trainSet, testSet, err := loadData(f, load)
	if err != nil {
		return err
	}
	r, err := cli.Start("cifar10", f, map[string]any{"model": "cifar10-cnn", "optimizer": "sgd", "momentum": o.momentum, "weight_decay": o.decay, "schedule": "cosine"})
	if err != nil {
		return err
	}
	defer r.Close()
	model, err := Net.Model(graph.WithSeed(f.Seed))
	if err != nil {
		return err
	}
	fmt.Fprint(r.Out, model.Summary())
	tr, err := train.New(model, train.Config{
		Loss:      train.CrossEntropy,
		Optimizer: &train.SGD{LearningRate: f.LR, Momentum: o.momentum, WeightDecay: o.decay},
		Schedule:  train.Cosine{},
		Epochs:    f.Epochs,
		Batch:     f.Batch,
		Seed:      f.Seed,
		Dir:       r.Dir,
		Comm:      r.Comm,
	})
	if err != nil {
		return err
	}
	defer tr.Close()
	res, err := r.Fit(tr, train.Data{Train: trainSet, Test: testSet})
	if err != nil {
		return err
	}
	return r.ReportClassifier("cifar10-cnn", "CIFAR-10", tr, res, testSet, datasets.CIFAR10Classes[:])
}

// loadData loads CIFAR-10 from -data, else $RETINA_DATA, and applies
// -limit to the training set. Errors name the flag or variable.
func loadData(f *cli.Flags, load loader) (trainSet, testSet *datasets.Set, err error) {
	env := os.Getenv("RETINA_DATA")
	if f.Data == "" && env == "" {
		return nil, nil, errors.Errorf("-data not given and RETINA_DATA not set: download %s (MD5 c32a1d4ab5d03f1284b67883e8d87530), "+
			"unpack it with `tar xzf cifar-10-binary.tar.gz` and pass -data PATH/cifar-10-batches-bin, the folder holding "+
			"data_batch_1.bin … data_batch_5.bin and test_batch.bin (or set RETINA_DATA to it or to the folder holding it)", datasets.CIFAR10URL)
	}
	trainSet, testSet, err = load(f.Data)
	switch {
	case err != nil && f.Data != "":
		return nil, nil, errors.Wrapf(err, "-data %s", f.Data)
	case err != nil:
		return nil, nil, errors.Wrapf(err, "RETINA_DATA=%s (or pass -data)", env)
	}
	if n := f.Limit; n > trainSet.Len() {
		return nil, nil, errors.Errorf("-limit %d: the training set has %d images", n, trainSet.Len())
	} else if n > 0 {
		trainSet = trainSet.Subset(0, n)
	}
	return trainSet, testSet, nil
}
