// Package cli is the plumbing the example programs share: the standard
// flags, the run directory, loading the data set that -dataset names
// (MNIST by default), Ctrl-C handling and metrics.json.
package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/examples/internal/plots"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/graph/weights"
	"github.com/retina-ml/retina/ops"
	"github.com/retina-ml/retina/predict"
	"github.com/retina-ml/retina/train"
	"github.com/retina-ml/retina/train/dist"
)

// Flags are the flags every training example accepts.
type Flags struct {
	Epochs int     // ≥ 1
	Batch  int     // ≥ 1
	LR     float64 // finite, > 0
	Seed   uint64  // ≥ 1
	Limit  int     // use the first Limit training images (0: all)
	// Dataset is the data set Run.MNIST loads: "mnist" (the default),
	// "fashion" or "kmnist"; see datasets.Load.
	Dataset string
	// Data is the folder holding the data set's files; default
	// $RETINA_DATA/<dataset>, then $RETINA_DATA, then for mnist only the
	// Go module cache; see datasets.Load.
	Data string

	// Augment transforms the training images at random (see
	// DigitAugmentation); only examples that call RegisterAugment have it.
	Augment bool

	Out    string // run directory; default a new folder under runs/
	Resume bool   // continue the run in -out from its checkpoint
	Force  bool   // replace the run in -out

	fs            *flag.FlagSet
	changed       []string // flags a resumed run changed (-epochs, -data)
	augmentEpochs int      // -epochs default under -augment (RegisterAugment)
}

// RegisterAugment defines -augment, for the examples that train on images
// and can augment them; an augmented run trains for epochs epochs unless
// -epochs is given. Call it before Parse.
func (f *Flags) RegisterAugment(epochs int) {
	f.augmentEpochs = epochs
	f.fs.BoolVar(&f.Augment, "augment", false, fmt.Sprintf("augment the training images (%s, drawn from -seed); trains %d epochs unless -epochs is given", steps(DigitAugmentation(0)), epochs))
}

// DigitAugmentation is the examples' augmentation of digits, drawn from
// seed: shifts of up to 2 pixels and rotations of up to 10°, resampled once.
// (Adding Simard et al.'s elastic distortions, α = 34, σ = 4, made LeNet
// worse in a 12-epoch run: see the README.)
func DigitAugmentation(seed uint64) *datasets.Augmentation {
	return &datasets.Augmentation{Seed: seed, Steps: []datasets.Transform{
		datasets.Shift{Max: 2}, datasets.Rotate{MaxDegrees: 10},
	}}
}

// steps lists an augmentation's steps.
func steps(a *datasets.Augmentation) string {
	names := make([]string, len(a.Steps))
	for i, s := range a.Steps {
		names[i] = s.String()
	}
	return strings.Join(names, ", ")
}

// Register defines the standard flags on fs with the example's defaults
// (def.Dataset "" means "mnist"). Define the example's own flags on fs too,
// then call Parse.
func Register(fs *flag.FlagSet, def Flags) *Flags {
	f := &Flags{fs: fs}
	fs.IntVar(&f.Epochs, "epochs", def.Epochs, "training epochs (≥ 1; may be raised when resuming)")
	fs.IntVar(&f.Batch, "batch", def.Batch, "batch size (≥ 1)")
	fs.Float64Var(&f.LR, "lr", def.LR, "base learning rate (> 0)")
	fs.Uint64Var(&f.Seed, "seed", def.Seed, "seed for initialisation, shuffling and dropout (≥ 1)")
	fs.IntVar(&f.Limit, "limit", def.Limit, "use only the first N training images (0: all)")
	if def.Dataset == "" {
		def.Dataset = "mnist"
	}
	fs.StringVar(&f.Dataset, "dataset", def.Dataset, "data set: "+strings.Join(datasets.Names(), ", ")+" (MNIST, Fashion-MNIST, Kuzushiji-MNIST)")
	fs.StringVar(&f.Data, "data", "", "folder with the data set's four files, train-images-idx3-ubyte.gz etc. (default: $RETINA_DATA/<dataset>, then $RETINA_DATA, then for mnist the Go module cache)")
	fs.StringVar(&f.Out, "out", "", "output folder, new or empty (default: a new folder under runs/)")
	fs.BoolVar(&f.Resume, "resume", false, "continue the run in -out from its checkpoint, with the flags it was started with")
	fs.BoolVar(&f.Force, "force", false, "replace the run that -out holds")
	return f
}

// unrecorded are the flags that are not part of a run's configuration.
var unrecorded = map[string]bool{"out": true, "resume": true, "force": true}

// mayChange are the flags a resumed run may give new values: more epochs,
// and the data folder (the files are checked against their published
// checksums wherever they are). -dataset may not change.
var mayChange = map[string]bool{"epochs": true, "data": true}

// Parse parses args (os.Args[1:]) into the flag set, then checks the
// standard flags. With -resume it first restores every flag not given from
// the run's config.json, and refuses a given flag that would change the
// run (all but -epochs, which may be raised, and -data). A run whose
// config.json predates -dataset was trained on MNIST: it resumes with
// -dataset mnist.
func (f *Flags) Parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return errors.Errorf("unexpected argument %q (flags start with -)", f.fs.Arg(0))
	}
	if f.Resume && f.Force {
		return errors.New("-resume and -force: continue the run or replace it, not both")
	}
	if f.Resume {
		if err := f.restore(); err != nil {
			return err
		}
	}
	epochsGiven := false
	f.fs.Visit(func(fl *flag.Flag) { epochsGiven = epochsGiven || fl.Name == "epochs" })
	if f.Augment && !f.Resume && !epochsGiven && f.augmentEpochs > 0 {
		f.Epochs = f.augmentEpochs
	}
	return f.validate()
}

func (f *Flags) validate() error {
	switch {
	case f.Epochs < 1:
		return errors.Errorf("-epochs %d: want at least 1", f.Epochs)
	case f.Batch < 1:
		return errors.Errorf("-batch %d: want at least 1", f.Batch)
	case f.Seed < 1:
		return errors.Errorf("-seed %d: want at least 1", f.Seed)
	case f.Limit < 0:
		return errors.Errorf("-limit %d: want 0 (all) or a number of images", f.Limit)
	case !slices.Contains(datasets.Names(), f.Dataset):
		return errors.Errorf("-dataset %q: want one of %s", f.Dataset, strings.Join(datasets.Names(), ", "))
	}
	return CheckFloat("lr", f.LR, math.SmallestNonzeroFloat64, math.Inf(1))
}

// CheckFloat returns an error naming -name unless v is finite and
// lo ≤ v < hi (hi +Inf: no upper bound).
func CheckFloat(name string, v, lo, hi float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < lo || v >= hi {
		want := fmt.Sprintf("a finite number ≥ %g", lo)
		switch {
		case lo == math.SmallestNonzeroFloat64:
			want = "a finite number > 0"
		case !math.IsInf(hi, 1):
			want = fmt.Sprintf("%g ≤ value < %g", lo, hi)
		}
		return errors.Errorf("-%s %v: want %s", name, v, want)
	}
	return nil
}

// CheckInt returns an error naming -name unless lo ≤ v ≤ hi.
func CheckInt(name string, v, lo, hi int) error {
	if v < lo || v > hi {
		if hi == math.MaxInt {
			return errors.Errorf("-%s %d: want at least %d", name, v, lo)
		}
		return errors.Errorf("-%s %d: want %d to %d", name, v, lo, hi)
	}
	return nil
}

// config is config.json: the run's flags, as given or defaulted, and the
// settings and machine it ran with.
type config struct {
	Example  string            `json:"example"`
	Flags    map[string]string `json:"flags"`
	Settings map[string]any    `json:"settings,omitempty"`
	Machine  map[string]any    `json:"machine"`
}

// ConfigName is the file in a run folder that records the run's flags.
const ConfigName = "config.json"

// ReadConfig reads the config.json of the run folder dir: the example that
// made the run and its flags, as given or defaulted. Its errors start with
// flag and dir, the command-line flag that named the folder ("-run DIR: …").
func ReadConfig(flag, dir string) (example string, flags map[string]string, err error) {
	c, err := readConfig(flag, dir)
	if err != nil {
		return "", nil, err
	}
	return c.Example, c.Flags, nil
}

func readConfig(flag, dir string) (*config, error) {
	data, err := os.ReadFile(filepath.Join(dir, ConfigName))
	if err != nil {
		return nil, errors.Errorf("%s %s: not a training run folder (%v)", flag, dir, err)
	}
	var c config
	if err := json.Unmarshal(data, &c); err != nil || c.Flags == nil {
		return nil, errors.Errorf("%s %s: %s is not a Retina run configuration (%v)", flag, dir, ConfigName, err)
	}
	return &c, nil
}

// restore sets the flags not given on the command line to the resumed
// run's values and refuses given ones that differ.
func (f *Flags) restore() error {
	if f.Out == "" {
		return errors.New("-resume needs -out: the folder of the run to continue")
	}
	c, err := readConfig("-out", f.Out)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(f.Out, train.CheckpointName)); err != nil {
		return errors.Errorf("-out %s: no checkpoint to resume from (%s)", f.Out, train.CheckpointName)
	}
	if _, ok := c.Flags["dataset"]; !ok {
		// The run predates -dataset: it trained on MNIST.
		c.Flags["dataset"] = "mnist"
	}
	given := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	var errs []string
	f.fs.VisitAll(func(fl *flag.Flag) {
		saved, ok := c.Flags[fl.Name]
		switch {
		case unrecorded[fl.Name] || !ok:
		case !given[fl.Name]:
			if err := fl.Value.Set(saved); err != nil {
				errs = append(errs, fmt.Sprintf("-%s: the run's value %q: %v", fl.Name, saved, err))
			}
		case fl.Value.String() == saved:
		case mayChange[fl.Name]:
			f.changed = append(f.changed, fl.Name)
		default:
			errs = append(errs, fmt.Sprintf("-%s %s: the run in %s was started with -%s %s; resume without -%s (or start a new run)",
				fl.Name, fl.Value, f.Out, fl.Name, saved, fl.Name))
		}
	})
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	if saved, err := strconv.Atoi(c.Flags["epochs"]); err == nil && f.Epochs < saved {
		return errors.Errorf("-epochs %d: the run in %s was started with -epochs %d; a resumed run may only raise it", f.Epochs, f.Out, saved)
	}
	return nil
}

// flagValues returns the recorded flags and their values.
func (f *Flags) flagValues() map[string]string {
	m := map[string]string{}
	f.fs.VisitAll(func(fl *flag.Flag) {
		if !unrecorded[fl.Name] {
			m[fl.Name] = fl.Value.String()
		}
	})
	return m
}

// Run is one execution of an example.
type Run struct {
	Name  string
	Dir   string
	Flags *Flags
	Ctx   context.Context // cancelled on Ctrl-C / SIGTERM
	stop  context.CancelFunc

	// Comm is the job's AllReducer: dist.Local for a plain run; with a
	// binary built with -tags mpi and started by mpirun, the MPI one. Pass
	// it in train.Config.Comm to train data-parallel.
	Comm dist.AllReducer
	// Out is standard output on rank 0 and io.Discard on the other ranks.
	Out io.Writer

	fresh bool // Start made Dir (or found it empty): Close removes it if the run wrote nothing
}

// SavePlot runs save, which writes a figure, on rank 0 only.
func (r *Run) SavePlot(save func() error) error {
	if !r.Primary() {
		return nil
	}
	return save()
}

// Primary reports whether this process writes the run's files and output:
// rank 0.
func (r *Run) Primary() bool { return r.Comm.Rank() == 0 }

// Start creates the run directory, writes config.json (every flag's value
// plus the example's settings and the machine) and prints a banner with the
// BLAS backend in use. Call it after Parse and after checking the
// example's own flags.
//
// A new run never writes into another: without -out it makes a new folder
// runs/NAME-YYYYMMDD-HHMMSS (-2, -3, … when that exists); an -out folder
// must be new or empty, unless -force replaces the run it holds. With
// -resume the folder must hold the run; a raised -epochs or a new -data is
// recorded in its config.json. If the run fails before writing anything
// but config.json, Close removes the folder.
//
// Under mpirun (a binary built with -tags mpi), every rank calls Start; rank
// 0 creates the directory and writes the files, and every rank must be given
// the same -out when resuming.
func Start(name string, f *Flags, settings map[string]any) (*Run, error) {
	if f.fs == nil || !f.fs.Parsed() {
		return nil, errors.New("cli: Start before Flags.Parse")
	}
	comm, err := dist.Open()
	if err != nil {
		return nil, err
	}
	r := &Run{Name: name, Flags: f, Dir: f.Out, Comm: comm, Out: os.Stdout}
	if !r.Primary() {
		r.Out = io.Discard
	}
	if r.Primary() {
		if err := r.makeDir(); err != nil {
			comm.Close()
			return nil, err
		}
	}
	c := config{Example: name, Flags: f.flagValues(), Settings: settings, Machine: map[string]any{
		"blas": ops.Backend(), "go": runtime.Version(), "cpus": runtime.NumCPU(), "gomaxprocs": runtime.GOMAXPROCS(0),
		"cpu": Machine(), "processes": comm.Size(),
	}}
	if r.Primary() && (!f.Resume || len(f.changed) > 0) {
		if err := train.WriteJSON(filepath.Join(r.Dir, ConfigName), c); err != nil {
			r.removeIfEmpty()
			comm.Close()
			return nil, err
		}
	}
	r.Ctx, r.stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if r.Primary() {
		fmt.Fprintf(os.Stderr, "%s: writing to %s; BLAS: %s; %d CPUs (%s); %s\n", name, r.Dir, ops.Backend(), runtime.NumCPU(), Machine(), comm)
	}
	return r, nil
}

// makeDir makes or checks the run folder as Start describes.
func (r *Run) makeDir() error {
	f := r.Flags
	if f.Resume {
		return nil // Parse checked that -out holds the run
	}
	if r.Dir == "" {
		if err := os.MkdirAll("runs", 0o755); err != nil {
			return errors.Wrap(err, "cli: making runs/")
		}
		base := filepath.Join("runs", fmt.Sprintf("%s-%s", r.Name, time.Now().Format("20060102-150405")))
		for i := 1; ; i++ {
			r.Dir = base
			if i > 1 {
				r.Dir = fmt.Sprintf("%s-%d", base, i)
			}
			err := os.Mkdir(r.Dir, 0o755)
			if err == nil {
				r.fresh = true
				return nil
			}
			if !errors.Is(err, fs.ErrExist) || i == 1000 {
				return errors.Wrap(err, "cli: making the run folder")
			}
		}
	}
	entries, err := os.ReadDir(r.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(r.Dir, 0o755); err != nil {
			return errors.Wrapf(err, "-out %s", r.Dir)
		}
		r.fresh = true
		return nil
	case err != nil:
		return errors.Wrapf(err, "-out %s", r.Dir)
	case len(entries) == 0:
		r.fresh = true
		return nil
	}
	_, statErr := os.Stat(filepath.Join(r.Dir, ConfigName))
	isRun := statErr == nil
	switch {
	case isRun && f.Force:
		if err := os.RemoveAll(r.Dir); err != nil {
			return errors.Wrapf(err, "-force: removing the run in %s", r.Dir)
		}
		if err := os.MkdirAll(r.Dir, 0o755); err != nil {
			return errors.Wrapf(err, "-out %s", r.Dir)
		}
		r.fresh = true
		return nil
	case isRun:
		return errors.Errorf("-out %s holds a run: continue it with -out %s -resume, replace it with -force, or choose another folder", r.Dir, r.Dir)
	}
	return errors.Errorf("-out %s is not empty and holds no Retina run (no %s): choose a new or empty folder", r.Dir, ConfigName)
}

// removeIfEmpty removes a folder Start made if it holds nothing but
// config.json: the run failed before it produced anything.
func (r *Run) removeIfEmpty() {
	if !r.fresh || !r.Primary() {
		return
	}
	entries, err := os.ReadDir(r.Dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Name() != ConfigName {
			return
		}
	}
	os.RemoveAll(r.Dir)
	if r.Flags.Out == "" {
		os.Remove(filepath.Dir(r.Dir)) // runs/, if this run was its only one
	}
}

// Close stops listening for signals and leaves the MPI job, if any. A
// folder Start made that holds nothing but config.json (the run failed
// before writing anything) is removed.
func (r *Run) Close() {
	r.stop()
	r.removeIfEmpty()
	r.Comm.Close()
}

// loadDataset loads a data set by name from a folder: datasets.Load, which
// checks the published sample counts and checksums. Tests substitute a
// loader of smaller generated files.
var loadDataset = datasets.Load

// MNIST loads the training and test sets of the data set that -dataset
// names: MNIST (the default), Fashion-MNIST or Kuzushiji-MNIST, all of
// shape [1 28 28] with 10 classes, from the folder -data names or the
// default folders (see datasets.Load). It applies -limit to the training
// set. It keeps its name from the days when it loaded MNIST only.
func (r *Run) MNIST() (trainSet, testSet *datasets.Set, err error) {
	f := r.Flags
	trainSet, testSet, err = loadDataset(f.Dataset, f.Data)
	if err != nil && f.Data != "" {
		return nil, nil, errors.Wrapf(err, "-dataset %s -data %s", f.Dataset, f.Data)
	}
	if err != nil {
		return nil, nil, errors.Wrapf(err, "-dataset %s", f.Dataset)
	}
	if n := r.Flags.Limit; n > trainSet.Len() {
		return nil, nil, errors.Errorf("-limit %d: the training set has %d images", n, trainSet.Len())
	} else if n > 0 {
		trainSet = trainSet.Subset(0, n)
	}
	return trainSet, testSet, nil
}

// Fit trains with tr, resuming from the run's checkpoint if -resume is set,
// and turns an interruption into a message telling how to resume.
func (r *Run) Fit(tr *train.Trainer, data train.Data) (*train.Result, error) {
	return r.fit(tr, data, r.Dir, true)
}

// FitIn is Fit for a secondary model whose files are in dir, a subfolder
// of the run: with -resume it continues from dir's checkpoint if there is
// one (the model may not have started before the run was interrupted).
func (r *Run) FitIn(tr *train.Trainer, data train.Data, dir string) (*train.Result, error) {
	return r.fit(tr, data, dir, false)
}

func (r *Run) fit(tr *train.Trainer, data train.Data, dir string, required bool) (*train.Result, error) {
	if r.Flags.Resume {
		ckpt := filepath.Join(dir, train.CheckpointName)
		if _, err := os.Stat(ckpt); err == nil || required {
			if err := tr.Resume(ckpt); err != nil {
				return nil, err
			}
		}
	}
	res, err := tr.Fit(r.Ctx, data)
	if errors.Is(err, train.ErrInterrupted) {
		return res, errors.Errorf("interrupted; checkpoint saved in %s. Continue the run with: -out %s -resume", dir, r.Dir)
	}
	return res, err
}

// WriteMetrics writes metrics.json into the run directory (on rank 0).
func (r *Run) WriteMetrics(m map[string]any) error {
	if !r.Primary() {
		return nil
	}
	m["processes"] = r.Comm.Size()
	return train.WriteJSON(filepath.Join(r.Dir, "metrics.json"), m)
}

// Summary returns the standard metrics.json fields of a run: always model,
// epochs, seed, batch, lr, train_seconds, samples_per_second, train_loss;
// test_loss and test_samples with a test set; test_accuracy for classifiers;
// train_recon_error and test_recon_error for autoencoders.
func Summary(model string, f *Flags, res *train.Result) map[string]any {
	last := res.Last()
	m := map[string]any{
		"model": model, "epochs": len(res.Epochs), "seed": f.Seed, "batch": f.Batch, "lr": f.LR,
		"train_seconds": res.TrainSeconds, "samples_per_second": res.SamplesPerSecond,
		"stopped": res.Stopped, "blas": ops.Backend(), "machine": Machine(),
		"train_loss": last.Train.Loss,
	}
	if f.Augment {
		m["augment"] = DigitAugmentation(f.Seed).String()
	}
	if res.Reconstruct {
		m["train_recon_error"] = last.Train.ReconError
	}
	if last.Test != nil {
		m["test_loss"] = last.Test.Loss
		m["test_samples"] = last.Test.Samples
		if res.Classifier {
			m["test_accuracy"] = last.Test.Accuracy
		}
		if res.Reconstruct {
			m["test_recon_error"] = last.Test.ReconError
		}
	}
	return m
}

// Machine describes the CPU, from /proc/cpuinfo where available.
func Machine() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				return fmt.Sprintf("%s, %d cores", strings.TrimSpace(v), runtime.NumCPU())
			}
		}
	}
	return fmt.Sprintf("%s/%s, %d cores", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
}

// Fatal prints err and exits with status 1.
func Fatal(name string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	os.Exit(1)
}

// PrintJSON writes v to stdout as indented JSON.
func PrintJSON(v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Println(string(b))
}

// Backend names the matrix-multiply implementation in use.
func Backend() string { return ops.Backend() }

// WeightsName is the file in a run folder that holds a classifier
// example's trained weights (graph/weights' safetensors).
const WeightsName = "model.safetensors"

// TrainClassifier trains model on the -dataset data set with cfg — completed with the
// run's epochs, batch, seed, directory and processes — after printing the
// model's summary, then reports as ReportClassifier does. It is the body of
// the classifier examples.
func (r *Run) TrainClassifier(model string, m *graph.Model, cfg train.Config) error {
	trainSet, testSet, err := r.MNIST()
	if err != nil {
		return err
	}
	fmt.Fprint(r.Out, m.Summary())
	f := r.Flags
	cfg.Epochs, cfg.Batch, cfg.Seed, cfg.Dir, cfg.Comm = f.Epochs, f.Batch, f.Seed, r.Dir, r.Comm
	if f.Augment {
		cfg.Augment = DigitAugmentation(f.Seed)
		if err := r.SavePlot(func() error { return saveAugmented(filepath.Join(r.Dir, "augmented.png"), trainSet, cfg.Augment) }); err != nil {
			return err
		}
	}
	tr, err := train.New(m, cfg)
	if err != nil {
		return err
	}
	defer tr.Close()
	res, err := r.Fit(tr, train.Data{Train: trainSet, Test: testSet})
	if err != nil {
		return err
	}
	return r.ReportClassifier(model, f.Dataset, tr, res, testSet, nil)
}

// ReportClassifier ends a classifier's run once tr has trained it: it
// evaluates testSet per class and writes metrics.json (named model; with
// test_per_class, test_confusion and test_macro_f1, see predict.Confusion),
// confusion.png (the confusion matrix of the data set named data, classes
// labelled by names, or by number for nil) and the trained weights,
// model.safetensors (WeightsName), and prints the test accuracy and each
// class's F1. Only rank 0 evaluates and writes.
func (r *Run) ReportClassifier(model, data string, tr *train.Trainer, res *train.Result, testSet *datasets.Set, names []string) error {
	metrics := Summary(model, r.Flags, res)
	if !r.Primary() {
		return nil
	}
	m := tr.Model()
	conf, err := evaluateClassifier(m, testSet, tr.Config().EvalBatch)
	if err != nil {
		return err
	}
	metrics["test_per_class"] = conf.PerClass()
	metrics["test_confusion"] = conf.Matrix()
	metrics["test_macro_f1"] = conf.MacroF1()
	if err := weights.Save(filepath.Join(r.Dir, WeightsName), m); err != nil {
		return err
	}
	if err := plots.Confusion(filepath.Join(r.Dir, "confusion.png"), fmt.Sprintf("%s on the %s test set: accuracy %.2f%%", model, data, 100*conf.Accuracy()), conf, names); err != nil {
		return err
	}
	if err := r.WriteMetrics(metrics); err != nil {
		return err
	}
	last := res.Last()
	fmt.Fprintf(r.Out, "test accuracy %.2f%% (error %.2f%%) after %d epochs, %.1fs of training, %.0f samples/s\n",
		100*last.Test.Accuracy, 100*(1-last.Test.Accuracy), len(res.Epochs), res.TrainSeconds, res.SamplesPerSecond)
	fmt.Fprintln(r.Out, f1Line(conf))
	return nil
}

// evaluateClassifier classifies every sample of set with m in batches of
// batch (0: predict.DefaultBatch).
func evaluateClassifier(m *graph.Model, set *datasets.Set, batch int) (*predict.Confusion, error) {
	p, err := predict.New(m, min(max(batch, 0), set.Len()))
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return predict.Evaluate(p, set)
}

// f1Line formats each class's F1 and the macro average on one line.
func f1Line(c *predict.Confusion) string {
	var b strings.Builder
	b.WriteString("test F1 per class:")
	for k := range c.Classes() {
		fmt.Fprintf(&b, " %d:%.4f", k, c.F1(k))
	}
	fmt.Fprintf(&b, " (macro %.4f)", c.MacroF1())
	return b.String()
}

// saveAugmented draws the first 8 training images and their variants in the
// first 4 epochs under a.
func saveAugmented(path string, set *datasets.Set, a *datasets.Augmentation) error {
	n := min(8, set.Len())
	size := set.SampleSize()
	if len(set.Shape) != 3 || set.Shape[0] != 1 || set.Shape[1] != set.Shape[2] {
		return errors.Errorf("augmented samples of shape %v: only square grey images are drawn", set.Shape)
	}
	original := set.X[:n*size]
	rows := []plots.DigitRow{{Name: "original", Images: original}}
	index := make([]int, n)
	for i := range index {
		index[i] = i
	}
	for e := range 4 {
		x := append([]float32(nil), original...)
		a.Apply(x, index, set.Shape, e, 0)
		rows = append(rows, plots.DigitRow{Name: fmt.Sprintf("epoch %d", e+1), Images: x})
	}
	return plots.Digits(path, "Training images as augmented: "+a.String(), rows, set.Shape[1])
}
