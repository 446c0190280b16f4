package ops

import (
	"fmt"
	"unsafe"

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
// sh×sw blocks of y, writing each output row directly (a copy per row of
// a few cells costs more than the stores).
func upsampleBody[T Float](h, w, sh, sw int) func(lo, hi int, y []T, in [][]T) {
	ow := w * sw
	return func(lo, hi int, y []T, in [][]T) {
		for pl := lo; pl < hi; pl++ {
			xp, yp := in[0][pl*h*w:(pl+1)*h*w], y[pl*h*sh*ow:(pl+1)*h*sh*ow]
			for i := 0; i < h; i++ {
				src := xp[i*w : (i+1)*w]
				for r := i * sh; r < (i+1)*sh; r++ {
					upsampleRow(yp[r*ow:(r+1)*ow], src, sw)
				}
			}
		}
	}
}

// upsampleRow sets dst[j·sw:(j+1)·sw] to src[j] for each j.
func upsampleRow[T Float](dst, src []T, sw int) {
	dst = dst[:len(src)*sw]
	switch sw {
	case 1:
		copy(dst, src)
	case 2:
		if sizeOf[T]() == 4 && len(src) > 0 {
			// Each pair of float32 as one 64-bit store.
			s32 := unsafe.Slice((*uint32)(unsafe.Pointer(&src[0])), len(src))
			d64 := unsafe.Slice((*uint64)(unsafe.Pointer(&dst[0])), len(src))
			for j, b := range s32 {
				d64[j] = uint64(b) | uint64(b)<<32
			}
			return
		}
		for j, v := range src {
			p := dst[2*j : 2*j+2]
			p[0], p[1] = v, v
		}
	default:
		for j, v := range src {
			p := dst[j*sw : (j+1)*sw]
			for b := range p {
				p[b] = v
			}
		}
	}
}

// upsampleGradBody sums each sh×sw block of planes [lo, hi) of in[0]
// into its cell of dx: the sum of each row's sw values (left to right),
// then of the block's rows in order.
func upsampleGradBody[T Float](h, w, sh, sw int) func(lo, hi int, dx []T, in [][]T) {
	ow := w * sw
	return func(lo, hi int, dx []T, in [][]T) {
		for pl := lo; pl < hi; pl++ {
			dyp, dxp := in[0][pl*h*sh*ow:(pl+1)*h*sh*ow], dx[pl*h*w:(pl+1)*h*w]
			for i := 0; i < h; i++ {
				dr := dxp[i*w : (i+1)*w]
				for r := 0; r < sh; r++ {
					upsampleRowSums(dr, dyp[(i*sh+r)*ow:(i*sh+r+1)*ow], sw, r == 0)
				}
			}
		}
	}
}

// upsampleRowSums sets (first) or adds to each dr[j] the sum of
// src[j·sw:(j+1)·sw], left to right.
func upsampleRowSums[T Float](dr, src []T, sw int, first bool) {
	src = src[:len(dr)*sw]
	switch {
	case sw == 1 && first:
		copy(dr, src)
	case sw == 1:
		for j, v := range src {
			dr[j] += v
		}
	case sw == 2 && first:
		for j := range dr {
			p := src[2*j : 2*j+2]
			dr[j] = p[0] + p[1]
		}
	case sw == 2:
		for j := range dr {
			p := src[2*j : 2*j+2]
			dr[j] += p[0] + p[1]
		}
	default:
		for j := range dr {
			p := src[j*sw : (j+1)*sw]
			s := p[0]
			for _, v := range p[1:] {
				s += v
			}
			if first {
				dr[j] = s
			} else {
				dr[j] += s
			}
		}
	}
}

// gapGrain is the number of elements below which a loop of
// GlobalAvgPool2D runs on one goroutine.
const gapGrain = 1 << 16

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
	grain := max(1, gapGrain/hw)
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

// gapBody writes the means of planes [lo, hi) (see planeMeans).
func gapBody[T Float](hw int) func(lo, hi int, y []T, in [][]T) {
	return func(lo, hi int, y []T, in [][]T) {
		planeMeans(y[lo:hi], in[0][lo*hw:hi*hw], hw)
	}
}

// gapGradBody spreads ∂L/∂y over planes [lo, hi) (see planeFill).
func gapGradBody[T Float](hw int) func(lo, hi int, dx []T, in [][]T) {
	return func(lo, hi int, dx []T, in [][]T) {
		planeFill(dx[lo*hw:hi*hw], in[0][lo:hi], hw)
	}
}
