package ops_test

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/internal/blastest"
	"github.com/retina-ml/retina/ops"
)

// convTransposeBits are the hashes of ConvTranspose2D's output and of its
// input, weight and bias gradients (gradientsAgainst) on fixed random
// inputs, with the pure-Go go-avx512 matrix multiplies. ConvTranspose2D
// shares its kernels with ConvGrouped; these hashes pin its results bit
// for bit, so that work on ConvGrouped's kernels leaves them unchanged.
var convTransposeBits = []struct {
	x, w     []int
	win      ops.Window
	outPad   [2]int
	groups   int
	bias     bool
	f32, f64 string // FNV-64a of the results' float64 bits
}{
	// the matrix-multiply path
	{[]int{64, 32, 7, 7}, []int{32, 16, 4, 4}, ops.Square(4, 2, 1), [2]int{}, 1, true, "4f0be4bbc39eb7df", "f2c2e58d369bc39b"},
	{[]int{16, 8, 7, 7}, []int{8, 6, 3, 3}, ops.Square(3, 2, 1), [2]int{1, 1}, 1, true, "f20f992a29eaaeb5", "5a2facc85d7e5cb3"},
	{[]int{8, 8, 10, 9}, []int{8, 3, 3, 2}, ops.Window{SH: 1, SW: 2, PH: 2, DH: 2, DW: 1}, [2]int{0, 1}, 2, false, "ac46802009e4d335", "e52b70a8fcebca4d"},
	// the direct path (one output channel per group)
	{[]int{16, 8, 7, 7}, []int{8, 1, 4, 4}, ops.Square(4, 2, 1), [2]int{}, 8, false, "c42c4a3d1c88ffe2", "964d2e160cf59fe6"},
	{[]int{4, 6, 9, 8}, []int{6, 1, 3, 3}, ops.Window{SH: 1, SW: 1, PH: 1, PW: 2, DH: 2, DW: 2}, [2]int{1, 0}, 3, true, "bbbe291e018228f0", "a7d5803afbff705c"},
	{[]int{3, 4, 5, 20}, []int{4, 1, 3, 5}, ops.Window{SH: 1, SW: 2, PH: 1, PW: 2, DH: 1, DW: 1}, [2]int{}, 4, true, "2913a3327318b1b1", "e61919d8c1a4a7b5"},
	{[]int{32, 16, 14, 14}, []int{16, 1, 3, 3}, ops.Square(3, 1, 1), [2]int{}, 16, true, "4c20ffd6fca8bd9e", "d63a08d39919142e"},
}

// hashResults returns the FNV-64a hash of the float64 bits of rs.
func hashResults(rs [][]float64) string {
	h := fnv.New64a()
	var b [8]byte
	for _, r := range rs {
		for _, v := range r {
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
			h.Write(b[:])
		}
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// TestConvTranspose2DBits checks that ConvTranspose2D's results keep the
// bits of convTransposeBits.
func TestConvTranspose2DBits(t *testing.T) {
	if blastest.RerunOnPureGo(t, ops.Backend()) {
		return
	}
	if !strings.HasPrefix(ops.Backend(), "go-avx512") {
		t.Skipf("the hashes are those of the go-avx512 kernels, not %s", ops.Backend())
	}
	for i, c := range convTransposeBits {
		rng := rand.New(rand.NewPCG(uint64(100+i), 7))
		vals := []*tensor.Dense{randDense[float64](rng, c.x...), randDense[float64](rng, c.w...)}
		if c.bias {
			vals = append(vals, randDense[float64](rng, c.w[1]*c.groups))
		}
		build := func(in ...*G.Node) (*G.Node, error) {
			var b *G.Node
			if len(in) == 3 {
				b = in[2]
			}
			return ops.ConvTranspose2D(in[0], in[1], b, c.win, c.outPad, c.groups)
		}
		g := G.NewGraph()
		y, err := build(bind(g, vals)...)
		if err != nil {
			t.Fatal(err)
		}
		r := randDense[float64](rng, y.Shape()...).Float64s()
		for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
			v, want := vals, c.f64
			if dt == tensor.Float32 {
				v, want = toFloat32(vals), c.f32
			}
			got := hashResults(gradientsAgainst(t, build, v, r))
			if got != want {
				t.Errorf("case %d %v %v: hash %s, want %s", i, c.x, dt, got, want)
			}
		}
	}
}
