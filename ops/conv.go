package ops

import (
	"fmt"
	"hash"
	"io"

	"github.com/chewxy/hm"
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// convGeom is the complete geometry of one convolution: batch N, input
// channels C, input H×W, F filters of KH×KW, stride, padding, output OH×OW.
type convGeom struct {
	N, C, H, W int
	F          int
	Window
	OH, OW int
}

func (g convGeom) xShape() tensor.Shape { return tensor.Shape{g.N, g.C, g.H, g.W} }
func (g convGeom) wShape() tensor.Shape { return tensor.Shape{g.F, g.C, g.KH, g.KW} }
func (g convGeom) yShape() tensor.Shape { return tensor.Shape{g.N, g.F, g.OH, g.OW} }

// ckk is the length of one unrolled receptive field: C·KH·KW.
func (g convGeom) ckk() int { return g.C * g.KH * g.KW }

// p is the number of output positions per image and filter: OH·OW.
func (g convGeom) p() int { return g.OH * g.OW }

func (g convGeom) String() string {
	return fmt.Sprintf("x(%d,%d,%d,%d) w(%d,%d,%d,%d) %v → (%d,%d,%d,%d)",
		g.N, g.C, g.H, g.W, g.F, g.C, g.KH, g.KW, g.Window, g.N, g.F, g.OH, g.OW)
}

// newConvGeom validates shapes and window and returns the geometry.
func newConvGeom(xs, ws tensor.Shape, stride, pad [2]int) (convGeom, error) {
	if len(xs) != 4 {
		return convGeom{}, errors.Errorf("input has shape %v: want rank 4 (N, C, H, W)", xs)
	}
	if len(ws) != 4 {
		return convGeom{}, errors.Errorf("filters have shape %v: want rank 4 (F, C, KH, KW)", ws)
	}
	if xs[1] != ws[1] {
		return convGeom{}, errors.Errorf("input has %d channels %v but filters expect %d %v", xs[1], xs, ws[1], ws)
	}
	for i, d := range xs {
		if d < 1 {
			return convGeom{}, errors.Errorf("input shape %v: dimension %d is %d", xs, i, d)
		}
	}
	for i, d := range ws {
		if d < 1 {
			return convGeom{}, errors.Errorf("filter shape %v: dimension %d is %d", ws, i, d)
		}
	}
	g := convGeom{N: xs[0], C: xs[1], H: xs[2], W: xs[3], F: ws[0],
		Window: Window{KH: ws[2], KW: ws[3], SH: stride[0], SW: stride[1], PH: pad[0], PW: pad[1]}}
	var err error
	if g.OH, g.OW, err = g.Window.Out(g.H, g.W); err != nil {
		return convGeom{}, err
	}
	return g, nil
}

// Conv2D returns the node y = x ⋆ w + b, the cross-correlation of x with the
// filters w summed over input channels, as machine learning means
// convolution (no kernel flip):
//
//	y[n,f,i,j] = b[f] + Σ_c Σ_m Σ_k x[n, c, i·SH−PH+m, j·SW−PW+k] · w[f,c,m,k]
//
// x is (N, C, H, W), w is (F, C, KH, KW), b is (F) or nil for no bias, and
// y is (N, F, OH, OW) with OH = (H + 2·PH − KH)/SH + 1 (see Window). stride
// and pad are (rows, columns); strides must be ≥ 1, padding is zeros. x, w and
// b must share one dtype, float32 or float64. Gradients flow to x, w and b.
func Conv2D(x, w, b *G.Node, stride, pad [2]int) (*G.Node, error) {
	return Conv2DAct(x, w, b, stride, pad, Linear)
}

// Conv2DAct is Conv2D followed by the activation f, fused into one op: f is
// applied while the output is written, and its gradient (from the output)
// once, before the convolution's gradients.
func Conv2DAct(x, w, b *G.Node, stride, pad [2]int, f Activation) (*G.Node, error) {
	g, err := newConvGeom(x.Shape(), w.Shape(), stride, pad)
	if err != nil {
		return nil, errors.Wrap(err, "ops.Conv2D")
	}
	if !f.valid() {
		return nil, errors.Errorf("ops.Conv2D: unknown activation %d", int(f))
	}
	op := &conv2DOp{convGeom: g, act: f}
	if b == nil {
		return G.ApplyOp(op, x, w)
	}
	if bs := b.Shape(); !bs.Eq(tensor.Shape{g.F}) {
		return nil, errors.Errorf("ops.Conv2D: bias has shape %v, want (%d) for %d filters", bs, g.F, g.F)
	}
	op.bias = true
	return G.ApplyOp(op, x, w, b)
}

// conv2DOp computes the convolution forward pass by unrolling each image's
// receptive fields into columns (im2col) and multiplying by the filter matrix.
type conv2DOp struct {
	convGeom
	act  Activation // applied to the output
	bias bool
	out  outBuf
	ws   convWorkspace
}

func (op *conv2DOp) Arity() int {
	if op.bias {
		return 3
	}
	return 2
}

func (op *conv2DOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t := tensorType(4, a)
	if op.bias {
		return hm.NewFnType(t, t, tensorType(1, a), t)
	}
	return hm.NewFnType(t, t, t)
}

func (op *conv2DOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.yShape(), nil }
func (op *conv2DOp) ReturnsPtr() bool                               { return false }
func (op *conv2DOp) CallsExtern() bool                              { return false }
func (op *conv2DOp) OverwritesInput() int                           { return -1 }
func (op *conv2DOp) WriteHash(h hash.Hash)                          { io.WriteString(h, op.String()) }
func (op *conv2DOp) Hashcode() uint32                               { return hashString(op) }
func (op *conv2DOp) String() string {
	return fmt.Sprintf("Conv2D{%v bias=%t %v}", op.convGeom, op.bias, op.act)
}

func (op *conv2DOp) inputs(vs []G.Value) (x, w, b *tensor.Dense, err error) {
	if len(vs) != op.Arity() {
		return nil, nil, nil, errors.Errorf("%v: got %d inputs, want %d", op, len(vs), op.Arity())
	}
	if x, err = dense(vs[0], "Conv2D input"); err != nil {
		return
	}
	if w, err = dense(vs[1], "Conv2D filters"); err != nil {
		return
	}
	if err = checkShape(x, op.xShape(), "Conv2D input"); err != nil {
		return
	}
	if err = checkShape(w, op.wShape(), "Conv2D filters"); err != nil {
		return
	}
	ts := []*tensor.Dense{x, w}
	if op.bias {
		if b, err = dense(vs[2], "Conv2D bias"); err != nil {
			return
		}
		if err = checkShape(b, tensor.Shape{op.F}, "Conv2D bias"); err != nil {
			return
		}
		ts = append(ts, b)
	}
	_, err = dtypeOf("Conv2D", ts...)
	return
}

func (op *conv2DOp) Do(vs ...G.Value) (G.Value, error) {
	x, w, b, err := op.inputs(vs)
	if err != nil {
		return nil, err
	}
	y := op.out.get(x.Dtype(), op.yShape())
	op.forward(x, w, b, y)
	return y, nil
}

func (op *conv2DOp) UsePreallocDo(p G.Value, vs ...G.Value) (G.Value, error) {
	x, w, b, err := op.inputs(vs)
	if err != nil {
		return nil, err
	}
	y, err := prealloc(p, x.Dtype(), op.yShape(), "Conv2D")
	if err != nil {
		return nil, err
	}
	op.forward(x, w, b, y)
	return y, nil
}

func (op *conv2DOp) forward(x, w, b, y *tensor.Dense) {
	switch x.Dtype() {
	case tensor.Float32:
		var bias []float32
		if b != nil {
			bias = b.Float32s()
		}
		convForward(op.convGeom, &op.ws, x.Float32s(), w.Float32s(), bias, y.Float32s(), op.act)
	case tensor.Float64:
		var bias []float64
		if b != nil {
			bias = b.Float64s()
		}
		convForward(op.convGeom, &op.ws, x.Float64s(), w.Float64s(), bias, y.Float64s(), op.act)
	}
}

func (op *conv2DOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

func (op *conv2DOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != op.Arity() {
		return nil, errors.Errorf("%v: SymDiff got %d inputs, want %d", op, len(inputs), op.Arity())
	}
	x, w := inputs[0], inputs[1]
	if op.act != Linear {
		// The convolutions' gradients all start from ∂L/∂(pre-activation).
		var err error
		if grad, err = G.ApplyOp(newActGradOp(op.act, op.yShape()), output, grad); err != nil {
			return nil, errors.Wrap(err, "Conv2D activation gradient")
		}
	}
	dx, err := G.ApplyOp(&conv2DInputGradOp{convGeom: op.convGeom}, w, grad)
	if err != nil {
		return nil, errors.Wrap(err, "Conv2D input gradient")
	}
	dw, err := G.ApplyOp(&conv2DFilterGradOp{convGeom: op.convGeom}, x, grad)
	if err != nil {
		return nil, errors.Wrap(err, "Conv2D filter gradient")
	}
	if !op.bias {
		return G.Nodes{dx, dw}, nil
	}
	db, err := G.ApplyOp(newChannelSumOp(op.yShape()), grad)
	if err != nil {
		return nil, errors.Wrap(err, "Conv2D bias gradient")
	}
	return G.Nodes{dx, dw, db}, nil
}

func (op *conv2DOp) DoDiff(ctx G.ExecutionContext, inputs G.Nodes, output *G.Node) error {
	dy, err := output.Grad()
	if err != nil {
		return errors.Wrap(err, "Conv2D DoDiff")
	}
	if op.act != Linear {
		if dy, err = newActGradOp(op.act, op.yShape()).Do(output.Value(), dy); err != nil {
			return errors.Wrap(err, "Conv2D DoDiff activation")
		}
	}
	grads := []G.Op{&conv2DInputGradOp{convGeom: op.convGeom}, &conv2DFilterGradOp{convGeom: op.convGeom}, newChannelSumOp(op.yShape())}
	args := [][]G.Value{{inputs[1].Value(), dy}, {inputs[0].Value(), dy}, {dy}}
	for i, in := range inputs {
		g, err := grads[i].Do(args[i]...)
		if err != nil {
			return errors.Wrapf(err, "Conv2D DoDiff %v", grads[i])
		}
		dst, err := in.Grad()
		if err != nil {
			return errors.Wrap(err, "Conv2D DoDiff")
		}
		if err := addTo(dst, g.(*tensor.Dense), fmt.Sprintf("Conv2D DoDiff input %d", i)); err != nil {
			return err
		}
	}
	return nil
}

// conv2DInputGradOp computes ∂L/∂x from the filters w and ∂L/∂y.
type conv2DInputGradOp struct {
	convGeom
	out outBuf
	ws  convWorkspace
}

func (op *conv2DInputGradOp) Arity() int { return 2 }
func (op *conv2DInputGradOp) Type() hm.Type {
	t := tensorType(4, hm.TypeVariable('a'))
	return hm.NewFnType(t, t, t)
}
func (op *conv2DInputGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.xShape(), nil
}
func (op *conv2DInputGradOp) ReturnsPtr() bool      { return false }
func (op *conv2DInputGradOp) CallsExtern() bool     { return false }
func (op *conv2DInputGradOp) OverwritesInput() int  { return -1 }
func (op *conv2DInputGradOp) WriteHash(h hash.Hash) { io.WriteString(h, op.String()) }
func (op *conv2DInputGradOp) Hashcode() uint32      { return hashString(op) }
func (op *conv2DInputGradOp) String() string        { return fmt.Sprintf("Conv2DInputGrad{%v}", op.convGeom) }

func (op *conv2DInputGradOp) inputs(vs []G.Value) (w, dy *tensor.Dense, err error) {
	if len(vs) != 2 {
		return nil, nil, errors.Errorf("%v: got %d inputs, want 2", op, len(vs))
	}
	if w, err = dense(vs[0], "Conv2DInputGrad filters"); err != nil {
		return
	}
	if dy, err = dense(vs[1], "Conv2DInputGrad output gradient"); err != nil {
		return
	}
	if err = checkShape(w, op.wShape(), "Conv2DInputGrad filters"); err != nil {
		return
	}
	if err = checkShape(dy, op.yShape(), "Conv2DInputGrad output gradient"); err != nil {
		return
	}
	_, err = dtypeOf("Conv2DInputGrad", w, dy)
	return
}

func (op *conv2DInputGradOp) Do(vs ...G.Value) (G.Value, error) {
	w, dy, err := op.inputs(vs)
	if err != nil {
		return nil, err
	}
	dx := op.out.get(w.Dtype(), op.xShape())
	op.do(w, dy, dx)
	return dx, nil
}

func (op *conv2DInputGradOp) UsePreallocDo(p G.Value, vs ...G.Value) (G.Value, error) {
	w, dy, err := op.inputs(vs)
	if err != nil {
		return nil, err
	}
	dx, err := prealloc(p, w.Dtype(), op.xShape(), "Conv2DInputGrad")
	if err != nil {
		return nil, err
	}
	op.do(w, dy, dx)
	return dx, nil
}

func (op *conv2DInputGradOp) do(w, dy, dx *tensor.Dense) {
	switch w.Dtype() {
	case tensor.Float32:
		convInputGrad(op.convGeom, &op.ws, w.Float32s(), dy.Float32s(), dx.Float32s())
	case tensor.Float64:
		convInputGrad(op.convGeom, &op.ws, w.Float64s(), dy.Float64s(), dx.Float64s())
	}
}

// conv2DFilterGradOp computes ∂L/∂w from the input x and ∂L/∂y.
type conv2DFilterGradOp struct {
	convGeom
	out outBuf
	ws  convWorkspace
}

func (op *conv2DFilterGradOp) Arity() int { return 2 }
func (op *conv2DFilterGradOp) Type() hm.Type {
	t := tensorType(4, hm.TypeVariable('a'))
	return hm.NewFnType(t, t, t)
}
func (op *conv2DFilterGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.wShape(), nil
}
func (op *conv2DFilterGradOp) ReturnsPtr() bool      { return false }
func (op *conv2DFilterGradOp) CallsExtern() bool     { return false }
func (op *conv2DFilterGradOp) OverwritesInput() int  { return -1 }
func (op *conv2DFilterGradOp) WriteHash(h hash.Hash) { io.WriteString(h, op.String()) }
func (op *conv2DFilterGradOp) Hashcode() uint32      { return hashString(op) }
func (op *conv2DFilterGradOp) String() string {
	return fmt.Sprintf("Conv2DFilterGrad{%v}", op.convGeom)
}

func (op *conv2DFilterGradOp) inputs(vs []G.Value) (x, dy *tensor.Dense, err error) {
	if len(vs) != 2 {
		return nil, nil, errors.Errorf("%v: got %d inputs, want 2", op, len(vs))
	}
	if x, err = dense(vs[0], "Conv2DFilterGrad input"); err != nil {
		return
	}
	if dy, err = dense(vs[1], "Conv2DFilterGrad output gradient"); err != nil {
		return
	}
	if err = checkShape(x, op.xShape(), "Conv2DFilterGrad input"); err != nil {
		return
	}
	if err = checkShape(dy, op.yShape(), "Conv2DFilterGrad output gradient"); err != nil {
		return
	}
	_, err = dtypeOf("Conv2DFilterGrad", x, dy)
	return
}

func (op *conv2DFilterGradOp) Do(vs ...G.Value) (G.Value, error) {
	x, dy, err := op.inputs(vs)
	if err != nil {
		return nil, err
	}
	dw := op.out.get(x.Dtype(), op.wShape())
	op.do(x, dy, dw)
	return dw, nil
}

func (op *conv2DFilterGradOp) UsePreallocDo(p G.Value, vs ...G.Value) (G.Value, error) {
	x, dy, err := op.inputs(vs)
	if err != nil {
		return nil, err
	}
	dw, err := prealloc(p, x.Dtype(), op.wShape(), "Conv2DFilterGrad")
	if err != nil {
		return nil, err
	}
	op.do(x, dy, dw)
	return dw, nil
}

func (op *conv2DFilterGradOp) do(x, dy, dw *tensor.Dense) {
	switch x.Dtype() {
	case tensor.Float32:
		convFilterGrad(op.convGeom, &op.ws, x.Float32s(), dy.Float32s(), dw.Float32s())
	case tensor.Float64:
		convFilterGrad(op.convGeom, &op.ws, x.Float64s(), dy.Float64s(), dw.Float64s())
	}
}
