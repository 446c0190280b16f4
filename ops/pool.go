package ops

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// PoolKind selects the reduction a pooling window applies.
type PoolKind int

const (
	// MaxPool takes the largest cell of each window.
	MaxPool PoolKind = iota
	// AvgPool takes the mean of each window.
	AvgPool
)

func (k PoolKind) String() string {
	if k == MaxPool {
		return "MaxPool2D"
	}
	return "AvgPool2D"
}

// poolGeom is the geometry of one pooling: input (N, C, H, W), window, output OH×OW.
type poolGeom struct {
	N, C, H, W int
	Window
	OH, OW int
}

func (g poolGeom) xShape() tensor.Shape { return tensor.Shape{g.N, g.C, g.H, g.W} }
func (g poolGeom) yShape() tensor.Shape { return tensor.Shape{g.N, g.C, g.OH, g.OW} }
func (g poolGeom) String() string {
	return fmt.Sprintf("x(%d,%d,%d,%d) %v → (%d,%d,%d,%d)", g.N, g.C, g.H, g.W, g.Window, g.N, g.C, g.OH, g.OW)
}

func newPoolGeom(xs tensor.Shape, win Window) (poolGeom, error) {
	if len(xs) != 4 {
		return poolGeom{}, errors.Errorf("input has shape %v: want rank 4 (N, C, H, W)", xs)
	}
	for i, d := range xs {
		if d < 1 {
			return poolGeom{}, errors.Errorf("input shape %v: dimension %d is %d", xs, i, d)
		}
	}
	if win.PH >= win.KH || win.PW >= win.KW {
		return poolGeom{}, errors.Errorf("padding %d×%d must be smaller than the window %d×%d", win.PH, win.PW, win.KH, win.KW)
	}
	if dh, dw := win.Dilation(); dh != 1 || dw != 1 {
		return poolGeom{}, errors.Errorf("dilation %d×%d: pooling windows are not dilated", dh, dw)
	}
	g := poolGeom{N: xs[0], C: xs[1], H: xs[2], W: xs[3], Window: win}
	var err error
	if g.OH, g.OW, err = win.Out(g.H, g.W); err != nil {
		return poolGeom{}, err
	}
	return g, nil
}

// MaxPool2D returns the node y (N, C, OH, OW) whose every cell is the largest
// value of x (N, C, H, W) inside its window (see Window for OH and OW).
// Padded cells never win: they are outside the input, not zeros; padding must
// be smaller than the window. The gradient flows to the arg-max cell of each
// window; on ties the first maximal cell in row-major order (top-most, then
// left-most) wins, in the forward and the backward pass alike. NaN
// propagates as in PyTorch: a window holding a NaN pools to that NaN, and
// its gradient goes to it (to the last NaN in row-major order if several).
func MaxPool2D(x *G.Node, win Window) (*G.Node, error) {
	return pool2D(MaxPool, x, win, false)
}

// MaxPool2DReLU returns MaxPool2D(ReLU(x), win) as one op, with the same
// values and gradient bit for bit (ties, NaNs and signed zeros included),
// without ReLU's own pass over x and its gradient's over ∂L/∂ReLU(x): the
// pooling applies ReLU to the cells as it reads them, and its gradient
// passes ∂L/∂y only where y > 0. graph.Model.Build uses it for a Conv2D,
// ReLU, MaxPool2D run in training.
func MaxPool2DReLU(x *G.Node, win Window) (*G.Node, error) {
	return pool2D(MaxPool, x, win, true)
}

// AvgPool2D returns the node y (N, C, OH, OW) whose every cell is the mean of
// x (N, C, H, W) over its window. Padded cells count as zeros and the divisor
// is always KH·KW (PyTorch's count_include_pad=True); padding must be smaller
// than the window. The gradient is spread evenly over each window's cells.
func AvgPool2D(x *G.Node, win Window) (*G.Node, error) {
	return pool2D(AvgPool, x, win, false)
}

func pool2D(kind PoolKind, x *G.Node, win Window, relu bool) (*G.Node, error) {
	g, err := newPoolGeom(x.Shape(), win)
	if err != nil {
		name := kind.String()
		if relu {
			name += "ReLU"
		}
		return nil, errors.Wrapf(err, "ops.%s", name)
	}
	return poolDef(g, kind, relu).Apply(x)
}

// poolDef is the forward pass of max- or average-pooling, of ReLU(x) when
// relu is set (max-pooling only).
func poolDef(g poolGeom, kind PoolKind, relu bool) Def {
	var r reluScratch
	return Def{
		Name: poolName(kind, g, relu, ""),
		In:   []tensor.Shape{g.xShape()},
		Out:  g.yShape(),
		F32: func(y []float32, a [][]float32) {
			x, fused := reluInput(g, kind, relu, a[0], &r.f32)
			poolForward(g, kind, x, y, fused)
		},
		F64: func(y []float64, a [][]float64) {
			x, fused := reluInput(g, kind, relu, a[0], &r.f64)
			poolForward(g, kind, x, y, fused)
		},
		Grad: func(gr *Grad) { gr.Set(0, gr.Apply(poolGradDef(g, kind, relu), gr.Input(0), gr.OutputGrad())) },
	}
}

// poolGradDef computes ∂L/∂x of pooling from x and ∂L/∂y.
func poolGradDef(g poolGeom, kind PoolKind, relu bool) Def {
	var r reluScratch
	return Def{
		Name: poolName(kind, g, relu, "Grad"),
		In:   []tensor.Shape{g.xShape(), g.yShape()},
		Out:  g.xShape(),
		F32: func(dx []float32, a [][]float32) {
			x, fused := reluInput(g, kind, relu, a[0], &r.f32)
			poolBackward(g, kind, x, a[1], dx, fused)
			if relu && !fused {
				activateGrad(ReLU, x, dx, dx)
			}
		},
		F64: func(dx []float64, a [][]float64) {
			x, fused := reluInput(g, kind, relu, a[0], &r.f64)
			poolBackward(g, kind, x, a[1], dx, fused)
			if relu && !fused {
				activateGrad(ReLU, x, dx, dx)
			}
		},
	}
}

func poolName(kind PoolKind, g poolGeom, relu bool, suffix string) string {
	if relu {
		return fmt.Sprintf("%v%s{ReLU of %v}", kind, suffix, g)
	}
	return fmt.Sprintf("%v%s{%v}", kind, suffix, g)
}

// reluScratch holds ReLU(x) for a pooling of ReLU whose kernel cannot
// apply it itself.
type reluScratch struct {
	f32 []float32
	f64 []float64
}

// reluInput returns the input a pooling kernel reads, and whether that
// kernel applies ReLU itself (relu set, and the 2×2 assembly kernels
// apply): x then; else x, or ReLU(x) in *scratch when relu is set, so
// that the pooling of ReLU is the two ops' composition, bit for bit.
func reluInput[T Float](g poolGeom, kind PoolKind, relu bool, x []T, scratch *[]T) ([]T, bool) {
	if !relu {
		return x, false
	}
	if _, ok := any(x).([]float32); ok && haveRowsAsm && g.max2x2(kind) {
		return x, true
	}
	if len(*scratch) < len(x) {
		*scratch = make([]T, len(x))
	}
	r := (*scratch)[:len(x)]
	activate(ReLU, x, r)
	return r, false
}

// window returns the input rows [r0, r1) and columns [c0, c1) covered by
// output cell (oh, ow), clipped to the input.
func (g poolGeom) window(oh, ow int) (r0, r1, c0, c1 int) {
	r0, c0 = oh*g.SH-g.PH, ow*g.SW-g.PW
	r1, c1 = min(r0+g.KH, g.H), min(c0+g.KW, g.W)
	return max(r0, 0), r1, max(c0, 0), c1
}

// argmax returns the offset in plane x (H×W) of the first largest cell of the
// window of output cell (oh, ow) in row-major order or, if the window holds
// NaNs, of the last NaN (PyTorch's rule).
func argmax[T Float](g poolGeom, x []T, oh, ow int) int {
	r0, r1, c0, c1 := g.window(oh, ow)
	best, at := T(math.Inf(-1)), -1
	for r := r0; r < r1; r++ {
		for c, v := range x[r*g.W+c0 : r*g.W+c1] {
			if beats(v, best) || at < 0 {
				best, at = v, r*g.W+c0+c
			}
		}
	}
	return at
}

// max2x2 reports whether the pooling is the common 2×2, stride-2, unpadded
// max-pooling, which has a fast path.
func (g poolGeom) max2x2(kind PoolKind) bool {
	return kind == MaxPool && g.KH == 2 && g.KW == 2 && g.SH == 2 && g.SW == 2 && g.PH == 0 && g.PW == 0
}

// beats reports whether v, coming after best in a window's row-major order,
// takes its place as the arg-max: v is larger, or v is NaN.
func beats[T Float](v, best T) bool { return v > best || v != v }

// stack returns how many of the planes [lo, hi) the 2×2 fast path pools
// per call: all of them when the height is even, for then they are whole
// row pairs back to back, the rows of one tall plane; else one.
func (g poolGeom) stack(lo, hi int) int {
	if g.H%2 == 0 {
		return hi - lo
	}
	return 1
}

// argmax2x2 returns the offset in x of the arg-max (see argmax) of the four
// cells x[i], x[i+1], x[j], x[j+1] (a 2×2 window whose rows start at i and j).
func argmax2x2[T Float](x []T, i, j int) int {
	top := i
	if beats(x[i+1], x[i]) {
		top = i + 1
	}
	bottom := j
	if beats(x[j+1], x[j]) {
		bottom = j + 1
	}
	if beats(x[bottom], x[top]) {
		return bottom
	}
	return top
}

// maxPool2x2 pools one plane x (rows of width w) into y (oh × ow), the
// plane ReLU(x) when relu is set, which only the assembly kernel can (see
// reluInput).
func maxPool2x2[T Float](x, y []T, w, oh, ow int, relu bool) {
	if x32, ok := any(x).([]float32); ok && haveRowsAsm && oh > 0 && ow > 0 {
		_, _ = x32[(2*oh-1)*w+2*ow-1], any(y).([]float32)[oh*ow-1]
		maxPool2x2Asm(unsafe.Pointer(&x32[0]), unsafe.Pointer(&any(y).([]float32)[0]), w, oh, ow/16, poolTail(ow), relu)
		return
	}
	maxPool2x2Go(x, y, w, oh, ow)
}

// maxPool2x2Go is maxPool2x2 without assembly.
func maxPool2x2Go[T Float](x, y []T, w, oh, ow int) {
	for r := 0; r < oh; r++ {
		out := y[r*ow : (r+1)*ow]
		i, j := 2*r*w, (2*r+1)*w
		for c := range out {
			out[c] = x[argmax2x2(x, i+2*c, j+2*c)]
		}
	}
}

// maxPool2x2Grad routes each gradient of dy to the arg-max of its window
// (see argmax) in dx, which it overwrites; with relu set (assembly kernel
// only), the windows of ReLU(x), and only to those whose largest ReLU(x) is
// positive.
func maxPool2x2Grad[T Float](x, dy, dx []T, w, oh, ow int, relu bool) {
	if x32, ok := any(x).([]float32); ok && haveRowsAsm && oh > 0 && ow > 0 {
		dx32 := any(dx).([]float32)
		_, _ = x32[(2*oh-1)*w+2*ow-1], any(dy).([]float32)[oh*ow-1]
		_ = dx32[(2*oh-1)*w+2*ow-1]
		maxPool2x2GradAsm(unsafe.Pointer(&x32[0]), unsafe.Pointer(&any(dy).([]float32)[0]), unsafe.Pointer(&dx32[0]), w, oh, ow/16, poolTail(ow), relu)
		// Cells in no window: an odd last column, an odd last row.
		if 2*ow < w {
			for r := 0; r < 2*oh; r++ {
				clear(dx32[r*w+2*ow : (r+1)*w])
			}
		}
		clear(dx32[2*oh*w:])
		return
	}
	maxPool2x2GradGo(x, dy, dx, w, oh, ow)
}

// maxPool2x2GradGo is maxPool2x2Grad without assembly.
func maxPool2x2GradGo[T Float](x, dy, dx []T, w, oh, ow int) {
	clear(dx)
	for r := 0; r < oh; r++ {
		d := dy[r*ow : (r+1)*ow]
		i, j := 2*r*w, (2*r+1)*w
		for c, g := range d {
			dx[argmax2x2(x, i+2*c, j+2*c)] += g
		}
	}
}

// poolTail packs the lane masks of the last, partial block of 16 outputs
// of a row of ow outputs for the assembly kernels: the block's inputs 0–15
// in bits 0–15, inputs 16–31 in bits 16–31, outputs in bits 32–47.
func poolTail(ow int) uint64 {
	rem := ow % 16
	if rem == 0 {
		return 0
	}
	in := 2 * rem
	lo := uint64(1)<<min(in, 16) - 1
	var hi uint64
	if in > 16 {
		hi = uint64(1)<<(in-16) - 1
	}
	return lo | hi<<16 | (uint64(1)<<rem-1)<<32
}

// poolForward computes y from x on every core, from ReLU(x) when relu is
// set (the 2×2 assembly kernel only; see reluInput). It allocates nothing
// (see loopPool).
func poolForward[T Float](g poolGeom, kind PoolKind, x, y []T, relu bool) {
	pool := poolFor[poolForwardLoop[T]](&poolForwardLoops32, &poolForwardLoops64)
	l := pool.get(newPoolForwardLoop[T])
	l.g, l.kind, l.x, l.y, l.relu = g, kind, x, y, relu
	if g.max2x2(kind) {
		parallelFor(g.N*g.C, 4, l.max2x2)
	} else {
		parallelFor(g.N*g.C, 4, l.general)
	}
	l.x, l.y = nil, nil
	pool.put(l)
}

// poolForwardLoop is the state of poolForward's loop over planes.
type poolForwardLoop[T Float] struct {
	g       poolGeom
	kind    PoolKind
	x, y    []T
	relu    bool
	max2x2  func(chunk, lo, hi int) // runMax2x2
	general func(chunk, lo, hi int) // runGeneral
}

var (
	poolForwardLoops32 loopPool[poolForwardLoop[float32]]
	poolForwardLoops64 loopPool[poolForwardLoop[float64]]
)

func newPoolForwardLoop[T Float]() *poolForwardLoop[T] {
	l := &poolForwardLoop[T]{}
	l.max2x2, l.general = l.runMax2x2, l.runGeneral
	return l
}

// runMax2x2 pools planes lo..hi-1 by 2×2 windows of stride 2.
func (l *poolForwardLoop[T]) runMax2x2(_, lo, hi int) {
	g := l.g
	plane, oplane := g.H*g.W, g.OH*g.OW
	for pl, n := lo, g.stack(lo, hi); pl < hi; pl += n {
		maxPool2x2(l.x[pl*plane:(pl+n)*plane], l.y[pl*oplane:(pl+n)*oplane], g.W, n*g.OH, g.OW, l.relu)
	}
}

// runGeneral pools planes lo..hi-1 by any window.
func (l *poolForwardLoop[T]) runGeneral(_, lo, hi int) {
	g := l.g
	plane, oplane := g.H*g.W, g.OH*g.OW
	inv := 1 / T(g.KH*g.KW)
	for pl := lo; pl < hi; pl++ {
		xp, yp := l.x[pl*plane:(pl+1)*plane], l.y[pl*oplane:(pl+1)*oplane]
		for oh := 0; oh < g.OH; oh++ {
			for ow := 0; ow < g.OW; ow++ {
				if l.kind == MaxPool {
					yp[oh*g.OW+ow] = xp[argmax(g, xp, oh, ow)]
					continue
				}
				r0, r1, c0, c1 := g.window(oh, ow)
				var s T
				for r := r0; r < r1; r++ {
					for _, v := range xp[r*g.W+c0 : r*g.W+c1] {
						s += v
					}
				}
				yp[oh*g.OW+ow] = s * inv
			}
		}
	}
}

// poolBackward computes dx from x and dy on every core, for the pooling of
// ReLU(x) when relu is set (as poolForward).
func poolBackward[T Float](g poolGeom, kind PoolKind, x, dy, dx []T, relu bool) {
	pool := poolFor[poolBackwardLoop[T]](&poolBackwardLoops32, &poolBackwardLoops64)
	l := pool.get(newPoolBackwardLoop[T])
	l.g, l.kind, l.x, l.dy, l.dx, l.relu = g, kind, x, dy, dx, relu
	if g.max2x2(kind) {
		parallelFor(g.N*g.C, 4, l.max2x2)
	} else {
		parallelFor(g.N*g.C, 4, l.general)
	}
	l.x, l.dy, l.dx = nil, nil, nil
	pool.put(l)
}

// poolBackwardLoop is the state of poolBackward's loop over planes (see
// loopPool).
type poolBackwardLoop[T Float] struct {
	g               poolGeom
	kind            PoolKind
	x, dy, dx       []T
	relu            bool
	max2x2, general func(chunk, lo, hi int) // runMax2x2, runGeneral
}

var (
	poolBackwardLoops32 loopPool[poolBackwardLoop[float32]]
	poolBackwardLoops64 loopPool[poolBackwardLoop[float64]]
)

func newPoolBackwardLoop[T Float]() *poolBackwardLoop[T] {
	l := &poolBackwardLoop[T]{}
	l.max2x2, l.general = l.runMax2x2, l.runGeneral
	return l
}

// runMax2x2 computes planes [lo, hi) of dx with the 2×2 max-pool kernel.
func (l *poolBackwardLoop[T]) runMax2x2(_, lo, hi int) {
	g := l.g
	plane, oplane := g.H*g.W, g.OH*g.OW
	for pl, n := lo, g.stack(lo, hi); pl < hi; pl += n {
		maxPool2x2Grad(l.x[pl*plane:(pl+n)*plane], l.dy[pl*oplane:(pl+n)*oplane], l.dx[pl*plane:(pl+n)*plane], g.W, n*g.OH, g.OW, l.relu)
	}
}

// runGeneral computes planes [lo, hi) of dx for any window.
func (l *poolBackwardLoop[T]) runGeneral(_, lo, hi int) {
	g, kind := l.g, l.kind
	plane, oplane := g.H*g.W, g.OH*g.OW
	inv := 1 / T(g.KH*g.KW)
	for pl := lo; pl < hi; pl++ {
		xp, dyp, dxp := l.x[pl*plane:(pl+1)*plane], l.dy[pl*oplane:(pl+1)*oplane], l.dx[pl*plane:(pl+1)*plane]
		clear(dxp)
		for oh := 0; oh < g.OH; oh++ {
			for ow := 0; ow < g.OW; ow++ {
				d := dyp[oh*g.OW+ow]
				if kind == MaxPool {
					dxp[argmax(g, xp, oh, ow)] += d
					continue
				}
				r0, r1, c0, c1 := g.window(oh, ow)
				d *= inv
				for r := r0; r < r1; r++ {
					row := dxp[r*g.W+c0 : r*g.W+c1]
					for i := range row {
						row[i] += d
					}
				}
			}
		}
	}
}
