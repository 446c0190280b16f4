// Command predict classifies images with a model trained by mnist-cnn,
// mnist-mlp or resnet, and exports its weights.
//
//	go run ./examples/predict -run runs/mnist-cnn-20260101-120000 digit.png other.jpg
//	go run ./examples/predict -run DIR -mnist-test 1000        # the first 1,000 test images, and the accuracy
//	go run ./examples/predict -model lenet -weights model.safetensors -resize -invert photo.jpg
//	go run ./examples/predict -run DIR -mnist-test 10 -json predictions.json
//	go run ./examples/predict -run DIR -export-safetensors lenet.safetensors -export-onnx lenet.onnx
//
// The model comes from a training run's folder (-run DIR: its config.json
// names the example and its settings, the weights are DIR/model.safetensors
// or else the run's checkpoint) or from a network name and a weights file
// (-model lenet|seed|strided|mlp|resnet -weights FILE, a .safetensors file
// or a Retina checkpoint; resnet is cnn.ResNet(16, 2), examples/resnet's
// default). The inputs are PNG or JPEG files given as arguments, read as
// 28×28 grey images in [0, 1] (colour converted to luma, transparency
// composited on -background), and -mnist-test N, the first N test images of
// the run's data set (MNIST for -model), whose labels give an accuracy.
// MNIST digits are white on black: -invert turns a black-on-white image
// (1 − value) into one. An image of another size is refused unless -resize
// resamples it (-resample area, by default: each pixel the mean of the area
// it covers). The model should see images like its training set's: a
// digit centred in the frame, about 20 pixels tall in 28.
//
// It prints one line per input: its name (the file, or mnist-test[i] and
// its label), the predicted class and its probability. -json FILE writes
// the inputs, logits, probabilities and classes (with the labels and the
// accuracy of -mnist-test images); -export-safetensors FILE writes the
// model's weights under PyTorch's names (graph/weights), -export-onnx FILE
// the model as an ONNX file (graph/onnx), for ONNX Runtime. Exporting
// needs no input. No file is overwritten without -force; files are written
// atomically.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/examples/internal/cli"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/graph/onnx"
	"github.com/retina-ml/retina/graph/weights"
	"github.com/retina-ml/retina/internal/atomicfile"
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/models/mlp"
	"github.com/retina-ml/retina/predict"
	"github.com/retina-ml/retina/train"
)

func main() {
	o, err := parse(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		cli.Fatal("predict", err)
	}
	if err := run(o, os.Stdout, datasets.Load); err != nil {
		cli.Fatal("predict", err)
	}
}

// options are the command line.
type options struct {
	run, model, weights string
	files               []string
	mnistTest           int
	data                string
	resize, invert      bool
	resample            string
	background          string
	batch               int
	json                string
	exportSafetensors   string
	exportONNX          string
	force               bool
}

// resamplers are the -resample methods.
var resamplers = map[string]datasets.ImageResize{
	"area": datasets.ResizeArea, "bilinear": datasets.ResizeBilinear, "nearest": datasets.ResizeNearest,
}

// parse parses the command line; usage and flag errors go to w.
func parse(args []string, w io.Writer) (*options, error) {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	fs.SetOutput(w)
	o := &options{}
	fs.StringVar(&o.run, "run", "", "training run folder (of mnist-cnn, mnist-mlp or resnet) to take the model and weights from")
	fs.StringVar(&o.model, "model", "", "network: "+strings.Join(modelNames, ", ")+" (with -weights)")
	fs.StringVar(&o.weights, "weights", "", "weights of -model: a .safetensors file or a Retina checkpoint")
	fs.IntVar(&o.mnistTest, "mnist-test", 0, "classify the first N test images of the run's data set (MNIST for -model) and report the accuracy")
	fs.StringVar(&o.data, "data", "", "folder with the data set's files for -mnist-test (default: the run's -data, $RETINA_DATA, then for MNIST the Go module cache)")
	fs.BoolVar(&o.resize, "resize", false, "resample images of another size than the model's input (see -resample) instead of refusing them")
	fs.StringVar(&o.resample, "resample", "area", "resampling of -resize: area (each pixel the mean of the area it covers), bilinear or nearest")
	fs.BoolVar(&o.invert, "invert", false, "invert images (1 − value): for dark digits on a light background, as MNIST's are light on dark")
	fs.StringVar(&o.background, "background", "white", "colour transparent pixels are composited on: white or black")
	fs.IntVar(&o.batch, "batch", 100, "images per forward pass (≥ 1)")
	fs.StringVar(&o.json, "json", "", "write the inputs, logits, probabilities and classes to this JSON file")
	fs.StringVar(&o.exportSafetensors, "export-safetensors", "", "write the model's weights to this safetensors file (PyTorch's names and layouts)")
	fs.StringVar(&o.exportONNX, "export-onnx", "", "write the model to this ONNX file (opset 17), for ONNX Runtime")
	fs.BoolVar(&o.force, "force", false, "replace the files -json and -export-* name if they exist")
	fs.Usage = func() {
		fmt.Fprintf(w, "usage: predict (-run DIR | -model NAME -weights FILE) [flags] [image.png|image.jpg ...]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.files = fs.Args()
	for _, f := range o.files {
		if strings.HasPrefix(f, "-") {
			return nil, errors.Errorf("argument %q after the images: flags come before the image files", f)
		}
	}
	return o, o.check()
}

// check validates the flags together, before anything is read or written.
func (o *options) check() error {
	switch {
	case o.run != "" && o.model != "":
		return errors.New("-run and -model: take the model from a run folder or name it, not both")
	case o.run == "" && o.model == "":
		return errors.New("no model: give -run DIR (a training run folder) or -model NAME -weights FILE")
	case o.run != "" && o.weights != "":
		return errors.Errorf("-weights %s with -run: a run's weights are its own (%s or its checkpoint); use -model NAME -weights FILE", o.weights, cli.WeightsName)
	case o.model != "" && o.weights == "":
		return errors.Errorf("-model %s needs -weights FILE (a .safetensors file or a Retina checkpoint)", o.model)
	case o.model != "" && builders[o.model] == nil:
		return errors.Errorf("-model %q: want one of %s", o.model, strings.Join(modelNames, ", "))
	case o.mnistTest < 0:
		return errors.Errorf("-mnist-test %d: want a number of test images ≥ 0", o.mnistTest)
	case o.batch < 1:
		return errors.Errorf("-batch %d: want at least 1", o.batch)
	case o.background != "white" && o.background != "black":
		return errors.Errorf("-background %q: want white or black", o.background)
	}
	if _, ok := resamplers[o.resample]; !ok {
		return errors.Errorf("-resample %q: want area, bilinear or nearest", o.resample)
	}
	inputs := len(o.files) > 0 || o.mnistTest > 0
	if !inputs && o.exportSafetensors == "" && o.exportONNX == "" {
		return errors.New("nothing to do: give image files, -mnist-test N, -export-safetensors FILE or -export-onnx FILE")
	}
	if o.json != "" && !inputs {
		return errors.Errorf("-json %s: no inputs to write predictions of (give image files or -mnist-test N)", o.json)
	}
	outs := map[string]string{}
	for _, out := range []struct{ flag, path string }{{"json", o.json}, {"export-safetensors", o.exportSafetensors}, {"export-onnx", o.exportONNX}} {
		if out.path == "" {
			continue
		}
		if other, ok := outs[filepath.Clean(out.path)]; ok {
			return errors.Errorf("-%s and -%s both write %s", other, out.flag, out.path)
		}
		outs[filepath.Clean(out.path)] = out.flag
		if err := mayWrite(out.flag, out.path, o.force); err != nil {
			return err
		}
	}
	return nil
}

// mayWrite returns an error naming -flag if path cannot be written: it
// exists and force is not set, or it is a folder.
func mayWrite(flag, path string, force bool) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return errors.Wrapf(err, "-%s %s", flag, path)
	case fi.IsDir():
		return errors.Errorf("-%s %s is a folder", flag, path)
	case !force:
		return errors.Errorf("-%s %s exists: give -force to replace it", flag, path)
	}
	return nil
}

// modelNames are the networks -model names, in help order.
var modelNames = []string{"lenet", "seed", "strided", "mlp", "resnet"}

// builders declare the networks -model names.
var builders = map[string]func() (*graph.Model, error){
	"lenet":   func() (*graph.Model, error) { return cnn.LeNet.Model() },
	"seed":    func() (*graph.Model, error) { return cnn.SeedCNN.Model() },
	"strided": func() (*graph.Model, error) { return cnn.StridedLeNet.Model() },
	"mlp":     func() (*graph.Model, error) { return mlp.Seed() },
	"resnet":  func() (*graph.Model, error) { return cnn.ResNet(16, 2) },
}

// loaded is the model to run and where it came from.
type loaded struct {
	m       *graph.Model
	name    string // the network, for messages
	weights string // the weights file
	dataset string // the data set of -mnist-test
	data    string // its folder ("": the default places)
}

// load declares the model the flags name and loads its weights.
func load(o *options) (*loaded, error) {
	l := &loaded{name: o.model, weights: o.weights, dataset: "mnist", data: o.data}
	var err error
	if o.run != "" {
		if err := l.fromRun(o.run); err != nil {
			return nil, err
		}
		if o.data != "" {
			l.data = o.data
		}
	} else if l.m, err = builders[o.model](); err != nil {
		return nil, errors.Wrapf(err, "-model %s", o.model)
	}
	if err := weights.Load(l.weights, l.m); err != nil {
		if o.run != "" {
			return nil, errors.Wrapf(err, "-run %s", o.run)
		}
		return nil, errors.Wrapf(err, "-weights %s (for -model %s)", o.weights, o.model)
	}
	return l, nil
}

// fromRun declares the network a run folder's config.json describes and
// finds its weights.
func (l *loaded) fromRun(dir string) error {
	example, flags, err := cli.ReadConfig("-run", dir)
	if err != nil {
		return err
	}
	switch example {
	case "mnist-cnn":
		l.name = flags["model"]
		if l.name == "" {
			l.name = "lenet"
		}
		if _, ok := builders[l.name]; !ok || l.name == "mlp" || l.name == "resnet" {
			return errors.Errorf("-run %s: mnist-cnn run of an unknown -model %q", dir, l.name)
		}
		l.m, err = builders[l.name]()
	case "mnist-mlp":
		l.name = "mlp"
		l.m, err = mlp.Seed()
	case "resnet":
		var width, blocks int
		width, err = strconv.Atoi(flags["width"])
		if err == nil {
			blocks, err = strconv.Atoi(flags["blocks"])
		}
		if err != nil {
			return errors.Errorf("-run %s: resnet run without valid -width and -blocks in %s (%q, %q)", dir, cli.ConfigName, flags["width"], flags["blocks"])
		}
		l.name = fmt.Sprintf("resnet (width %d, %d blocks)", width, blocks)
		l.m, err = cnn.ResNet(width, blocks)
	default:
		return errors.Errorf("-run %s: a run of %q; predict reads runs of mnist-cnn, mnist-mlp and resnet", dir, example)
	}
	if err != nil {
		return errors.Wrapf(err, "-run %s", dir)
	}
	if ds := flags["dataset"]; ds != "" {
		l.dataset = ds
	}
	l.data = flags["data"]
	for _, name := range []string{cli.WeightsName, train.CheckpointName} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			l.weights = p
			return nil
		}
	}
	return errors.Errorf("-run %s holds neither %s nor %s: no trained weights", dir, cli.WeightsName, train.CheckpointName)
}

// imageShape is the (C, H, W) shape of the images m takes: its input's, or
// (1, 28, 28) for a (784) input (the MLP).
func imageShape(m *graph.Model) ([]int, error) {
	in := m.Inputs()[0]
	switch {
	case len(in) == 3:
		return in.Clone(), nil
	case len(in) == 1 && in[0] == 784:
		return []int{1, 28, 28}, nil
	}
	return nil, errors.Errorf("model %s takes %v, not images", m.Name(), in)
}

// loader loads a named data set from a folder (datasets.Load).
type loader func(name, dir string) (train, test *datasets.Set, err error)

// inputs are the samples to classify.
type inputs struct {
	names  []string
	x      []float32
	labels []int // of the -mnist-test images, which come last
}

// readInputs reads the image files and the -mnist-test images.
func readInputs(o *options, l *loaded, loadSet loader) (*inputs, error) {
	shape, err := imageShape(l.m)
	if err != nil {
		return nil, err
	}
	in := &inputs{}
	opt := datasets.ImageOptions{Background: datasets.BackgroundWhite}
	if o.background == "black" {
		opt.Background = datasets.BackgroundBlack
	}
	if o.resize {
		opt.Resize = resamplers[o.resample]
	}
	for _, path := range o.files {
		x, err := datasets.ReadImage(path, shape, opt)
		var size *datasets.ImageSizeError
		if errors.As(err, &size) {
			return nil, errors.Errorf("%s: image of %d×%d pixels (width×height), the model takes %d×%d: give -resize to resample it",
				path, size.Width, size.Height, size.WantWidth, size.WantHeight)
		}
		if err != nil {
			return nil, err
		}
		if o.invert {
			for i, v := range x {
				x[i] = 1 - v
			}
		}
		in.names = append(in.names, path)
		in.x = append(in.x, x...)
	}
	if o.mnistTest > 0 {
		_, test, err := loadSet(l.dataset, l.data)
		if err != nil {
			return nil, errors.Wrapf(err, "-mnist-test %d", o.mnistTest)
		}
		if o.mnistTest > test.Len() {
			return nil, errors.Errorf("-mnist-test %d: the %s test set has %d images", o.mnistTest, l.dataset, test.Len())
		}
		size := 1
		for _, d := range shape {
			size *= d
		}
		if test.SampleSize() != size {
			return nil, errors.Errorf("-mnist-test: %s images of shape %v, the model takes %v", l.dataset, test.Shape, shape)
		}
		for i := range o.mnistTest {
			in.names = append(in.names, fmt.Sprintf("mnist-test[%d]", i))
			in.labels = append(in.labels, test.Labels[i])
		}
		in.x = append(in.x, test.X[:o.mnistTest*size]...)
	}
	return in, nil
}

// run carries out the command line o, printing to w; loadSet loads the
// data set of -mnist-test.
func run(o *options, w io.Writer, loadSet loader) error {
	if err := o.check(); err != nil {
		return err
	}
	l, err := load(o)
	if err != nil {
		return err
	}
	if o.exportSafetensors != "" {
		if err := weights.Save(o.exportSafetensors, l.m); err != nil {
			return errors.Wrapf(err, "-export-safetensors %s", o.exportSafetensors)
		}
		fmt.Fprintf(w, "wrote the weights of %s to %s\n", l.name, o.exportSafetensors)
	}
	if o.exportONNX != "" {
		if err := onnx.Export(o.exportONNX, l.m); err != nil {
			return errors.Wrapf(err, "-export-onnx %s", o.exportONNX)
		}
		fmt.Fprintf(w, "wrote %s as ONNX to %s\n", l.name, o.exportONNX)
	}
	if len(o.files) == 0 && o.mnistTest == 0 {
		return nil
	}
	in, err := readInputs(o, l, loadSet)
	if err != nil {
		return err
	}
	p, err := predict.New(l.m, o.batch)
	if err != nil {
		return err
	}
	defer p.Close()
	preds, err := p.Classify(in.x)
	if err != nil {
		return err
	}
	// One line per input: name (and label), class, probability.
	first := len(in.names) - len(in.labels) // the first -mnist-test image
	names := append([]string(nil), in.names...)
	width := 0
	for i := range names {
		if i >= first {
			names[i] = fmt.Sprintf("%s (label %d)", names[i], in.labels[i-first])
		}
		width = max(width, len(names[i]))
	}
	right := 0
	for i, pr := range preds {
		mark := ""
		if i >= first {
			if pr.Class == in.labels[i-first] {
				right++
			} else {
				mark = "  wrong"
			}
		}
		fmt.Fprintf(w, "%-*s  class %d  probability %.4f%s\n", width, names[i], pr.Class, pr.Prob, mark)
	}
	var accuracy float64
	if len(in.labels) > 0 {
		accuracy = float64(right) / float64(len(in.labels))
		fmt.Fprintf(w, "accuracy %.2f%% (%d of %d %s test images) with %s, weights %s\n", 100*accuracy, right, len(in.labels), l.dataset, l.name, l.weights)
	}
	if o.json != "" {
		if err := mayWrite("json", o.json, o.force); err != nil { // again: it may have appeared since
			return err
		}
		if err := atomicfile.Write(o.json, predictionsJSON(in, preds, accuracy)); err != nil {
			return errors.Wrapf(err, "-json %s", o.json)
		}
	}
	return nil
}

// predictionsJSON formats the predictions as
//
//	{"inputs": [names], "classes": [...], "logits": [[...], ...], "probabilities": [[...], ...]}
//
// with "labels" and "accuracy" when there are -mnist-test images; a row per
// line.
func predictionsJSON(in *inputs, preds []predict.Prediction, accuracy float64) []byte {
	var b bytes.Buffer
	names, _ := json.Marshal(in.names)
	classes := make([]int, len(preds))
	for i, p := range preds {
		classes[i] = p.Class
	}
	cls, _ := json.Marshal(classes)
	fmt.Fprintf(&b, "{\n  \"inputs\": %s,\n  \"classes\": %s,\n", names, cls)
	if len(in.labels) > 0 {
		labels, _ := json.Marshal(in.labels)
		fmt.Fprintf(&b, "  \"labels\": %s,\n  \"accuracy\": %s,\n", labels, number(accuracy))
	}
	rows := func(key string, row func(p predict.Prediction) []float32, last bool) {
		fmt.Fprintf(&b, "  %q: [", key)
		for i, p := range preds {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n    [")
			for j, v := range row(p) {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString(number32(v))
			}
			b.WriteString("]")
		}
		b.WriteString("\n  ]")
		if !last {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	rows("logits", func(p predict.Prediction) []float32 { return p.Logits }, false)
	rows("probabilities", func(p predict.Prediction) []float32 { return p.Probs }, true)
	b.WriteString("}\n")
	return b.Bytes()
}

// number32 formats v as the shortest JSON number that reads back as the
// same float32; NaN and ±Inf, which JSON lacks, as null.
func number32(v float32) string {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return "null"
	}
	return strconv.FormatFloat(float64(v), 'g', -1, 32)
}

// number formats v as a JSON number, or null.
func number(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "null"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
