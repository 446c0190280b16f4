package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// asmTestValues fills v with values of mixed signs and magnitudes, so that
// sums depend on their order, and some zeros of both signs.
func asmTestValues(rng *rand.Rand, v []float32) {
	for i := range v {
		switch r := rng.IntN(20); r {
		case 0:
			v[i] = float32(math.Copysign(0, -1))
		case 1:
			v[i] = 0
		default:
			v[i] = float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(24)-12))
		}
	}
}

// asmTestGarbage fills v with bit patterns no kernel writes (NaNs with
// payloads), to tell the cells a kernel leaves alone.
func asmTestGarbage(v []float32) {
	for i := range v {
		v[i] = math.Float32frombits(0x7fc0_1234 + uint32(i%1000))
	}
}

// sameBits reports the first index where a and b differ in bits, or -1.
func sameBits(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// asmTestGeoms returns the geometries of the table test: strides 1–3
// (rows and columns differing too), padding 0–3, 1×1, 3×3, 5×5, 7×7, 2×4
// and 2×16 kernels, every W from 1 to 32 (so every OW from 1 to 32), H
// drawn apart from W, 1–4 channels; only those the assembly kernels take.
func asmTestGeoms(rng *rand.Rand) []convGeom {
	kernels := [][2]int{{1, 1}, {3, 3}, {5, 5}, {7, 7}, {2, 4}, {4, 2}, {2, 16}}
	strides := [][2]int{{1, 1}, {2, 2}, {3, 3}, {1, 2}, {2, 1}, {1, 3}, {3, 2}}
	var gs []convGeom
	for w := 1; w <= 32; w++ {
		for _, k := range kernels {
			for _, s := range strides {
				for pw := 0; pw <= 3; pw++ {
					ph := rng.IntN(4)
					h := 1 + rng.IntN(12)
					if h == w {
						h++
					}
					g := convGeom{N: 1, C: 1 + rng.IntN(4), H: h, W: w, F: 1,
						Window: Window{KH: k[0], KW: k[1], SH: s[0], SW: s[1], PH: ph, PW: pw}}
					var err error
					if g.OH, g.OW, err = g.Window.Out(g.H, g.W); err != nil || !g.asmConvGeom() {
						continue
					}
					gs = append(gs, g)
				}
			}
		}
	}
	return gs
}

// asmFlatTestGeoms returns same-size stride-1 geometries (OH = H, OW =
// W), the flat kernels' (see convFlatArgs): 1×1 pad 0, 3×3 pad 1, 5×5 pad
// 2, 7×7 pad 3, 3×5 pad (1, 2) and 5×3 pad (2, 1), on square planes of
// every size from 1×1 to 32×32 and as many others, H drawn apart from W,
// with 7×12, 12×7 and 3×W for W ≤ 16 (every P mod 16), 1–4 channels. Some of them (7×7 on
// planes of more than 512 positions) have more masks than the table
// holds and go to the other kernels.
func asmFlatTestGeoms(rng *rand.Rand) []convGeom {
	kernels := [][4]int{{1, 1, 0, 0}, {3, 3, 1, 1}, {5, 5, 2, 2}, {7, 7, 3, 3}, {3, 5, 1, 2}, {5, 3, 2, 1}}
	planes := [][2]int{{7, 12}, {12, 7}}
	for w := 1; w <= 32; w++ {
		h := 1 + rng.IntN(32)
		if h == w {
			h = 33 - w
		}
		planes = append(planes, [2]int{w, w}, [2]int{h, w})
		if w <= 16 {
			planes = append(planes, [2]int{3, w}) // P = 3w: every P mod 16
		}
	}
	var gs []convGeom
	for _, hw := range planes {
		for _, k := range kernels {
			g := convGeom{N: 1, C: 1 + rng.IntN(4), H: hw[0], W: hw[1], F: 1,
				Window: Window{KH: k[0], KW: k[1], SH: 1, SW: 1, PH: k[2], PW: k[3]}}
			var err error
			if g.OH, g.OW, err = g.Window.Out(g.H, g.W); err != nil || g.OH != g.H || g.OW != g.W || !g.asmConvGeom() {
				panic(fmt.Sprintf("%v: not a same-size assembly geometry (%v)", g, err))
			}
			gs = append(gs, g)
		}
	}
	return gs
}

// TestConvLanesKernelsMatchGo compares im2colAsm and col2imAsm with the Go
// im2col and col2im (after clear) bit for bit, over the whole buffers: the
// cells they write, padding zeros included, and the guard cells around
// and between them (the other images' columns of the chunk layout, where
// cols rows are cnt·P apart and the image's columns start at i·P; the
// cells before and after the slices), which must keep their garbage. The
// geometries are asmTestGeoms' and asmFlatTestGeoms', whose masks are
// checked against their definition too.
func TestConvLanesKernelsMatchGo(t *testing.T) {
	if !haveRowsAsm {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(7, 11))
	gs := asmTestGeoms(rng)
	var wide, wideOut, narrowIn, strided, chunked int
	var perOW [33]int
	var lanes convLanes
	for _, g := range gs {
		cnt := 1 + rng.IntN(3)
		perOW[g.OW]++
		if g.W > 16 {
			wide++
		}
		if g.OW > 16 {
			wideOut++
			if g.W <= 16 {
				narrowIn++ // two output registers, one image register
			}
		}
		if g.SH > 1 || g.SW > 1 {
			strided++
		}
		if cnt > 1 {
			chunked++
		}
		checkConvAsm(t, rng, g, cnt, rng.IntN(cnt), &lanes)
	}
	t.Logf("%d geometries: %d with W > 16, %d with OW > 16 (%d of them W ≤ 16), %d strided, %d in a chunk of several images",
		len(gs), wide, wideOut, narrowIn, strided, chunked)
	if len(gs) < 2000 || wide < 200 || wideOut < 200 || narrowIn < 10 || strided < 1000 || chunked < 500 {
		t.Fatalf("too few geometries: %d (%d wide, %d wide out, %d of them narrow in, %d strided, %d chunked)",
			len(gs), wide, wideOut, narrowIn, strided, chunked)
	}
	for ow := 1; ow <= 32; ow++ {
		if perOW[ow] < 3 {
			t.Errorf("OW %d: %d geometries", ow, perOW[ow])
		}
	}

	// The same-size geometries, every one in a chunk of one image, of two
	// (first or second) and of three (in the middle).
	flat, flatIm2col, fallback, tails := 0, 0, 0, [16]int{}
	for _, g := range asmFlatTestGeoms(rng) {
		if !g.flatAsm() {
			fallback++
		} else {
			flat++
			tails[g.p()%16]++
			checkFlatMasks(t, g, &lanes)
		}
		if g.flatIm2col() {
			flatIm2col++
		}
		for _, c := range [][2]int{{1, 0}, {2, rng.IntN(2)}, {3, 1}} {
			checkConvAsm(t, rng, g, c[0], c[1], &lanes)
		}
	}
	t.Logf("same-size geometries: %d on the flat kernels (by P mod 16: %v; %d of them for im2col too), %d past their masks",
		flat, tails, flatIm2col, fallback)
	if flat < 350 || flatIm2col < 300 || fallback < 10 {
		t.Fatalf("same-size geometries: %d on the flat kernels, %d past their masks", flat, fallback)
	}
	for r, n := range tails {
		if n < 5 {
			t.Errorf("%d flat geometries with P mod 16 = %d", n, r)
		}
	}
}

// checkConvAsm runs im2colAsm and col2imAsm on the image i of a chunk of
// cnt images and compares them with im2col and clear+col2im bit for bit,
// guard cells included (see TestConvLanesKernelsMatchGo).
func checkConvAsm(t *testing.T, rng *rand.Rand, g convGeom, cnt, i int, lanes *convLanes) {
	t.Helper()
	const guard = 19
	P, K, img := g.p(), g.ckk(), g.C*g.H*g.W
	ld := cnt * P
	name := fmt.Sprintf("%v chunk image %d of %d", g, i, cnt)

	// im2col: x is guarded by values on both sides too, which a read
	// past the image would bring into the columns.
	xbuf := make([]float32, guard+img+guard)
	asmTestValues(rng, xbuf)
	x := xbuf[guard : guard+img]
	want := make([]float32, guard+K*ld+guard)
	asmTestGarbage(want)
	got := append([]float32(nil), want...)
	im2col(g, x, want[guard+i*P:guard+K*ld], ld)
	lanes.setIm2col(g)
	im2colAsm(g, x, got[guard+i*P:guard+K*ld], ld, lanes)
	if j := sameBits(want, got); j >= 0 {
		t.Fatalf("im2col %s: cell %d (row %d, column %d): asm %v (%#x), Go %v (%#x)", name,
			j-guard, (j-guard)/ld, (j-guard)%ld, got[j], math.Float32bits(got[j]), want[j], math.Float32bits(want[j]))
	}
	for j, v := range want { // the garbage left is exactly outside the image's columns
		r, col := (j-guard)/ld, (j-guard)%ld
		inside := j >= guard && j < guard+K*ld && col >= i*P && col < i*P+P
		if math.IsNaN(float64(v)) == inside {
			t.Fatalf("im2col %s: cell %d (row %d, column %d) written %t", name, j-guard, r, col, !inside)
		}
	}

	// col2im: dx starts as garbage for the assembly, which overwrites it.
	cols := make([]float32, K*ld)
	asmTestValues(rng, cols)
	wantDx := make([]float32, guard+img+guard)
	asmTestGarbage(wantDx)
	gotDx := append([]float32(nil), wantDx...)
	clear(wantDx[guard : guard+img])
	col2im(g, cols[i*P:], ld, wantDx[guard:guard+img])
	lanes.setCol2im(g)
	col2imAsm(g, cols[i*P:], ld, gotDx[guard:guard+img], lanes)
	if j := sameBits(wantDx, gotDx); j >= 0 {
		t.Fatalf("col2im %s: cell %d: asm %v (%#x), Go %v (%#x)", name,
			j-guard, gotDx[j], math.Float32bits(gotDx[j]), wantDx[j], math.Float32bits(wantDx[j]))
	}
}

// checkFlatMasks compares the flat kernels' masks with their definition,
// lane by lane: for im2col, lane i of (kh, kw, j) is set when output
// position p = 16j + i < P reads an input cell, (p/W + kh − PH, p%W + kw −
// PW) inside the plane; for col2im, when input position q = 16j + i < P
// gets a term from output cell (q/W − kh + PH, q%W − kw + PW) inside it.
// The entries past the table's KH·KW·⌈P/16⌉ are left alone.
func checkFlatMasks(t *testing.T, g convGeom, l *convLanes) {
	t.Helper()
	P, nch := g.p(), (g.p()+15)/16
	n := g.KH * g.KW * nch
	for _, col2im := range []bool{false, true} {
		for i := range l.flat {
			l.flat[i] = 0xdead
		}
		l.setFlat(g, col2im)
		sign := 1
		if col2im {
			sign = -1
		}
		for kh := 0; kh < g.KH; kh++ {
			for kw := 0; kw < g.KW; kw++ {
				for j := 0; j < nch; j++ {
					var want uint16
					for i := 0; i < 16; i++ {
						p := 16*j + i
						r, c := p/g.W+sign*(kh-g.PH), p%g.W+sign*(kw-g.PW)
						if p < P && r >= 0 && r < g.H && c >= 0 && c < g.W {
							want |= 1 << i
						}
					}
					if got := l.flat[(kh*g.KW+kw)*nch+j]; got != want {
						t.Fatalf("%v col2im %t: mask of (%d, %d) chunk %d: %#04x, want %#04x", g, col2im, kh, kw, j, got, want)
					}
				}
			}
		}
		for i := n; i < len(l.flat); i++ {
			if l.flat[i] != 0xdead {
				t.Fatalf("%v col2im %t: entry %d past the %d masks written", g, col2im, i, n)
			}
		}
	}
}

// TestConvLanesOrderMatters checks that TestConvLanesKernelsMatchGo's data
// would catch a col2im that adds its terms in another order: with kw
// reversed, the sums of a 3×3 stride-1 geometry differ in some bits.
func TestConvLanesOrderMatters(t *testing.T) {
	g := convGeom{N: 1, C: 2, H: 9, W: 11, F: 1, Window: Square(3, 1, 1)}
	g.OH, g.OW, _ = g.Window.Out(g.H, g.W)
	rng := rand.New(rand.NewPCG(3, 5))
	P := g.p()
	cols := make([]float32, g.ckk()*P)
	asmTestValues(rng, cols)
	want := make([]float32, g.C*g.H*g.W)
	col2im(g, cols, P, want)
	// the same terms, kw reversed
	rev := make([]float32, len(want))
	for c := 0; c < g.C; c++ {
		for kh := 0; kh < g.KH; kh++ {
			for kw := g.KW - 1; kw >= 0; kw-- {
				row := cols[((c*g.KH+kh)*g.KW+kw)*P:]
				for oh := 0; oh < g.OH; oh++ {
					for ow := 0; ow < g.OW; ow++ {
						ih, iw := oh*g.SH-g.PH+kh, ow*g.SW-g.PW+kw
						if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
							rev[(c*g.H+ih)*g.W+iw] += row[oh*g.OW+ow]
						}
					}
				}
			}
		}
	}
	if sameBits(want, rev) < 0 {
		t.Fatal("the test data does not tell the order of the sums")
	}
}

// TestConvAsmTakesResNetGeometries checks that the stride-2 convolutions
// of a ResNet on 56×56 → 28×28 → 14×14 → 7×7 feature maps (3×3 pad 1 and
// the 1×1 pad 0 shortcuts) take the assembly kernels, with the stride-1
// 3×3 convolutions of all maps up to 32×32 (ResNet's 28×28 stage 1 and
// stem), LeNet's 5×5 conv1 on 28×28 and a 5×5 pad 2 on 32×32, and that
// rows of 33 floats or 17 kernel columns do not. The stride-1 ones whose
// output has the input's size (ResNet's 7×7, 14×14 and 28×28 stages and
// stem, a 1×1 pad 0) take the flat kernels, the 32×32 ones only for
// col2im, the others not, nor a same-size 7×7 kernel on 32×32 (past the
// mask table).
func TestConvAsmTakesResNetGeometries(t *testing.T) {
	for _, c := range []struct {
		x, w        []int
		stride, pad int
		ow          int
		flat        [2]bool // im2col, col2im
	}{
		{[]int{64, 16, 28, 28}, []int{32, 16, 3, 3}, 2, 1, 14, [2]bool{}},
		{[]int{64, 32, 14, 14}, []int{64, 32, 3, 3}, 2, 1, 7, [2]bool{}},
		{[]int{64, 16, 28, 28}, []int{32, 16, 1, 1}, 2, 0, 14, [2]bool{}},
		{[]int{64, 32, 14, 14}, []int{64, 32, 1, 1}, 2, 0, 7, [2]bool{}},
		{[]int{64, 32, 32, 32}, []int{64, 32, 3, 3}, 2, 1, 16, [2]bool{}},
		{[]int{64, 32, 14, 14}, []int{32, 32, 3, 3}, 1, 1, 14, [2]bool{true, true}}, // ResNet stage 2
		{[]int{64, 64, 7, 7}, []int{64, 64, 3, 3}, 1, 1, 7, [2]bool{true, true}},    // stage 3
		{[]int{64, 16, 28, 28}, []int{16, 16, 3, 3}, 1, 1, 28, [2]bool{true, true}}, // stage 1
		{[]int{64, 1, 28, 28}, []int{16, 1, 3, 3}, 1, 1, 28, [2]bool{true, true}},   // its stem
		{[]int{64, 1, 28, 28}, []int{6, 1, 5, 5}, 1, 0, 24, [2]bool{}},              // LeNet conv1
		{[]int{64, 3, 32, 32}, []int{16, 3, 3, 3}, 1, 1, 32, [2]bool{false, true}},
		{[]int{64, 3, 32, 32}, []int{16, 3, 5, 5}, 1, 2, 32, [2]bool{false, true}},
		{[]int{64, 8, 17, 17}, []int{8, 8, 1, 1}, 1, 0, 17, [2]bool{true, true}},
		{[]int{64, 8, 16, 16}, []int{8, 8, 3, 3}, 1, 2, 18, [2]bool{}},
		{[]int{64, 3, 32, 32}, []int{16, 3, 7, 7}, 1, 3, 32, [2]bool{}}, // 49·64 masks
	} {
		g, err := newConvGeom(c.x, c.w, [2]int{c.stride, c.stride}, [2]int{c.pad, c.pad})
		if err != nil {
			t.Fatal(err)
		}
		if g.OW != c.ow {
			t.Errorf("%v: OW %d, want %d", g, g.OW, c.ow)
		}
		if !g.asmConvGeom() {
			t.Errorf("%v: not an assembly geometry", g)
		}
		if haveRowsAsm && !g.asmConv() {
			t.Errorf("%v: asmConv false with AVX-512", g)
		}
		if f := [2]bool{g.flatIm2col(), g.flatAsm()}; f != c.flat {
			t.Errorf("%v: flat kernels (im2col, col2im) %v, want %v", g, f, c.flat)
		}
	}
	for _, g := range []convGeom{ // just outside
		{N: 1, C: 1, H: 8, W: 33, F: 1, Window: Square(3, 3, 1), OH: 3, OW: 11},
		{N: 1, C: 1, H: 8, W: 31, F: 1, Window: Square(1, 1, 1), OH: 10, OW: 33},
		{N: 1, C: 1, H: 8, W: 32, F: 1, Window: Square(1, 1, 1), OH: 10, OW: 34},
		{N: 1, C: 1, H: 8, W: 20, F: 1, Window: Window{KH: 1, KW: 17, SH: 1, SW: 1}, OH: 8, OW: 4},
	} {
		if g.asmConvGeom() {
			t.Errorf("%v: taken as an assembly geometry", g)
		}
	}
	// The flat kernels' bound: KH·KW·⌈P/16⌉ masks, at most convFlatMasks.
	for _, c := range []struct {
		h, w, k int
		flat    bool
	}{{32, 32, 5, true}, {28, 18, 5, true}, {32, 16, 7, true}, {32, 17, 7, false}, {16, 32, 7, true}, {24, 24, 7, false}} {
		g := convGeom{N: 1, C: 1, H: c.h, W: c.w, F: 1, Window: Square(c.k, 1, c.k/2), OH: c.h, OW: c.w}
		if g.flatAsm() != c.flat {
			t.Errorf("%v (%d masks): flat kernels %t, want %t", g, c.k*c.k*((c.h*c.w+15)/16), g.flatAsm(), c.flat)
		}
	}
}
