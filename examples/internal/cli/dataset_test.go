package cli

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/train"
)

// newFlags registers the standard flags on a fresh flag set.
func newFlags(def Flags) *Flags {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Register(fs, def)
}

func TestDatasetFlag(t *testing.T) {
	def := Flags{Epochs: 1, Batch: 1, LR: 1, Seed: 1}
	f := newFlags(def)
	if err := f.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if f.Dataset != "mnist" || f.flagValues()["dataset"] != "mnist" {
		t.Errorf("default: Dataset %q, recorded %q", f.Dataset, f.flagValues()["dataset"])
	}

	f = newFlags(def)
	if err := f.Parse([]string{"-dataset", "fashion", "-data", "/somewhere"}); err != nil {
		t.Fatal(err)
	}
	if f.Dataset != "fashion" || f.Data != "/somewhere" {
		t.Errorf("Dataset %q, Data %q", f.Dataset, f.Data)
	}
	if v := f.flagValues(); v["dataset"] != "fashion" || v["data"] != "/somewhere" {
		t.Errorf("recorded %v", v)
	}

	def.Dataset = "kmnist"
	f = newFlags(def)
	if err := f.Parse(nil); err != nil || f.Dataset != "kmnist" {
		t.Errorf("example default kmnist: %q, %v", f.Dataset, err)
	}

	for _, name := range []string{"emnist", "", "Fashion", "cifar10"} {
		f = newFlags(Flags{Epochs: 1, Batch: 1, LR: 1, Seed: 1})
		err := f.Parse([]string{"-dataset", name})
		want := `-dataset "` + name + `": want one of mnist, fashion, kmnist`
		if err == nil || err.Error() != want {
			t.Errorf("-dataset %q: got %v, want %q", name, err, want)
		}
	}
}

// TestDatasetResume checks that a resumed run keeps its data set, and that
// a run from before -dataset counts as MNIST.
func TestDatasetResume(t *testing.T) {
	run := func(t *testing.T, flags map[string]string) string {
		dir := t.TempDir()
		cfg, err := json.Marshal(config{Example: "test", Flags: flags})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ConfigName), cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, train.CheckpointName), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	base := map[string]string{"epochs": "1", "batch": "1", "lr": "1", "seed": "1", "limit": "0", "data": ""}
	old := run(t, base)
	fashion := run(t, withFlag(base, "dataset", "fashion"))

	tests := []struct {
		name string
		args []string
		want string // Dataset after Parse, or the error
		err  bool
	}{
		{"old run", []string{"-out", old, "-resume"}, "mnist", false},
		{"old run, same set", []string{"-out", old, "-resume", "-dataset", "mnist"}, "mnist", false},
		{"old run, other set", []string{"-out", old, "-resume", "-dataset", "fashion"},
			"-dataset fashion: the run in " + old + " was started with -dataset mnist", true},
		{"fashion run", []string{"-out", fashion, "-resume"}, "fashion", false},
		{"fashion run, other set", []string{"-out", fashion, "-resume", "-dataset", "kmnist"},
			"-dataset kmnist: the run in " + fashion + " was started with -dataset fashion", true},
	}
	for _, tt := range tests {
		f := newFlags(Flags{Epochs: 1, Batch: 1, LR: 1, Seed: 1})
		err := f.Parse(tt.args)
		switch {
		case tt.err && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		case !tt.err && (err != nil || f.Dataset != tt.want):
			t.Errorf("%s: got %q, %v; want %q", tt.name, f.Dataset, err, tt.want)
		}
	}
}

// withFlag returns a copy of m with k set to v.
func withFlag(m map[string]string, k, v string) map[string]string {
	c := map[string]string{k: v}
	for k, v := range m {
		c[k] = v
	}
	return c
}

// idxFiles are the published file names of the MNIST-format sets.
var idxFiles = []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}

// writeIDXSet writes gzip-compressed IDX files in the published layout
// into dir: train and test images of 28×28 bytes and labels 0..9.
func writeIDXSet(t *testing.T, dir string, train, test int) {
	t.Helper()
	for k, n := range []int{train, test} {
		img := make([]byte, n*28*28)
		for i := range img {
			img[i] = byte(i * 7)
		}
		lab := make([]byte, n)
		for i := range lab {
			lab[i] = byte((i + k) % 10)
		}
		for j, file := range [][]byte{encodeIDX([]uint32{uint32(n), 28, 28}, img), encodeIDX([]uint32{uint32(n)}, lab)} {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			if _, err := zw.Write(file); err != nil {
				t.Fatal(err)
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, idxFiles[2*k+j]), buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func encodeIDX(dims []uint32, payload []byte) []byte {
	b := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, payload...)
}

// parseRun parses args and returns a Run for them, without Start (which
// would make a run folder).
func parseRun(t *testing.T, args ...string) *Run {
	t.Helper()
	f := newFlags(Flags{Epochs: 1, Batch: 1, LR: 1, Seed: 1})
	if err := f.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &Run{Flags: f}
}

// TestRunLoadsDataset loads generated files in the published layout from a
// -data folder through Run.MNIST and datasets.Load. The public loader
// checks the published counts and checksums, which generated files cannot
// match, so the load fails; the error shows that the chosen set's table
// and the -data folder were used.
func TestRunLoadsDataset(t *testing.T) {
	dir := t.TempDir()
	writeIDXSet(t, dir, 5, 3)
	for _, tt := range []struct{ name, sha256 string }{
		// The published SHA-256 of each set's train-images-idx3-ubyte.gz.
		{"fashion", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"},
		{"kmnist", "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4"},
		{"mnist", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"},
	} {
		r := parseRun(t, "-dataset", tt.name, "-data", dir)
		train, test, err := r.MNIST()
		if train != nil || test != nil || !errors.Is(err, datasets.ErrChecksum) {
			t.Fatalf("%s: got %v, %v, %v; want a checksum error", tt.name, train, test, err)
		}
		for _, w := range []string{
			"-dataset " + tt.name + " -data " + dir + ": datasets: " + tt.name + ": " + filepath.Join(dir, idxFiles[0]) + ": sha256 ",
			"expected " + tt.sha256,
			"dim[0] at offset 4: 5, expected 60000",
		} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tt.name, err, w)
			}
		}
	}

	// A folder that lacks files: the error lists what to put there.
	empty := t.TempDir()
	_, _, err := parseRun(t, "-dataset", "fashion", "-data", empty).MNIST()
	for _, w := range []string{"-dataset fashion -data " + empty + ": ", empty + " lacks " + strings.Join(idxFiles, ", "),
		"put the Fashion-MNIST files " + strings.Join(idxFiles, ", ")} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("empty -data: got %v, want an error containing %q", err, w)
		}
	}

	// Without -data, from $RETINA_DATA/fashion.
	env := t.TempDir()
	if err := os.Mkdir(filepath.Join(env, "fashion"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeIDXSet(t, filepath.Join(env, "fashion"), 5, 3)
	t.Setenv("RETINA_DATA", env)
	_, _, err = parseRun(t, "-dataset", "fashion").MNIST()
	if w := "-dataset fashion: datasets: fashion: " + filepath.Join(env, "fashion", idxFiles[0]) + ": sha256 "; err == nil || !strings.Contains(err.Error(), w) {
		t.Errorf("RETINA_DATA: got %v, want an error containing %q", err, w)
	}
}

// TestRunLoadsGenerated loads generated files from a -data folder through
// Run.MNIST with a stand-in for datasets.Load that reads them with
// datasets.ReadIDXFile and expects their counts: it checks what Run.MNIST
// passes to the loader and what it does with the sets (-limit).
func TestRunLoadsGenerated(t *testing.T) {
	dir := t.TempDir()
	writeIDXSet(t, dir, 5, 3)
	var calls []string
	loadDataset = func(name, dir string) (trainSet, testSet *datasets.Set, err error) {
		calls = append(calls, name+" "+dir)
		var sets [2]*datasets.Set
		for k := range sets {
			img, err := datasets.ReadIDXFile(filepath.Join(dir, idxFiles[2*k]))
			if err != nil {
				return nil, nil, err
			}
			lab, err := datasets.ReadIDXFile(filepath.Join(dir, idxFiles[2*k+1]))
			if err != nil {
				return nil, nil, err
			}
			s := &datasets.Set{Shape: img.Dims[1:], Classes: 10, Labels: make([]int, len(lab.Data))}
			for _, b := range img.Data {
				s.X = append(s.X, float32(b)/255)
			}
			for i, b := range lab.Data {
				s.Labels[i] = int(b)
			}
			sets[k] = s
		}
		return sets[0], sets[1], nil
	}
	t.Cleanup(func() { loadDataset = datasets.Load })

	trainSet, testSet, err := parseRun(t, "-dataset", "fashion", "-data", dir).MNIST()
	if err != nil {
		t.Fatal(err)
	}
	if trainSet.Len() != 5 || testSet.Len() != 3 || !slices.Equal(trainSet.Shape, []int{28, 28}) || testSet.Labels[0] != 1 {
		t.Errorf("train %d, test %d, shape %v, first test label %d", trainSet.Len(), testSet.Len(), trainSet.Shape, testSet.Labels[0])
	}

	trainSet, _, err = parseRun(t, "-dataset", "kmnist", "-data", dir, "-limit", "2").MNIST()
	if err != nil || trainSet.Len() != 2 || !slices.Equal(trainSet.Labels, []int{0, 1}) {
		t.Errorf("-limit 2: %v, %v", trainSet, err)
	}
	_, _, err = parseRun(t, "-data", dir, "-limit", "6").MNIST()
	if w := "-limit 6: the training set has 5 images"; err == nil || err.Error() != w {
		t.Errorf("-limit 6: got %v, want %q", err, w)
	}
	if want := []string{"fashion " + dir, "kmnist " + dir, "mnist " + dir}; !slices.Equal(calls, want) {
		t.Errorf("loader calls %q, want %q", calls, want)
	}
}
