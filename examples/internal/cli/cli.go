// Package cli is the plumbing the example programs share: the standard
// flags, the run directory, MNIST loading, Ctrl-C handling and metrics.json.
package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
	"github.com/retina-ml/retina/train"
	"github.com/retina-ml/retina/train/dist"
)

// Flags are the flags every training example accepts.
type Flags struct {
	Epochs int
	Batch  int
	LR     float64
	Seed   uint64
	Limit  int    // use the first Limit training images (0: all)
	Data   string // MNIST folder; default: $RETINA_DATA, then the Go module cache
	Out    string // run directory; default a fresh folder under runs/
	Resume bool   // continue the run in -out from its checkpoint
}

// Register defines the standard flags on fs with the example's defaults.
func Register(fs *flag.FlagSet, def Flags) *Flags {
	f := &Flags{}
	fs.IntVar(&f.Epochs, "epochs", def.Epochs, "training epochs")
	fs.IntVar(&f.Batch, "batch", def.Batch, "batch size")
	fs.Float64Var(&f.LR, "lr", def.LR, "base learning rate")
	fs.Uint64Var(&f.Seed, "seed", def.Seed, "seed for initialisation, shuffling and dropout")
	fs.IntVar(&f.Limit, "limit", 0, "use only the first N training images (0: all)")
	fs.StringVar(&f.Data, "data", "", "folder with the MNIST .gz files (default: $RETINA_DATA, then the Go module cache)")
	fs.StringVar(&f.Out, "out", "", "output folder (default: a new folder under runs/)")
	fs.BoolVar(&f.Resume, "resume", false, "resume the run in -out from its checkpoint")
	return f
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

// Start creates the run directory, writes config.json (the flags plus
// extra settings) and prints a banner with the BLAS backend in use.
//
// Under mpirun (a binary built with -tags mpi), every rank calls Start; rank
// 0 creates the directory and writes the files, and every rank must be given
// the same -out when resuming.
func Start(name string, f *Flags, extra map[string]any) (*Run, error) {
	comm, err := dist.Open()
	if err != nil {
		return nil, err
	}
	r := &Run{Name: name, Flags: f, Dir: f.Out, Comm: comm, Out: os.Stdout}
	if !r.Primary() {
		r.Out = io.Discard
	}
	if r.Dir == "" {
		if f.Resume {
			return nil, errors.New("-resume needs -out: the folder of the run to continue")
		}
		r.Dir = filepath.Join("runs", fmt.Sprintf("%s-%s", name, time.Now().Format("20060102-150405")))
	}
	if r.Primary() {
		if err := os.MkdirAll(r.Dir, 0o755); err != nil {
			return nil, err
		}
	}
	cfg := map[string]any{
		"example": name, "epochs": f.Epochs, "batch": f.Batch, "lr": f.LR, "seed": f.Seed, "limit": f.Limit,
		"data": f.Data, "blas": ops.Backend(), "go": runtime.Version(), "cpus": runtime.NumCPU(), "machine": Machine(),
		"processes": comm.Size(),
	}
	for k, v := range extra {
		cfg[k] = v
	}
	if !f.Resume && r.Primary() {
		if err := train.WriteJSON(filepath.Join(r.Dir, "config.json"), cfg); err != nil {
			return nil, err
		}
	}
	r.Ctx, r.stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if r.Primary() {
		fmt.Fprintf(os.Stderr, "%s: writing to %s; BLAS: %s; %d CPUs (%s); %s\n", name, r.Dir, ops.Backend(), runtime.NumCPU(), Machine(), comm)
	}
	return r, nil
}

// Close stops listening for signals and leaves the MPI job, if any.
func (r *Run) Close() {
	r.stop()
	r.Comm.Close()
}

// MNIST loads real MNIST (train and test), applying -limit to the training set.
func (r *Run) MNIST() (trainSet, testSet *datasets.Set, err error) {
	trainSet, testSet, err = datasets.MNIST(r.Flags.Data)
	if err != nil {
		return nil, nil, err
	}
	if r.Flags.Limit > 0 && r.Flags.Limit < trainSet.Len() {
		trainSet = trainSet.Subset(0, r.Flags.Limit)
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
		return res, errors.Errorf("interrupted; checkpoint saved in %s. Continue with: -out %s -resume", dir, r.Dir)
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

// TrainClassifier trains model on MNIST with cfg — completed with the
// run's epochs, batch, seed, directory and processes — after printing the
// model's summary, then writes metrics.json (named model) and prints the
// test accuracy. It is the body of the classifier examples.
func (r *Run) TrainClassifier(model string, m *graph.Model, cfg train.Config) error {
	trainSet, testSet, err := r.MNIST()
	if err != nil {
		return err
	}
	fmt.Fprint(r.Out, m.Summary())
	f := r.Flags
	cfg.Epochs, cfg.Batch, cfg.Seed, cfg.Dir, cfg.Comm = f.Epochs, f.Batch, f.Seed, r.Dir, r.Comm
	tr, err := train.New(m, cfg)
	if err != nil {
		return err
	}
	defer tr.Close()
	res, err := r.Fit(tr, train.Data{Train: trainSet, Test: testSet})
	if err != nil {
		return err
	}
	if err := r.WriteMetrics(Summary(model, f, res)); err != nil {
		return err
	}
	last := res.Last()
	fmt.Fprintf(r.Out, "test accuracy %.2f%% (error %.2f%%) after %d epochs, %.1fs of training, %.0f samples/s\n",
		100*last.Test.Accuracy, 100*(1-last.Test.Accuracy), len(res.Epochs), res.TrainSeconds, res.SamplesPerSecond)
	return nil
}
