//go:build !noasm

package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/retina-ml/retina/ops/blas"
)

// TestConvLanesKernelsStayInBuffers runs im2colAsm and col2imAsm (and
// im2rowAsm where it applies) on
// images, columns and gradients that end (start) at an inaccessible page,
// with the image's columns last (first) in a chunk of two: a read or write
// past the last row of the image or past its last output row in cols (or
// before the first ones) crashes the test. The results must still match
// the Go kernels. The geometries are a grid of strides, kernels and
// paddings, then same-size stride-1 ones for the flat kernels, whose
// loads start before the plane and end past it with those lanes masked
// out.
func TestConvLanesKernelsStayInBuffers(t *testing.T) {
	if !haveRowsAsm {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var lanes convLanes
	n, wideOut, flat := 0, 0, 0
	check := func(g convGeom) {
		for _, end := range []bool{true, false} {
			n++
			if g.OW > 16 {
				wideOut++
			}
			if g.flatAsm() {
				flat++
			}
			name := fmt.Sprintf("%v end %t", g, end)
			P, K, img, ld := g.p(), g.ckk(), g.C*g.H*g.W, 2*g.p()
			i := 0
			if end {
				i = 1
			}
			x, cols, dx := guarded(t, img, end), guarded(t, K*ld, end), guarded(t, img, end)
			asmTestValues(rng, x)
			want := make([]float32, K*ld)
			asmTestGarbage(want)
			copy(cols, want)
			im2col(g, x, want[i*P:], ld)
			lanes.setIm2col(g)
			im2colAsm(g, x, cols[i*P:], ld, &lanes)
			if j := sameBits(want, cols); j >= 0 {
				t.Fatalf("im2col %s: cell %d: asm %v, Go %v", name, j, cols[j], want[j])
			}
			if g.rowsAsm(4) {
				// The transposed columns, the image's rows last (first)
				// of two, with its own guarded scratch.
				rows, tile := guarded(t, 2*P*K, end), guarded(t, g.rowsTile(), end)
				asmTestGarbage(rows)
				asmTestGarbage(tile)
				lanes.setIm2row(g)
				g.setRowTables(tile)
				im2rowAsm(g, x, rows[i*P*K:], K, &lanes, tile)
				for p := 0; p < P; p++ {
					for j := 0; j < K; j++ {
						if got, want := rows[(i*P+p)*K+j], want[j*ld+i*P+p]; math.Float32bits(got) != math.Float32bits(want) {
							t.Fatalf("im2row %s: position %d, row %d of cols: asm %v, im2col %v", name, p, j, got, want)
						}
					}
				}
			}
			asmTestValues(rng, cols)
			wantDx := make([]float32, img)
			col2im(g, cols[i*P:], ld, wantDx)
			lanes.setCol2im(g)
			col2imAsm(g, cols[i*P:], ld, dx, &lanes)
			if j := sameBits(wantDx, dx); j >= 0 {
				t.Fatalf("col2im %s: cell %d: asm %v, Go %v", name, j, dx[j], wantDx[j])
			}
		}
	}
	for _, w := range []int{1, 5, 14, 15, 16, 17, 24, 28, 31, 32} {
		for _, k := range [][2]int{{1, 1}, {3, 3}, {2, 4}, {5, 5}} {
			for _, s := range [][2]int{{1, 1}, {2, 2}, {3, 1}, {1, 3}} {
				for _, p := range []int{0, 1, 3} {
					g := convGeom{N: 1, C: 2, H: 3 + w%5, W: w, F: 1,
						Window: Window{KH: k[0], KW: k[1], SH: s[0], SW: s[1], PH: p, PW: p}}
					var err error
					if g.OH, g.OW, err = g.Window.Out(g.H, g.W); err != nil || !g.asmConvGeom() {
						continue
					}
					check(g)
				}
			}
		}
	}
	for _, hw := range [][2]int{{1, 1}, {1, 5}, {2, 3}, {3, 3}, {7, 7}, {7, 12}, {12, 7}, {14, 14}, {16, 16}, {17, 5}, {28, 28}, {31, 9}, {32, 32}} {
		for _, k := range [][4]int{{1, 1, 0, 0}, {3, 3, 1, 1}, {5, 5, 2, 2}, {7, 7, 3, 3}, {3, 5, 1, 2}} {
			g := convGeom{N: 1, C: 3, H: hw[0], W: hw[1], F: 1,
				Window: Window{KH: k[0], KW: k[1], SH: 1, SW: 1, PH: k[2], PW: k[3]}}
			g.OH, g.OW, _ = g.Window.Out(g.H, g.W)
			check(g)
		}
	}
	t.Logf("%d cases, %d with OW > 16, %d on the flat kernels", n, wideOut, flat)
	if n < 500 || wideOut < 60 || flat < 150 {
		t.Fatalf("only %d cases, %d with OW > 16, %d on the flat kernels", n, wideOut, flat)
	}
}

// TestConvAsmPathMatchesGoPath runs the convolution and its gradients on
// ResNet's stride-2 geometries, its stride-1 stage 1 on 28×28 maps (with
// fewer channels, for several images per chunk) and stem, LeNet's conv1
// (and a few others), with chunks of several images, once on the assembly
// kernels and once on the Go ones (haveRowsAsm off): the results must be
// the same bits. The same-size stride-1 ones (ResNet's 7×7, 14×14 and
// 28×28 stages, 1×1 pad 0, 5×5 pad 2, 7×7 pad 3, 3×5 pad (1, 2), a 1×1
// image) take the flat kernels (the 32×32 one for col2im only), but for a
// 7×7 kernel on 32×32, past their masks. The forward pass and the input
// gradient are also run in chunks of one image: the same bits again on
// Retina's SGEMM.
func TestConvAsmPathMatchesGoPath(t *testing.T) {
	if !haveRowsAsm {
		t.Skip("no AVX-512")
	}
	defer func(n int) { haveRowsAsm, convChunksFwd = true, n }(convChunksFwd)
	rng := rand.New(rand.NewPCG(4, 9))
	flat, severalFwd := 0, 0
	for _, c := range []struct {
		x, w   []int
		stride int
		pad    [2]int
	}{
		{[]int{8, 16, 28, 28}, []int{32, 16, 3, 3}, 2, [2]int{1, 1}},
		{[]int{9, 32, 14, 14}, []int{64, 32, 3, 3}, 2, [2]int{1, 1}},
		{[]int{8, 16, 28, 28}, []int{32, 16, 1, 1}, 2, [2]int{0, 0}},
		{[]int{9, 32, 14, 14}, []int{64, 32, 1, 1}, 2, [2]int{0, 0}},
		{[]int{12, 8, 32, 32}, []int{8, 8, 3, 3}, 2, [2]int{1, 1}},
		{[]int{7, 32, 14, 14}, []int{32, 32, 3, 3}, 1, [2]int{1, 1}}, // flat
		{[]int{26, 6, 13, 21}, []int{5, 6, 3, 5}, 2, [2]int{2, 2}},
		{[]int{7, 8, 28, 28}, []int{8, 8, 3, 3}, 1, [2]int{1, 1}},   // ResNet stage 1: OW 28, flat
		{[]int{30, 1, 28, 28}, []int{16, 1, 3, 3}, 1, [2]int{1, 1}}, // its stem, flat
		{[]int{30, 1, 28, 28}, []int{6, 1, 5, 5}, 1, [2]int{0, 0}},  // LeNet conv1: OW 24
		{[]int{5, 3, 32, 32}, []int{4, 3, 5, 5}, 1, [2]int{2, 2}},   // OW 32, flat
		{[]int{9, 64, 7, 7}, []int{64, 64, 3, 3}, 1, [2]int{1, 1}},  // ResNet stage 3, flat
		{[]int{10, 16, 14, 14}, []int{8, 16, 1, 1}, 1, [2]int{0, 0}},
		{[]int{6, 4, 12, 12}, []int{5, 4, 7, 7}, 1, [2]int{3, 3}},
		{[]int{11, 5, 7, 12}, []int{6, 5, 3, 5}, 1, [2]int{1, 2}},
		{[]int{20, 3, 1, 1}, []int{4, 3, 3, 3}, 1, [2]int{1, 1}},
		{[]int{4, 1, 32, 32}, []int{2, 1, 7, 7}, 1, [2]int{3, 3}}, // same size, past the masks
	} {
		g, err := newConvGeom(c.x, c.w, [2]int{c.stride, c.stride}, c.pad)
		if err != nil {
			t.Fatal(err)
		}
		if !g.asmConv() {
			t.Fatalf("%v: not on the assembly kernels", g)
		}
		if g.flatAsm() {
			flat++
		}
		x := make([]float32, g.N*g.C*g.H*g.W)
		w := make([]float32, g.F*g.ckk())
		b := make([]float32, g.F)
		dy := make([]float32, g.N*g.F*g.p())
		for _, v := range [][]float32{x, w, b, dy} {
			asmTestValues(rng, v)
		}
		run := func(asm bool, chunks int) (y, dx, dw []float32) {
			haveRowsAsm, convChunksFwd = asm, chunks
			y, dx, dw = make([]float32, len(dy)), make([]float32, len(x)), make([]float32, len(w))
			convForward(g, new(convWorkspace), x, w, b, y, Linear)
			convInputGrad(g, new(convWorkspace), w, dy, dx)
			convFilterGrad(g, new(convWorkspace), x, dy, dw)
			return y, dx, dw
		}
		// Chunks of as many images as fit (convChunksFwd 1), and of one
		// image (as many chunks as images): the same bits with Retina's
		// SGEMM, whose every element is the same sum whatever the width of
		// the product (OpenBLAS's is not: with it the chunks, which
		// depend on the geometry alone, fix the rounding).
		y1, dx1, dw1 := run(true, 1)
		y0, dx0, dw0 := run(false, 1)
		y2, dx2, _ := run(true, g.N)
		haveRowsAsm = true
		if blas.SgemmConcurrent() {
			if j := sameBits(y1, y2); j >= 0 {
				t.Errorf("%v: y[%d] in chunks of %d images %v, of one %v", g, j, g.chunkFwd(4), y1[j], y2[j])
			}
			if j := sameBits(dx1, dx2); j >= 0 {
				t.Errorf("%v: dx[%d] in chunks of %d images %v, of one %v", g, j, g.chunkFwd(4), dx1[j], dx2[j])
			}
		}
		convChunksFwd = 1
		if j := sameBits(y0, y1); j >= 0 {
			t.Errorf("%v: y[%d] asm %v, Go %v", g, j, y1[j], y0[j])
		}
		if j := sameBits(dx0, dx1); j >= 0 {
			t.Errorf("%v: dx[%d] asm %v, Go %v", g, j, dx1[j], dx0[j])
		}
		if j := sameBits(dw0, dw1); j >= 0 {
			t.Errorf("%v: dw[%d] asm %v, Go %v", g, j, dw1[j], dw0[j])
		}
		if g.chunk(4) < 2 {
			t.Errorf("%v: one image per chunk; want several (cols rows longer than P)", g)
		}
		if g.chunkFwd(4) >= 2 {
			severalFwd++
		}
	}
	if flat != 9 {
		t.Errorf("%d geometries on the flat kernels, want 9", flat)
	}
	if severalFwd < 13 {
		t.Errorf("%d geometries with several images per chunk of the forward pass, want 13", severalFwd)
	}
}
