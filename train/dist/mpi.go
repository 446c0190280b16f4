//go:build mpi && cgo

package dist

/*
#cgo pkg-config: ompi-c
#include <stdlib.h>
#include <mpi.h>

// Wrappers over the MPI C API: the handles (MPI_COMM_WORLD, MPI_FLOAT, …) are
// macros that cgo cannot always evaluate, so they are used only here. No
// wrapper keeps a pointer it is given after it returns.

static int dist_init(int *provided) {
	return MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, provided);
}
static int dist_errors_return(void) {
	return MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}
static int dist_rank(int *rank) { return MPI_Comm_rank(MPI_COMM_WORLD, rank); }
static int dist_size(int *size) { return MPI_Comm_size(MPI_COMM_WORLD, size); }
static MPI_Datatype dist_type(int dbl) { return dbl ? MPI_DOUBLE : MPI_FLOAT; }

// dist_allreduce sums n elements; src == dst means in place.
static int dist_allreduce(void *src, void *dst, int n, int dbl) {
	return MPI_Allreduce(src == dst ? MPI_IN_PLACE : src, dst, n, dist_type(dbl), MPI_SUM, MPI_COMM_WORLD);
}
static int dist_bcast(void *buf, int n, int dbl, int root) {
	return MPI_Bcast(buf, n, dist_type(dbl), root, MPI_COMM_WORLD);
}
static int dist_abort(int code) { return MPI_Abort(MPI_COMM_WORLD, code); }
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// maxCount is the most elements passed to one MPI call (its count argument
// is a C int); longer buffers are processed in chunks. Tests lower it.
var maxCount = math.MaxInt32

// mpiComm is the AllReducer over MPI_COMM_WORLD.
type mpiComm struct {
	mu     sync.Mutex // held during every MPI call (MPI_THREAD_SERIALIZED)
	closed atomic.Bool
	rank   int
	size   int
	desc   string
	fin    chan chan error // asks the initialising thread to finalise
}

var (
	openMu  sync.Mutex
	world   *mpiComm // set by the first successful openMPI
	initErr error    // set by a failed openMPI
)

// errClosed is returned by calls made after Close.
var errClosed = errors.New("dist: AllReducer used after Close")

func openMPI(int) (AllReducer, error) {
	openMu.Lock()
	defer openMu.Unlock()
	if world != nil {
		if world.closed.Load() {
			return nil, fmt.Errorf("dist: MPI was finalised by Close and cannot be initialised again")
		}
		return world, nil
	}
	if initErr != nil {
		return nil, initErr
	}
	m := &mpiComm{fin: make(chan chan error)}
	ready := make(chan error)
	go m.mainThread(ready)
	if err := <-ready; err != nil {
		initErr = err
		return nil, err
	}
	world = m
	return m, nil
}

// mainThread initialises MPI and later finalises it, on one OS thread: MPI
// requires MPI_Finalize to be called by the thread that initialised MPI.
// The goroutine stays locked to its thread, which exits with it.
func (m *mpiComm) mainThread(ready chan<- error) {
	runtime.LockOSThread()
	m.mu.Lock()
	err := m.init()
	m.mu.Unlock()
	ready <- err
	if err != nil {
		return
	}
	done := <-m.fin
	rc := C.MPI_Finalize()
	if rc != C.MPI_SUCCESS {
		// MPI_Error_string may not be called after MPI_Finalize.
		done <- fmt.Errorf("dist: MPI_Finalize: MPI error %d", int(rc))
		return
	}
	done <- nil
}

// init runs on the main thread with m.mu held.
func (m *mpiComm) init() error {
	var provided C.int
	if rc := C.dist_init(&provided); rc != C.MPI_SUCCESS {
		return fmt.Errorf("dist: MPI_Init_thread failed: MPI error %d", int(rc))
	}
	if err := m.check("MPI_Comm_set_errhandler", C.dist_errors_return()); err != nil {
		return err
	}
	if provided < C.MPI_THREAD_SERIALIZED {
		C.MPI_Finalize()
		return fmt.Errorf("dist: MPI_Init_thread: the MPI library provides thread level %d, need MPI_THREAD_SERIALIZED (%d)",
			int(provided), int(C.MPI_THREAD_SERIALIZED))
	}
	var rank, size C.int
	if err := m.check("MPI_Comm_rank", C.dist_rank(&rank)); err != nil {
		return err
	}
	if err := m.check("MPI_Comm_size", C.dist_size(&size)); err != nil {
		return err
	}
	m.rank, m.size = int(rank), int(size)

	var ver [C.MPI_MAX_LIBRARY_VERSION_STRING]C.char
	var n C.int
	lib := "MPI"
	if C.MPI_Get_library_version(&ver[0], &n) == C.MPI_SUCCESS {
		lib = libraryName(C.GoStringN(&ver[0], n))
	}
	var name [C.MPI_MAX_PROCESSOR_NAME]C.char
	host := "?"
	if C.MPI_Get_processor_name(&name[0], &n) == C.MPI_SUCCESS {
		host = C.GoStringN(&name[0], n)
	}
	m.desc = fmt.Sprintf("%s: rank %d of %d on %s", lib, m.rank, m.size, host)
	return nil
}

// libraryName shortens MPI_Get_library_version's text: "Open MPI v4.1.4,
// package: …" becomes "openmpi 4.1.4"; other libraries keep their first
// line.
func libraryName(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if v, ok := strings.CutPrefix(s, "Open MPI v"); ok {
		if i := strings.IndexByte(v, ','); i >= 0 {
			v = v[:i]
		}
		return "openmpi " + v
	}
	return s
}

// check converts an MPI return code to an error; m.mu must be held.
func (m *mpiComm) check(op string, rc C.int) error {
	if rc == C.MPI_SUCCESS {
		return nil
	}
	var buf [C.MPI_MAX_ERROR_STRING]C.char
	var n C.int
	if C.MPI_Error_string(rc, &buf[0], &n) != C.MPI_SUCCESS {
		return fmt.Errorf("dist: %s: MPI error %d", op, int(rc))
	}
	return fmt.Errorf("dist: %s: %s (MPI error %d)", op, C.GoStringN(&buf[0], n), int(rc))
}

func (m *mpiComm) Rank() int      { return m.rank }
func (m *mpiComm) Size() int      { return m.size }
func (m *mpiComm) String() string { return m.desc }

func (m *mpiComm) AllReduce(dst, src []float32) error {
	if err := checkPair("AllReduce", dst, src); err != nil {
		return err
	}
	return allReduce(m, dst, src, 0)
}

func (m *mpiComm) AllReduce64(dst, src []float64) error {
	if err := checkPair("AllReduce64", dst, src); err != nil {
		return err
	}
	return allReduce(m, dst, src, 1)
}

func allReduce[T float32 | float64](m *mpiComm, dst, src []T, dbl C.int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return errClosed
	}
	inPlace := len(dst) == 0 || &dst[0] == &src[0]
	for off := 0; off < len(dst); off += maxCount {
		n := min(maxCount, len(dst)-off)
		d := unsafe.Pointer(&dst[off])
		s := d // in place
		if !inPlace {
			s = unsafe.Pointer(&src[off])
		}
		if err := m.check("MPI_Allreduce", C.dist_allreduce(s, d, C.int(n), dbl)); err != nil {
			return err
		}
	}
	return nil
}

func (m *mpiComm) Broadcast(buf []float32, root int) error {
	if err := checkRoot("Broadcast", root, m.size); err != nil {
		return err
	}
	return broadcast(m, buf, root, 0)
}

func (m *mpiComm) Broadcast64(buf []float64, root int) error {
	if err := checkRoot("Broadcast64", root, m.size); err != nil {
		return err
	}
	return broadcast(m, buf, root, 1)
}

func broadcast[T float32 | float64](m *mpiComm, buf []T, root int, dbl C.int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return errClosed
	}
	for off := 0; off < len(buf); off += maxCount {
		n := min(maxCount, len(buf)-off)
		rc := C.dist_bcast(unsafe.Pointer(&buf[off]), C.int(n), dbl, C.int(root))
		if err := m.check("MPI_Bcast", rc); err != nil {
			return err
		}
	}
	return nil
}

// Abort prints a line naming this rank to standard error and calls
// MPI_Abort, which makes mpirun stop every rank of the job and exit with
// status code. It does not return. It does not wait for an MPI call in
// progress on another goroutine (which may be waiting for a rank that will
// never answer): the job is being torn down, and Open MPI's MPI_Abort only
// asks the runtime to kill it. After Close, or if MPI_Abort returns, it
// exits the process with code.
func (m *mpiComm) Abort(code int) {
	// Open MPI's own report of the abort does not always reach mpirun's
	// output, so say which rank stops the job.
	fmt.Fprintf(os.Stderr, "dist: %s: Abort(%d): stopping the job\n", m.desc, code)
	_ = m.mu.TryLock() // keep other goroutines out of MPI, but do not wait
	if !m.closed.Load() {
		C.dist_abort(C.int(code))
	}
	os.Exit(code)
}

// Close finalises MPI on the thread that initialised it. Later calls return
// nil; collectives after Close return an error.
func (m *mpiComm) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return nil
	}
	m.closed.Store(true)
	done := make(chan error)
	m.fin <- done
	return <-done
}

// invalidCall makes an MPI call with a negative count, which MPI rejects
// locally with MPI_ERR_COUNT; tests use it to check that MPI errors come back
// as Go errors.
func (m *mpiComm) invalidCall() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var x C.float
	p := unsafe.Pointer(&x)
	return m.check("MPI_Allreduce", C.dist_allreduce(p, p, -1, 0))
}
