//go:build !noasm

package ops

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// guarded returns n float32s that end (end true) or start at a page that
// cannot be read or written, so that a kernel touching memory past the
// end (before the start) of its data faults.
func guarded(t *testing.T, n int, end bool) []float32 {
	page := unix.Getpagesize()
	size := (n*4+page-1)/page*page + page
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Skip("mmap:", err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	all := unsafe.Slice((*float32)(unsafe.Pointer(&mem[0])), size/4)
	if end {
		if err := unix.Mprotect(mem[size-page:], unix.PROT_NONE); err != nil {
			t.Skip("mprotect:", err)
		}
		return all[size/4-page/4-n : size/4-page/4]
	}
	if err := unix.Mprotect(mem[:page], unix.PROT_NONE); err != nil {
		t.Skip("mprotect:", err)
	}
	return all[page/4 : page/4+n]
}

// TestNormKernelsStayInRows runs every assembly kernel on data next to an
// inaccessible page, after and before it: a read or write outside the
// rows would crash the test. (A masked-off lane of an AVX-512 load does
// not fault, but costs a microcode assist when its page is not mapped, so
// the kernels never touch memory outside their rows at all.)
func TestNormKernelsStayInRows(t *testing.T) {
	if !haveNormAsm {
		t.Skip("no AVX-512")
	}
	for _, n := range []int{32, 33, 39, 40, 63, 64, 196, 511} {
		for _, end := range []bool{true, false} {
			x, dy, y := guarded(t, 2*n, end), guarded(t, 2*n, end), guarded(t, 2*n, end)
			g32, b32 := guarded(t, 4*n, end), guarded(t, 4*n, end)
			g := unsafe.Slice((*float64)(unsafe.Pointer(&g32[0])), 2*n)
			b := unsafe.Slice((*float64)(unsafe.Pointer(&b32[0])), 2*n)
			for i := range x {
				x[i], dy[i], g[i], b[i] = float32(i%7), float32(i%5)-2, 1.5, 0.5
			}
			acc := make([]float64, n)
			co := [4]float64{0.5, 1, 0.1, 0.2}
			_ = rowsSum(x, n, 2, n) + rowsSqDev(x, n, 2, n, 0.5)
			_ = rowsGradSums(x, dy, n, 2, n, 0.5)
			bnNormRows(y, x, n, 2, n, 0.5, 2, 1, Linear)
			bnDxRows(y, dy, x, n, 2, n, &co)
			lnNormRow(y[n:], x[n:], g[n:], b[n:], 0.5, 2)
			lnNormRow(y[:n], x[:n], g[:n], b[:n], 0.5, 2)
			_ = lnGradSumsRow(x[n:], dy[n:], g[n:], 0.5)
			_ = lnGradSumsRow(x[:n], dy[:n], g[:n], 0.5)
			lnDxRow(y[n:], dy[n:], x[n:], g[n:], &co)
			lnDxRow(y[:n], dy[:n], x[:n], g[:n], &co)
			lnColAccRow(acc, dy[n:], x[n:], 0.5, 2)
			colAddRow(acc, dy[n:])
			planeMeans(y[:2], x, n)
			planeFill(y, x[:2], n)
		}
	}
}
