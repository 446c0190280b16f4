package ops

import "unsafe"

// The inner loops of batch and layer normalisation and of global average
// pooling, in float64 arithmetic on T data. On float32 data with AVX-512
// they run in assembly (norm_amd64.s), 8 float64 lanes per instruction,
// on rows of at least normLanes elements; otherwise in Go. Each adds up
// its sums in a fixed order of its own (the assembly's is described in
// norm_amd64.s, and the tests check it against a Go model), so that the
// results depend on the shape alone; the elementwise kernels compute the
// same bits either way, rounding each operation to float64 in the order
// their comment gives (no fused multiply-add).

// normLanes is the number of float64 partial sums of the assembly's
// reductions, and the elements of a row they read at a time.
const normLanes = 32

// normMasks returns the lane masks of the assembly's last block of a row
// of n elements: lanes 32 − n mod 32 to 31, one byte per 8-lane group; 0
// when n is a multiple of 32.
func normMasks(n int) uint32 { return ^uint32(0) << (normLanes - n%normLanes) }

// useNormAsm reports whether the assembly kernels run for T on rows of n
// elements.
func useNormAsm[T Float](n int) bool { return haveNormAsm && sizeOf[T]() == 4 && n >= normLanes }

// p32 returns a pointer to x's first element as a float32 (T is float32
// when the assembly runs); x is not empty.
func p32[T Float](x []T) *float32 { return (*float32)(unsafe.Pointer(unsafe.SliceData(x))) }

// span returns the length rows rows of n elements, stride apart, cover.
func span(n, rows, stride int) int { return (rows-1)*stride + n }

// rowsSum returns Σx over rows rows of n elements, row r at x[r·stride:].
func rowsSum[T Float](x []T, n, rows, stride int) float64 {
	if rows < 1 || n < 1 {
		return 0
	}
	x = x[:span(n, rows, stride)]
	if useNormAsm[T](n) {
		return normSumAsm(p32(x), n, rows, stride, normMasks(n))
	}
	var s float64
	for r := 0; r < rows; r++ {
		s += sum64(x[r*stride : r*stride+n])
	}
	return s
}

// rowsSqDev returns Σ(x − m)² over the rows, as rowsSum.
func rowsSqDev[T Float](x []T, n, rows, stride int, m float64) float64 {
	if rows < 1 || n < 1 {
		return 0
	}
	x = x[:span(n, rows, stride)]
	if useNormAsm[T](n) {
		return normSqDevAsm(p32(x), n, rows, stride, normMasks(n), m)
	}
	var s float64
	for r := 0; r < rows; r++ {
		s += sqDev4(x[r*stride:r*stride+n], m)
	}
	return s
}

// rowsGradSums returns Σdy, Σ(x − m)² and Σdy·(x − m) over the rows of x
// and dy (alike), as rowsSum; Σ(x − m)² is exactly rowsSqDev's.
func rowsGradSums[T Float](x, dy []T, n, rows, stride int, m float64) [3]float64 {
	var out [3]float64
	if rows < 1 || n < 1 {
		return out
	}
	x, dy = x[:span(n, rows, stride)], dy[:span(n, rows, stride)]
	if useNormAsm[T](n) {
		normGradSumsAsm(p32(x), p32(dy), n, rows, stride, normMasks(n), m, &out)
		return out
	}
	for r := 0; r < rows; r++ {
		g := gradSums2(x[r*stride:r*stride+n], dy[r*stride:r*stride+n], m)
		out[0] += g[0]
		out[1] += g[1]
		out[2] += g[2]
	}
	return out
}

// bnNormRows sets y = act(T(((x − m)·sc) + b)) over the rows of x and y
// (alike): ReLU as the kernel stores on AVX-512, any other activation (and
// ReLU elsewhere) row by row after it, while the row is in cache.
func bnNormRows[T Float](y, x []T, n, rows, stride int, m, sc, b float64, act Activation) {
	if rows < 1 || n < 1 {
		return
	}
	y, x = y[:span(n, rows, stride)], x[:span(n, rows, stride)]
	if useNormAsm[T](n) {
		bnNormAsm(p32(y), p32(x), n, rows, stride, normMasks(n), m, sc, b, act == ReLU)
		if act == ReLU {
			return
		}
	} else {
		for r := 0; r < rows; r++ {
			yr, xr := y[r*stride:r*stride+n], x[r*stride:r*stride+n]
			for i, v := range xr {
				yr[i] = T(float64((float64(v)-m)*sc) + b)
			}
		}
	}
	if act != Linear {
		for r := 0; r < rows; r++ {
			yr := y[r*stride : r*stride+n]
			activateSerial(act, yr, yr)
		}
	}
}

// bnDxRows sets dx = T(k1·((dy − k2) − (x − m)·k3)) over the rows of dx,
// dy and x (alike), k = (m, k1, k2, k3).
func bnDxRows[T Float](dx, dy, x []T, n, rows, stride int, k *[4]float64) {
	if rows < 1 || n < 1 {
		return
	}
	sp := span(n, rows, stride)
	dx, dy, x = dx[:sp], dy[:sp], x[:sp]
	if useNormAsm[T](n) {
		bnDxAsm(p32(dx), p32(dy), p32(x), n, rows, stride, normMasks(n), k)
		return
	}
	m, k1, k2, k3 := k[0], k[1], k[2], k[3]
	for r := 0; r < rows; r++ {
		o := r * stride
		dxr, dyr, xr := dx[o:o+n], dy[o:o+n], x[o:o+n]
		for i, g := range dyr {
			dxr[i] = T(k1 * ((float64(g) - k2) - float64((float64(xr[i])-m)*k3)))
		}
	}
}

// lnNormRow sets y = T(((x − m)·inv)·γ + β) over a row, γ and β converted
// to float64 (lnKernel converts them once per call).
func lnNormRow[T Float](y, x []T, gamma, beta []float64, m, inv float64) {
	n := len(x)
	if n == 0 {
		return
	}
	y, gamma, beta = y[:n], gamma[:n], beta[:n]
	if useNormAsm[T](n) {
		lnNormAsm(p32(y), p32(x), unsafe.SliceData(gamma), unsafe.SliceData(beta), n, normMasks(n), m, inv)
		return
	}
	for i, v := range x {
		y[i] = T(float64(((float64(v)-m)*inv)*gamma[i]) + beta[i])
	}
}

// lnGradSumsRow returns Σg and Σg·(x − m) over a row, g = dy·γ (γ in
// float64).
func lnGradSumsRow[T Float](x, dy []T, gamma []float64, m float64) [2]float64 {
	var out [2]float64
	n := len(x)
	if n == 0 {
		return out
	}
	dy, gamma = dy[:n], gamma[:n]
	if useNormAsm[T](n) {
		lnGradSumsAsm(p32(x), p32(dy), unsafe.SliceData(gamma), n, normMasks(n), m, &out)
		return out
	}
	var s0, s1, p0, p1 float64
	i := 0
	for ; i+2 <= n; i += 2 {
		g0, g1 := float64(dy[i])*gamma[i], float64(dy[i+1])*gamma[i+1]
		s0 += g0
		s1 += g1
		p0 += float64(g0 * (float64(x[i]) - m))
		p1 += float64(g1 * (float64(x[i+1]) - m))
	}
	if i < n {
		g := float64(dy[i]) * gamma[i]
		s0 += g
		p0 += float64(g * (float64(x[i]) - m))
	}
	return [2]float64{s0 + s1, p0 + p1}
}

// lnDxRow sets dx = T(inv·((g − c1) − ((x − m)·inv)·c2)), g = dy·γ (γ in
// float64), over a row, k = (m, inv, c1, c2).
func lnDxRow[T Float](dx, dy, x []T, gamma []float64, k *[4]float64) {
	n := len(x)
	if n == 0 {
		return
	}
	dx, dy, gamma = dx[:n], dy[:n], gamma[:n]
	if useNormAsm[T](n) {
		lnDxAsm(p32(dx), p32(dy), p32(x), unsafe.SliceData(gamma), n, normMasks(n), k)
		return
	}
	m, inv, c1, c2 := k[0], k[1], k[2], k[3]
	for i, v := range x {
		g := float64(dy[i]) * gamma[i]
		dx[i] = T(inv * ((g - c1) - float64(float64((float64(v)-m)*inv)*c2)))
	}
}

// lnColAccRow adds dy·((x − m)·inv) to acc over a row.
func lnColAccRow[T Float](acc []float64, dy, x []T, m, inv float64) {
	n := len(dy)
	if n == 0 {
		return
	}
	acc, x = acc[:n], x[:n]
	if useNormAsm[T](n) {
		lnColAccAsm(unsafe.SliceData(acc), p32(dy), p32(x), n, normMasks(n), m, inv)
		return
	}
	for j, g := range dy {
		acc[j] += float64(float64(g) * ((float64(x[j]) - m) * inv))
	}
}

// colAddRow adds dy to acc over a row.
func colAddRow[T Float](acc []float64, dy []T) {
	n := len(dy)
	if n == 0 {
		return
	}
	acc = acc[:n]
	if useNormAsm[T](n) {
		colAddAsm(unsafe.SliceData(acc), p32(dy), n, normMasks(n))
		return
	}
	for j, g := range dy {
		acc[j] += float64(g)
	}
}

// planeMeans sets y[p] = T(Σ/hw) of each plane p of hw elements of x (y
// holds the planes), the sum as rowsSum's of one row.
func planeMeans[T Float](y, x []T, hw int) {
	if len(y) == 0 || hw < 1 {
		return
	}
	x = x[:len(y)*hw]
	if useNormAsm[T](hw) {
		planeMeansAsm(p32(y), p32(x), len(y), hw, normMasks(hw))
		return
	}
	for p := range y {
		y[p] = T(sum64(x[p*hw:(p+1)*hw]) / float64(hw))
	}
}

// planeFill sets the hw elements of each plane p of dx to
// T(float64(dy[p])/hw) (dy holds the planes).
func planeFill[T Float](dx, dy []T, hw int) {
	if len(dy) == 0 || hw < 1 {
		return
	}
	dx = dx[:len(dy)*hw]
	if haveNormAsm && sizeOf[T]() == 4 && hw >= 16 {
		planeFillAsm(p32(dx), p32(dy), len(dy), hw)
		return
	}
	for p, g := range dy {
		d := T(float64(g) / float64(hw))
		dp := dx[p*hw : (p+1)*hw]
		for i := range dp {
			dp[i] = d
		}
	}
}

// sum64 returns Σx in float64, with four partial sums.
func sum64[T Float](x []T) float64 {
	var a, b, c, d float64
	for ; len(x) >= 4; x = x[4:] {
		a += float64(x[0])
		b += float64(x[1])
		c += float64(x[2])
		d += float64(x[3])
	}
	for _, v := range x {
		a += float64(v)
	}
	return (a + b) + (c + d)
}

// sqDev4 returns Σ(x − m)² in float64, with four partial sums.
func sqDev4[T Float](x []T, m float64) float64 {
	var a, b, c, d float64
	for ; len(x) >= 4; x = x[4:] {
		e, f, g, h := float64(x[0])-m, float64(x[1])-m, float64(x[2])-m, float64(x[3])-m
		a += float64(e * e)
		b += float64(f * f)
		c += float64(g * g)
		d += float64(h * h)
	}
	for _, v := range x {
		e := float64(v) - m
		a += float64(e * e)
	}
	return (a + b) + (c + d)
}

// gradSums2 returns Σdy, Σ(x − m)² and Σdy·(x − m) in float64, with two
// partial sums each; Σ(x − m)² is exactly sqDev4's.
func gradSums2[T Float](x, dy []T, m float64) [3]float64 {
	dy = dy[:len(x)]
	var s0, s1, p0, p1 float64
	i := 0
	for ; i+2 <= len(x); i += 2 {
		g0, g1 := float64(dy[i]), float64(dy[i+1])
		s0 += g0
		s1 += g1
		p0 += float64(g0 * (float64(x[i]) - m))
		p1 += float64(g1 * (float64(x[i+1]) - m))
	}
	if i < len(x) {
		g := float64(dy[i])
		s0 += g
		p0 += float64(g * (float64(x[i]) - m))
	}
	return [3]float64{s0 + s1, sqDev4(x, m), p0 + p1}
}
