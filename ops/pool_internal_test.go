package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestMaxPool2x2Paths checks both implementations of the 2×2 stride-2
// fast path, the assembly one (float32 on AVX-512, else the Go one again)
// and the Go one, forward and backward, against argmax on planes with
// ties, infinities, NaNs of both signs and signed zeros: the value and the
// gradient go to the first largest cell of each window or, if it holds
// NaNs, to the last NaN. The assembly kernel's pooling of ReLU(x) is
// checked too, against argmax over ReLU(x), its gradient passing only where
// the window's largest ReLU(x) is positive (ReLU's gradient).
func TestMaxPool2x2Paths(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, s := range [][2]int{{2, 2}, {4, 32}, {4, 33}, {6, 66}, {5, 70}, {3, 7}} {
		h, w := s[0], s[1]
		g := poolGeom{N: 1, C: 1, H: h, W: w, Window: Square(2, 2, 0), OH: h / 2, OW: w / 2}
		for rep := 0; rep < 40; rep++ {
			x := make([]float32, h*w)
			for i := range x {
				switch r := rng.IntN(14); {
				case r == 0:
					x[i] = math.Float32frombits(0x7fc00000 | uint32(i+1)) // NaN with a payload
				case r == 1:
					x[i] = float32(math.Inf(1))
				case r == 2:
					x[i] = float32(math.Inf(-1))
				case r == 3:
					x[i] = math.Float32frombits(0xffc00000 | uint32(i+1)) // a negative NaN
				case r == 4:
					x[i] = float32(math.Copysign(0, -1))
				default:
					x[i] = float32(rng.IntN(5) - 2)
				}
			}
			dy := make([]float32, g.OH*g.OW)
			for i := range dy {
				dy[i] = float32(i + 1)
				if i%5 == 4 {
					dy[i] = float32(math.Copysign(0, -1))
				}
			}
			for _, relu := range []bool{false, true} {
				in := x
				if relu {
					in = make([]float32, len(x))
					activateSerial(ReLU, x, in)
				}
				wantY, wantDx := make([]float32, len(dy)), make([]float32, len(x))
				for oh := 0; oh < g.OH; oh++ {
					for ow := 0; ow < g.OW; ow++ {
						at := argmax(g, in, oh, ow)
						wantY[oh*g.OW+ow] = in[at]
						if !relu || int32(math.Float32bits(in[at])) > 0 {
							wantDx[at] = dy[oh*g.OW+ow]
						}
					}
				}
				paths := []struct {
					name string
					fwd  func(x, y []float32, w, oh, ow int)
					bwd  func(x, dy, dx []float32, w, oh, ow int)
				}{
					{"dispatch", func(x, y []float32, w, oh, ow int) { maxPool2x2(x, y, w, oh, ow, relu) },
						func(x, dy, dx []float32, w, oh, ow int) { maxPool2x2Grad(x, dy, dx, w, oh, ow, relu) }},
					{"go", maxPool2x2Go[float32], maxPool2x2GradGo[float32]},
				}
				if relu {
					if !haveRowsAsm {
						continue // only the assembly kernel pools ReLU(x) itself
					}
					paths = paths[:1]
				}
				for _, p := range paths {
					what := fmt.Sprintf("%s relu=%v %d×%d rep %d", p.name, relu, h, w, rep)
					y := make([]float32, len(dy))
					p.fwd(x, y, w, g.OH, g.OW)
					for i := range y {
						if math.Float32bits(y[i]) != math.Float32bits(wantY[i]) {
							t.Fatalf("%s: y[%d] = %v (%#x), want %v (%#x)", what, i, y[i], math.Float32bits(y[i]), wantY[i], math.Float32bits(wantY[i]))
						}
					}
					dx := make([]float32, len(x))
					for i := range dx {
						dx[i] = -1 // must be overwritten
					}
					p.bwd(x, dy, dx, w, g.OH, g.OW)
					for i := range dx {
						if dx[i] != wantDx[i] || relu && math.Float32bits(dx[i]) != math.Float32bits(wantDx[i]) {
							t.Fatalf("%s: dx[%d] = %v (%#x), want %v (%#x)", what, i, dx[i], math.Float32bits(dx[i]), wantDx[i], math.Float32bits(wantDx[i]))
						}
					}
				}
			}
		}
	}
}
