package ops

import "unsafe"

// The convolution kernels. The receptive fields of a chunk of G images are
// unrolled into one column matrix (im2col) of C·KH·KW rows and G·OH·OW
// columns, image after image, so that each pass is one large matrix product
// that package blas spreads over the cores:
//
//	forward:      Yᵗ (F × G·P)  = w (F × CKK) · cols (CKK × G·P)
//	filter grad:  dw (F × CKK) += dYᵗ (F × G·P) · colsᵀ
//	input grad:   dcols (CKK × G·P) = wᵀ · dYᵗ, then col2im
//
// where P = OH·OW and Yᵗ is the output with the image and feature-map axes
// swapped, (F, G, P), copied to or from the (N, F, OH, OW) layout. The
// unrolling and copying loops run on every core too, between the products.

// convChunk is the most images unrolled at once; it bounds the workspace.
const convChunk = 64

// convWorkspace holds the scratch buffers of one op, reused across calls.
type convWorkspace struct {
	f32 [2][]float32
	f64 [2][]float64
	colsCache
}

// colsCache lets the filter gradient reuse the column matrix the forward
// pass unrolled (buffer 0 of the forward op's workspace), as PyTorch's
// slow_conv2d does, instead of unrolling the same input again. The forward
// pass records the input's address and marks the columns fresh when the
// whole batch fitted in one chunk; the filter gradient uses them once, if it
// is given the same input, and marks them stale. In a TapeMachine step the
// forward pass always runs before the gradient, on the same, unchanged input.
type colsCache struct {
	x     unsafe.Pointer
	fresh bool
}

// bufs returns the two scratch buffers, of at least n0 and n1 elements.
func bufs[T Float](ws *convWorkspace, n0, n1 int) ([]T, []T) {
	var zero T
	switch any(zero).(type) {
	case float32:
		for i, n := range [2]int{n0, n1} {
			if len(ws.f32[i]) < n {
				ws.f32[i] = make([]float32, n)
			}
		}
		return any(ws.f32[0][:n0]).([]T), any(ws.f32[1][:n1]).([]T)
	default:
		for i, n := range [2]int{n0, n1} {
			if len(ws.f64[i]) < n {
				ws.f64[i] = make([]float64, n)
			}
		}
		return any(ws.f64[0][:n0]).([]T), any(ws.f64[1][:n1]).([]T)
	}
}

// validRange returns the output columns [lo, hi) whose input column
// ow·SW − PW + kw lies inside [0, W).
func (g convGeom) validRange(kw int) (lo, hi int) {
	// smallest ow with ow·SW ≥ PW − kw
	off := g.PW - kw
	if off > 0 {
		lo = (off + g.SW - 1) / g.SW
	}
	// largest ow with ow·SW − PW + kw ≤ W − 1
	lim := g.W - 1 + g.PW - kw
	if lim < 0 {
		return 0, 0
	}
	hi = lim/g.SW + 1
	if hi > g.OW {
		hi = g.OW
	}
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// validRows returns the output rows [lo, hi) whose input row
// oh·SH − PH + kh lies inside [0, H).
func (g convGeom) validRows(kh int) (lo, hi int) {
	if off := g.PH - kh; off > 0 {
		lo = (off + g.SH - 1) / g.SH
	}
	lim := g.H - 1 + g.PH - kh
	if lim < 0 {
		return 0, 0
	}
	hi = min(lim/g.SH+1, g.OH)
	return min(lo, hi), hi
}

// im2col unrolls one image x (C, H, W) into the P = OH·OW columns of cols
// starting at column 0: row r (a channel and kernel offset) at cols[r·ld:].
// Cells that fall in the padding are zero.
func im2col[T Float](g convGeom, x, cols []T, ld int) {
	P := g.p()
	r := 0
	for c := 0; c < g.C; c++ {
		xc := x[c*g.H*g.W : (c+1)*g.H*g.W]
		for kh := 0; kh < g.KH; kh++ {
			rlo, rhi := g.validRows(kh)
			for kw := 0; kw < g.KW; kw++ {
				row := cols[r*ld : r*ld+P]
				r++
				clo, chi := g.validRange(kw)
				clear(row[:rlo*g.OW])
				clear(row[rhi*g.OW:])
				if clo > 0 || chi < g.OW {
					for oh := rlo; oh < rhi; oh++ {
						clear(row[oh*g.OW : oh*g.OW+clo])
						clear(row[oh*g.OW+chi : (oh+1)*g.OW])
					}
				}
				if rlo >= rhi || clo >= chi {
					continue
				}
				ih, iw := rlo*g.SH-g.PH+kh, clo*g.SW-g.PW+kw
				if g.SW == 1 {
					copyRows(row[rlo*g.OW+clo:], xc[ih*g.W+iw:], chi-clo, rhi-rlo, g.OW, g.SH*g.W)
					continue
				}
				for oh := rlo; oh < rhi; oh, ih = oh+1, ih+g.SH {
					seg, xr := row[oh*g.OW:(oh+1)*g.OW], xc[ih*g.W:(ih+1)*g.W]
					for ow, j := clo, iw; ow < chi; ow, j = ow+1, j+g.SW {
						seg[ow] = xr[j]
					}
				}
			}
		}
	}
}

// col2im adds the columns of one image (row r at cols[r·ld:], P wide) back
// into its gradient dx (C, H, W): the adjoint of im2col.
func col2im[T Float](g convGeom, cols []T, ld int, dx []T) {
	P := g.p()
	r := 0
	for c := 0; c < g.C; c++ {
		dxc := dx[c*g.H*g.W : (c+1)*g.H*g.W]
		for kh := 0; kh < g.KH; kh++ {
			rlo, rhi := g.validRows(kh)
			for kw := 0; kw < g.KW; kw++ {
				row := cols[r*ld : r*ld+P]
				r++
				clo, chi := g.validRange(kw)
				if rlo >= rhi || clo >= chi {
					continue
				}
				ih, iw := rlo*g.SH-g.PH+kh, clo*g.SW-g.PW+kw
				if g.SW == 1 {
					addRows(dxc[ih*g.W+iw:], row[rlo*g.OW+clo:], chi-clo, rhi-rlo, g.SH*g.W, g.OW)
					continue
				}
				for oh := rlo; oh < rhi; oh, ih = oh+1, ih+g.SH {
					seg, dr := row[oh*g.OW:(oh+1)*g.OW], dxc[ih*g.W:(ih+1)*g.W]
					for ow, j := clo, iw; ow < chi; ow, j = ow+1, j+g.SW {
						dr[j] += seg[ow]
					}
				}
			}
		}
	}
}

// unroll writes the columns of images [n0, n0+cnt) of x into cols, whose
// row stride is cnt·P.
func unroll[T Float](g convGeom, x []T, n0, cnt int, cols []T) {
	img, P := g.C*g.H*g.W, g.p()
	parallelFor(cnt, 1, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			im2col(g, x[(n0+i)*img:(n0+i+1)*img], cols[i*P:], cnt*P)
		}
	})
}

// gather copies the (N, F, P) tensor y's images [n0, n0+cnt) into yt as
// (F, cnt, P); scatter copies back, adding bias[f] when bias is not nil and
// applying the activation f.
func gather[T Float](g convGeom, y []T, n0, cnt int, yt []T) {
	P := g.p()
	parallelFor(cnt, 1, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			for f := 0; f < g.F; f++ {
				copy(yt[(f*cnt+i)*P:(f*cnt+i+1)*P], y[((n0+i)*g.F+f)*P:])
			}
		}
	})
}

func scatter[T Float](g convGeom, yt []T, n0, cnt int, bias, y []T, act Activation) {
	P := g.p()
	parallelFor(cnt, 1, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			for f := 0; f < g.F; f++ {
				dst := y[((n0+i)*g.F+f)*P : ((n0+i)*g.F+f+1)*P]
				src := yt[(f*cnt+i)*P:][:P]
				if bias == nil {
					copy(dst, src)
				} else {
					b := bias[f]
					for j, v := range src {
						dst[j] = v + b
					}
				}
				if act != Linear {
					activateSerial(act, dst, dst)
				}
			}
		}
	})
}

// convForward computes y = act(x ⋆ w + b), (N, F, OH, OW), from x (N, C, H,
// W), w (F, CKK) and the optional bias b (F).
func convForward[T Float](g convGeom, ws *convWorkspace, x, w, b, y []T, act Activation) {
	K, P := g.ckk(), g.p()
	for n0 := 0; n0 < g.N; n0 += convChunk {
		cnt := min(convChunk, g.N-n0)
		cols, yt := bufs[T](ws, K*cnt*P, g.F*cnt*P)
		unroll(g, x, n0, cnt, cols)
		gemm(false, false, g.F, cnt*P, K, 1, w, K, cols, cnt*P, 0, yt, cnt*P)
		scatter(g, yt, n0, cnt, b, y, act)
	}
	ws.colsCache = colsCache{x: unsafe.Pointer(unsafe.SliceData(x)), fresh: g.N <= convChunk}
}

// convInputGrad computes dx (N, C, H, W) from w (F, CKK) and dy (N, F, OH, OW).
func convInputGrad[T Float](g convGeom, ws *convWorkspace, w, dy, dx []T) {
	K, P, img := g.ckk(), g.p(), g.C*g.H*g.W
	for n0 := 0; n0 < g.N; n0 += convChunk {
		cnt := min(convChunk, g.N-n0)
		dcols, dyt := bufs[T](ws, K*cnt*P, g.F*cnt*P)
		gather(g, dy, n0, cnt, dyt)
		gemm(true, false, K, cnt*P, g.F, 1, w, K, dyt, cnt*P, 0, dcols, cnt*P)
		parallelFor(cnt, 1, func(_, lo, hi int) {
			for i := lo; i < hi; i++ {
				dxn := dx[(n0+i)*img : (n0+i+1)*img]
				clear(dxn)
				col2im(g, dcols[i*P:], cnt*P, dxn)
			}
		})
	}
}

// convFilterGrad computes dw (F, CKK) from x (N, C, H, W) and dy (N, F, OH, OW),
// taking the columns from fwd's cache when they are fresh and of x.
func convFilterGrad[T Float](g convGeom, ws, fwd *convWorkspace, x, dy, dw []T) {
	K, P := g.ckk(), g.p()
	cached := fwd != nil && fwd.fresh && fwd.x == unsafe.Pointer(unsafe.SliceData(x))
	if cached {
		fwd.fresh = false
	}
	for n0 := 0; n0 < g.N; n0 += convChunk {
		cnt := min(convChunk, g.N-n0)
		var cols, dyt []T
		if cached {
			cols, _ = bufs[T](fwd, K*cnt*P, 0)
			_, dyt = bufs[T](ws, 0, g.F*cnt*P)
		} else {
			cols, dyt = bufs[T](ws, K*cnt*P, g.F*cnt*P)
			unroll(g, x, n0, cnt, cols)
		}
		gather(g, dy, n0, cnt, dyt)
		var beta T
		if n0 > 0 {
			beta = 1
		}
		gemm(false, true, g.F, K, cnt*P, 1, dyt, cnt*P, cols, cnt*P, beta, dw, K)
	}
}
