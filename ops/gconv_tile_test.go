package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestGConvTileKernels compares the tile kernels of ConvGrouped's float32
// passes with the float64 im2col and direct kernels, on random geometries
// that exercise every tile size, several column blocks, chunks of images,
// strides, dilations and padding wider than the kernel.
func TestGConvTileKernels(t *testing.T) {
	if !haveGconvAsm {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(61, 62))
	geoms := []gconvGeom{
		// the benchmarks' shapes
		{N: 64, C: 32, H: 14, W: 14, F: 32, G: 32, Window: Window{KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1}},
		{N: 8, C: 32, H: 14, W: 14, F: 32, G: 2, Window: Window{KH: 3, KW: 3, SH: 1, SW: 1, PH: 2, PW: 2, DH: 2, DW: 2}},
		// wide rows (several column blocks), tall planes
		{N: 3, C: 6, H: 37, W: 40, F: 9, G: 3, Window: Window{KH: 3, KW: 5, SH: 1, SW: 1, PH: 1, PW: 2, DH: 1, DW: 1}},
		{N: 2, C: 4, H: 20, W: 33, F: 8, G: 4, Window: Window{KH: 5, KW: 3, SH: 2, SW: 1, PH: 4, PW: 1, DH: 2, DW: 3}},
		// flat planes (stride 1, rows as wide as the input's), of whole
		// vectors and over several tiles
		{N: 2, C: 4, H: 8, W: 8, F: 8, G: 2, Window: Window{KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1}},
		{N: 2, C: 2, H: 30, W: 29, F: 6, G: 2, Window: Window{KH: 5, KW: 3, SH: 1, SW: 1, PH: 4, PW: 2, DH: 2, DW: 2}},
		// 16 filters per group or more: the broadcasting filter gradient
		{N: 9, C: 6, H: 13, W: 11, F: 32, G: 2, Window: Window{KH: 3, KW: 2, SH: 2, SW: 1, PH: 1, PW: 0, DH: 2, DW: 3}},
		{N: 3, C: 3, H: 21, W: 18, F: 48, G: 3, Window: Window{KH: 3, KW: 3, SH: 1, SW: 1, PH: 2, PW: 2, DH: 2, DW: 2}},
		{N: 2, C: 2, H: 5, W: 7, F: 32, G: 1, Window: Window{KH: 4, KW: 1, SH: 1, SW: 1, PH: 5, PW: 1, DH: 1, DW: 1}},
		{N: 5, C: 28, H: 6, W: 40, F: 64, G: 2, Window: Window{KH: 2, KW: 3, SH: 3, SW: 1, PH: 0, PW: 3, DH: 1, DW: 1}},
	}
	for len(geoms) < 60 {
		cg, fg := 1+rng.IntN(5), 1+rng.IntN(9)
		gr := 1 + rng.IntN(3)
		if rng.IntN(3) == 0 {
			cg = 1
		}
		win := Window{KH: 1 + rng.IntN(5), KW: 1 + rng.IntN(5), SH: 1 + rng.IntN(3), SW: 1,
			PH: rng.IntN(5), PW: rng.IntN(5), DH: 1 + rng.IntN(3), DW: 1 + rng.IntN(3)}
		if rng.IntN(2) == 0 {
			win.SH = 1
		}
		g := gconvGeom{N: 1 + rng.IntN(5), C: cg * gr, H: 1 + rng.IntN(30), W: 1 + rng.IntN(40), F: fg * gr, G: gr, Window: win}
		var err error
		if g.OH, g.OW, err = win.Out(g.H, g.W); err != nil {
			continue
		}
		geoms = append(geoms, g)
	}
	for i, g := range geoms {
		g.OH, g.OW, _ = g.Out(g.H, g.W)
		t.Run(fmt.Sprint(i, "/", g), func(t *testing.T) {
			if !gconvTileKernels(g) {
				t.Skip("not on the tile kernels")
			}
			if !gconvTilesPay(g) {
				t.Log("(not the kernels ConvGrouped runs)")
			}
			rnd := func(n int) ([]float32, []float64) {
				a, b := make([]float32, n), make([]float64, n)
				for i := range a {
					a[i] = float32(2*rng.Float64() - 1)
					b[i] = float64(a[i])
				}
				return a, b
			}
			x32, x64 := rnd(g.N * g.C * g.H * g.W)
			w32, w64 := rnd(g.F * g.k())
			b32, b64 := rnd(g.F)
			dy32, dy64 := rnd(g.N * g.F * g.p())
			ws := new(convWorkspace)
			check := func(what string, got []float32, want []float64) {
				t.Helper()
				var d, n float64
				for i := range want {
					d = math.Max(d, math.Abs(float64(got[i])-want[i]))
					n = math.Max(n, math.Abs(want[i]))
				}
				if d/math.Max(n, 1) > 1e-5 || math.IsNaN(d) {
					t.Errorf("%s: max difference %g (largest %g)", what, d, n)
				}
			}
			for _, act := range []Activation{Linear, ReLU} {
				y64 := make([]float64, g.N*g.F*g.p())
				gconvForwardKernel[float64](g, ws, act, false)(y64, [][]float64{x64, w64, b64})
				y32 := make([]float32, len(y64))
				gconvTileForwardKernel[float32](g, act)(y32, [][]float32{x32, w32, b32})
				check(fmt.Sprint("forward ", act), y32, y64)
			}
			if gconvBcastApplies(g) {
				t.Log("(the broadcasting filter gradient)")
			}
			if g.plan().flat() {
				t.Log("(flat)")
			}
			dw64 := make([]float64, len(w64))
			gconvFilterGradKernel[float64](g, ws, false)(dw64, [][]float64{x64, dy64})
			dw32 := make([]float32, len(w32))
			for range 2 { // the second call reuses the partial sums' buffer
				gconvTileFilterGradKernel[float32](g, ws)(dw32, [][]float32{x32, dy32})
				check("filter gradient", dw32, dw64)
			}
			if k := gconvTileBackDataKernel[float32](g); k != nil {
				cb32, cb64 := rnd(g.C)
				dx64 := make([]float64, len(x64))
				gconvBackDataKernel[float64](g, ws, false)(dx64, [][]float64{dy64, w64, cb64})
				dx32 := make([]float32, len(x32))
				k(dx32, [][]float32{dy32, w32, cb32})
				check("input gradient", dx32, dx64)
			} else if g.SH == 1 {
				t.Error("no input-gradient tile kernel at stride 1")
			}
		})
	}
}

// TestGConvTileKernelsAllocateNothing runs the tile kernels of the
// benchmarks' shapes after a warm-up call.
func TestGConvTileKernelsAllocateNothing(t *testing.T) {
	if !haveGconvAsm {
		t.Skip("no AVX-512")
	}
	for _, g := range []gconvGeom{
		{N: 16, C: 32, H: 14, W: 14, F: 32, G: 32, Window: Window{KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1}},
		{N: 16, C: 32, H: 14, W: 14, F: 32, G: 2, Window: Window{KH: 3, KW: 3, SH: 1, SW: 1, PH: 2, PW: 2, DH: 2, DW: 2}},
		{N: 4, C: 6, H: 20, W: 40, F: 9, G: 3, Window: Window{KH: 3, KW: 5, SH: 1, SW: 1, PH: 1, PW: 2, DH: 1, DW: 1}},
	} {
		g.OH, g.OW, _ = g.Out(g.H, g.W)
		x, w, b := make([]float32, g.N*g.C*g.H*g.W), make([]float32, g.F*g.k()), make([]float32, g.F)
		y, dw := make([]float32, g.N*g.F*g.p()), make([]float32, len(w))
		ws := new(convWorkspace)
		fwd := gconvTileForwardKernel[float32](g, ReLU)
		back := gconvTileBackDataKernel[float32](g)
		filt := gconvTileFilterGradKernel[float32](g, ws)
		fin, bin, gin := [][]float32{x, w, b}, [][]float32{y, w}, [][]float32{x, y}
		for name, run := range map[string]func(){
			"forward":         func() { fwd(y, fin) },
			"input gradient":  func() { back(x, bin) },
			"filter gradient": func() { filt(dw, gin) },
		} {
			run()
			if a := testing.AllocsPerRun(20, run); a != 0 {
				t.Errorf("%v %s: %v allocations per call", g, name, a)
			}
		}
	}
}

// TestGConvTranspose checks gconvTransposeAsm on plane lengths with and
// without a partial block.
func TestGConvTranspose(t *testing.T) {
	if !haveGconvAsm {
		t.Skip("no AVX-512")
	}
	for _, p := range []int{1, 5, 16, 17, 196, 200} {
		src := make([]float32, 16*p)
		for i := range src {
			src[i] = float32(i + 1)
		}
		dst := make([]float32, (p+15)/16*256)
		gconvTransposeAsm(&gconvTransposeArgs{src: uintptr(unsafe.Pointer(&src[0])), dst: uintptr(unsafe.Pointer(&dst[0])),
			ps: 4 * p, full: p / 16, tail: int(uint16(1)<<(p%16) - 1)})
		for q := 0; q < p; q++ {
			for f := 0; f < 16; f++ {
				if got, want := dst[16*q+f], src[f*p+q]; got != want {
					t.Fatalf("P %d: position %d filter %d is %v, want %v", p, q, f, got, want)
				}
			}
		}
	}
}
