package ops

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/retina-ml/retina/internal/blastest"
)

// wgCase is a geometry the Winograd kernels take: n images of c channels,
// h×w, and f 5×5 filters.
type wgCase struct{ n, c, h, w, f int }

func (c wgCase) geom() convGeom {
	return convGeom{N: c.n, C: c.c, H: c.h, W: c.w, F: c.f, Window: Kernel(5, 5), OH: c.h - 4, OW: c.w - 4}
}

var wgCases = []wgCase{
	{3, 20, 12, 12, 50},  // LeNet's second convolution, a partial chunk of images
	{70, 8, 8, 12, 5},    // two groups, the second of 6 images; rectangular
	{17, 9, 16, 16, 3},   // a chunk and one image; 16 tiles an image
	{64, 20, 12, 12, 50}, // LeNet's training batch
}

func wgRand(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// directConv returns the float64 convolution of x with w plus b, and its
// gradients from dy.
func directConv(g convGeom, x, w, b, dy []float32) (y, dx, dw []float64) {
	y = make([]float64, g.N*g.F*g.OH*g.OW)
	dx = make([]float64, len(x))
	dw = make([]float64, len(w))
	for n := 0; n < g.N; n++ {
		for f := 0; f < g.F; f++ {
			for i := 0; i < g.OH; i++ {
				for j := 0; j < g.OW; j++ {
					o := ((n*g.F+f)*g.OH+i)*g.OW + j
					s := float64(b[f])
					for c := 0; c < g.C; c++ {
						for p := 0; p < 5; p++ {
							for q := 0; q < 5; q++ {
								xi := ((n*g.C+c)*g.H+i+p)*g.W + j + q
								wi := ((f*g.C+c)*5+p)*5 + q
								s += float64(x[xi]) * float64(w[wi])
								dx[xi] += float64(dy[o]) * float64(w[wi])
								dw[wi] += float64(dy[o]) * float64(x[xi])
							}
						}
					}
					y[o] = s
				}
			}
		}
	}
	return y, dx, dw
}

// relErr returns max |got − want| / max |want|.
func relErr(got []float32, want []float64) float64 {
	var d, m float64
	for i := range want {
		d = math.Max(d, math.Abs(float64(got[i])-want[i]))
		m = math.Max(m, math.Abs(want[i]))
	}
	return d / m
}

// wgRun runs the three Winograd kernels.
func wgRun(g convGeom, x, w, b, dy []float32) (y, dx, dw []float32) {
	k := newWinograd(g)
	y, dx, dw = make([]float32, len(dy)), make([]float32, len(x)), make([]float32, len(w))
	k.forward(x, w, b, y, Linear)
	k.inputGrad(w, dy, dx)
	k.filterGrad(x, dy, dw)
	return y, dx, dw
}

// TestWinogradMatchesDirect compares the Winograd forward pass and
// gradients with the direct sums in float64: within 3e-5 of the largest
// value (the transforms' rounding is a few times the direct float32 sum's,
// about 1e-6; a wrong index is off by the values themselves).
func TestWinogradMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range wgCases {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			g := c.geom()
			x, w, b := wgRand(rng, g.N*g.C*g.H*g.W), wgRand(rng, g.F*g.C*25), wgRand(rng, g.F)
			dy := wgRand(rng, g.N*g.F*g.OH*g.OW)
			y, dx, dw := wgRun(g, x, w, b, dy)
			wy, wdx, wdw := directConv(g, x, w, b, dy)
			for _, r := range []struct {
				name string
				got  []float32
				want []float64
			}{{"output", y, wy}, {"input gradient", dx, wdx}, {"filter gradient", dw, wdw}} {
				if e := relErr(r.got, r.want); e > 3e-5 {
					t.Errorf("%s: relative error %g", r.name, e)
				}
			}
		})
	}
}

// TestWinogradAsmMatchesGo checks that the AVX-512 transforms compute
// wgTileGo's bits, alone (every pair of matrices the kernels use, and
// more) and in the three kernels.
func TestWinogradAsmMatchesGo(t *testing.T) {
	if !haveRowsAsm {
		t.Skip("no AVX-512")
	}
	defer func() { wgAsm = true }()
	rng := rand.New(rand.NewPCG(9, 10))
	mats := []struct {
		m          []float32
		rows, cols int
	}{{wgBT, 8, 8}, {wgG, 8, 5}, {wgAT, 4, 8}, {wgA, 8, 4}, {wgB, 8, 8}, {wgGT, 5, 8}}
	for _, l := range mats {
		for _, r := range mats {
			if r.cols > 8 || l.rows*r.cols > wgSide*wgSide {
				continue
			}
			for _, acc := range []bool{false, true} {
				// X (l.cols×r.cols) and the result (l.rows×r.rows) with
				// strided rows and columns, as the kernels' are.
				src := wgRand(rng, 8*160)
				src[3] = float32(math.Inf(1))
				dst := wgRand(rng, 8*136)
				want := append([]float32(nil), dst...)
				var tmp wgTmp
				wgAsm = false
				wgTile(want, 136, 17, src, 160, 20, l.m, l.rows, l.cols, r.m, r.rows, r.cols, acc, &tmp)
				wgAsm = true
				wgTile(dst, 136, 17, src, 160, 20, l.m, l.rows, l.cols, r.m, r.rows, r.cols, acc, &tmp)
				for i := range dst {
					if math.Float32bits(dst[i]) != math.Float32bits(want[i]) && !(dst[i] != dst[i] && want[i] != want[i]) {
						t.Fatalf("L %d×%d, R %d×%d, acc=%t: element %d: asm %g, Go %g", l.rows, l.cols, r.rows, r.cols, acc, i, dst[i], want[i])
					}
				}
			}
		}
	}
	for _, c := range wgCases[:3] {
		g := c.geom()
		x, w, b := wgRand(rng, g.N*g.C*g.H*g.W), wgRand(rng, g.F*g.C*25), wgRand(rng, g.F)
		dy := wgRand(rng, g.N*g.F*g.OH*g.OW)
		wgAsm = false
		y0, dx0, dw0 := wgRun(g, x, w, b, dy)
		wgAsm = true
		y1, dx1, dw1 := wgRun(g, x, w, b, dy)
		for i, pair := range [][2][]float32{{y0, y1}, {dx0, dx1}, {dw0, dw1}} {
			for j := range pair[0] {
				if math.Float32bits(pair[0][j]) != math.Float32bits(pair[1][j]) {
					t.Fatalf("%v: result %d element %d: Go %g, asm %g", c, i, j, pair[0][j], pair[1][j])
				}
			}
		}
	}
}

// TestWinogradIndependentOfThreads checks that the kernels compute the same
// bits on one core as on four: every sum over images (the filter gradient's
// over chunks and within each chunk's products) has a fixed order. Like the
// matrix multiplies it uses, this holds on the pure-Go backend.
func TestWinogradIndependentOfThreads(t *testing.T) {
	if blastest.RerunOnPureGo(t, Backend()) {
		return
	}
	rng := rand.New(rand.NewPCG(11, 12))
	c := wgCases[1] // two groups
	g := c.geom()
	x, w, b := wgRand(rng, g.N*g.C*g.H*g.W), wgRand(rng, g.F*g.C*25), wgRand(rng, g.F)
	dy := wgRand(rng, g.N*g.F*g.OH*g.OW)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	y1, dx1, dw1 := wgRun(g, x, w, b, dy)
	runtime.GOMAXPROCS(4)
	y4, dx4, dw4 := wgRun(g, x, w, b, dy)
	if !slices.Equal(y1, y4) || !slices.Equal(dx1, dx4) || !slices.Equal(dw1, dw4) {
		t.Fatal("results differ between 1 and 4 threads")
	}
}

// BenchmarkWinograd times the three kernels on LeNet's second convolution
// at batch 64, against im2col's (the ops' kernels with winogradOn unset).
func BenchmarkWinograd(b *testing.B) {
	g := wgCases[3].geom()
	rng := rand.New(rand.NewPCG(1, 1))
	x, w, bias := wgRand(rng, g.N*g.C*g.H*g.W), wgRand(rng, g.F*g.C*25), wgRand(rng, g.F)
	dy := wgRand(rng, g.N*g.F*g.OH*g.OW)
	y, dx, dw := make([]float32, len(dy)), make([]float32, len(x)), make([]float32, len(w))
	k, ws := newWinograd(g), new(convWorkspace)
	for _, algo := range []string{"winograd", "im2col"} {
		for _, pass := range []string{"forward", "input", "filter"} {
			b.Run(algo+"/"+pass, func(b *testing.B) {
				for range b.N {
					switch {
					case algo == "im2col" && pass == "forward":
						convForward(g, ws, x, w, bias, y, Linear)
					case algo == "im2col" && pass == "input":
						convInputGrad(g, ws, w, dy, dx)
					case algo == "im2col":
						convFilterGrad(g, ws, x, dy, dw)
					case pass == "forward":
						k.forward(x, w, bias, y, Linear)
					case pass == "input":
						k.inputGrad(w, dy, dx)
					default:
						k.filterGrad(x, dy, dw)
					}
				}
			})
		}
	}
}

// TestFMA32 compares fma32 with a·b + c computed exactly (math/big) and
// rounded once, on random bit patterns and on normal values with a small
// addend, where double rounding would show.
func TestFMA32(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for i := 0; i < 200_000; i++ {
		a, b, c := math.Float32frombits(rng.Uint32()), math.Float32frombits(rng.Uint32()), math.Float32frombits(rng.Uint32())
		if i%2 == 0 {
			a, b, c = float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64()*1e-3)
		}
		got, want := fma32(a, b, c), exactFMA32(a, b, c)
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("fma32(%g, %g, %g) = %g, want %g", a, b, c, got, want)
		}
	}
}

// exactFMA32 is a·b + c rounded once to float32, by math/big for finite
// operands.
func exactFMA32(a, b, c float32) float32 {
	for _, v := range []float32{a, b, c} {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return float32(float64(a)*float64(b) + float64(c)) // exact product: one rounding of the sum
		}
	}
	x := new(big.Float).SetPrec(600).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetFloat64(float64(c)))
	f, _ := x.Float32()
	if f == 0 && math.Signbit(float64(a)*float64(b)) && math.Signbit(float64(c)) {
		return float32(math.Copysign(0, -1)) // −0 + −0
	}
	return f
}
