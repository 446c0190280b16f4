package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retina-ml/retina/examples/internal/cli"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// examples builds every example once into a temporary folder.
func examples(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "retina-examples-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+string(os.PathSeparator), "./examples/...")
		cmd.Dir = moduleRoot(t)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = errors.New("go build ./examples/...: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func moduleRoot(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// run runs an example in dir with args and returns its exit code and
// standard error.
func run(t *testing.T, dir, name string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(examples(t), name), args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %q did not end", name, args)
	}
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stderr.String()
}

// TestHostileFlags runs every example with invalid flag values: each must
// exit non-zero with a message naming the flag, without a panic, and leave
// no run folder behind.
func TestHostileFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every example")
	}
	training := []string{"mnist-cnn", "mnist-mlp", "custom-op", "autoencoder-pca", "lecture", "deep-autoencoder", "code-width", "siamese", "resnet", "conv-autoencoder", "cifar10"}
	common := []struct {
		flag string
		args []string
	}{
		{"-epochs", []string{"-epochs", "-1"}},
		{"-epochs", []string{"-epochs", "0"}},
		{"-epochs", []string{"-epochs", "two"}},
		{"-batch", []string{"-batch", "-5"}},
		{"-batch", []string{"-batch", "0"}},
		{"-lr", []string{"-lr", "NaN"}},
		{"-lr", []string{"-lr", "Inf"}},
		{"-lr", []string{"-lr", "-1"}},
		{"-lr", []string{"-lr", "0"}},
		{"-seed", []string{"-seed", "0"}},
		{"-seed", []string{"-seed", "-1"}},
		{"-limit", []string{"-limit", "-3"}},
		{"-resume", []string{"-resume"}},
		{"-out", []string{"-resume", "-out", "missing"}},
		{"-force", []string{"-resume", "-force", "-out", "missing"}},
		{"argument", []string{"-epochs", "1", "stray"}},
		{"-data", []string{"-data", "/nonexistent/mnist"}},
	}
	own := map[string][]struct {
		flag string
		args []string
	}{
		"mnist-cnn":        {{"-model", []string{"-model", "alexnet"}}, {"-momentum", []string{"-momentum", "1"}}, {"-momentum", []string{"-momentum", "NaN"}}, {"-weight-decay", []string{"-weight-decay", "-1"}}},
		"mnist-mlp":        {{"-momentum", []string{"-momentum", "-0.1"}}, {"-weight-decay", []string{"-weight-decay", "Inf"}}},
		"autoencoder-pca":  {{"-k", []string{"-k", "0"}}, {"-k", []string{"-k", "785"}}},
		"deep-autoencoder": {{"-loss", []string{"-loss", "hinge"}}, {"-code2-epochs", []string{"-code2-epochs", "-1"}}, {"-logistic-epochs", []string{"-logistic-epochs", "-2"}}},
		"code-width":       {{"-widths", []string{"-widths", "8,x"}}, {"-widths", []string{"-widths", "0"}}, {"-hidden", []string{"-hidden", ","}}, {"-loss", []string{"-loss", "l1"}}},
		"scaling":          {{"-data", []string{"-data", "/nonexistent/mnist"}}, {"-steps", []string{"-steps", "0"}}, {"-gbps", []string{"-gbps", "NaN"}}, {"-latency", []string{"-latency", "-1s"}}, {"argument", []string{"x"}}},
		"siamese":          {{"-pairs", []string{"-pairs", "1"}}, {"-pairs", []string{"-pairs", "many"}}, {"-dim", []string{"-dim", "0"}}, {"-dim", []string{"-dim", "5000"}}, {"-margin", []string{"-margin", "0"}}, {"-margin", []string{"-margin", "NaN"}}, {"-margin", []string{"-margin", "-1"}}},
		"resnet":           {{"-width", []string{"-width", "0"}}, {"-blocks", []string{"-blocks", "-1"}}, {"-momentum", []string{"-momentum", "1"}}, {"-weight-decay", []string{"-weight-decay", "NaN"}}},
		"conv-autoencoder": {{"-maps", []string{"-maps", "0"}}, {"-loss", []string{"-loss", "cross-entropy"}}, {"-loss", []string{"-loss", "l2"}}},
		"cifar10":          {{"-dataset", []string{"-dataset", "fashion"}}, {"-momentum", []string{"-momentum", "2"}}},
		"lecture":          {{"-digit", []string{"-digit", "-1"}}, {"-digit", []string{"-digit", "10000"}}},
		"predict": {{"-model", []string{"-model", "alexnet", "-weights", "w", "-mnist-test", "1"}}, {"-weights", []string{"-model", "lenet", "-weights", "/nonexistent/w", "-mnist-test", "1"}},
			{"-run", []string{"-run", "/nonexistent/run", "-mnist-test", "1"}}, {"-mnist-test", []string{"-model", "lenet", "-weights", "w", "-mnist-test", "-1"}},
			{"-batch", []string{"-model", "lenet", "-weights", "w", "-mnist-test", "1", "-batch", "0"}}, {"-resample", []string{"-model", "lenet", "-weights", "w", "x.png", "-resample", "x"}}},
	}
	for _, name := range append(training, "scaling", "predict") {
		cases := own[name]
		if name != "scaling" && name != "predict" {
			cases = append(append(cases[:0:0], common...), cases...)
		}
		for _, tc := range cases {
			dir := t.TempDir()
			code, stderr := run(t, dir, name, tc.args...)
			if code == 0 || strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") || !strings.Contains(stderr, tc.flag) {
				t.Errorf("%s %s: exit %d, stderr:\n%s\nwant a non-zero exit and a message naming %s", name, strings.Join(tc.args, " "), code, stderr, tc.flag)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("%s %s left %v behind", name, strings.Join(tc.args, " "), names)
			}
		}
	}
}

// TestRunFolders trains the MLP example briefly and checks the run-folder
// rules: a new run never writes into an existing one, -resume alone
// continues the run with its own flags, flags that would change it are
// refused, -epochs may be raised and is recorded, and a failed start
// leaves nothing behind.
func TestRunFolders(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs an example")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "run")
	short := []string{"-epochs", "1", "-limit", "640", "-lr", "0.02", "-out", out}
	if code, stderr := run(t, dir, "mnist-mlp", short...); code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	// A fresh run into the same folder is refused, naming -resume.
	if code, stderr := run(t, dir, "mnist-mlp", "-epochs", "1", "-out", out); code == 0 || !strings.Contains(stderr, "-resume") {
		t.Fatalf("second run into a run folder: exit %d\n%s", code, stderr)
	}
	if n := lines(t, filepath.Join(out, "metrics.jsonl")); n != 1 {
		t.Fatalf("metrics.jsonl has %d lines after a refused run, want 1", n)
	}
	// Changing the run on resume is refused; so is lowering -epochs.
	for _, args := range [][]string{{"-lr", "0.1"}, {"-limit", "1280"}, {"-momentum", "0.5"}, {"-seed", "2"}} {
		if code, stderr := run(t, dir, "mnist-mlp", append([]string{"-out", out, "-resume"}, args...)...); code == 0 || !strings.Contains(stderr, args[0]) {
			t.Errorf("resume with %v: exit %d\n%s", args, code, stderr)
		}
	}
	// -out DIR -resume with a raised -epochs continues the same run.
	if code, stderr := run(t, dir, "mnist-mlp", "-out", out, "-resume", "-epochs", "2"); code != 0 {
		t.Fatalf("resume: exit %d\n%s", code, stderr)
	}
	if n := lines(t, filepath.Join(out, "metrics.jsonl")); n != 2 {
		t.Errorf("metrics.jsonl has %d lines after resuming to 2 epochs, want 2", n)
	}
	var cfg struct{ Flags map[string]string }
	readJSON(t, filepath.Join(out, "config.json"), &cfg)
	if cfg.Flags["epochs"] != "2" || cfg.Flags["limit"] != "640" || cfg.Flags["lr"] != "0.02" {
		t.Errorf("config.json flags after resuming: %v", cfg.Flags)
	}
	fi, err := os.Stat(filepath.Join(out, "config.json"))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("config.json mode %v (%v), want 0644", fi.Mode().Perm(), err)
	}
	if code, stderr := run(t, dir, "mnist-mlp", "-out", out, "-resume", "-epochs", "1"); code == 0 || !strings.Contains(stderr, "-epochs") {
		t.Errorf("resume lowering -epochs: exit %d\n%s", code, stderr)
	}
	// -force replaces the run.
	if code, stderr := run(t, dir, "mnist-mlp", "-epochs", "1", "-limit", "640", "-out", out, "-force"); code != 0 {
		t.Fatalf("-force: exit %d\n%s", code, stderr)
	}
	if n := lines(t, filepath.Join(out, "metrics.jsonl")); n != 1 {
		t.Errorf("metrics.jsonl has %d lines after -force, want 1", n)
	}
	// -limit beyond the data fails after Start, and leaves no folder.
	if code, stderr := run(t, dir, "mnist-mlp", "-limit", "100000", "-out", filepath.Join(dir, "big")); code == 0 || !strings.Contains(stderr, "-limit 100000") {
		t.Errorf("-limit 100000: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "big")); err == nil {
		t.Error("a failed start left its folder")
	}
}

// start parses args into the standard flags of an example "x" and starts
// a run.
func start(args ...string) (*cli.Run, error) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	f := cli.Register(fs, cli.Flags{Epochs: 1, Batch: 1, LR: 1, Seed: 1})
	if err := f.Parse(args); err != nil {
		return nil, err
	}
	return cli.Start("x", f, nil)
}

// TestDefaultFoldersAreUnique starts runs in the same second: each gets its
// own folder, made exclusively.
func TestDefaultFoldersAreUnique(t *testing.T) {
	t.Chdir(t.TempDir())
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		r, err := start()
		if err != nil {
			t.Fatal(err)
		}
		if seen[r.Dir] {
			t.Fatalf("two runs in %s", r.Dir)
		}
		seen[r.Dir] = true
		if err := os.WriteFile(filepath.Join(r.Dir, "out.txt"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		r.Close()
		if _, err := os.Stat(r.Dir); err != nil {
			t.Fatalf("a run that wrote a file lost its folder: %v", err)
		}
	}
	// A run that writes nothing but config.json leaves no folder.
	r, err := start()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := os.Stat(r.Dir); err == nil {
		t.Error("a failed start left its folder")
	}
}

// TestOutRules checks -out folders that are not empty.
func TestOutRules(t *testing.T) {
	startKeep := func(args ...string) error {
		r, err := start(args...)
		if err == nil {
			os.WriteFile(filepath.Join(r.Dir, "keep"), nil, 0o644)
			r.Close()
		}
		return err
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "thesis.tex"), []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-out", other}, {"-out", other, "-force"}} {
		if err := startKeep(args...); err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Errorf("%v: error %v, want a refusal", args, err)
		}
	}
	if _, err := os.Stat(filepath.Join(other, "thesis.tex")); err != nil {
		t.Fatal("-force removed a folder that held no run")
	}
	empty := t.TempDir()
	if err := startKeep("-out", empty); err != nil {
		t.Errorf("an empty -out folder: %v", err)
	}
}

func lines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for s := bufio.NewScanner(f); s.Scan(); {
		n++
	}
	return n
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}
