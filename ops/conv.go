package ops

import (
	"fmt"

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
	if b == nil {
		return convDef(g, false, f).Apply(x, w)
	}
	if bs := b.Shape(); !bs.Eq(tensor.Shape{g.F}) {
		return nil, errors.Errorf("ops.Conv2D: bias has shape %v, want (%d) for %d filters", bs, g.F, g.F)
	}
	return convDef(g, true, f).Apply(x, w, b)
}

// convDef is the convolution forward pass: each chunk of images' receptive
// fields is unrolled into columns (im2col) and multiplied by the filter
// matrix, with the op's own scratch buffers (see conv_kernel.go).
func convDef(g convGeom, bias bool, act Activation) Def {
	ws, wg := new(convWorkspace), newWinograd(g)
	in := []tensor.Shape{g.xShape(), g.wShape()}
	if bias {
		in = append(in, tensor.Shape{g.F})
	}
	return Def{
		Name: fmt.Sprintf("Conv2D{%v bias=%t %v}", g, bias, act),
		In:   in,
		Out:  g.yShape(),
		F32: func(y []float32, a [][]float32) {
			if g.winogradFits() {
				wg.forward(a[0], a[1], biasOf(a), y, act)
				return
			}
			convForward(g, ws, a[0], a[1], biasOf(a), y, act)
		},
		F64: func(y []float64, a [][]float64) { convForward(g, ws, a[0], a[1], biasOf(a), y, act) },
		Grad: func(gr *Grad) {
			// The convolutions' gradients all start from ∂L/∂(pre-activation).
			dz := preActGrad(gr, act)
			gr.Set(0, gr.Apply(convInputGradDef(g), gr.Input(1), dz))
			gr.Set(1, gr.Apply(convFilterGradDef(g), gr.Input(0), dz))
			if bias {
				gr.Set(2, gr.Apply(channelSumDef(g.yShape()), dz))
			}
		},
	}
}

// biasOf returns the third argument, the bias, or nil.
func biasOf[T Float](a [][]T) []T {
	if len(a) == 3 {
		return a[2]
	}
	return nil
}

// convInputGradDef computes ∂L/∂x from the filters w and ∂L/∂y.
func convInputGradDef(g convGeom) Def {
	ws, wg := new(convWorkspace), newWinograd(g)
	return Def{
		Name: fmt.Sprintf("Conv2DInputGrad{%v}", g),
		In:   []tensor.Shape{g.wShape(), g.yShape()},
		Out:  g.xShape(),
		F32: func(dx []float32, a [][]float32) {
			if g.winogradFits() {
				wg.inputGrad(a[0], a[1], dx)
				return
			}
			convInputGrad(g, ws, a[0], a[1], dx)
		},
		F64: func(dx []float64, a [][]float64) { convInputGrad(g, ws, a[0], a[1], dx) },
	}
}

// convFilterGradDef computes ∂L/∂w from the input x and ∂L/∂y.
func convFilterGradDef(g convGeom) Def {
	ws, wg := new(convWorkspace), newWinograd(g)
	return Def{
		Name: fmt.Sprintf("Conv2DFilterGrad{%v}", g),
		In:   []tensor.Shape{g.xShape(), g.yShape()},
		Out:  g.wShape(),
		F32: func(dw []float32, a [][]float32) {
			if g.winogradFits() {
				wg.filterGrad(a[0], a[1], dw)
				return
			}
			convFilterGrad(g, ws, a[0], a[1], dw)
		},
		F64: func(dw []float64, a [][]float64) { convFilterGrad(g, ws, a[0], a[1], dw) },
	}
}
