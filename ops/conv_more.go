package ops

import (
	"fmt"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/ops/blas"
)

// This file holds the convolution family beyond Conv2D: grouped and
// dilated convolution (ConvGrouped) and transposed convolution
// (ConvTranspose2D), as PyTorch defines them. Upsample2D and
// GlobalAvgPool2D are in upsample.go.
//
// ConvGrouped with one group and no dilation is Conv2D itself. Otherwise
// the three convolution passes run on one geometry, gconvGeom, either
// through im2col and a matrix multiply per image and group (the
// im2colG/col2imG path), or, when every group has a single input channel
// (depthwise), by direct loops over the taps. ConvGrouped's float32 passes
// run instead, where AVX-512 is available and they pay, on the register
// tile kernels of gconv_tile.go. A transposed convolution is the adjoint
// of a convolution: its forward pass is that convolution's input
// gradient, its input gradient that convolution's forward pass, and its
// weight gradient that convolution's filter gradient with the roles of
// input and output swapped; it keeps the im2col and direct kernels.
//
// Every output element is computed by one task in a fixed order, and the
// sums over the batch (the filter gradients) run image after image, so the
// results do not depend on GOMAXPROCS (with the pure-Go matrix multiplies,
// which do not either; see package ops/blas).

// gconvGeom is the geometry of a grouped, dilated convolution: batch N,
// input channels C, input H×W, F filters of C/G channels and KH×KW taps,
// G groups, stride, padding, dilation (DH, DW ≥ 1), output OH×OW.
type gconvGeom struct {
	N, C, H, W int
	F, G       int
	Window
	OH, OW int
}

func (g gconvGeom) cg() int { return g.C / g.G }            // input channels per group
func (g gconvGeom) fg() int { return g.F / g.G }            // filters per group
func (g gconvGeom) k() int  { return g.cg() * g.KH * g.KW } // rows of one group's columns
func (g gconvGeom) p() int  { return g.OH * g.OW }          // output positions per plane

func (g gconvGeom) xShape() tensor.Shape { return tensor.Shape{g.N, g.C, g.H, g.W} }
func (g gconvGeom) wShape() tensor.Shape { return tensor.Shape{g.F, g.cg(), g.KH, g.KW} }
func (g gconvGeom) yShape() tensor.Shape { return tensor.Shape{g.N, g.F, g.OH, g.OW} }

// direct reports whether the passes run as direct loops: every group reads
// one input channel (depthwise convolution, with any channel multiplier).
func (g gconvGeom) direct() bool { return g.cg() == 1 }

// params formats every parameter but the input and output shapes.
func (g gconvGeom) params() string {
	return fmt.Sprintf("groups %d %d×%d stride %d×%d pad %d×%d dilation %d×%d",
		g.G, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW)
}

func (g gconvGeom) String() string {
	return fmt.Sprintf("x(%d,%d,%d,%d) w(%d,%d,%d,%d) %s → (%d,%d,%d,%d)",
		g.N, g.C, g.H, g.W, g.F, g.cg(), g.KH, g.KW, g.params(), g.N, g.F, g.OH, g.OW)
}

// gconvRank4 returns an error unless s is a rank-4 shape of positive
// dimensions; what names it ("input", "weight").
func gconvRank4(s tensor.Shape, what, axes string) error {
	if len(s) != 4 {
		return errors.Errorf("%s has shape %v: want rank 4 %s", what, s, axes)
	}
	for i, d := range s {
		if d < 1 {
			return errors.Errorf("%s shape %v: dimension %d is %d", what, s, i, d)
		}
	}
	return nil
}

// gconvWindow checks win against the weight's kernel size (win's KH×KW may
// be 0×0, taken from the weight) and returns it with the kernel size set
// and the dilation made explicit.
func gconvWindow(win Window, ws tensor.Shape) (Window, error) {
	switch {
	case win.KH == 0 && win.KW == 0:
		win.KH, win.KW = ws[2], ws[3]
	case win.KH != ws[2] || win.KW != ws[3]:
		return win, errors.Errorf("window %d×%d but the weight %v has %d×%d taps", win.KH, win.KW, ws, ws[2], ws[3])
	}
	if win.DH < 0 || win.DW < 0 {
		return win, errors.Errorf("dilation %d×%d: must be at least 1×1 (0 means 1)", win.DH, win.DW)
	}
	win.DH, win.DW = win.Dilation()
	return win, nil
}

// gconvGroups checks groups (0 means 1) against the channel counts.
func gconvGroups(groups int) (int, error) {
	if groups < 0 {
		return 0, errors.Errorf("groups = %d: must be at least 1 (0 means 1)", groups)
	}
	return max(groups, 1), nil
}

// newGConvGeom validates the shapes of x (N, C, H, W) and w (F, C/groups,
// KH, KW) and the window and returns the geometry.
func newGConvGeom(xs, ws tensor.Shape, win Window, groups int) (gconvGeom, error) {
	if err := gconvRank4(xs, "input", "(N, C, H, W)"); err != nil {
		return gconvGeom{}, err
	}
	if err := gconvRank4(ws, "weight", "(F, C/groups, KH, KW)"); err != nil {
		return gconvGeom{}, err
	}
	gr, err := gconvGroups(groups)
	if err != nil {
		return gconvGeom{}, err
	}
	switch {
	case xs[1]%gr != 0:
		return gconvGeom{}, errors.Errorf("input %v has %d channels, not divisible by %d groups", xs, xs[1], gr)
	case ws[0]%gr != 0:
		return gconvGeom{}, errors.Errorf("weight %v has %d filters, not divisible by %d groups", ws, ws[0], gr)
	case ws[1] != xs[1]/gr:
		return gconvGeom{}, errors.Errorf("input %v has %d channels: in %d groups each filter takes %d, but the weight %v takes %d",
			xs, xs[1], gr, xs[1]/gr, ws, ws[1])
	}
	if win, err = gconvWindow(win, ws); err != nil {
		return gconvGeom{}, err
	}
	g := gconvGeom{N: xs[0], C: xs[1], H: xs[2], W: xs[3], F: ws[0], G: gr, Window: win}
	if g.OH, g.OW, err = win.Out(g.H, g.W); err != nil {
		return gconvGeom{}, err
	}
	return g, nil
}

// ConvGrouped returns the node y = act(conv(x, w) + b), PyTorch's
// torch.nn.functional.conv2d(x, w, b, stride, padding, dilation, groups)
// followed by the activation act:
//
//	y[n,f,i,j] = b[f] + Σ_c Σ_m Σ_k x[n, g·C/G + c, i·SH − PH + m·DH, j·SW − PW + k·DW] · w[f,c,m,k]
//
// where g = f/(F/G) is filter f's group. x is (N, C, H, W), w is (F,
// C/groups, KH, KW), b is (F) or nil for no bias, and y is (N, F, OH, OW)
// (see Window for OH and OW). win gives the stride, padding and dilation;
// its KH×KW must be the weight's or 0×0. groups (0 means 1) must divide C
// and F: groups = C is a depthwise convolution. x, w and b must share one
// dtype, float32 or float64. Gradients flow to x, w and b.
//
// With one group and dilation 1 ConvGrouped is Conv2DAct, and gives its
// results bit for bit.
func ConvGrouped(x, w, b *G.Node, win Window, groups int, act Activation) (*G.Node, error) {
	if x == nil || w == nil {
		return nil, errors.New("ops.ConvGrouped: input or weight is nil")
	}
	g, err := newGConvGeom(x.Shape(), w.Shape(), win, groups)
	if err != nil {
		return nil, errors.Wrap(err, "ops.ConvGrouped")
	}
	if !act.valid() {
		return nil, errors.Errorf("ops.ConvGrouped: unknown activation %d", int(act))
	}
	if b != nil {
		if bs := b.Shape(); !sameDims(bs, tensor.Shape{g.F}) {
			return nil, errors.Errorf("ops.ConvGrouped: bias has shape %v, want (%d) for weight %v", bs, g.F, g.wShape())
		}
	}
	if g.G == 1 && g.DH == 1 && g.DW == 1 {
		return Conv2DAct(x, w, b, [2]int{g.SH, g.SW}, [2]int{g.PH, g.PW}, act)
	}
	if b == nil {
		return gconvDef(g, false, act).Apply(x, w)
	}
	return gconvDef(g, true, act).Apply(x, w, b)
}

// gconvDef is the forward pass of a grouped or dilated convolution.
func gconvDef(g gconvGeom, bias bool, act Activation) Def {
	ws := new(convWorkspace)
	in := []tensor.Shape{g.xShape(), g.wShape()}
	if bias {
		in = append(in, tensor.Shape{g.F})
	}
	return Def{
		Name: fmt.Sprintf("ConvGrouped{%v bias=%t %v}", g, bias, act),
		In:   in,
		Out:  g.yShape(),
		F32:  gconvForwardKernel[float32](g, ws, act, true),
		F64:  gconvForwardKernel[float64](g, ws, act, true),
		Grad: func(gr *Grad) {
			dz := preActGrad(gr, act)
			gr.Set(0, gr.Apply(gconvBackDataDef(fmt.Sprintf("ConvGroupedInputGrad{%v}", g), g, false, true), dz, gr.Input(1)))
			gr.Set(1, gr.Apply(gconvFilterGradDef(fmt.Sprintf("ConvGroupedFilterGrad{%v}", g), g, true), gr.Input(0), dz))
			if bias {
				gr.Set(2, gr.Apply(channelSumDef(g.yShape()), dz))
			}
		},
	}
}

// gconvForwardDef computes the convolution y (N, F, OH, OW) of x (N, C, H,
// W) and w, without bias or activation, on the im2col and direct kernels:
// the input gradient of a transposed convolution.
func gconvForwardDef(name string, g gconvGeom) Def {
	ws := new(convWorkspace)
	return Def{
		Name: name,
		In:   []tensor.Shape{g.xShape(), g.wShape()},
		Out:  g.yShape(),
		F32:  gconvForwardKernel[float32](g, ws, Linear, false),
		F64:  gconvForwardKernel[float64](g, ws, Linear, false),
	}
}

// gconvBackDataDef computes the adjoint of the convolution, dx (N, C, H,
// W), from dy (N, F, OH, OW) and w, plus a per-channel bias (C) when bias
// is set: the input gradient of a convolution and the forward pass of a
// transposed convolution. tiles selects the tile kernels where they apply
// (ConvGrouped's gradient; see gconvTileKernels).
func gconvBackDataDef(name string, g gconvGeom, bias, tiles bool) Def {
	ws := new(convWorkspace)
	in := []tensor.Shape{g.yShape(), g.wShape()}
	if bias {
		in = append(in, tensor.Shape{g.C})
	}
	return Def{
		Name: name,
		In:   in,
		Out:  g.xShape(),
		F32:  gconvBackDataKernel[float32](g, ws, tiles),
		F64:  gconvBackDataKernel[float64](g, ws, tiles),
	}
}

// gconvFilterGradDef computes the filter gradient dw (F, C/G, KH, KW) from
// the convolution's input x and its output gradient dy; tiles as for
// gconvBackDataDef.
func gconvFilterGradDef(name string, g gconvGeom, tiles bool) Def {
	ws := new(convWorkspace)
	return Def{
		Name: name,
		In:   []tensor.Shape{g.xShape(), g.yShape()},
		Out:  g.wShape(),
		F32:  gconvFilterGradKernel[float32](g, ws, tiles),
		F64:  gconvFilterGradKernel[float64](g, ws, tiles),
	}
}

// ConvTranspose2D returns the node y, PyTorch's
// torch.nn.functional.conv_transpose2d(x, w, b, stride, padding,
// output_padding, groups, dilation): the adjoint (the gradient with respect
// to its input) of the convolution with the same weight, stride, padding,
// dilation and groups, plus the bias. x is (N, C_in, H, W), w is (C_in,
// C_out/groups, KH, KW), b is (C_out) or nil, and y is (N, C_out, OH, OW)
// with
//
//	OH = (H − 1)·SH − 2·PH + DH·(KH − 1) + outPad[0] + 1
//
// and likewise OW. win gives the stride, padding and dilation (its KH×KW
// must be the weight's or 0×0); outPad (rows, columns) adds rows and
// columns at the bottom and right, each smaller than the stride or the
// dilation along its axis (PyTorch's rule). groups (0 means 1) must divide
// C_in. Gradients flow to x, w and b.
func ConvTranspose2D(x, w, b *G.Node, win Window, outPad [2]int, groups int) (*G.Node, error) {
	if x == nil || w == nil {
		return nil, errors.New("ops.ConvTranspose2D: input or weight is nil")
	}
	g, err := newConvTransposeGeom(x.Shape(), w.Shape(), win, outPad, groups)
	if err != nil {
		return nil, errors.Wrap(err, "ops.ConvTranspose2D")
	}
	if b == nil {
		return convTransposeDef(g, outPad, false).Apply(x, w)
	}
	if bs := b.Shape(); !sameDims(bs, tensor.Shape{g.C}) {
		return nil, errors.Errorf("ops.ConvTranspose2D: bias has shape %v, want (%d) for weight %v in %d groups", bs, g.C, g.wShape(), g.G)
	}
	return convTransposeDef(g, outPad, true).Apply(x, w, b)
}

// newConvTransposeGeom returns the geometry of the convolution whose
// adjoint is the transposed convolution of x (N, C_in, H, W) by w (C_in,
// C_out/groups, KH, KW): from (N, C_out, OH, OW) to x's shape, C_in
// filters, output H×W.
func newConvTransposeGeom(xs, ws tensor.Shape, win Window, outPad [2]int, groups int) (gconvGeom, error) {
	if err := gconvRank4(xs, "input", "(N, C_in, H, W)"); err != nil {
		return gconvGeom{}, err
	}
	if err := gconvRank4(ws, "weight", "(C_in, C_out/groups, KH, KW)"); err != nil {
		return gconvGeom{}, err
	}
	gr, err := gconvGroups(groups)
	if err != nil {
		return gconvGeom{}, err
	}
	switch {
	case ws[0] != xs[1]:
		return gconvGeom{}, errors.Errorf("input %v has %d channels but the weight %v has %d (want (C_in, C_out/groups, KH, KW))", xs, xs[1], ws, ws[0])
	case xs[1]%gr != 0:
		return gconvGeom{}, errors.Errorf("input %v has %d channels, not divisible by %d groups", xs, xs[1], gr)
	}
	if win, err = gconvWindow(win, ws); err != nil {
		return gconvGeom{}, err
	}
	g := gconvGeom{N: xs[0], C: ws[1] * gr, F: xs[1], G: gr, Window: win, OH: xs[2], OW: xs[3]}
	if g.H, g.W, err = win.TransposedOut(xs[2], xs[3], outPad); err != nil {
		return gconvGeom{}, errors.Wrapf(err, "input %v, weight %v", xs, ws)
	}
	return g, nil
}

// transposeString formats the transposed convolution of geometry g.
func (g gconvGeom) transposeString(outPad [2]int) string {
	return fmt.Sprintf("x(%d,%d,%d,%d) w(%d,%d,%d,%d) %s outpad %d×%d → (%d,%d,%d,%d)",
		g.N, g.F, g.OH, g.OW, g.F, g.cg(), g.KH, g.KW, g.params(), outPad[0], outPad[1], g.N, g.C, g.H, g.W)
}

// convTransposeDef is the transposed convolution: the adjoint of the
// convolution g, from g's output shape to its input shape.
func convTransposeDef(g gconvGeom, outPad [2]int, bias bool) Def {
	s := g.transposeString(outPad)
	back := gconvBackDataDef(fmt.Sprintf("ConvTranspose2D{%s bias=%t}", s, bias), g, bias, false)
	back.Grad = func(gr *Grad) {
		gr.Set(0, gr.Apply(gconvForwardDef(fmt.Sprintf("ConvTranspose2DInputGrad{%s}", s), g), gr.OutputGrad(), gr.Input(1)))
		gr.Set(1, gr.Apply(gconvFilterGradDef(fmt.Sprintf("ConvTranspose2DFilterGrad{%s}", s), g, false), gr.OutputGrad(), gr.Input(0)))
		if bias {
			gr.Set(2, gr.Apply(channelSumDef(g.xShape()), gr.OutputGrad()))
		}
	}
	return back
}

// gconvLaunch returns a kernel that runs body on chunks of the n tasks of each
// call: on every core when concurrent is nil or returns true, else on the
// calling goroutine (a multi-threaded OpenBLAS multiplies on every core
// itself). The loop body is made once, so a call allocates nothing.
func gconvLaunch[T Float](n, grain int, concurrent func() bool, body func(lo, hi int, out []T, in [][]T)) func(out []T, in [][]T) {
	var o []T
	var a [][]T
	run := func(_, lo, hi int) { body(lo, hi, o, a) }
	return func(out []T, in [][]T) {
		o, a = out, in
		if concurrent == nil || concurrent() {
			parallelFor(n, grain, run)
		} else {
			run(0, 0, n)
		}
		o, a = nil, nil
	}
}

// gconvGemmConcurrent reports whether matrix multiplies of T may run
// concurrently (see eachChunk).
func gconvGemmConcurrent[T Float]() bool {
	if sizeOf[T]() == 4 {
		return blas.SgemmConcurrent()
	}
	return blas.DgemmConcurrent()
}

// gconvGrain returns the fewest tasks a chunk of a direct loop takes when
// each task costs about w multiply-adds, so that small ops stay on one core.
func gconvGrain(w int) int { return max(1, ewGrain/max(w, 1)) }

// gconvForwardKernel returns the kernel y = act(conv(x, w) + b) of in =
// (x, w[, b]): with tiles set, the tile kernel where it applies and pays
// (see gconvTilesPay).
func gconvForwardKernel[T Float](g gconvGeom, ws *convWorkspace, act Activation, tiles bool) func([]T, [][]T) {
	if tiles && gconvTilesPay(g) {
		if k := gconvTileForwardKernel[T](g, act); k != nil {
			return k
		}
	}
	if g.direct() {
		return gconvLaunch(g.N*g.F, gconvGrain(g.p()*g.KH*g.KW), nil, func(lo, hi int, y []T, in [][]T) {
			gconvForwardDirect(g, lo, hi, in[0], in[1], biasOf(in), y, act)
		})
	}
	return gconvLaunch(g.N*g.G, 1, gconvGemmConcurrent[T], func(lo, hi int, y []T, in [][]T) {
		gconvForwardGemm(g, ws, lo, hi, in[0], in[1], biasOf(in), y, act)
	})
}

// gconvBackDataKernel returns the kernel dx = convᵀ(dy, w) + b of in =
// (dy, w[, b]), b per input channel: with tiles set, the tile kernel where
// it applies and pays.
func gconvBackDataKernel[T Float](g gconvGeom, ws *convWorkspace, tiles bool) func([]T, [][]T) {
	if tiles && gconvTilesPay(g) {
		if k := gconvTileBackDataKernel[T](g); k != nil {
			return k
		}
	}
	if g.direct() {
		return gconvLaunch(g.N*g.C, gconvGrain(g.p()*g.KH*g.KW*g.fg()), nil, func(lo, hi int, dx []T, in [][]T) {
			gconvBackDataDirect(g, lo, hi, in[0], in[1], biasOf(in), dx)
		})
	}
	return gconvLaunch(g.N*g.G, 1, gconvGemmConcurrent[T], func(lo, hi int, dx []T, in [][]T) {
		gconvBackDataGemm(g, ws, lo, hi, in[0], in[1], biasOf(in), dx)
	})
}

// gconvFilterGradKernel returns the kernel dw of in = (x, dy): with tiles
// set, the tile kernel where it applies and pays.
func gconvFilterGradKernel[T Float](g gconvGeom, ws *convWorkspace, tiles bool) func([]T, [][]T) {
	if tiles && gconvTilesPay(g) {
		if k := gconvTileFilterGradKernel[T](g, ws); k != nil {
			return k
		}
	}
	if g.direct() {
		return gconvLaunch(g.F, 1, nil, func(lo, hi int, dw []T, in [][]T) {
			gconvFilterGradDirect(g, lo, hi, in[0], in[1], dw)
		})
	}
	return gconvLaunch(g.G, 1, gconvGemmConcurrent[T], func(lo, hi int, dw []T, in [][]T) {
		gconvFilterGradGemm(g, ws, lo, hi, in[0], in[1], dw)
	})
}

// taps returns the output indices [lo, hi) along one axis whose input
// index o·s − p + k·d, for tap k, lies inside [0, in); out is the output
// size.
func gconvTaps(k, s, p, d, in, out int) (lo, hi int) {
	off := p - k*d
	if off > 0 {
		lo = (off + s - 1) / s
	}
	lim := in - 1 + off
	if lim < 0 {
		return 0, 0
	}
	hi = min(lim/s+1, out)
	return min(lo, hi), hi
}

// im2colG unrolls the C/G channels x (C/G, H, W) of one image and group
// into cols, K = C/G·KH·KW rows of P = OH·OW: row (c·KH + m)·KW + k holds
// the input cells tap (m, k) of channel c reads, zero in the padding.
func im2colG[T Float](g gconvGeom, x, cols []T) {
	P, HW := g.p(), g.H*g.W
	r := 0
	for c := 0; c < g.cg(); c++ {
		xc := x[c*HW : (c+1)*HW]
		for m := 0; m < g.KH; m++ {
			rlo, rhi := gconvTaps(m, g.SH, g.PH, g.DH, g.H, g.OH)
			for k := 0; k < g.KW; k++ {
				row := cols[r*P : (r+1)*P]
				r++
				clo, chi := gconvTaps(k, g.SW, g.PW, g.DW, g.W, g.OW)
				if rlo >= rhi || clo >= chi {
					clear(row)
					continue
				}
				clear(row[:rlo*g.OW])
				clear(row[rhi*g.OW:])
				if clo > 0 || chi < g.OW {
					for oh := rlo; oh < rhi; oh++ {
						clear(row[oh*g.OW : oh*g.OW+clo])
						clear(row[oh*g.OW+chi : (oh+1)*g.OW])
					}
				}
				ih, iw := rlo*g.SH-g.PH+m*g.DH, clo*g.SW-g.PW+k*g.DW
				if g.SW == 1 {
					copyRows(row[rlo*g.OW+clo:], xc[ih*g.W+iw:], chi-clo, rhi-rlo, g.OW, g.SH*g.W)
					continue
				}
				for oh := rlo; oh < rhi; oh, ih = oh+1, ih+g.SH {
					seg, xr := row[oh*g.OW+clo:oh*g.OW+chi], xc[ih*g.W+iw:]
					for i := range seg {
						seg[i] = xr[i*g.SW]
					}
				}
			}
		}
	}
}

// col2imG adds the columns cols (as im2colG writes them) into dx (C/G, H,
// W): the adjoint of im2colG.
func col2imG[T Float](g gconvGeom, cols, dx []T) {
	P, HW := g.p(), g.H*g.W
	r := 0
	for c := 0; c < g.cg(); c++ {
		dxc := dx[c*HW : (c+1)*HW]
		for m := 0; m < g.KH; m++ {
			rlo, rhi := gconvTaps(m, g.SH, g.PH, g.DH, g.H, g.OH)
			for k := 0; k < g.KW; k++ {
				row := cols[r*P : (r+1)*P]
				r++
				clo, chi := gconvTaps(k, g.SW, g.PW, g.DW, g.W, g.OW)
				if rlo >= rhi || clo >= chi {
					continue
				}
				ih, iw := rlo*g.SH-g.PH+m*g.DH, clo*g.SW-g.PW+k*g.DW
				if g.SW == 1 {
					addRows(dxc[ih*g.W+iw:], row[rlo*g.OW+clo:], chi-clo, rhi-rlo, g.SH*g.W, g.OW)
					continue
				}
				for oh := rlo; oh < rhi; oh, ih = oh+1, ih+g.SH {
					seg, dr := row[oh*g.OW+clo:oh*g.OW+chi], dxc[ih*g.W+iw:]
					for i, v := range seg {
						dr[i*g.SW] += v
					}
				}
			}
		}
	}
}

// gconvFinish adds bias[f0+i] to plane i of ys (planes of p elements),
// when bias is not nil, and applies act.
func gconvFinish[T Float](ys, bias []T, f0, p int, act Activation) {
	for i := 0; i*p < len(ys); i++ {
		biasAct(ys[i*p:(i+1)*p], bias, f0+i, act)
	}
}

// The matrix-multiply path works on tasks t = n·G + g, image n and group
// g: the group's input channels of image n are the contiguous slab
// x[t·C/G·H·W:], its output planes y[t·F/G·P:], and its filters w[g·F/G·K:],
// an (F/G × K) matrix.
//
//	forward:      y_t (F/G × P) = w_g · cols_t          (cols_t = im2colG(x_t), K × P)
//	input grad:   dcols (K × P) = w_gᵀ · dy_t, then dx_t = col2imG(dcols)
//	filter grad:  dw_g (F/G × K) = Σ_n dy_t · cols_tᵀ  (images in order)

func gconvForwardGemm[T Float](g gconvGeom, ws *convWorkspace, lo, hi int, x, w, b, y []T, act Activation) {
	K, P, Fg, slab := g.k(), g.p(), g.fg(), g.cg()*g.H*g.W
	cols := getBuf[T](ws, K*P)
	for t := lo; t < hi; t++ {
		grp := t % g.G
		im2colG(g, x[t*slab:(t+1)*slab], cols)
		yt := y[t*Fg*P : (t+1)*Fg*P]
		gemm(false, false, Fg, P, K, 1, w[grp*Fg*K:(grp+1)*Fg*K], K, cols, P, 0, yt, P)
		gconvFinish(yt, b, grp*Fg, P, act)
	}
	putBuf(ws, cols)
}

func gconvBackDataGemm[T Float](g gconvGeom, ws *convWorkspace, lo, hi int, dy, w, b, dx []T) {
	K, P, Fg, Cg, HW := g.k(), g.p(), g.fg(), g.cg(), g.H*g.W
	dcols := getBuf[T](ws, K*P)
	for t := lo; t < hi; t++ {
		grp := t % g.G
		gemm(true, false, K, P, Fg, 1, w[grp*Fg*K:(grp+1)*Fg*K], K, dy[t*Fg*P:(t+1)*Fg*P], P, 0, dcols, P)
		dxt := dx[t*Cg*HW : (t+1)*Cg*HW]
		clear(dxt)
		col2imG(g, dcols, dxt)
		gconvFinish(dxt, b, grp*Cg, HW, Linear)
	}
	putBuf(ws, dcols)
}

func gconvFilterGradGemm[T Float](g gconvGeom, ws *convWorkspace, lo, hi int, x, dy, dw []T) {
	K, P, Fg, slab := g.k(), g.p(), g.fg(), g.cg()*g.H*g.W
	cols := getBuf[T](ws, K*P)
	for grp := lo; grp < hi; grp++ {
		dwg := dw[grp*Fg*K : (grp+1)*Fg*K]
		for n := 0; n < g.N; n++ {
			t := n*g.G + grp
			im2colG(g, x[t*slab:(t+1)*slab], cols)
			beta := T(1)
			if n == 0 {
				beta = 0
			}
			gemm(false, true, Fg, K, P, 1, dy[t*Fg*P:(t+1)*Fg*P], P, cols, P, beta, dwg, K)
		}
	}
	putBuf(ws, cols)
}

// The direct path (one input channel per group) works on planes: filter f
// reads input channel f/(F/G) alone, so each output plane (n, f) is a sum
// of KH·KW shifted, scaled copies of one input plane.

// gconvForwardDirect computes the output planes t = n·F + f in [lo, hi).
func gconvForwardDirect[T Float](g gconvGeom, lo, hi int, x, w, b, y []T, act Activation) {
	HW, P, KK, Fg := g.H*g.W, g.p(), g.KH*g.KW, g.fg()
	for t := lo; t < hi; t++ {
		n, f := t/g.F, t%g.F
		xp := x[(n*g.C+f/Fg)*HW : (n*g.C+f/Fg+1)*HW]
		yp := y[t*P : (t+1)*P]
		wf := w[f*KK : (f+1)*KK]
		clear(yp)
		for m := 0; m < g.KH; m++ {
			rlo, rhi := gconvTaps(m, g.SH, g.PH, g.DH, g.H, g.OH)
			for k := 0; k < g.KW; k++ {
				clo, chi := gconvTaps(k, g.SW, g.PW, g.DW, g.W, g.OW)
				if rlo >= rhi || clo >= chi {
					continue
				}
				wv := wf[m*g.KW+k]
				ih, iw := rlo*g.SH-g.PH+m*g.DH, clo*g.SW-g.PW+k*g.DW
				for oh := rlo; oh < rhi; oh, ih = oh+1, ih+g.SH {
					yr, xr := yp[oh*g.OW+clo:oh*g.OW+chi], xp[ih*g.W+iw:]
					if g.SW == 1 {
						xr = xr[:len(yr)]
						for i := range yr {
							yr[i] += wv * xr[i]
						}
						continue
					}
					for i := range yr {
						yr[i] += wv * xr[i*g.SW]
					}
				}
			}
		}
		gconvFinish(yp, b, f, P, act)
	}
}

// gconvBackDataDirect computes the input-gradient planes t = n·C + c in [lo,
// hi): the adjoint of gconvForwardDirect, over the filters of channel c's group.
func gconvBackDataDirect[T Float](g gconvGeom, lo, hi int, dy, w, b, dx []T) {
	HW, P, KK, Fg := g.H*g.W, g.p(), g.KH*g.KW, g.fg()
	for t := lo; t < hi; t++ {
		n, c := t/g.C, t%g.C
		dxp := dx[t*HW : (t+1)*HW]
		clear(dxp)
		for f := c * Fg; f < (c+1)*Fg; f++ {
			dyp := dy[(n*g.F+f)*P : (n*g.F+f+1)*P]
			wf := w[f*KK : (f+1)*KK]
			for m := 0; m < g.KH; m++ {
				rlo, rhi := gconvTaps(m, g.SH, g.PH, g.DH, g.H, g.OH)
				for k := 0; k < g.KW; k++ {
					clo, chi := gconvTaps(k, g.SW, g.PW, g.DW, g.W, g.OW)
					if rlo >= rhi || clo >= chi {
						continue
					}
					wv := wf[m*g.KW+k]
					ih, iw := rlo*g.SH-g.PH+m*g.DH, clo*g.SW-g.PW+k*g.DW
					for oh := rlo; oh < rhi; oh, ih = oh+1, ih+g.SH {
						dyr, dr := dyp[oh*g.OW+clo:oh*g.OW+chi], dxp[ih*g.W+iw:]
						if g.SW == 1 {
							dr = dr[:len(dyr)]
							for i, v := range dyr {
								dr[i] += wv * v
							}
							continue
						}
						for i, v := range dyr {
							dr[i*g.SW] += wv * v
						}
					}
				}
			}
		}
		gconvFinish(dxp, b, c, HW, Linear)
	}
}

// gconvFilterGradDirect computes the filter gradients of filters [lo, hi), each
// tap's a float64 sum over the images in order.
func gconvFilterGradDirect[T Float](g gconvGeom, lo, hi int, x, dy, dw []T) {
	HW, P, Fg := g.H*g.W, g.p(), g.fg()
	for f := lo; f < hi; f++ {
		c := f / Fg
		for m := 0; m < g.KH; m++ {
			rlo, rhi := gconvTaps(m, g.SH, g.PH, g.DH, g.H, g.OH)
			for k := 0; k < g.KW; k++ {
				clo, chi := gconvTaps(k, g.SW, g.PW, g.DW, g.W, g.OW)
				var s float64
				for n := 0; n < g.N && rlo < rhi && clo < chi; n++ {
					xp := x[(n*g.C+c)*HW : (n*g.C+c+1)*HW]
					dyp := dy[(n*g.F+f)*P : (n*g.F+f+1)*P]
					ih, iw := rlo*g.SH-g.PH+m*g.DH, clo*g.SW-g.PW+k*g.DW
					for oh := rlo; oh < rhi; oh, ih = oh+1, ih+g.SH {
						dyr, xr := dyp[oh*g.OW+clo:oh*g.OW+chi], xp[ih*g.W+iw:]
						for i, v := range dyr {
							s += float64(v) * float64(xr[i*g.SW])
						}
					}
				}
				dw[(f*g.KH+m)*g.KW+k] = T(s)
			}
		}
	}
}
