package ops

import (
	"fmt"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds nearest-neighbour upsampling (Upsample2D) and global
// average pooling (GlobalAvgPool2D), as PyTorch defines them.

// Upsample2D returns the node y (N, C, H·sh, W·sw) that repeats each cell
// of x (N, C, H, W) over an sh×sw block: y[n,c,i,j] = x[n,c,i/sh,j/sw],
// PyTorch's interpolate(x, scale_factor=(sh, sw), mode='nearest') for
// integer factors sh, sw ≥ 1. The gradient of each input cell is the sum
// of its block's.
func Upsample2D(x *G.Node, sh, sw int) (*G.Node, error) {
	if x == nil {
		return nil, errors.New("ops.Upsample2D: input is nil")
	}
	xs := x.Shape()
	if err := gconvRank4(xs, "input", "(N, C, H, W)"); err != nil {
		return nil, errors.Wrap(err, "ops.Upsample2D")
	}
	if sh < 1 || sw < 1 {
		return nil, errors.Errorf("ops.Upsample2D: scale %d×%d for input %v: must be at least 1×1", sh, sw, xs)
	}
	ys := tensor.Shape{xs[0], xs[1], xs[2] * sh, xs[3] * sw}
	name := fmt.Sprintf("x%v scale %d×%d → %v", xs, sh, sw, ys)
	planes, h, w := xs[0]*xs[1], xs[2], xs[3]
	grain := gconvGrain(ys[2] * ys[3])
	return Def{
		Name: "Upsample2D{" + name + "}",
		In:   []tensor.Shape{xs},
		Out:  ys,
		F32:  gconvLaunch(planes, grain, nil, upsampleBody[float32](h, w, sh, sw)),
		F64:  gconvLaunch(planes, grain, nil, upsampleBody[float64](h, w, sh, sw)),
		Grad: func(gr *Grad) {
			gr.Set(0, gr.Apply(Def{
				Name: "Upsample2DGrad{" + name + "}",
				In:   []tensor.Shape{ys},
				Out:  xs,
				F32:  gconvLaunch(planes, grain, nil, upsampleGradBody[float32](h, w, sh, sw)),
				F64:  gconvLaunch(planes, grain, nil, upsampleGradBody[float64](h, w, sh, sw)),
			}, gr.OutputGrad()))
		},
	}.Apply(x)
}

// upsampleBody repeats the cells of planes [lo, hi) of in[0] (h×w) over
// sh×sw blocks of y.
func upsampleBody[T Float](h, w, sh, sw int) func(lo, hi int, y []T, in [][]T) {
	ow := w * sw
	return func(lo, hi int, y []T, in [][]T) {
		for pl := lo; pl < hi; pl++ {
			xp, yp := in[0][pl*h*w:(pl+1)*h*w], y[pl*h*sh*ow:(pl+1)*h*sh*ow]
			for i := 0; i < h; i++ {
				row := yp[i*sh*ow : (i*sh+1)*ow]
				for j, v := range xp[i*w : (i+1)*w] {
					for b := j * sw; b < (j+1)*sw; b++ {
						row[b] = v
					}
				}
				for r := 1; r < sh; r++ {
					copy(yp[(i*sh+r)*ow:(i*sh+r+1)*ow], row)
				}
			}
		}
	}
}

// upsampleGradBody sums each sh×sw block of planes [lo, hi) of in[0]
// into its cell of dx: rows of the block in order, each left to right.
func upsampleGradBody[T Float](h, w, sh, sw int) func(lo, hi int, dx []T, in [][]T) {
	ow := w * sw
	return func(lo, hi int, dx []T, in [][]T) {
		for pl := lo; pl < hi; pl++ {
			dyp, dxp := in[0][pl*h*sh*ow:(pl+1)*h*sh*ow], dx[pl*h*w:(pl+1)*h*w]
			clear(dxp)
			for i := 0; i < h; i++ {
				dr := dxp[i*w : (i+1)*w]
				for r := i * sh; r < (i+1)*sh; r++ {
					src := dyp[r*ow : (r+1)*ow]
					for j := range dr {
						for _, v := range src[j*sw : (j+1)*sw] {
							dr[j] += v
						}
					}
				}
			}
		}
	}
}

// GlobalAvgPool2D returns the node y (N, C) holding the mean of each H×W
// plane of x (N, C, H, W): PyTorch's adaptive_avg_pool2d(x, 1).flatten(1).
// The sum runs in float64. The gradient spreads ∂L/∂y[n,c]/(H·W) over the
// plane.
func GlobalAvgPool2D(x *G.Node) (*G.Node, error) {
	if x == nil {
		return nil, errors.New("ops.GlobalAvgPool2D: input is nil")
	}
	xs := x.Shape()
	if err := gconvRank4(xs, "input", "(N, C, H, W)"); err != nil {
		return nil, errors.Wrap(err, "ops.GlobalAvgPool2D")
	}
	ys := tensor.Shape{xs[0], xs[1]}
	name := fmt.Sprintf("x%v → %v", xs, ys)
	planes, hw := xs[0]*xs[1], xs[2]*xs[3]
	grain := gconvGrain(hw)
	return Def{
		Name: "GlobalAvgPool2D{" + name + "}",
		In:   []tensor.Shape{xs},
		Out:  ys,
		F32:  gconvLaunch(planes, grain, nil, gapBody[float32](hw)),
		F64:  gconvLaunch(planes, grain, nil, gapBody[float64](hw)),
		Grad: func(gr *Grad) {
			gr.Set(0, gr.Apply(Def{
				Name: "GlobalAvgPool2DGrad{" + name + "}",
				In:   []tensor.Shape{ys},
				Out:  xs,
				F32:  gconvLaunch(planes, grain, nil, gapGradBody[float32](hw)),
				F64:  gconvLaunch(planes, grain, nil, gapGradBody[float64](hw)),
			}, gr.OutputGrad()))
		},
	}.Apply(x)
}

func gapBody[T Float](hw int) func(lo, hi int, y []T, in [][]T) {
	return func(lo, hi int, y []T, in [][]T) {
		for pl := lo; pl < hi; pl++ {
			var s float64
			for _, v := range in[0][pl*hw : (pl+1)*hw] {
				s += float64(v)
			}
			y[pl] = T(s / float64(hw))
		}
	}
}

func gapGradBody[T Float](hw int) func(lo, hi int, dx []T, in [][]T) {
	return func(lo, hi int, dx []T, in [][]T) {
		for pl := lo; pl < hi; pl++ {
			d := T(float64(in[0][pl]) / float64(hw))
			dxp := dx[pl*hw : (pl+1)*hw]
			for i := range dxp {
				dxp[i] = d
			}
		}
	}
}
