package ops

// The convolution kernels. Each image is processed on its own: its
// receptive fields are unrolled into a (C·KH·KW)×(OH·OW) column matrix
// (im2col), so the forward pass is one matrix product per image,
//
//	y_n (F × P) = w (F × CKK) · cols_n (CKK × P),
//
// which lands directly in (N, F, OH, OW) layout. Images are split across
// workers; each worker owns its column buffer.

// convWorkspace holds per-worker scratch buffers, reused across calls.
type convWorkspace struct {
	f32 [][]float32
	f64 [][]float64
}

// buf returns worker wk's scratch buffer of at least n elements. prepare must
// have sized the per-worker table first.
func buf[T Float](ws *convWorkspace, wk, n int) []T {
	var zero T
	switch any(zero).(type) {
	case float32:
		if len(ws.f32[wk]) < n {
			ws.f32[wk] = make([]float32, n)
		}
		return any(ws.f32[wk][:n]).([]T)
	default:
		if len(ws.f64[wk]) < n {
			ws.f64[wk] = make([]float64, n)
		}
		return any(ws.f64[wk][:n]).([]T)
	}
}

// prepare sizes the per-worker table for p workers (not the buffers).
func (ws *convWorkspace) prepare(p int) {
	for len(ws.f32) < p {
		ws.f32 = append(ws.f32, nil)
		ws.f64 = append(ws.f64, nil)
	}
}

// oneByOne reports whether the convolution is a plain 1×1 product, where the
// image itself is the column matrix.
func (g convGeom) oneByOne() bool {
	return g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PH == 0 && g.PW == 0
}

// chunks returns how many workers parallelFor uses for n items.
func chunks(n int) int {
	p := workers()
	if p > n {
		p = n
	}
	if p < 1 {
		p = 1
	}
	return p
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

// im2col unrolls one image x (C, H, W) into cols (C·KH·KW, OH·OW).
func im2col[T Float](g convGeom, x, cols []T) {
	P := g.p()
	r := 0
	for c := 0; c < g.C; c++ {
		xc := x[c*g.H*g.W : (c+1)*g.H*g.W]
		for kh := 0; kh < g.KH; kh++ {
			for kw := 0; kw < g.KW; kw++ {
				row := cols[r*P : (r+1)*P]
				r++
				lo, hi := g.validRange(kw)
				for oh := 0; oh < g.OH; oh++ {
					seg := row[oh*g.OW : (oh+1)*g.OW]
					ih := oh*g.SH - g.PH + kh
					if ih < 0 || ih >= g.H {
						clear(seg)
						continue
					}
					xr := xc[ih*g.W : (ih+1)*g.W]
					clear(seg[:lo])
					clear(seg[hi:])
					if g.SW == 1 {
						if lo < hi {
							copy(seg[lo:hi], xr[lo-g.PW+kw:])
						}
						continue
					}
					for ow, iw := lo, lo*g.SW-g.PW+kw; ow < hi; ow, iw = ow+1, iw+g.SW {
						seg[ow] = xr[iw]
					}
				}
			}
		}
	}
}

// col2im adds the columns cols (C·KH·KW, OH·OW) back into the image
// gradient dx (C, H, W), the adjoint of im2col.
func col2im[T Float](g convGeom, cols, dx []T) {
	P := g.p()
	r := 0
	for c := 0; c < g.C; c++ {
		dxc := dx[c*g.H*g.W : (c+1)*g.H*g.W]
		for kh := 0; kh < g.KH; kh++ {
			for kw := 0; kw < g.KW; kw++ {
				row := cols[r*P : (r+1)*P]
				r++
				lo, hi := g.validRange(kw)
				for oh := 0; oh < g.OH; oh++ {
					ih := oh*g.SH - g.PH + kh
					if ih < 0 || ih >= g.H {
						continue
					}
					seg := row[oh*g.OW : (oh+1)*g.OW]
					dr := dxc[ih*g.W : (ih+1)*g.W]
					for ow, iw := lo, lo*g.SW-g.PW+kw; ow < hi; ow, iw = ow+1, iw+g.SW {
						dr[iw] += seg[ow]
					}
				}
			}
		}
	}
}

// convForward computes y (N, F, OH, OW) from x (N, C, H, W), w (F, CKK) and
// the optional bias b (F).
func convForward[T Float](g convGeom, ws *convWorkspace, x, w, b, y []T) {
	K, P, img, out := g.ckk(), g.p(), g.C*g.H*g.W, g.F*g.p()
	ws.prepare(chunks(g.N))
	parallelFor(g.N, 1, func(wk, lo, hi int) {
		var cols []T
		if !g.oneByOne() {
			cols = buf[T](ws, wk, K*P)
		}
		for n := lo; n < hi; n++ {
			xn, yn := x[n*img:(n+1)*img], y[n*out:(n+1)*out]
			if g.oneByOne() {
				cols = xn
			} else {
				im2col(g, xn, cols)
			}
			var beta T
			if b != nil {
				for f, bf := range b {
					row := yn[f*P : (f+1)*P]
					for i := range row {
						row[i] = bf
					}
				}
				beta = 1
			}
			gemm(false, false, g.F, P, K, 1, w, K, cols, P, beta, yn, P)
		}
	})
}

// convInputGrad computes dx (N, C, H, W) from w (F, CKK) and dy (N, F, OH, OW).
func convInputGrad[T Float](g convGeom, ws *convWorkspace, w, dy, dx []T) {
	K, P, img, out := g.ckk(), g.p(), g.C*g.H*g.W, g.F*g.p()
	ws.prepare(chunks(g.N))
	parallelFor(g.N, 1, func(wk, lo, hi int) {
		var dcols []T
		if !g.oneByOne() {
			dcols = buf[T](ws, wk, K*P)
		}
		for n := lo; n < hi; n++ {
			dxn, dyn := dx[n*img:(n+1)*img], dy[n*out:(n+1)*out]
			if g.oneByOne() {
				gemm(true, false, K, P, g.F, 1, w, K, dyn, P, 0, dxn, P)
				continue
			}
			gemm(true, false, K, P, g.F, 1, w, K, dyn, P, 0, dcols, P)
			clear(dxn)
			col2im(g, dcols, dxn)
		}
	})
}

// convFilterGrad computes dw (F, CKK) from x (N, C, H, W) and dy (N, F, OH, OW),
// summing per-worker partial products in worker order (deterministic).
func convFilterGrad[T Float](g convGeom, ws *convWorkspace, x, dy, dw []T) {
	K, P, img, out := g.ckk(), g.p(), g.C*g.H*g.W, g.F*g.p()
	p := chunks(g.N)
	ws.prepare(p)
	cols := K * P
	if g.oneByOne() {
		cols = 0
	}
	parallelFor(g.N, 1, func(wk, lo, hi int) {
		scratch := buf[T](ws, wk, cols+g.F*K)
		part := dw
		if wk > 0 {
			part = scratch[cols:]
		}
		for n := lo; n < hi; n++ {
			xn, dyn := x[n*img:(n+1)*img], dy[n*out:(n+1)*out]
			c := xn
			if !g.oneByOne() {
				c = scratch[:cols]
				im2col(g, xn, c)
			}
			var beta T
			if n > lo {
				beta = 1
			}
			gemm(false, true, g.F, K, P, 1, dyn, P, c, P, beta, part, K)
		}
	})
	for wk := 1; wk < p; wk++ {
		part := buf[T](ws, wk, cols+g.F*K)[cols:]
		for i, v := range part {
			dw[i] += v
		}
	}
}
