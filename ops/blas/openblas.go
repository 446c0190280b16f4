//go:build linux && (amd64 || arm64) && !noopenblas

package blas

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ebitengine/purego"
)

// openBLASNames returns the libraries tried, in order, after
// RETINA_BLAS_LIB.
func openBLASNames() []string {
	multiarch := "x86_64-linux-gnu"
	if runtime.GOARCH == "arm64" {
		multiarch = "aarch64-linux-gnu"
	}
	return []string{
		"libopenblas.so.0",
		"libopenblas.so",
		"/usr/lib/" + multiarch + "/openblas-pthread/libopenblas.so.0",
	}
}

// openBLAS is a dynamically loaded OpenBLAS.
//
// GEMMs go through the Fortran entry points sgemm_ and dgemm_, whose
// arguments are all pointers: purego.SyscallN passes them without
// reflection or allocation. The CBLAS entry points (float scalars in
// registers, through purego.RegisterFunc, which allocates per call) are the
// fallback when a library lacks the Fortran symbols.
type openBLAS struct {
	path   string // file loaded
	config string // openblas_get_config()
	core   string // openblas_get_corename(), if exported
	ilp64  bool   // 64-bit integer interface (USE64BITINT)

	sgemmF, dgemmF  uintptr // sgemm_, dgemm_ (0 if absent)
	setNumThreadsFn uintptr
	getNumThreadsFn uintptr

	cblasSgemm func(order, transA, transB, m, n, k int32, alpha float32, a *float32, lda int32, b *float32, ldb int32, beta float32, c *float32, ldc int32)
	cblasDgemm func(order, transA, transB, m, n, k int32, alpha float64, a *float64, lda int32, b *float64, ldb int32, beta float64, c *float64, ldc int32)
	useCBLAS   bool // call the CBLAS entry points (tests)

	threads *libThreads
}

// libThreads records the value last given to openblas_set_num_threads.
type libThreads struct {
	mu sync.Mutex
	n  atomic.Int64
}

// CBLAS enumerations.
const (
	cblasRowMajor = 101
	cblasNoTrans  = 111
	cblasTrans    = 112
)

// loadOpenBLAS loads OpenBLAS from first (if not empty) or the usual names.
func loadOpenBLAS(first string) (*openBLAS, error) {
	names := openBLASNames()
	if first != "" {
		names = append([]string{first}, names...)
	}
	return loadOpenBLASFrom(names)
}

// loadOpenBLASFrom loads the first of names that is an OpenBLAS library.
func loadOpenBLASFrom(names []string) (*openBLAS, error) {
	var errs []error
	for _, name := range names {
		h, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_LOCAL)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		lib, err := bindOpenBLAS(h, name)
		if err != nil {
			purego.Dlclose(h)
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		return lib, nil
	}
	return nil, fmt.Errorf("cannot load OpenBLAS: %w", errors.Join(errs...))
}

func bindOpenBLAS(h uintptr, name string) (*openBLAS, error) {
	sym := func(s string) uintptr {
		p, err := purego.Dlsym(h, s)
		if err != nil {
			return 0
		}
		return p
	}
	lib := &openBLAS{path: resolvePath(name), threads: new(libThreads)}
	cfg := sym("openblas_get_config")
	lib.setNumThreadsFn = sym("openblas_set_num_threads")
	lib.getNumThreadsFn = sym("openblas_get_num_threads")
	if cfg == 0 || lib.setNumThreadsFn == 0 || lib.getNumThreadsFn == 0 {
		return nil, errors.New("not OpenBLAS (no openblas_get_config, openblas_set_num_threads or openblas_get_num_threads)")
	}
	var getString func() string
	purego.RegisterFunc(&getString, cfg)
	lib.config = getString()
	if p := sym("openblas_get_corename"); p != 0 {
		purego.RegisterFunc(&getString, p)
		lib.core = getString()
	}
	lib.ilp64 = strings.Contains(lib.config, "USE64BITINT")

	lib.sgemmF, lib.dgemmF = sym("sgemm_"), sym("dgemm_")
	if p := sym("cblas_sgemm"); p != 0 {
		purego.RegisterFunc(&lib.cblasSgemm, p)
	}
	if p := sym("cblas_dgemm"); p != 0 {
		purego.RegisterFunc(&lib.cblasDgemm, p)
	}
	switch {
	case lib.sgemmF == 0 && lib.cblasSgemm == nil, lib.dgemmF == 0 && lib.cblasDgemm == nil:
		return nil, errors.New("no sgemm_/cblas_sgemm or dgemm_/cblas_dgemm")
	case (lib.sgemmF == 0 || lib.dgemmF == 0) && lib.ilp64:
		return nil, errors.New("64-bit integer OpenBLAS without sgemm_/dgemm_")
	}
	lib.useCBLAS = lib.sgemmF == 0 || lib.dgemmF == 0
	return lib, nil
}

// cblasVariant returns a copy of lib that calls the CBLAS entry points, or
// nil if lib lacks them.
func (lib *openBLAS) cblasVariant() *openBLAS {
	if lib.cblasSgemm == nil || lib.cblasDgemm == nil {
		return nil
	}
	c := *lib
	c.useCBLAS = true
	return &c
}

// resolvePath returns the file that name was loaded from, as mapped into
// the process, or name if it cannot be found.
func resolvePath(name string) string {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return name
	}
	defer f.Close()
	base := filepath.Base(name)
	base, _, _ = strings.Cut(base, ".") // libopenblas.so.0 → libopenblas (the file may be libopenblasp-r0.3.21.so)
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 6 {
			continue
		}
		if p := fields[len(fields)-1]; strings.HasPrefix(filepath.Base(p), base) {
			return p
		}
	}
	return name
}

func (lib *openBLAS) describe(threads int) string {
	version := "?"
	if f := strings.Fields(lib.config); len(f) > 1 {
		version = f[1]
	}
	core := lib.core
	if core != "" {
		core = " " + core
	}
	return fmt.Sprintf("openblas %s%s (%s, %s)", version, core, lib.path, plural(threads, "thread"))
}

// setThreads makes OpenBLAS use n threads.
func (lib *openBLAS) setThreads(n int) {
	t := lib.threads
	if t.n.Load() == int64(n) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n.Load() == int64(n) {
		return
	}
	purego.SyscallN(lib.setNumThreadsFn, uintptr(n))
	t.n.Store(int64(n))
}

// numThreads returns openblas_get_num_threads().
func (lib *openBLAS) numThreads() int {
	r, _, _ := purego.SyscallN(lib.getNumThreadsFn)
	return int(int32(r))
}

// fits reports whether the dimensions fit the library's integer type.
func (lib *openBLAS) fits(m, n, k, lda, ldb, ldc int) bool {
	if lib.ilp64 {
		return true
	}
	return max(m, n, k, lda, ldb, ldc) <= math.MaxInt32
}

// fortranCall is the argument block of a Fortran GEMM call. It lives on the
// heap (recycled through fortranCalls) so that the pointers handed to C
// stay valid and nothing is allocated per call.
type fortranCall struct {
	transA, transB byte
	i32            [6]int32 // m, n, k, lda, ldb, ldc
	i64            [6]int64
	salpha, sbeta  float32
	dalpha, dbeta  float64
	a, b, c        unsafe.Pointer // keep the matrices alive and on the heap
	args           [15]uintptr
}

var fortranCalls freeList[fortranCall]

// gemm calls fn (sgemm_ or dgemm_). Row-major C = op(A)·op(B) is
// column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: B and A swap places, as do m and n.
func (lib *openBLAS) gemm(fn uintptr, f *fortranCall, transA, transB bool, m, n, k, lda, ldb, ldc int, alpha, beta unsafe.Pointer) {
	f.transA, f.transB = 'N', 'N'
	if transA {
		f.transA = 'T'
	}
	if transB {
		f.transB = 'T'
	}
	dims := [6]int{n, m, k, ldb, lda, ldc}
	var ip [6]uintptr
	for i, d := range dims {
		if lib.ilp64 {
			f.i64[i] = int64(d)
			ip[i] = uintptr(unsafe.Pointer(&f.i64[i]))
		} else {
			f.i32[i] = int32(d)
			ip[i] = uintptr(unsafe.Pointer(&f.i32[i]))
		}
	}
	f.args = [15]uintptr{
		uintptr(unsafe.Pointer(&f.transB)), uintptr(unsafe.Pointer(&f.transA)),
		ip[0], ip[1], ip[2], // n, m, k
		uintptr(alpha),
		uintptr(f.b), ip[3], // B, ldb
		uintptr(f.a), ip[4], // A, lda
		uintptr(beta),
		uintptr(f.c), ip[5], // C, ldc
		1, 1, // hidden lengths of the two CHARACTER arguments
	}
	purego.SyscallN(fn, f.args[:]...)
	runtime.KeepAlive(f)
}

func (lib *openBLAS) sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if lib.useCBLAS {
		lib.cblasSgemm(cblasRowMajor, cblasTranspose(transA), cblasTranspose(transB), int32(m), int32(n), int32(k),
			alpha, &a[0], int32(lda), &b[0], int32(ldb), beta, &c[0], int32(ldc))
		return
	}
	f := fortranCalls.get()
	f.salpha, f.sbeta = alpha, beta
	f.a, f.b, f.c = unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0]), unsafe.Pointer(&c[0])
	lib.gemm(lib.sgemmF, f, transA, transB, m, n, k, lda, ldb, ldc, unsafe.Pointer(&f.salpha), unsafe.Pointer(&f.sbeta))
	f.a, f.b, f.c = nil, nil, nil
	fortranCalls.put(f)
}

func (lib *openBLAS) dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if lib.useCBLAS {
		lib.cblasDgemm(cblasRowMajor, cblasTranspose(transA), cblasTranspose(transB), int32(m), int32(n), int32(k),
			alpha, &a[0], int32(lda), &b[0], int32(ldb), beta, &c[0], int32(ldc))
		return
	}
	f := fortranCalls.get()
	f.dalpha, f.dbeta = alpha, beta
	f.a, f.b, f.c = unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0]), unsafe.Pointer(&c[0])
	lib.gemm(lib.dgemmF, f, transA, transB, m, n, k, lda, ldb, ldc, unsafe.Pointer(&f.dalpha), unsafe.Pointer(&f.dbeta))
	f.a, f.b, f.c = nil, nil, nil
	fortranCalls.put(f)
}

func cblasTranspose(t bool) int32 {
	if t {
		return cblasTrans
	}
	return cblasNoTrans
}
