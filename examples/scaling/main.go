// Command scaling measures what data-parallel training costs and projects
// it to clusters: for the three benchmark models (784-100-10, LeNet and the
// 784-1000-500-250-30 autoencoder) it times training steps of a global batch
// of 64 on real MNIST, and one all-reduce of the gradients, then computes the
// expected efficiency on R machines from the ring all-reduce cost model
//
//	T_allreduce(R) = 2(R−1)/R · bytes / bandwidth + 2(R−1) · latency
//	efficiency(R)  = T_step / (T_step + T_allreduce(R))
//
// for weak scaling (every machine keeps a batch of 64, as measured here;
// no overlap of communication and computation).
//
//	go run ./examples/scaling                             # one process
//	go build -tags mpi -o scaling ./examples/scaling
//	mpirun -np 2 ./scaling                                # two ranks on this machine
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/examples/internal/cli"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/autoencoder"
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/models/mlp"
	"github.com/retina-ml/retina/train"
	"github.com/retina-ml/retina/train/dist"
)

func main() {
	steps := flag.Int("steps", 200, "timed steps per model (after 20 warm-up steps)")
	gbps := flag.Float64("gbps", 10, "network bandwidth for the projection, Gb/s")
	latency := flag.Duration("latency", 50*time.Microsecond, "per-message network latency for the projection")
	data := flag.String("data", "", "MNIST folder (default: $RETINA_DATA, then the Go module cache)")
	out := flag.String("out", "", "write the measurements as JSON to this file")
	flag.Parse()
	err := cli.CheckInt("steps", *steps, 1, math.MaxInt)
	if err == nil {
		err = cli.CheckFloat("gbps", *gbps, math.SmallestNonzeroFloat64, math.Inf(1))
	}
	if err == nil && *latency < 0 {
		err = errors.Errorf("-latency %v: want ≥ 0", *latency)
	}
	if err == nil && flag.NArg() > 0 {
		err = errors.Errorf("unexpected argument %q (flags start with -)", flag.Arg(0))
	}
	if err == nil {
		err = run(*steps, *gbps, *latency, *data, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scaling:", err)
		os.Exit(1)
	}
}

type result struct {
	Model        string             `json:"model"`
	Params       int                `json:"params"`
	Bytes        int                `json:"allreduce_bytes"`
	Processes    int                `json:"processes"`
	StepMS       float64            `json:"step_ms"`
	AllReduceMS  float64            `json:"allreduce_ms"`
	Efficiency   map[string]float64 `json:"projected_efficiency"`
	AllReduceNet map[string]float64 `json:"projected_allreduce_ms"`
}

func run(steps int, gbps float64, latency time.Duration, dataDir, out string) error {
	comm, err := dist.Open()
	if err != nil {
		return err
	}
	defer comm.Close()
	trainSet, _, err := datasets.MNIST(dataDir)
	if err != nil && dataDir != "" {
		return errors.Wrapf(err, "-data %s", dataDir)
	}
	if err != nil {
		return err
	}
	flat := &datasets.Set{X: trainSet.X, Shape: []int{784}, Labels: trainSet.Labels, Classes: 10}
	models := []struct {
		name string
		set  *datasets.Set
		cfg  train.Config
		make func() (*graph.Model, error)
	}{
		{"mlp 784-100-10", flat, train.Config{}, func() (*graph.Model, error) { return mlp.Seed() }},
		{"lenet", trainSet, train.Config{}, func() (*graph.Model, error) { return cnn.LeNet.Model() }},
		{"deep autoencoder", autoencoder.Unlabelled(flat), train.Config{Loss: train.MSE, Reconstruct: true}, func() (*graph.Model, error) {
			return autoencoder.Deep(autoencoder.HintonWidths, graph.ReLU{})
		}},
	}
	var results []result
	w := io.Writer(os.Stdout)
	if comm.Rank() != 0 {
		w = io.Discard
	}
	fmt.Fprintf(w, "%s; %s; BLAS %s\n", comm, cli.Machine(), cli.Backend())
	fmt.Fprintf(w, "%-18s %10s %12s %10s %14s %12s %12s %10s %10s\n", "model", "params", "bytes/step", "processes", "step ms", "allreduce ms", "net AR ms@8", "eff@8", "eff@64")
	for _, mdl := range models {
		m, err := mdl.make()
		if err != nil {
			return err
		}
		cfg := mdl.cfg
		cfg.Batch, cfg.Comm, cfg.Progress = 64, comm, io.Discard
		cfg.Optimizer = &train.Adam{LearningRate: 1e-3}
		tr, err := train.New(m, cfg)
		if err != nil {
			return err
		}
		stepMS, err := timeSteps(tr, mdl.set, steps)
		if err != nil {
			return errors.Wrap(err, mdl.name)
		}
		params := 0
		for _, p := range m.Params() {
			params += p.Value.Size()
		}
		arMS, err := timeAllReduce(comm, params)
		if err != nil {
			return err
		}
		r := result{Model: mdl.name, Params: params, Bytes: 4 * params, Processes: comm.Size(), StepMS: stepMS, AllReduceMS: arMS,
			Efficiency: map[string]float64{}, AllReduceNet: map[string]float64{}}
		for _, machines := range []int{2, 8, 64} {
			ar := ringAllReduce(machines, 4*params, gbps, latency)
			key := fmt.Sprint(machines)
			r.AllReduceNet[key] = ar * 1e3
			r.Efficiency[key] = stepMS / (stepMS + ar*1e3)
		}
		results = append(results, r)
		fmt.Fprintf(w, "%-18s %10d %12d %10d %14.2f %12.3f %12.2f %9.0f%% %9.0f%%\n", r.Model, r.Params, r.Bytes, r.Processes, r.StepMS, r.AllReduceMS,
			r.AllReduceNet["8"], 100*r.Efficiency["8"], 100*r.Efficiency["64"])
		tr.Close()
	}
	fmt.Fprintf(w, "projection: ring all-reduce at %g Gb/s, %v per message; efficiency = step / (step + all-reduce), weak scaling, batch 64 per machine\n", gbps, latency)
	if out != "" && comm.Rank() == 0 {
		return train.WriteJSON(out, map[string]any{"processes": comm.Size(), "gbps": gbps, "latency_us": latency.Microseconds(), "results": results})
	}
	return nil
}

// ringAllReduce returns the seconds a ring all-reduce of bytes over machines
// takes at gbps gigabits per second with the given per-message latency:
// 2(R−1) messages of bytes/R each, in sequence.
func ringAllReduce(machines, bytes int, gbps float64, latency time.Duration) float64 {
	r := float64(machines)
	return 2*(r-1)/r*float64(bytes)/(gbps*1e9/8) + 2*(r-1)*latency.Seconds()
}

// timeSteps returns the mean wall time of a training step in milliseconds,
// after 20 warm-up steps.
func timeSteps(tr *train.Trainer, set *datasets.Set, steps int) (float64, error) {
	loader := &datasets.Loader{Set: set, BatchSize: 64, Shuffle: true, Seed: 1}
	it := loader.Epoch(0)
	var b datasets.Batch
	var start time.Time
	for i := 0; i < 20+steps; i++ {
		if i == 20 {
			start = time.Now()
		}
		if !it.Next(&b) {
			it = loader.Epoch(i)
			it.Next(&b)
		}
		if _, err := tr.Step(&b, 0); err != nil {
			return 0, err
		}
	}
	return float64(time.Since(start).Microseconds()) / 1e3 / float64(steps), nil
}

// timeAllReduce returns the median time of an all-reduce of n floats, in
// milliseconds (0 with one process).
func timeAllReduce(comm dist.AllReducer, n int) (float64, error) {
	if comm.Size() == 1 {
		return 0, nil
	}
	buf := make([]float32, n)
	var times []float64
	for i := 0; i < 25; i++ {
		start := time.Now()
		if err := comm.AllReduce(buf, buf); err != nil {
			return 0, err
		}
		if i >= 5 {
			times = append(times, float64(time.Since(start).Microseconds())/1e3)
		}
	}
	for i := range times { // insertion sort: 20 values
		for j := i; j > 0 && times[j] < times[j-1]; j-- {
			times[j], times[j-1] = times[j-1], times[j]
		}
	}
	return times[len(times)/2], nil
}
