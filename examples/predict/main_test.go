package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/graph/onnx"
	"github.com/retina-ml/retina/graph/weights"
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/models/mlp"
	"github.com/retina-ml/retina/predict"
	"github.com/retina-ml/retina/train"
)

var (
	mnistOnce sync.Once
	mnistSet  *datasets.Set
	mnistErr  error
)

// loadMNIST is the tests' data set loader: MNIST's test set, read once
// from the Go module cache (predict reads only the test set).
func loadMNIST(name, dir string) (*datasets.Set, *datasets.Set, error) {
	if name != "mnist" {
		return nil, nil, os.ErrNotExist
	}
	mnistOnce.Do(func() { _, mnistSet, mnistErr = datasets.MNIST(dir) })
	return nil, mnistSet, mnistErr
}

// testImages returns the first n MNIST test images and their labels.
func testImages(t *testing.T, n int) ([]float32, []int) {
	t.Helper()
	_, test, err := loadMNIST("mnist", "")
	if err != nil {
		t.Fatal(err)
	}
	return test.X[:n*784], test.Labels[:n]
}

// predictArgs runs the command line args and returns its output.
func predictArgs(args ...string) (string, error) {
	o, err := parse(args, io.Discard)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	err = run(o, &out, loadMNIST)
	return out.String(), err
}

// output is the -json file.
type output struct {
	Inputs        []string
	Classes       []int
	Labels        []int
	Accuracy      *float64
	Logits        [][]float32
	Probabilities [][]float32
}

func readOutput(t *testing.T, path string) output {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var o output
	if err := json.Unmarshal(data, &o); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, data)
	}
	return o
}

// saved declares a network, perturbs its batch-norm statistics (so that
// running them matters), and saves its weights.
func saved(t *testing.T, path string, m *graph.Model) *graph.Model {
	t.Helper()
	for i, p := range m.State() {
		d := p.Value.Data().([]float32)
		for j := range d {
			d[j] = 0.5 + float32((i+j)%5)/10
		}
	}
	if err := weights.Save(path, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// fakeRun writes a run folder as the training examples do: config.json
// and the weights of m, as model.safetensors or as a checkpoint.
func fakeRun(t *testing.T, example string, flags map[string]string, m *graph.Model, checkpoint bool) string {
	t.Helper()
	dir := t.TempDir()
	cfg, err := json.Marshal(map[string]any{"example": example, "flags": flags, "settings": map[string]any{"model": flags["model"]},
		"machine": map[string]any{"go": "go1.26"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if !checkpoint {
		if err := weights.Save(filepath.Join(dir, "model.safetensors"), m); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	tr, err := train.New(m, train.Config{Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.SaveCheckpoint(filepath.Join(dir, train.CheckpointName)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// wantLogits returns the Predictor's logits of m on x, one row per image,
// computed at the tool's default batch size, 100: at another, the matrix
// multiplies may round differently.
func wantLogits(t *testing.T, m *graph.Model, x []float32) [][]float32 {
	t.Helper()
	p, err := predict.New(m, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	preds, err := p.Classify(x)
	if err != nil {
		t.Fatal(err)
	}
	rows := make([][]float32, len(preds))
	for i, pr := range preds {
		rows[i] = pr.Logits
	}
	return rows
}

// sameRows reports whether a and b hold the same float32 bits.
func sameRows(a, b [][]float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				return false
			}
		}
	}
	return true
}

// TestModelsAndRuns classifies the first 5 MNIST test images with random
// weights of each network, given by -model and -weights, by a run folder
// with model.safetensors and by one with only a checkpoint: the JSON logits
// are the Predictor's, bit for bit.
func TestModelsAndRuns(t *testing.T) {
	x, labels := testImages(t, 5)
	dir := t.TempDir()
	lenet, err := cnn.LeNet.Model(graph.WithSeed(7))
	if err != nil {
		t.Fatal(err)
	}
	resnet, err := cnn.ResNet(2, 1, graph.WithSeed(8))
	if err != nil {
		t.Fatal(err)
	}
	seq, err := mlp.Seed(graph.WithSeed(9))
	if err != nil {
		t.Fatal(err)
	}
	lenetFile := filepath.Join(dir, "lenet.safetensors")
	saved(t, lenetFile, lenet)
	want := wantLogits(t, lenet, x)
	std := map[string]string{"epochs": "1", "batch": "64", "lr": "0.05", "seed": "1", "limit": "0", "dataset": "mnist", "data": ""}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for a, b := range std {
			m[a] = b
		}
		return m
	}
	for _, tc := range []struct {
		name string
		args []string
		m    *graph.Model // nil: lenet
	}{
		{"-model lenet -weights", []string{"-model", "lenet", "-weights", lenetFile}, nil},
		{"-run mnist-cnn, safetensors", []string{"-run", fakeRun(t, "mnist-cnn", with("model", "lenet"), lenet, false)}, nil},
		{"-run mnist-cnn, checkpoint", []string{"-run", fakeRun(t, "mnist-cnn", with("model", "lenet"), lenet, true)}, nil},
		{"-model lenet -weights checkpoint", []string{"-model", "lenet", "-weights",
			filepath.Join(fakeRun(t, "mnist-cnn", with("model", "lenet"), lenet, true), train.CheckpointName)}, nil},
		{"-run mnist-mlp", []string{"-run", fakeRun(t, "mnist-mlp", std, seq, false)}, seq},
		{"-run resnet", []string{"-run", fakeRun(t, "resnet", with("width", "2"), saved(t, filepath.Join(dir, "r"), resnet), true)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, wantRows := tc.m, want
			if tc.name == "-run resnet" {
				// width 2, blocks missing: refused; then with blocks.
				if _, err := predictArgs(append(tc.args, "-mnist-test", "5")...); err == nil || !strings.Contains(err.Error(), "resnet run without valid -width and -blocks") {
					t.Fatalf("resnet run without -blocks: %v", err)
				}
				run := tc.args[1]
				cfg := filepath.Join(run, "config.json")
				data, _ := os.ReadFile(cfg)
				os.WriteFile(cfg, bytes.Replace(data, []byte(`"width":"2"`), []byte(`"width":"2","blocks":"1"`), 1), 0o644)
				m = resnet
			}
			if m != nil {
				wantRows = wantLogits(t, m, x)
			}
			out := filepath.Join(t.TempDir(), "out.json")
			text, err := predictArgs(append(tc.args, "-mnist-test", "5", "-json", out)...)
			if err != nil {
				t.Fatal(err)
			}
			o := readOutput(t, out)
			if !sameRows(o.Logits, wantRows) {
				t.Fatalf("logits\n%v\nwant the Predictor's\n%v", o.Logits, wantRows)
			}
			if !reflect.DeepEqual(o.Inputs, []string{"mnist-test[0]", "mnist-test[1]", "mnist-test[2]", "mnist-test[3]", "mnist-test[4]"}) ||
				!reflect.DeepEqual(o.Labels, labels) || len(o.Classes) != 5 || len(o.Probabilities) != 5 || o.Accuracy == nil {
				t.Fatalf("JSON %+v", o)
			}
			right := 0
			for i, row := range o.Probabilities {
				sum, best := 0.0, 0
				for j, p := range row {
					sum += float64(p)
					if o.Logits[i][j] > o.Logits[i][best] {
						best = j
					}
				}
				if math.Abs(sum-1) > 1e-5 || o.Classes[i] != best {
					t.Errorf("image %d: probabilities sum to %v, class %d, largest logit %d", i, sum, o.Classes[i], best)
				}
				if best == labels[i] {
					right++
				}
			}
			if *o.Accuracy != float64(right)/5 {
				t.Errorf("accuracy %v, want %v", *o.Accuracy, float64(right)/5)
			}
			lines := strings.Split(strings.TrimSpace(text), "\n")
			if len(lines) != 6 || !strings.HasPrefix(lines[0], "mnist-test[0] (label 7)  class ") || !strings.HasPrefix(lines[5], "accuracy ") {
				t.Errorf("output:\n%s", text)
			}
		})
	}
}

// writeGreyPNG writes a side×side grey PNG of the 28×28 image x (values
// b/255), each pixel repeated side/28 times each way, inverted if asked,
// as RGB if asked.
func writeGreyPNG(t *testing.T, path string, x []float32, side int, invert, rgb bool) {
	t.Helper()
	s := side / 28
	var img image.Image
	grey := image.NewGray(image.Rect(0, 0, side, side))
	colour := image.NewNRGBA(image.Rect(0, 0, side, side))
	for y := range side {
		for xx := range side {
			v := uint8(math.Round(float64(x[(y/s)*28+xx/s]) * 255))
			if invert {
				v = 255 - v
			}
			grey.SetGray(xx, y, color.Gray{v})
			colour.SetNRGBA(xx, y, color.NRGBA{v, v, v, 255})
		}
	}
	img = grey
	if rgb {
		img = colour
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestImageFiles classifies PNG files made from MNIST test images: 28×28
// as they are, 56×56 (each pixel 2×2, resampled by area: the same values),
// and inverted (with -invert) or in RGB; they get the classes the same
// images get through -mnist-test.
func TestImageFiles(t *testing.T) {
	const n = 5
	x, _ := testImages(t, n)
	dir := t.TempDir()
	lenet, err := cnn.LeNet.Model(graph.WithSeed(7))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "lenet.safetensors")
	saved(t, file, lenet)
	want := wantLogits(t, lenet, x)
	ref := filepath.Join(dir, "mnist.json")
	if _, err := predictArgs("-model", "lenet", "-weights", file, "-mnist-test", "5", "-json", ref); err != nil {
		t.Fatal(err)
	}
	wantClasses := readOutput(t, ref).Classes
	var plain, big, inverted, rgb []string
	for i := range n {
		img := x[i*784 : (i+1)*784]
		for _, v := range []struct {
			list        *[]string
			name        string
			side        int
			invert, rgb bool
		}{{&plain, "plain", 28, false, false}, {&big, "big", 56, false, false}, {&inverted, "inverted", 28, true, false}, {&rgb, "rgb", 28, false, true}} {
			p := filepath.Join(dir, v.name+string(rune('0'+i))+".png")
			writeGreyPNG(t, p, img, v.side, v.invert, v.rgb)
			*v.list = append(*v.list, p)
		}
	}
	for _, tc := range []struct {
		name  string
		flags []string
		files []string
		exact bool // the same logits, bit for bit
	}{
		{"28×28", nil, plain, true},
		{"56×56 -resize", []string{"-resize"}, big, true},
		{"-invert", []string{"-invert"}, inverted, false},
		{"RGB", nil, rgb, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.json")
			args := append(append([]string{"-model", "lenet", "-weights", file, "-json", out}, tc.flags...), tc.files...)
			text, err := predictArgs(args...)
			if err != nil {
				t.Fatal(err)
			}
			o := readOutput(t, out)
			if !reflect.DeepEqual(o.Inputs, tc.files) || o.Labels != nil || o.Accuracy != nil {
				t.Fatalf("inputs %v, labels %v", o.Inputs, o.Labels)
			}
			if !reflect.DeepEqual(o.Classes, wantClasses) {
				t.Errorf("classes %v, through -mnist-test %v", o.Classes, wantClasses)
			}
			if tc.exact && !sameRows(o.Logits, want) {
				t.Errorf("logits %v\nwant %v", o.Logits, want)
			}
			for i := range want {
				for j := range want[i] {
					if d := math.Abs(float64(o.Logits[i][j] - want[i][j])); d > 1e-4 {
						t.Fatalf("image %d logit %d: %v, want %v", i, j, o.Logits[i][j], want[i][j])
					}
				}
			}
			if !strings.HasPrefix(text, tc.files[0]+"  class ") {
				t.Errorf("output:\n%s", text)
			}
		})
	}
}

// TestExportONNX writes the model as ONNX: the bytes onnx.Write writes.
func TestExportONNX(t *testing.T) {
	dir := t.TempDir()
	lenet, err := cnn.LeNet.Model(graph.WithSeed(7))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "lenet.safetensors")
	saved(t, file, lenet)
	out := filepath.Join(dir, "lenet.onnx")
	text, err := predictArgs("-model", "lenet", "-weights", file, "-export-onnx", out)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := onnx.Write(&want, lenet); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Errorf("%s: %d bytes (%v), onnx.Write writes %d", out, len(got), err, want.Len())
	}
	if !strings.Contains(text, "wrote lenet as ONNX to "+out) {
		t.Errorf("output %q", text)
	}
	if _, err := predictArgs("-model", "lenet", "-weights", file, "-export-onnx", out); err == nil || !strings.Contains(err.Error(), "-export-onnx "+out+" exists: give -force") {
		t.Errorf("overwrite without -force: %v", err)
	}
	if _, err := predictArgs("-model", "lenet", "-weights", file, "-export-onnx", out, "-force"); err != nil {
		t.Errorf("-force: %v", err)
	}
}

// TestExport writes the weights, refuses to overwrite them, and replaces
// them with -force; export-only runs need no input.
func TestExport(t *testing.T) {
	dir := t.TempDir()
	lenet, err := cnn.LeNet.Model(graph.WithSeed(7))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "lenet.safetensors")
	saved(t, file, lenet)
	out := filepath.Join(dir, "export.safetensors")
	if _, err := predictArgs("-model", "lenet", "-weights", file, "-export-safetensors", out); err != nil {
		t.Fatal(err)
	}
	fresh, err := cnn.LeNet.Model(graph.WithSeed(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := weights.Load(out, fresh); err != nil {
		t.Fatal(err)
	}
	for _, p := range lenet.Params() {
		if !reflect.DeepEqual(fresh.Param(p.Name).Value.Data(), p.Value.Data()) {
			t.Errorf("%s differs in the export", p.Name)
		}
	}
	before, _ := os.ReadFile(out)
	if _, err := predictArgs("-model", "lenet", "-weights", file, "-export-safetensors", out); err == nil || !strings.Contains(err.Error(), "-export-safetensors "+out+" exists: give -force") {
		t.Errorf("overwrite without -force: %v", err)
	}
	if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
		t.Error("the refused export changed the file")
	}
	other := filepath.Join(dir, "other.safetensors")
	saved(t, other, func() *graph.Model { m, _ := cnn.LeNet.Model(graph.WithSeed(3)); return m }())
	if _, err := predictArgs("-model", "lenet", "-weights", other, "-export-safetensors", out, "-force"); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(out); bytes.Equal(before, after) {
		t.Error("-force did not replace the export")
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	lenet, err := cnn.LeNet.Model(graph.WithSeed(7))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "lenet.safetensors")
	saved(t, file, lenet)
	x, _ := testImages(t, 1)
	big := filepath.Join(dir, "big.png")
	writeGreyPNG(t, big, x, 56, false, false)
	existing := filepath.Join(dir, "existing.json")
	if err := os.WriteFile(existing, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	noWeights := t.TempDir()
	os.WriteFile(filepath.Join(noWeights, "config.json"), []byte(`{"example":"mnist-cnn","flags":{"model":"lenet"}}`), 0o644)
	customOp := t.TempDir()
	os.WriteFile(filepath.Join(customOp, "config.json"), []byte(`{"example":"custom-op","flags":{}}`), 0o644)
	notJSON := t.TempDir()
	os.WriteFile(filepath.Join(notJSON, "config.json"), []byte(`{"example":`), 0o644)
	lenetArgs := []string{"-model", "lenet", "-weights", file}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unknown model", []string{"-model", "alexnet", "-weights", file, "-mnist-test", "1"}, []string{`-model "alexnet": want one of lenet, seed, strided, mlp, resnet`}},
		{"weights of another model", []string{"-model", "mlp", "-weights", file, "-mnist-test", "1"},
			[]string{"-weights " + file + " (for -model mlp)", "does not fit model", `unexpected tensor "conv1.weight"`, "has shape (500, 800) F32, want (100, 784) F32"}},
		{"wrong image size", append(lenetArgs, big), []string{big + ": image of 56×56 pixels (width×height), the model takes 28×28: give -resize to resample it"}},
		{"-run and -model", []string{"-run", dir, "-model", "lenet", "-mnist-test", "1"}, []string{"-run and -model"}},
		{"no model", []string{"-mnist-test", "1"}, []string{"no model: give -run DIR"}},
		{"-model without -weights", []string{"-model", "lenet", "-mnist-test", "1"}, []string{"-model lenet needs -weights FILE"}},
		{"-run with -weights", []string{"-run", dir, "-weights", file, "-mnist-test", "1"}, []string{"-weights " + file + " with -run"}},
		{"existing -json", append(lenetArgs, "-mnist-test", "1", "-json", existing), []string{"-json " + existing + " exists: give -force to replace it"}},
		{"-json is a folder", append(lenetArgs, "-mnist-test", "1", "-json", dir, "-force"), []string{"-json " + dir + " is a folder"}},
		{"-json without inputs", append(lenetArgs, "-json", filepath.Join(dir, "new.json"), "-export-safetensors", filepath.Join(dir, "e.safetensors")), []string{"-json " + filepath.Join(dir, "new.json") + ": no inputs"}},
		{"same output twice", append(lenetArgs, "-mnist-test", "1", "-json", filepath.Join(dir, "o"), "-export-safetensors", filepath.Join(dir, "o")), []string{"-json and -export-safetensors both write"}},
		{"nothing to do", lenetArgs, []string{"nothing to do"}},
		{"-mnist-test negative", append(lenetArgs, "-mnist-test", "-2"), []string{"-mnist-test -2"}},
		{"-mnist-test too many", append(lenetArgs, "-mnist-test", "10001"), []string{"-mnist-test 10001: the mnist test set has 10000 images"}},
		{"-batch", append(lenetArgs, "-mnist-test", "1", "-batch", "0"), []string{"-batch 0"}},
		{"-resample", append(lenetArgs, "-mnist-test", "1", "-resample", "cubic"), []string{`-resample "cubic"`}},
		{"-background", append(lenetArgs, "-mnist-test", "1", "-background", "grey"), []string{`-background "grey"`}},
		{"flag after the images", append(lenetArgs, big, "-resize"), []string{`argument "-resize" after the images`}},
		{"missing image", append(lenetArgs, filepath.Join(dir, "none.png")), []string{filepath.Join(dir, "none.png"), "no such file"}},
		{"not an image", append(lenetArgs, existing), []string{existing + ": neither PNG nor JPEG"}},
		{"-run not a run", []string{"-run", t.TempDir(), "-mnist-test", "1"}, []string{"not a training run folder"}},
		{"-run without weights", []string{"-run", noWeights, "-mnist-test", "1"}, []string{"-run " + noWeights + " holds neither model.safetensors nor checkpoint.ckpt"}},
		{"-run of another example", []string{"-run", customOp, "-mnist-test", "1"}, []string{`a run of "custom-op"; predict reads runs of mnist-cnn, mnist-mlp and resnet`}},
		{"-run bad config", []string{"-run", notJSON, "-mnist-test", "1"}, []string{"config.json is not a Retina run configuration"}},
		{"unknown flag", []string{"-modle", "lenet"}, []string{"flag provided but not defined: -modle"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := predictArgs(tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if data, _ := os.ReadFile(existing); string(data) != "precious" {
		t.Errorf("an existing -json file was changed: %q", data)
	}
	for _, name := range []string{"new.json", "e.safetensors", "o"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("a refused run wrote %s", name)
		}
	}
	// -force replaces the -json file.
	if _, err := predictArgs(append(lenetArgs, "-mnist-test", "2", "-json", existing, "-force")...); err != nil {
		t.Fatal(err)
	}
	if o := readOutput(t, existing); len(o.Inputs) != 2 {
		t.Errorf("-force: %+v", o)
	}
}
