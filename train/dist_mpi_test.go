//go:build mpi && cgo

package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/train/checkpoint"
	"github.com/retina-ml/retina/train/dist"
)

// These tests start this test binary on 2 ranks under mpirun (the parent
// tests) and compare what the ranks compute with a single process. The
// child tests run only inside mpirun.

func inMPI() bool { return os.Getenv("OMPI_COMM_WORLD_SIZE") != "" || os.Getenv("PMIX_RANK") != "" }

func mpirunPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("mpirun")
	if err != nil {
		if os.Getenv("RETINA_REQUIRE_MPI") != "" {
			t.Fatalf("RETINA_REQUIRE_MPI is set but mpirun is not installed: %v", err)
		}
		t.Skip("mpirun not installed (apt-get install openmpi-bin); set RETINA_REQUIRE_MPI=1 to fail instead")
	}
	return path
}

// job runs the child test named run on 2 ranks and returns its output.
func job(t *testing.T, run string, timeout time.Duration, env ...string) (string, error) {
	t.Helper()
	args := []string{"--allow-run-as-root", "--oversubscribe", "-np", "2"}
	for _, kv := range env {
		args = append(args, "-x", kv)
	}
	args = append(args, os.Args[0], "-test.run", "^"+run+"$", "-test.v", "-test.count=1")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, mpirunPath(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("mpirun did not finish within %v: the job hung\n%s", timeout, out.String())
	}
	return out.String(), err
}

const (
	dpBatch = 32 // global batch
	dpSteps = 25
)

// dpTrainer is the trainer both the ranks and the single process use.
func dpTrainer(t *testing.T, comm dist.AllReducer, dir string, epochs int) (*Trainer, *graph.Model) {
	t.Helper()
	m, err := graph.Sequential{graph.Dense{Units: 16}, graph.ReLU{}, graph.Dense{Units: 4}}.Declare(graph.Shape{8}, graph.WithSeed(uint64(11+comm.Rank()))) // ranks differ until the broadcast
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(m, quiet(Config{Batch: dpBatch, Epochs: epochs, Comm: comm, Dir: dir, Optimizer: &Adam{LearningRate: 0.01}}))
	if err != nil {
		t.Fatal(err)
	}
	return tr, m
}

// runSteps takes dpSteps steps over the same shuffled global batches.
func runSteps(t *testing.T, tr *Trainer) {
	t.Helper()
	if err := tr.broadcastParams(); err != nil {
		t.Fatal(err)
	}
	it := (&datasets.Loader{Set: blobs(dpBatch*dpSteps, 4, 8, 1), BatchSize: dpBatch, Shuffle: true, Seed: 3}).Epoch(0)
	var b datasets.Batch
	for it.Next(&b) {
		if _, err := tr.Step(&b, 0); err != nil {
			t.Fatal(err)
		}
	}
}

func TestChildDataParallelSteps(t *testing.T) {
	if !inMPI() {
		t.Skip("runs under mpirun")
	}
	comm, err := dist.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer comm.Close()
	tr, _ := dpTrainer(t, comm, "", 1)
	runSteps(t, tr)
	if comm.Rank() == 0 {
		if err := tr.SaveCheckpoint(os.Getenv("RETINA_DP_OUT")); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("rank %d of %d: %d steps done\n", comm.Rank(), comm.Size(), tr.StepsDone())
}

// TestDataParallelMatchesSingleProcess trains K steps on 2 ranks (each on
// half of every global batch, gradients averaged) and checks the parameters
// equal, to float32 rounding, those of one process on the whole batches.
func TestDataParallelMatchesSingleProcess(t *testing.T) {
	if inMPI() {
		t.Skip("parent test")
	}
	path := filepath.Join(t.TempDir(), "dp.ckpt")
	out, err := job(t, "TestChildDataParallelSteps", 120*time.Second, "RETINA_DP_OUT="+path)
	if err != nil {
		t.Fatalf("2-rank job failed: %v\n%s", err, out)
	}
	for r := 0; r < 2; r++ {
		if !strings.Contains(out, fmt.Sprintf("rank %d of 2: %d steps done", r, dpSteps)) {
			t.Fatalf("rank %d did not finish:\n%s", r, out)
		}
	}
	single, m := dpTrainer(t, dist.Local{}, "", 1)
	runSteps(t, single)
	f, err := checkpoint.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	compareParams(t, m, f, 2e-5)
}

// compareParams checks the model against a checkpoint's parameters, to a
// relative tolerance.
func compareParams(t *testing.T, m *graph.Model, f *checkpoint.File, tol float64) {
	t.Helper()
	var worst float64
	for _, p := range m.Params() {
		ct, ok := f.Tensor("param/" + p.Name)
		if !ok {
			t.Fatalf("checkpoint lacks %s", p.Name)
		}
		var scale float64
		for _, v := range p.Value.Float32s() {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		for i, v := range p.Value.Float32s() {
			worst = math.Max(worst, math.Abs(float64(v)-float64(ct.F32[i]))/scale)
		}
	}
	t.Logf("largest relative difference between 2 ranks and 1 process: %.3g", worst)
	if worst > tol || math.IsNaN(worst) {
		t.Fatalf("parameters differ by %.3g (relative), more than float32 rounding (%g)", worst, tol)
	}
}

func TestChildRankDies(t *testing.T) {
	if !inMPI() {
		t.Skip("runs under mpirun")
	}
	comm, err := dist.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer comm.Close()
	dir := os.Getenv("RETINA_DP_DIR")
	epochs := 2
	tr, _ := dpTrainer(t, comm, dir, epochs)
	if os.Getenv("RETINA_DP_RESUME") != "" {
		if err := tr.Resume(filepath.Join(os.Getenv("RETINA_DP_CKPT_DIR"), CheckpointName)); err != nil {
			t.Fatal(err)
		}
	} else if comm.Rank() == 1 {
		// Die in the middle of epoch 2, after epoch 1's checkpoint.
		tr.afterStep = func(step int) {
			if step == dpSteps+5 {
				fmt.Println("rank 1: dying on purpose")
				os.Exit(3)
			}
		}
	}
	data := Data{Train: blobs(dpBatch*dpSteps, 4, 8, 1), Test: blobs(100, 4, 8, 2)}
	if _, err := tr.Fit(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("rank %d: finished %d steps\n", comm.Rank(), tr.StepsDone())
}

// TestRankDeathStopsJobAndResumes kills rank 1 in the middle of epoch 2: the
// job must stop promptly with an error, and a new job resumed from the
// checkpoint of epoch 1 must finish with the parameters of an uninterrupted
// single-process run, to float32 rounding.
func TestRankDeathStopsJobAndResumes(t *testing.T) {
	if inMPI() {
		t.Skip("parent test")
	}
	dir := t.TempDir()
	start := time.Now()
	out, err := job(t, "TestChildRankDies", 60*time.Second, "RETINA_DP_DIR="+dir)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("job with a dying rank: err %v, want a non-zero exit\n%s", err, out)
	}
	if !strings.Contains(out, "rank 1: dying on purpose") {
		t.Fatalf("rank 1 did not die as planned:\n%s", out)
	}
	t.Logf("job stopped %v after start, exit code %d", time.Since(start).Round(time.Millisecond), exit.ExitCode())
	// Resume on two new processes, writing to a new folder.
	dir2 := t.TempDir()
	out, err = job(t, "TestChildRankDies", 60*time.Second, "RETINA_DP_DIR="+dir2, "RETINA_DP_RESUME=1", "RETINA_DP_CKPT_DIR="+dir)
	if err != nil {
		t.Fatalf("resumed job failed: %v\n%s", err, out)
	}
	if !strings.Contains(out, fmt.Sprintf("rank 0: finished %d steps", 2*dpSteps)) {
		t.Fatalf("resumed job did not finish 2 epochs:\n%s", out)
	}
	// The uninterrupted reference, in one process.
	single, m := dpTrainer(t, dist.Local{}, "", 2)
	if _, err := single.Fit(context.Background(), Data{Train: blobs(dpBatch*dpSteps, 4, 8, 1)}); err != nil {
		t.Fatal(err)
	}
	f, err := checkpoint.Read(filepath.Join(dir2, CheckpointName))
	if err != nil {
		t.Fatal(err)
	}
	compareParams(t, m, f, 2e-5)
}

// TestChildBatchNormFit trains a model with batch normalisation on 2 ranks.
// Each rank's running statistics follow its own half of every batch; at
// each epoch's end they are averaged, so both ranks print the same ones.
func TestChildBatchNormFit(t *testing.T) {
	if !inMPI() {
		t.Skip("runs under mpirun")
	}
	comm, err := dist.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer comm.Close()
	m, err := graph.Sequential{graph.Dense{Units: 16, Init: graph.HeUniform}, graph.BatchNorm{}, graph.ReLU{}, graph.Dense{Units: 4}}.Declare(graph.Shape{8}, graph.WithSeed(uint64(5+comm.Rank())))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(m, quiet(Config{Batch: dpBatch, Epochs: 2, Comm: comm, Dir: os.Getenv("RETINA_BN_DIR"), Optimizer: &Adam{LearningRate: 0.01}}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Fit(context.Background(), Data{Train: blobs(640, 4, 8, 1), Val: blobs(200, 4, 8, 2)})
	if err != nil {
		t.Fatal(err)
	}
	var state []float32
	for _, p := range m.State() {
		state = append(state, p.Value.Float32s()...)
	}
	fmt.Printf("rank %d: accuracy %.3f state %v\n", comm.Rank(), res.Last().Val.Accuracy, state)
}

// TestBatchNormDataParallel checks the 2-rank batch-norm run: it learns,
// both ranks end with the same running statistics, and the checkpoint
// holds them.
func TestBatchNormDataParallel(t *testing.T) {
	if inMPI() {
		t.Skip("parent test")
	}
	dir := t.TempDir()
	out, err := job(t, "TestChildBatchNormFit", 120*time.Second, "RETINA_BN_DIR="+dir)
	if err != nil {
		t.Fatalf("2-rank job failed: %v\n%s", err, out)
	}
	var states []string
	for _, line := range strings.Split(out, "\n") {
		if _, rest, ok := strings.Cut(line, ": accuracy "); ok && strings.HasPrefix(line, "rank ") {
			var acc float64
			if _, err := fmt.Sscanf(rest, "%g", &acc); err != nil || acc < 0.95 {
				t.Fatalf("%s: accuracy below 0.95", line)
			}
			_, s, _ := strings.Cut(rest, " state ")
			states = append(states, s)
		}
	}
	if len(states) != 2 || states[0] != states[1] {
		t.Fatalf("running statistics of the 2 ranks: %q\n%s", states, out)
	}
	f, err := checkpoint.Read(filepath.Join(dir, CheckpointName))
	if err != nil {
		t.Fatal(err)
	}
	ct, ok := f.Tensor("state/batchnorm1/num_batches_tracked")
	if !ok || ct.F32[0] != 2*640/dpBatch {
		t.Fatalf("checkpoint's num_batches_tracked: %v, %v; want %d", ct, ok, 2*640/dpBatch)
	}
}
