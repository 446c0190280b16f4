package ops_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/ops"
)

// torchMaxPool is max-pooling as PyTorch's max_pool2d computes it, with its
// gradient: each window's arg-max is found by a row-major scan that moves
// to a cell if it is larger than the best so far or NaN, so the first
// largest cell wins, or the last NaN; padding is skipped.
func torchMaxPool[T ops.Float](c poolCase, x, dy []T) (y, dx []T) {
	oh := (c.H+2*c.win.PH-c.win.KH)/c.win.SH + 1
	ow := (c.W+2*c.win.PW-c.win.KW)/c.win.SW + 1
	y, dx = make([]T, c.N*c.C*oh*ow), make([]T, len(x))
	for p := 0; p < c.N*c.C; p++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				best, at := T(math.Inf(-1)), -1
				for m := 0; m < c.win.KH; m++ {
					for k := 0; k < c.win.KW; k++ {
						r, q := i*c.win.SH-c.win.PH+m, j*c.win.SW-c.win.PW+k
						if r < 0 || r >= c.H || q < 0 || q >= c.W {
							continue
						}
						idx := (p*c.H+r)*c.W + q
						if v := x[idx]; at < 0 || v > best || math.IsNaN(float64(v)) {
							best, at = v, idx
						}
					}
				}
				o := (p*oh+i)*ow + j
				y[o] = x[at]
				dx[at] += dy[o]
			}
		}
	}
	return y, dx
}

// bitsOf returns the bits of v, so that NaNs compare by payload.
func bitsOf[T ops.Float](v T) uint64 {
	if f, ok := any(v).(float32); ok {
		return uint64(math.Float32bits(f))
	}
	return math.Float64bits(float64(v))
}

// nanAt returns a quiet NaN whose payload is id, to tell NaNs apart.
func nanAt[T ops.Float](id int) T {
	var zero T
	if _, ok := any(zero).(float32); ok {
		return T(math.Float32frombits(0x7fc00000 | uint32(id)&0x3fffff))
	}
	return T(math.Float64frombits(0x7ff8000000000000 | uint64(id)))
}

// runMaxPool runs the MaxPool2D op and its gradient op on x and dy.
func runMaxPool[T ops.Float](t *testing.T, c poolCase, x, dy []T) (y, dx []T) {
	t.Helper()
	g := G.NewGraph()
	xv := tensor.New(tensor.WithBacking(append([]T(nil), x...)), tensor.WithShape(c.N, c.C, c.H, c.W))
	xn := G.NodeFromAny(g, xv, G.WithName("x"))
	yn, err := ops.MaxPool2D(xn, c.win)
	if err != nil {
		t.Fatal(err)
	}
	dyv := tensor.New(tensor.WithBacking(append([]T(nil), dy...)), tensor.WithShape(yn.Shape()...))
	dyn := G.NodeFromAny(g, dyv, G.WithName("dy"))
	gs, err := yn.Op().(G.SDOp).SymDiff(G.Nodes{xn}, yn, dyn)
	if err != nil {
		t.Fatal(err)
	}
	out, err := yn.Op().Do(xv)
	if err != nil {
		t.Fatal(err)
	}
	grad, err := gs[0].Op().Do(xv, dyv)
	if err != nil {
		t.Fatal(err)
	}
	return out.Data().([]T), grad.Data().([]T)
}

// checkMaxPoolNaN compares MaxPool2D and its gradient with torchMaxPool bit
// for bit, NaN payloads included.
func checkMaxPoolNaN[T ops.Float](t *testing.T, c poolCase, x []T, what string) {
	t.Helper()
	oh := (c.H+2*c.win.PH-c.win.KH)/c.win.SH + 1
	ow := (c.W+2*c.win.PW-c.win.KW)/c.win.SW + 1
	dy := make([]T, c.N*c.C*oh*ow)
	for i := range dy {
		dy[i] = T(1 + i%7) // exact sums
	}
	wantY, wantDx := torchMaxPool(c, x, dy)
	gotY, gotDx := runMaxPool(t, c, x, dy)
	for i := range wantY {
		if bitsOf(gotY[i]) != bitsOf(wantY[i]) {
			t.Fatalf("%s: y[%d] = %v (%#x), want %v (%#x)", what, i, gotY[i], bitsOf(gotY[i]), wantY[i], bitsOf(wantY[i]))
		}
	}
	for i := range wantDx {
		if bitsOf(gotDx[i]) != bitsOf(wantDx[i]) {
			t.Fatalf("%s: dx[%d] = %v, want %v", what, i, gotDx[i], wantDx[i])
		}
	}
}

// TestMaxPoolNaN pins PyTorch's NaN rule on the 2×2 stride-2 fast path
// (assembly for float32 on AVX-512) and the general path, both dtypes,
// forward and backward: a NaN in any position of a window pools to that
// NaN and takes the gradient; with several NaNs the last one (row-major)
// wins; NaN beats +Inf; without NaN the first largest cell wins.
func TestMaxPoolNaN(t *testing.T) {
	for _, c := range []poolCase{
		{kind: ops.MaxPool, N: 1, C: 2, H: 4, W: 41, win: ops.Square(2, 2, 0)}, // a full block of 16 windows and a tail
		{kind: ops.MaxPool, N: 2, C: 1, H: 5, W: 7, win: ops.Square(2, 2, 0)},  // odd sizes: cells in no window
		{kind: ops.MaxPool, N: 1, C: 2, H: 5, W: 6, win: ops.Square(3, 2, 1)},  // padded, overlapping
		{kind: ops.MaxPool, N: 1, C: 1, H: 4, W: 5, win: ops.Kernel(2, 2)},     // overlapping, unpadded
		{kind: ops.MaxPool, N: 1, C: 1, H: 4, W: 6, win: ops.Square(2, 2, 1)},  // 2×2 stride 2, padded: general path
	} {
		t.Run(c.String()+"/float32", func(t *testing.T) { testMaxPoolNaN[float32](t, c) })
		t.Run(c.String()+"/float64", func(t *testing.T) { testMaxPoolNaN[float64](t, c) })
	}
}

func testMaxPoolNaN[T ops.Float](t *testing.T, c poolCase) {
	rng := rand.New(rand.NewPCG(uint64(c.H), uint64(c.W)))
	size := c.N * c.C * c.H * c.W
	// base has ties (values in {−2, …, 2}) and a few infinities.
	base := make([]T, size)
	for i := range base {
		base[i] = T(math.Round(rng.Float64()*4 - 2))
		switch rng.IntN(10) {
		case 0:
			base[i] = T(math.Inf(1))
		case 1:
			base[i] = T(math.Inf(-1))
		}
	}
	checkMaxPoolNaN(t, c, base, "no NaN")
	// One NaN in every cell in turn: every position of every window.
	for i := range base {
		x := append([]T(nil), base...)
		x[i] = nanAt[T](i + 1)
		checkMaxPoolNaN(t, c, x, fmt.Sprintf("NaN at %d", i))
	}
	// Two NaNs in every pair of cells of a row pair (for 2×2 windows, every
	// pair of positions in a window), with different payloads.
	for i := 0; i < 2*c.W; i++ {
		for j := i + 1; j < 2*c.W; j++ {
			x := append([]T(nil), base...)
			x[i], x[j] = nanAt[T](1), nanAt[T](2)
			checkMaxPoolNaN(t, c, x, fmt.Sprintf("NaNs at %d and %d", i, j))
		}
	}
	// NaNs all over: windows with none, one or several.
	for rep := 0; rep < 20; rep++ {
		x := append([]T(nil), base...)
		for i := range x {
			if rng.IntN(4) == 0 {
				x[i] = nanAt[T](i + 1)
			}
		}
		checkMaxPoolNaN(t, c, x, fmt.Sprintf("random NaNs %d", rep))
	}
}
