package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/train"
)

const (
	perTrain = 8 // records in each generated training batch
	perTest  = 12
	record   = 1 + 3072
)

var batchFiles = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"}

// writeCIFAR10 writes the six CIFAR-10 files into dir in the published
// layout (a label byte, then the R, G and B planes of 32×32 bytes), with
// perTrain records in each training batch and perTest in the test batch.
// Record i of file k has label (k+i) mod 10; its pixels are a gradient
// whose direction and colour depend on the label.
func writeCIFAR10(t *testing.T, dir string) {
	t.Helper()
	for k, name := range batchFiles {
		n := perTrain
		if name == "test_batch.bin" {
			n = perTest
		}
		var b []byte
		for i := range n {
			label := (k + i) % 10
			b = append(b, byte(label))
			for c := range 3 {
				for y := range 32 {
					for x := range 32 {
						v := x
						if label%2 == 1 {
							v = y
						}
						if c == label%3 {
							v += 100
						}
						b = append(b, byte(4*v+i))
					}
				}
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readSmall reads the files writeCIFAR10 writes, of any number of records:
// the test's stand-in for datasets.CIFAR10, which accepts only the
// published 10,000 records per file.
func readSmall(dir string) (trainSet, testSet *datasets.Set, err error) {
	trainSet = &datasets.Set{Shape: []int{3, 32, 32}, Classes: 10}
	testSet = &datasets.Set{Shape: []int{3, 32, 32}, Classes: 10}
	for _, name := range batchFiles {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, nil, errors.WithStack(err)
		}
		if len(b)%record != 0 {
			return nil, nil, errors.Errorf("%s: %d bytes", name, len(b))
		}
		s := trainSet
		if name == "test_batch.bin" {
			s = testSet
		}
		for r := range len(b) / record {
			s.Labels = append(s.Labels, int(b[r*record]))
			for _, p := range b[r*record+1 : (r+1)*record] {
				s.X = append(s.X, float32(p)/255)
			}
		}
	}
	return trainSet, testSet, trainSet.Validate()
}

// parse parses args as the command line and returns the example's run
// with those flags.
func parse(t *testing.T, args ...string) func(loader) error {
	t.Helper()
	f, o := register(flag.NewFlagSet("cifar10", flag.ContinueOnError))
	if err := f.Parse(args); err != nil {
		t.Fatal(err)
	}
	return func(load loader) error { return run(f, o, load) }
}

// TestNet checks the network's shapes and parameter count, and that the
// first layer's filters span the three colour planes.
func TestNet(t *testing.T) {
	m, err := Net.Model()
	if err != nil {
		t.Fatal(err)
	}
	s := m.Summary()
	var shapes []string
	for _, r := range s.Rows {
		shapes = append(shapes, fmt.Sprintf("%s%v", r.Kind, r.Output))
	}
	want := "conv(32, 32, 32) relu(32, 32, 32) pool(32, 16, 16) conv(64, 16, 16) relu(64, 16, 16) pool(64, 8, 8) flatten(4096) dense(256) relu(256) dense(10)"
	if got := strings.Join(shapes, " "); got != want {
		t.Errorf("layers %s\nwant %s", got, want)
	}
	if s.Params() != 1105098 || s.Rows[0].Weights != 5*5*3*32 {
		t.Errorf("%d parameters, %d first-layer weights; want 1105098 and 5×5×3×32", s.Params(), s.Rows[0].Weights)
	}
}

// TestRun runs the example for one epoch on generated files and checks
// the run folder.
func TestRun(t *testing.T) {
	data, out := t.TempDir(), filepath.Join(t.TempDir(), "run")
	writeCIFAR10(t, data)
	run := parse(t, "-data", data, "-out", out, "-epochs", "1", "-limit", "32", "-batch", "16")
	if err := run(readSmall); err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Example  string
		Flags    map[string]string
		Settings map[string]any
	}
	readJSON(t, filepath.Join(out, "config.json"), &cfg)
	if cfg.Example != "cifar10" || cfg.Flags["data"] != data || cfg.Flags["limit"] != "32" || cfg.Flags["momentum"] != "0.9" || cfg.Settings["schedule"] != "cosine" {
		t.Errorf("config.json: %+v", cfg)
	}
	f, err := os.Open(filepath.Join(out, train.MetricsLogName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := 0
	for s := bufio.NewScanner(f); s.Scan(); {
		lines++
	}
	if lines != 1 {
		t.Errorf("%s has %d lines, want 1 per epoch", train.MetricsLogName, lines)
	}
	var m map[string]any
	readJSON(t, filepath.Join(out, "metrics.json"), &m)
	acc, ok := m["test_accuracy"].(float64)
	if !ok || acc < 0 || acc > 1 || m["test_samples"] != float64(perTest) || m["epochs"] != float64(1) || m["model"] != "cifar10-cnn" {
		t.Errorf("metrics.json: %v", m)
	}
	if fi, err := os.Stat(filepath.Join(out, train.CheckpointName)); err != nil || fi.Size() == 0 {
		t.Errorf("checkpoint: %v", err)
	}
	// The per-class report: a 10×10 confusion matrix counting every test
	// image once, whose diagonal agrees with the accuracy.
	conf, ok := m["test_confusion"].([]any)
	if !ok || len(conf) != 10 {
		t.Fatalf("metrics.json test_confusion: %v", m["test_confusion"])
	}
	total, diag := 0.0, 0.0
	for i, row := range conf {
		r, _ := row.([]any)
		if len(r) != 10 {
			t.Fatalf("test_confusion row %d: %v", i, row)
		}
		for j, v := range r {
			total += v.(float64)
			if i == j {
				diag += v.(float64)
			}
		}
	}
	if total != float64(perTest) || diag/total != acc {
		t.Errorf("test_confusion counts %v images, %v on the diagonal; want %d and accuracy %v", total, diag, perTest, acc)
	}
	if pc, ok := m["test_per_class"].([]any); !ok || len(pc) != 10 {
		t.Errorf("metrics.json test_per_class: %v", m["test_per_class"])
	}
	for _, name := range []string{"confusion.png", "model.safetensors"} {
		if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestDataErrors checks that missing or unusable data stop the example
// before it makes a run folder, with a message naming the flag.
func TestDataErrors(t *testing.T) {
	data := t.TempDir()
	writeCIFAR10(t, data)
	for _, tc := range []struct {
		name string
		env  string
		args []string
		load loader
		want []string
	}{
		{"no data", "", nil, readSmall, []string{"-data not given", "RETINA_DATA", datasets.CIFAR10URL, "cifar-10-batches-bin", "test_batch.bin"}},
		{"missing folder", "", []string{"-data", "/nonexistent/cifar"}, datasets.CIFAR10, []string{"-data /nonexistent/cifar", datasets.CIFAR10URL}},
		// The real loader refuses the small files: it wants the published counts.
		{"small files", "", []string{"-data", data}, datasets.CIFAR10, []string{"-data " + data, "data_batch_1.bin", "expected 10000"}},
		{"small files in RETINA_DATA", data, nil, datasets.CIFAR10, []string{"RETINA_DATA=" + data, "expected 10000"}},
		{"limit", "", []string{"-data", data, "-limit", "41"}, readSmall, []string{"-limit 41", "40 images"}},
		{"momentum", "", []string{"-data", data, "-momentum", "1"}, readSmall, []string{"-momentum 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("RETINA_DATA", tc.env)
			out := filepath.Join(t.TempDir(), "run")
			run := parse(t, append(tc.args, "-out", out)...)
			err := run(tc.load)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a run folder was left behind")
			}
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
