// Package dist provides the collective operations that data-parallel
// training needs: summing buffers over all processes of a job (all-reduce),
// copying one process's buffer to all the others (broadcast), and stopping
// the whole job when one process fails.
//
// # Data-parallel training
//
// Every process (rank) of a job holds a full replica of the model. Rank 0's
// initial parameters are broadcast to the other ranks; each global batch is
// split across the ranks; after the backward pass the gradients are averaged
// with one all-reduce (see [Averager]); every rank then takes the same
// optimizer step, so the replicas stay equal. Metrics are reduced with
// [SumFloat64s].
//
// # The AllReducer contract
//
// An [AllReducer] is obtained once per process with [Open] and released with
// Close. Its AllReduce, AllReduce64, Broadcast and Broadcast64 methods are
// collective: every rank must call the same methods, in the same order, with
// buffers of the same length (and the same root for a broadcast). A rank that
// skips or reorders a collective makes the job hang or fail. Buffers of
// length zero are allowed and do nothing, but must still be passed on every
// rank.
//
// AllReduce(dst, src) sums src element-wise over the ranks into dst. dst and
// src must have the same length; dst may be src itself (the reduction is
// then done in place), but must not otherwise overlap it. src is not
// modified unless it is dst. Broadcast(buf, root) copies root's buf into buf
// on every rank; root must satisfy 0 ≤ root < Size().
//
// The MPI standard does not require an all-reduce to deliver bitwise
// identical sums on every rank, although Open MPI's built-in algorithms do.
// A trainer that must keep replicas bitwise identical over long runs can
// broadcast the parameters from rank 0 again from time to time.
//
// # Builds
//
// The default build has no dependency outside the standard library: [Open]
// always returns [Local], the single-process AllReducer (rank 0 of 1).
//
// Building with the mpi tag and cgo enabled links Open MPI through a small
// cgo wrapper of the MPI C API (pkg-config package ompi-c):
//
//	apt-get install -y libopenmpi-dev openmpi-bin   # Debian, Ubuntu
//	go build -tags mpi ./cmd/prog
//	go test -tags mpi ./train/dist
//
// The mpi tag has no effect when cgo is disabled (CGO_ENABLED=0): the build
// is then the default one, and Open fails if the process was started by
// mpirun with more than one process (see [Open]).
//
// # Launching
//
// A program built with -tags mpi is started by Open MPI's launcher:
//
//	mpirun -np 2 ./prog -flags...                  # 2 processes on this machine
//	mpirun --hostfile hosts -np 8 ./prog -flags... # 8 processes over several machines
//
// where hosts lists one machine per line ("node1 slots=4"). The same binary
// and its data must be present at the same path on every machine, and
// mpirun must be able to start processes there (usually with ssh and no
// password). Running as root needs --allow-run-as-root; running more
// processes than cores needs --oversubscribe. Started without mpirun, the
// same binary runs as a single process with [Local].
//
// # Threading
//
// The MPI AllReducer initialises MPI with MPI_THREAD_SERIALIZED: MPI may be
// called from any OS thread, one call at a time. Go moves goroutines between
// OS threads, so the package serialises every MPI call with a mutex, and it
// runs MPI_Init_thread and MPI_Finalize on one dedicated goroutine locked to
// its OS thread, because MPI requires MPI_Finalize to be called by the thread
// that initialised MPI. An AllReducer may therefore be used from any
// goroutine. Collectives issued concurrently by several goroutines are
// serialised in an order that can differ between ranks, which breaks the
// contract above: issue the collectives of a job from one goroutine at a
// time, in program order.
//
// # Faults
//
// A rank that fails should call Abort, or simply exit with a non-zero status
// (os.Exit, log.Fatal, an unrecovered panic). Either way the job stops
// within seconds, and no rank is left waiting:
//
//   - Abort prints a line naming the rank to standard error and calls
//     MPI_Abort; mpirun kills every rank and exits with the abort code, even
//     while another goroutine of the aborting rank waits in a collective.
//   - When a rank exits with a non-zero status, or exits without calling
//     Close (even with status 0), mpirun kills the remaining ranks,
//     including those waiting in a collective for the rank that died,
//     prints which rank failed and how ("Exit code: 3", "exiting
//     improperly"), and exits with a non-zero status.
//
// A rank that neither exits nor reaches the next collective (an endless
// loop, a deadlock) does make the other ranks wait: there is no timeout on
// collectives. Go's own signal handling is unaffected by MPI: a nil
// dereference is still a Go panic.
//
// MPI errors are returned, not fatal: the MPI AllReducer sets
// MPI_ERRORS_RETURN on MPI_COMM_WORLD and converts error codes to Go errors
// with MPI_Error_string. After an MPI error the state of the job is
// undefined; the caller should report it and call Abort.
package dist

import (
	"fmt"
	"os"
	"unsafe"
)

// AllReducer combines buffers across the processes of a data-parallel job.
// See the package documentation for the contract that every rank must follow.
type AllReducer interface {
	Rank() int // this process, 0 ≤ Rank < Size
	Size() int // number of processes
	// AllReduce sums src element-wise over all processes into dst (same
	// length; dst may alias src).
	AllReduce(dst, src []float32) error
	AllReduce64(dst, src []float64) error
	// Broadcast copies root's buf into every process's buf.
	Broadcast(buf []float32, root int) error
	Broadcast64(buf []float64, root int) error
	// Abort stops every process of the job with the given code
	// (MPI_Abort); used when one rank fails so nothing hangs. It does not
	// return.
	Abort(code int)
	Close() error   // MPI_Finalize; idempotent
	String() string // e.g. "local (1 process)" or "openmpi 4.1.4: rank 1 of 2 on host"
}

// Local is the single-process AllReducer of the default build: Rank 0,
// Size 1. AllReduce copies src to dst; Broadcast does nothing and accepts
// only root 0; Abort exits the process; Close does nothing.
type Local struct{}

var _ AllReducer = Local{}

// Rank returns 0.
func (Local) Rank() int { return 0 }

// Size returns 1.
func (Local) Size() int { return 1 }

// AllReduce copies src into dst: the sum over one process.
func (Local) AllReduce(dst, src []float32) error {
	if err := checkPair("AllReduce", dst, src); err != nil {
		return err
	}
	copy(dst, src)
	return nil
}

// AllReduce64 copies src into dst: the sum over one process.
func (Local) AllReduce64(dst, src []float64) error {
	if err := checkPair("AllReduce64", dst, src); err != nil {
		return err
	}
	copy(dst, src)
	return nil
}

// Broadcast leaves buf as it is; root must be 0.
func (Local) Broadcast(buf []float32, root int) error { return checkRoot("Broadcast", root, 1) }

// Broadcast64 leaves buf as it is; root must be 0.
func (Local) Broadcast64(buf []float64, root int) error { return checkRoot("Broadcast64", root, 1) }

// Abort exits the process with the given code.
func (Local) Abort(code int) { os.Exit(code) }

// Close does nothing.
func (Local) Close() error { return nil }

// String returns "local (1 process)".
func (Local) String() string { return "local (1 process)" }

// launched reports whether the process was started by Open MPI's mpirun (or
// another PMIx launcher), and the job size that the launcher announced (0 if
// unknown).
func launched() (ok bool, size int) {
	s := os.Getenv("OMPI_COMM_WORLD_SIZE")
	if s == "" && os.Getenv("PMIX_RANK") == "" {
		return false, 0
	}
	fmt.Sscan(s, &size)
	return true, size
}

// Open returns the AllReducer for this process.
//
// In a build with the mpi tag and cgo, when the environment shows that the
// process was started by mpirun (OMPI_COMM_WORLD_SIZE or PMIX_RANK is set
// and not empty), Open initialises MPI and returns the MPI AllReducer over
// MPI_COMM_WORLD. MPI can be initialised only once per process: later calls
// of Open return the same AllReducer, and calls after its Close return an
// error. In every other case Open returns [Local] — except that in a build
// without MPI, Open returns an error if OMPI_COMM_WORLD_SIZE announces more
// than one process, rather than let every rank train alone on the whole
// data set.
func Open() (AllReducer, error) {
	ok, size := launched()
	if !ok {
		return Local{}, nil
	}
	return openMPI(size)
}

func checkRoot(op string, root, size int) error {
	if root < 0 || root >= size {
		return fmt.Errorf("dist: %s: root %d out of range [0, %d)", op, root, size)
	}
	return nil
}

// checkPair checks that dst and src have the same length and are either the
// same slice or disjoint.
func checkPair[T float32 | float64](op string, dst, src []T) error {
	if len(dst) != len(src) {
		return fmt.Errorf("dist: %s: len(dst) = %d, len(src) = %d", op, len(dst), len(src))
	}
	if len(dst) == 0 || &dst[0] == &src[0] {
		return nil
	}
	size := uintptr(len(dst)) * unsafe.Sizeof(dst[0])
	d, s := uintptr(unsafe.Pointer(&dst[0])), uintptr(unsafe.Pointer(&src[0]))
	if d < s+size && s < d+size {
		return fmt.Errorf("dist: %s: dst and src overlap without being the same slice", op)
	}
	return nil
}
