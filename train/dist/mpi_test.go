//go:build mpi && cgo

package dist

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests named TestMPI… run as the parent: each re-executes this test
// binary under mpirun with two ranks, which run one of the TestChild…
// tests. A child test skips itself unless it was started by mpirun.

// mpirun returns the path of mpirun, or skips the test if it is missing and
// RETINA_REQUIRE_MPI is not set.
func mpirun(t *testing.T) string {
	t.Helper()
	if ok, _ := launched(); ok {
		t.Skip("already inside an MPI job")
	}
	path, err := exec.LookPath("mpirun")
	if err != nil {
		if os.Getenv("RETINA_REQUIRE_MPI") != "" {
			t.Fatalf("RETINA_REQUIRE_MPI is set but mpirun is not installed: %v", err)
		}
		t.Skip("mpirun not installed (apt-get install openmpi-bin); set RETINA_REQUIRE_MPI=1 to fail instead")
	}
	return path
}

// runJob runs this test binary's test named run on 2 ranks under mpirun,
// with the extra environment env (exported to the ranks), and returns its
// combined output, how long it took and its error.
func runJob(t *testing.T, run string, timeout time.Duration, env ...string) (string, time.Duration, error) {
	t.Helper()
	args := []string{"--allow-run-as-root", "--oversubscribe", "-np", "2"}
	for _, kv := range env {
		args = append(args, "-x", kv)
	}
	args = append(args, os.Args[0], "-test.run", "^"+run+"$", "-test.v", "-test.count=1",
		"-test.timeout="+timeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, mpirun(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) } // mpirun then kills the ranks
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("mpirun did not finish within %v (killed): %v\n%s", timeout, err, out.String())
	}
	return out.String(), took, err
}

func TestMPI(t *testing.T) {
	out, took, err := runJob(t, "TestChild", 120*time.Second)
	if err != nil {
		t.Fatalf("2-rank job failed: %v\n%s", err, out)
	}
	for r := range 2 {
		if !strings.Contains(out, fmt.Sprintf("rank %d of 2: all checks passed", r)) {
			t.Fatalf("rank %d did not report success:\n%s", r, out)
		}
	}
	for line := range strings.Lines(out) {
		if strings.Contains(line, "AllReduce of") {
			t.Log(strings.TrimSpace(line))
		}
	}
	t.Logf("2-rank job passed in %v", took.Round(time.Millisecond))
}

// child returns the MPI AllReducer of a child test, or skips the test
// outside mpirun. fail reports a failure and aborts the job, so that the
// other rank cannot wait for it.
func child(t *testing.T) (r AllReducer, fail func(format string, args ...any)) {
	if ok, _ := launched(); !ok {
		t.Skip("runs only under mpirun, started by TestMPI…")
	}
	r, err := Open()
	if err != nil {
		fmt.Fprintf(os.Stderr, "child: Open: %v\n", err)
		os.Exit(1)
	}
	fail = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "FAIL rank %d: %s\n", r.Rank(), fmt.Sprintf(format, args...))
		r.Abort(1)
	}
	return r, fail
}

func TestChild(t *testing.T) {
	r, fail := child(t)
	m, ok := r.(*mpiComm)
	if !ok {
		fail("Open returned %T, want *mpiComm", r)
	}
	rank := r.Rank()
	if r.Size() != 2 || rank < 0 || rank > 1 {
		fail("Rank, Size = %d, %d", rank, r.Size())
	}
	if s := r.String(); !strings.HasPrefix(s, "openmpi ") || !strings.Contains(s, fmt.Sprintf(": rank %d of 2 on ", rank)) {
		fail("String = %q", s)
	}
	if again, err := Open(); err != nil || again != r {
		fail("second Open = %v, %v; want the same AllReducer", again, err)
	}
	fmt.Printf("rank %d: %s\n", rank, r)
	v := float32(rank + 1) // the ranks contribute 1 and 2

	// Small buffers, float32 and float64, out of place and in place.
	src := []float32{v, 10 * v, -v}
	dst := make([]float32, 3)
	if err := r.AllReduce(dst, src); err != nil || !slices.Equal(dst, []float32{3, 30, -3}) || src[0] != v {
		fail("AllReduce out of place: dst %v, src %v, err %v", dst, src, err)
	}
	if err := r.AllReduce(src, src); err != nil || !slices.Equal(src, []float32{3, 30, -3}) {
		fail("AllReduce in place: %v, %v", src, err)
	}
	src64 := []float64{float64(v), 1e300 * float64(v)}
	dst64 := make([]float64, 2)
	if err := r.AllReduce64(dst64, src64); err != nil || !slices.Equal(dst64, []float64{3, 3e300}) {
		fail("AllReduce64 out of place: %v, %v", dst64, err)
	}
	if err := r.AllReduce64(src64, src64); err != nil || !slices.Equal(src64, []float64{3, 3e300}) {
		fail("AllReduce64 in place: %v, %v", src64, err)
	}
	if err := r.AllReduce(nil, nil); err != nil {
		fail("empty AllReduce: %v", err)
	}

	// 3 million floats, in one call and in chunks of 2^20.
	const big = 3_000_000
	bsrc, bdst := make([]float32, big), make([]float32, big)
	check := func(what string, got []float32, scale float32) {
		for i, x := range got {
			if want := scale * float32(i%1000); x != want {
				fail("%s: element %d = %v, want %v", what, i, x, want)
			}
		}
	}
	orig := maxCount
	for _, chunk := range []int{orig, 1 << 20} {
		maxCount = chunk
		for i := range bsrc {
			bsrc[i] = v * float32(i%1000)
		}
		if err := r.AllReduce(bdst, bsrc); err != nil {
			fail("big AllReduce (chunk %d): %v", chunk, err)
		}
		check(fmt.Sprintf("big AllReduce out of place (chunk %d)", chunk), bdst, 3)
		check(fmt.Sprintf("big AllReduce src (chunk %d)", chunk), bsrc, v)
		if err := r.AllReduce(bsrc, bsrc); err != nil {
			fail("big AllReduce in place (chunk %d): %v", chunk, err)
		}
		check(fmt.Sprintf("big AllReduce in place (chunk %d)", chunk), bsrc, 3)
	}

	// Broadcast from each root, float32 (also chunked) and float64.
	for root := range 2 {
		buf := []float32{v, 2 * v, 3 * v}
		if err := r.Broadcast(buf, root); err != nil || !slices.Equal(buf, []float32{float32(root + 1), float32(2 * (root + 1)), float32(3 * (root + 1))}) {
			fail("Broadcast root %d: %v, %v", root, buf, err)
		}
		buf64 := []float64{float64(v), -float64(v)}
		if err := r.Broadcast64(buf64, root); err != nil || !slices.Equal(buf64, []float64{float64(root + 1), -float64(root + 1)}) {
			fail("Broadcast64 root %d: %v, %v", root, buf64, err)
		}
		for i := range bsrc {
			bsrc[i] = v * float32(i%1000)
		}
		if err := r.Broadcast(bsrc, root); err != nil {
			fail("big Broadcast root %d: %v", root, err)
		}
		check(fmt.Sprintf("big Broadcast root %d (chunk %d)", root, maxCount), bsrc, float32(root+1))
	}
	if err := r.Broadcast(dst, 2); err == nil {
		fail("Broadcast root 2: no error")
	}
	maxCount = orig

	// Averager and SumFloat64s.
	a, b := []float32{v, 3 * v}, []float32{-v}
	var av Averager
	if err := av.Average(r, [][]float32{a, b}); err != nil || !slices.Equal(a, []float32{1.5, 4.5}) || b[0] != -1.5 {
		fail("Average: %v %v %v", a, b, err)
	}
	a[0], a[1], b[0] = v, v, v
	if err := av.Average(r, [][]float32{a, b}); err != nil || !slices.Equal(a, []float32{1.5, 1.5}) || b[0] != 1.5 {
		fail("second Average: %v %v %v", a, b, err)
	}
	loss, n := float64(v), 10.0
	if err := SumFloat64s(r, &loss, &n); err != nil || loss != 3 || n != 20 {
		fail("SumFloat64s: %v %v %v", loss, n, err)
	}

	// MPI errors come back as Go errors.
	if err := m.invalidCall(); err == nil || !strings.Contains(err.Error(), "MPI_ERR_COUNT") {
		fail("invalid count: error %v, want one naming MPI_ERR_COUNT", err)
	} else if rank == 0 {
		fmt.Printf("MPI error conversion: %v\n", err)
	}

	// Go still handles SIGSEGV: a nil dereference is a recoverable panic.
	func() {
		defer func() {
			if e := recover(); e == nil {
				fail("nil dereference did not panic")
			}
		}()
		var p *float32
		_ = *p
	}()

	// Timings between the 2 ranks, in place as Averager does it.
	for _, size := range []int{431_080, 2_833_000} {
		buf := make([]float32, size)
		var times []time.Duration
		for i := range 23 {
			start := time.Now()
			if err := r.AllReduce(buf, buf); err != nil {
				fail("timed AllReduce: %v", err)
			}
			if i >= 3 { // warm-up
				times = append(times, time.Since(start))
			}
		}
		slices.Sort(times)
		if rank == 0 {
			fmt.Printf("AllReduce of %d float32 (%.1f MB) between 2 ranks: median %v, min %v, max %v over %d runs\n",
				size, float64(4*size)/1e6, times[len(times)/2].Round(time.Microsecond),
				times[0].Round(time.Microsecond), times[len(times)-1].Round(time.Microsecond), len(times))
		}
	}

	if err := r.Close(); err != nil {
		fail("Close: %v", err)
	}
	if err := r.Close(); err != nil {
		fail("second Close: %v", err)
	}
	if err := r.AllReduce(dst, src); !errors.Is(err, errClosed) {
		fail("AllReduce after Close: %v", err)
	}
	if _, err := Open(); err == nil {
		fail("Open after Close: no error")
	}
	fmt.Printf("rank %d of 2: all checks passed\n", rank)
}

// TestChildFault: both ranks complete one AllReduce; then one rank fails in
// the way RETINA_DIST_FAULT names while the other waits in a second one:
//
//	exit        rank 1 calls os.Exit(3)
//	exit0       rank 1 calls os.Exit(0) without Close
//	panic       rank 1 panics
//	abort       rank 1 calls Abort(5)
//	abort-busy  rank 0 calls Abort(6) while another of its goroutines
//	            waits in the second AllReduce, and rank 1 never joins it
func TestChildFault(t *testing.T) {
	r, fail := child(t)
	buf := []float32{1}
	if err := r.AllReduce(buf, buf); err != nil {
		fail("first AllReduce: %v", err)
	}
	fault := os.Getenv("RETINA_DIST_FAULT")
	failing, waiting := 1, 0
	if fault == "abort-busy" {
		failing, waiting = 0, 1
	}
	second := func() {
		fmt.Fprintf(os.Stderr, "rank %d: waiting in the second AllReduce\n", r.Rank())
		err := r.AllReduce(buf, buf)
		fmt.Fprintf(os.Stderr, "rank %d: second AllReduce returned %v\n", r.Rank(), err)
		os.Exit(0) // not reached: the job is stopped first
	}
	switch r.Rank() {
	case waiting:
		if fault == "abort-busy" {
			fmt.Fprintf(os.Stderr, "rank %d: sleeping\n", r.Rank())
			time.Sleep(50 * time.Second)
			fmt.Fprintf(os.Stderr, "rank %d: woke up\n", r.Rank())
			os.Exit(0) // not reached: the job is stopped first
		}
		second()
	case failing:
		if fault == "abort-busy" {
			go second()
		}
		time.Sleep(500 * time.Millisecond) // let the other rank (or goroutine) enter the second AllReduce
		fmt.Fprintf(os.Stderr, "rank %d: failing by %s\n", r.Rank(), fault)
		switch fault {
		case "exit":
			os.Exit(3)
		case "exit0":
			os.Exit(0)
		case "panic":
			panic("rank 1 fails on purpose")
		case "abort":
			r.Abort(5)
		case "abort-busy":
			r.Abort(6)
		}
		fail("unknown RETINA_DIST_FAULT %q", fault)
	}
}

func TestMPIFault(t *testing.T) {
	for _, tc := range []struct {
		fault string
		want  []string // in mpirun's output
		code  int      // mpirun's exit status; 0: any non-zero
	}{
		{"exit", []string{"rank 1: failing by exit", "Exit code:    3"}, 3},
		{"exit0", []string{"rank 1: failing by exit0", "exiting improperly"}, 0},
		{"panic", []string{"rank 1 fails on purpose", "goroutine", "Exit code:    2"}, 2},
		{"abort", []string{"rank 1: failing by abort", ": rank 1 of 2 on ", "Abort(5): stopping the job"}, 5},
		{"abort-busy", []string{"rank 0: failing by abort-busy", ": rank 0 of 2 on ", "Abort(6): stopping the job"}, 6},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			out, took, err := runJob(t, "TestChildFault", 60*time.Second, "RETINA_DIST_FAULT="+tc.fault)
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("mpirun: %v, want a non-zero exit status\n%s", err, out)
			}
			if tc.code != 0 && ee.ExitCode() != tc.code {
				t.Errorf("mpirun exit status %d, want %d", ee.ExitCode(), tc.code)
			}
			for _, w := range append(tc.want, "rank 0: waiting in the second AllReduce") {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			if strings.Contains(out, "second AllReduce returned") || strings.Contains(out, "woke up") {
				t.Errorf("a rank went on instead of the job being stopped")
			}
			if t.Failed() || testing.Verbose() {
				t.Logf("output:\n%s", out)
			}
			t.Logf("fault %s: mpirun exited with status %d after %v", tc.fault, ee.ExitCode(), took.Round(time.Millisecond))
		})
	}
}
