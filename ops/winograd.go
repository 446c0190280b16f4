package ops

import (
	"math"
	"sync"

	"github.com/retina-ml/retina/internal/par"
)

// Winograd's minimal filtering F(4×4, 5×5) (Lavin and Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016) computes a 5×5
// convolution of stride 1 in 4×4 output tiles, each from an 8×8 input
// tile d and a filter w:
//
//	Y = Aᵀ [ Σ_c (G w Gᵀ) ⊙ (Bᵀ d B) ] A
//
// The 64 elementwise products, summed over the input channels, are 64
// matrix products (filters × channels by channels × tiles): 64
// multiply-adds per 4×4 tile and channel pair, against the direct
// convolution's 400. The transforms are linear passes over the data. The
// gradients are the transposed maps, which equal the convolution's
// gradients in exact arithmetic:
//
//	input:   dd = B [ Σ_f (G w Gᵀ) ⊙ (A dY Aᵀ) ] Bᵀ, added over overlapping tiles
//	filter:  dw = Gᵀ [ Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B) ] G
//
// The points are 0, ±1, ±2, ±1/2 and ∞. In float32 the results are off the
// exact ones by 4e-6 to 1.3e-5 of the largest value on the shapes of
// TestWinogradMatchesDirect (the direct sum's float32 rounding is about
// 1e-6), and within 2.8e-6 (relative) of PyTorch's float64 results on
// TestConvMoreMatchesPyTorch's case.
//
// The transforms run on vectors of 16 images (wgTile): each chunk of 16
// images is copied into a layout with the image innermost, (C, H, W, 16),
// so that every transform is a small matrix applied to whole vectors, and
// is transformed, multiplied and transformed back on one core (see chunk).
// The filter gradient sums the chunks' partial products in order, a group
// of up to 64 images at a time, so that its partial sums stay within a
// megabyte or two whatever the batch.

const (
	wgLanes = 16              // images per vector
	wgGroup = 4 * wgLanes     // images per pass of the products
	wgMats  = wgSide * wgSide // elementwise products: one matrix product each
	wgSide  = 8               // input tile side: 4 + 5 − 1
)

// The transform matrices, row-major, each padded with zero rows to 8 rows
// for wgTileAsm.
var (
	// wgBT is Bᵀ (8×8): V = Bᵀ d B.
	wgBT = []float32{
		-1, 0, 21.0 / 4, 0, -21.0 / 4, 0, 1, 0,
		0, 1, 1, -17.0 / 4, -17.0 / 4, 1, 1, 0,
		0, -1, 1, 17.0 / 4, -17.0 / 4, -1, 1, 0,
		0, 1.0 / 2, 1.0 / 4, -5.0 / 2, -5.0 / 4, 2, 1, 0,
		0, -1.0 / 2, 1.0 / 4, 5.0 / 2, -5.0 / 4, -2, 1, 0,
		0, 2, 4, -5.0 / 2, -5, 1.0 / 2, 1, 0,
		0, -2, 4, 5.0 / 2, -5, -1.0 / 2, 1, 0,
		0, -1, 0, 21.0 / 4, 0, -21.0 / 4, 0, 1,
	}
	// wgG is G (8×5): U = G w Gᵀ.
	wgG = []float32{
		-1, 0, 0, 0, 0,
		-2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9,
		-2.0 / 9, 2.0 / 9, -2.0 / 9, 2.0 / 9, -2.0 / 9,
		1.0 / 90, 1.0 / 45, 2.0 / 45, 4.0 / 45, 8.0 / 45,
		1.0 / 90, -1.0 / 45, 2.0 / 45, -4.0 / 45, 8.0 / 45,
		32.0 / 45, 16.0 / 45, 8.0 / 45, 4.0 / 45, 2.0 / 45,
		32.0 / 45, -16.0 / 45, 8.0 / 45, -4.0 / 45, 2.0 / 45,
		0, 0, 0, 0, 1,
	}
	// wgAT is Aᵀ (4×8, padded): Y = Aᵀ M A.
	wgAT = []float32{
		1, 1, 1, 1, 1, 1, 1, 0,
		0, 1, -1, 2, -2, 1.0 / 2, -1.0 / 2, 0,
		0, 1, 1, 4, 4, 1.0 / 4, 1.0 / 4, 0,
		0, 1, -1, 8, -8, 1.0 / 8, -1.0 / 8, 1,
		0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0,
	}
	wgA  = wgTranspose(wgAT[:4*8], 4, 8) // A (8×4): dM = A dY Aᵀ
	wgB  = wgTranspose(wgBT, 8, 8)       // B (8×8): dd = B dV Bᵀ
	wgGT = wgTranspose(wgG, 8, 5)        // Gᵀ (5×8, padded): dw = Gᵀ dU G
)

// wgTranspose returns the transpose of the r×c matrix m, padded with zero
// rows to 8 rows.
func wgTranspose(m []float32, r, c int) []float32 {
	t := make([]float32, 8*r)
	for i := range r {
		for j := range c {
			t[j*r+i] = m[i*c+j]
		}
	}
	return t
}

// winogradOn lets tests compare the Winograd kernels with im2col's, and
// wgAsm the assembly transforms (amd64) with the Go ones.
var winogradOn, wgAsm = true, true

// winogradFits reports whether the Winograd kernels compute the float32
// convolution of geometry g: 5×5 filters, stride 1, no dilation or
// padding, output sides multiples of 4, at least 8 input channels (the
// products must outweigh the transforms: LeNet's first convolution, of one
// channel, keeps im2col) and batches of at least 32 images, a chunk of 16
// for each core (a chunk costs the same however few images it holds: LeNet
// predicted one image in 0.25–0.30 ms with Winograd's kernels, against
// 0.064–0.068 ms with im2col's), on machines with AVX-512. So a batch of
// fewer images rounds differently from a batch of more (by about 1e-5 of
// the largest value: see TestWinogradMatchesDirect).
func (g convGeom) winogradFits() bool {
	return winogradOn && haveRowsAsm && g.KH == 5 && g.KW == 5 && g.SH == 1 && g.SW == 1 &&
		g.PH == 0 && g.PW == 0 && g.DH <= 1 && g.DW <= 1 &&
		g.OH%4 == 0 && g.OW%4 == 0 && g.C >= 8 && g.N >= wgMinBatch
}

// wgMinBatch is the smallest batch winogradFits takes; tests lower it.
var wgMinBatch = 2 * wgLanes

// winograd is one convolution geometry's Winograd kernels: an op's three
// kernels (forward, input and filter gradient) each hold one. A call holds
// mu: the fields below it are the call's.
type winograd struct {
	g                     convGeom
	tw, tiles             int // tiles per image: columns, all
	cols                  int // columns of a chunk's products: a vector per tile
	fcPad                 int // F·C rounded up to whole vectors
	mu                    sync.Mutex
	buf                   []float32 // the call's buffers, from wgScratch:
	u, du, wt             []float32 // transformed filters (or their gradient), 64 of F×C; filters image-innermost
	parts                 []float32 // the filter gradient's: du, then a partial du per chunk of a group
	x, w, b               []float32 // the call's arguments
	y, dy, dx             []float32
	act                   Activation
	n0, cnt               int  // the group of images
	pass                  int  // what chunk computes: wgForward, wgInputGrad or wgFilterGrad
	back                  bool // filterChunk's direction
	filterBody, chunkBody func(chunk, lo, hi int)
}

// The passes.
const (
	wgForward = iota
	wgInputGrad
	wgFilterGrad
)

func newWinograd(g convGeom) *winograd {
	k := &winograd{g: g, tw: g.OW / 4, tiles: g.OH / 4 * g.OW / 4}
	k.cols = k.tiles * wgLanes
	k.fcPad = (g.F*g.C + wgLanes - 1) / wgLanes * wgLanes
	k.filterBody, k.chunkBody = k.filterChunk, k.chunk
	return k
}

// wgScratch holds the Winograd kernels' buffers between calls, shared by
// all of them: the kernels of a training step run one after another and so
// find the same buffers, still in the cache. (With a set of buffers per
// kernel, LeNet's step touched three times the memory.) wgChunkBufs holds
// the chunks' buffers, a size apart from wgScratch's.
var wgScratch, wgChunkBufs convWorkspace

// take carves the call's buffers out of one from wgScratch; give returns it.
func (k *winograd) take() {
	p := k.fcPad
	sizes := [...]int{wgMats * p, wgMats * p, 25 * p, (1 + wgGroup/wgLanes) * wgMats * p}
	total := 0
	for _, n := range sizes {
		total += n
	}
	k.buf = getBuf[float32](&wgScratch, total)
	rest := k.buf
	for i, dst := range [...]*[]float32{&k.u, &k.du, &k.wt, &k.parts} {
		*dst, rest = rest[:sizes[i]:sizes[i]], rest[sizes[i]:]
	}
}

func (k *winograd) give() {
	putBuf(&wgScratch, k.buf)
	k.buf, k.u, k.du, k.wt, k.parts = nil, nil, nil, nil, nil
}

// run runs pass on the groups of images in turn, the chunks of each on
// every core. The filter gradient adds the chunks' partial sums, in order.
func (k *winograd) run(pass int) {
	k.pass = pass
	mats := wgMats * k.fcPad
	for k.n0 = 0; k.n0 < k.g.N; k.n0 += wgGroup {
		k.cnt = min(wgGroup, k.g.N-k.n0)
		chunks := (k.cnt + wgLanes - 1) / wgLanes
		par.For(chunks, 1, k.chunkBody)
		if pass != wgFilterGrad {
			continue
		}
		// du = (((du + part 0) + part 1) + …): the sum over all chunks,
		// in order, whatever the groups.
		if k.n0 == 0 {
			sumParts(k.du, k.parts[mats:], chunks)
		} else {
			copy(k.parts, k.du)
			sumParts(k.du, k.parts, 1+chunks)
		}
	}
}

// forward sets y = act(x ⋆ w + b) (b may be nil).
func (k *winograd) forward(x, w, b, y []float32, act Activation) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.take()
	defer k.give()
	k.x, k.w, k.b, k.y, k.act = x, w, b, y, act
	k.transformFilters()
	k.run(wgForward)
	k.x, k.w, k.b, k.y = nil, nil, nil, nil
}

// inputGrad sets dx from w and dy.
func (k *winograd) inputGrad(w, dy, dx []float32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.take()
	defer k.give()
	k.w, k.dy, k.dx = w, dy, dx
	k.transformFilters()
	k.run(wgInputGrad)
	k.w, k.dy, k.dx = nil, nil, nil
}

// filterGrad sets dw from x and dy.
func (k *winograd) filterGrad(x, dy, dw []float32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.take()
	defer k.give()
	k.x, k.dy = x, dy
	k.run(wgFilterGrad)
	k.back = true
	par.For(k.fcPad/wgLanes, 4, k.filterBody)
	k.back = false
	fc := k.g.F * k.g.C
	for i := 0; i < fc; i++ {
		for j := 0; j < 25; j++ {
			dw[i*25+j] = k.wt[j*k.fcPad+i]
		}
	}
	k.x, k.dy = nil, nil
}

// transformFilters sets u = G w Gᵀ for every filter and channel.
func (k *winograd) transformFilters() {
	fc := k.g.F * k.g.C
	for i := 0; i < fc; i++ {
		for j := 0; j < 25; j++ {
			k.wt[j*k.fcPad+i] = k.w[i*25+j]
		}
	}
	par.For(k.fcPad/wgLanes, 4, k.filterBody)
}

// filterChunk transforms the filters of vectors lo..hi−1 of (filter,
// channel) pairs: forward (u = G w Gᵀ, from wt), or back (wt = Gᵀ du G)
// when k.back is set.
func (k *winograd) filterChunk(_, lo, hi int) {
	var tmp wgTmp
	p := k.fcPad
	for q := lo * wgLanes; q < hi*wgLanes; q += wgLanes {
		if k.back { // wt[y][x] = (Gᵀ du G)[y][x]
			wgTile(k.wt[q:], 5*p, p, k.du[q:], wgSide*p, p, wgGT, 5, 8, wgGT, 5, 8, false, &tmp)
			continue
		}
		// u[ξ][ν] = (G w Gᵀ)[ξ][ν], from wt[y][x]
		wgTile(k.u[q:], wgSide*p, p, k.wt[q:], 5*p, p, wgG, 8, 5, wgG, 8, 5, false, &tmp)
	}
}

// chunk runs the pass on chunk c of the group: its tiles transformed, the
// 64 products of its columns, and the transform back, on one core, in a
// buffer of its own (a few hundred kilobytes: the core's cache). The
// products' operands are 64 matrices of C (v) and F (m) rows with the
// chunk's columns, interleaved: matrix i's row r at (64r + i)·cols.
func (k *winograd) chunk(c, _, _ int) {
	g := k.g
	n := k.n0 + c*wgLanes
	cnt := min(wgLanes, k.n0+k.cnt-n)
	lanes := k.laneBuf()
	buf := getBuf[float32](&wgChunkBufs, lanes+wgMats*(g.C+g.F)*k.cols)
	lb, v, m := buf[:lanes], buf[lanes:lanes+wgMats*g.C*k.cols], buf[lanes+wgMats*g.C*k.cols:]
	ld, mats := wgMats*k.cols, wgMats*k.fcPad
	switch k.pass {
	case wgForward:
		k.transformIn(n, cnt, lb, v)
		for i := 0; i < wgMats; i++ {
			gemm(false, false, g.F, k.cols, g.C, 1, k.u[i*k.fcPad:], g.C, v[i*k.cols:], ld, 0, m[i*k.cols:], ld)
		}
		k.transformOut(n, cnt, lb, m)
	case wgInputGrad:
		k.transformGradIn(n, cnt, lb, m)
		for i := 0; i < wgMats; i++ {
			gemm(true, false, g.C, k.cols, g.F, 1, k.u[i*k.fcPad:], g.C, m[i*k.cols:], ld, 0, v[i*k.cols:], ld)
		}
		k.transformBack(n, cnt, lb, v)
	default:
		k.transformIn(n, cnt, lb, v)
		k.transformGradIn(n, cnt, lb, m)
		part := k.parts[(1+c)*mats : (2+c)*mats]
		for i := 0; i < wgMats; i++ {
			gemm(false, true, g.F, g.C, k.cols, 1, m[i*k.cols:], ld, v[i*k.cols:], ld, 0, part[i*k.fcPad:], g.C)
		}
	}
	putBuf(&wgChunkBufs, buf)
}

// laneBuf is the size of a chunk's image-innermost copy of x, dy or y.
func (k *winograd) laneBuf() int {
	g := k.g
	return max(g.C*g.H*g.W, g.F*g.OH*g.OW) * wgLanes
}

// transformIn sets v = Bᵀ d B for the tiles of the cnt images of x from n.
func (k *winograd) transformIn(n, cnt int, xt, v []float32) {
	g := k.g
	k.transformTiles(v, xt, k.x, n, cnt, g.C, g.H, g.W, wgBT, 8)
}

// transformGradIn sets m = A dY Aᵀ for the tiles of the cnt images of dy
// from n.
func (k *winograd) transformGradIn(n, cnt int, dyt, m []float32) {
	g := k.g
	k.transformTiles(m, dyt, k.dy, n, cnt, g.F, g.OH, g.OW, wgA, 4)
}

// transformTiles copies the cnt images from n of src, planes of h×w, into
// lanes (image innermost) and sets the 8×8 transforms L·d·Lᵀ of their
// tiles (d of c×c: 8×8 input tiles or 4×4 output ones) into dst's 64
// matrices, plane p's in row p of each.
func (k *winograd) transformTiles(dst, lanes, src []float32, n, cnt, planes, h, w int, l []float32, c int) {
	img := planes * h * w
	toLanes(lanes, src[n*img:], cnt, img)
	var tmp wgTmp
	for p := 0; p < planes; p++ {
		for t := 0; t < k.tiles; t++ {
			ty, tx := t/k.tw, t%k.tw
			wgTile(dst[p*wgMats*k.cols+t*wgLanes:], wgSide*k.cols, k.cols,
				lanes[((p*h+4*ty)*w+4*tx)*wgLanes:], w*wgLanes, wgLanes, l, 8, c, l, 8, c, false, &tmp)
		}
	}
}

// transformOut sets y = act(Aᵀ m A + b) for the cnt images from n.
func (k *winograd) transformOut(n, cnt int, out, m []float32) {
	g := k.g
	k.untransformTiles(out, m, g.F, g.OH, g.OW, wgAT, 4, false)
	img, P := g.F*g.OH*g.OW, g.OH*g.OW
	fromLanes(k.y[n*img:], out, cnt, img)
	for i := n; i < n+cnt; i++ {
		for f := 0; f < g.F; f++ {
			biasAct(k.y[(i*g.F+f)*P:(i*g.F+f+1)*P], k.b, f, k.act)
		}
	}
}

// transformBack sets dx = B v Bᵀ, added over the overlapping tiles, for
// the cnt images from n.
func (k *winograd) transformBack(n, cnt int, out, v []float32) {
	g := k.g
	img := g.C * g.H * g.W
	clear(out[:img*wgLanes])
	k.untransformTiles(out, v, g.C, g.H, g.W, wgB, 8, true)
	fromLanes(k.dx[n*img:], out, cnt, img)
}

// untransformTiles is transformTiles' way back: the r×r tiles L·M·Lᵀ (L
// r×8) of src's 64 matrices, plane p's from row p of each, into the
// image-innermost planes of h×w at lanes, set or, with acc, added.
func (k *winograd) untransformTiles(lanes, src []float32, planes, h, w int, l []float32, r int, acc bool) {
	var tmp wgTmp
	for p := 0; p < planes; p++ {
		for t := 0; t < k.tiles; t++ {
			ty, tx := t/k.tw, t%k.tw
			wgTile(lanes[((p*h+4*ty)*w+4*tx)*wgLanes:], w*wgLanes, wgLanes,
				src[p*wgMats*k.cols+t*wgLanes:], wgSide*k.cols, k.cols, l, r, 8, l, r, 8, acc, &tmp)
		}
	}
}

// toLanesGo copies n ≤ 16 images of img floats each from src into dst
// with the image innermost: dst[16i + l] = src[l·img + i], zero for l ≥ n.
func toLanesGo(dst, src []float32, n, img int) {
	dst = dst[:img*wgLanes]
	if n < wgLanes {
		clear(dst)
	}
	for l := 0; l < n; l++ {
		s := src[l*img : (l+1)*img]
		for i, v := range s {
			dst[i*wgLanes+l] = v
		}
	}
}

// fromLanesGo is toLanesGo's inverse for the n first images.
func fromLanesGo(dst, src []float32, n, img int) {
	src = src[:img*wgLanes]
	for l := 0; l < n; l++ {
		d := dst[l*img : (l+1)*img]
		for i := range d {
			d[i] = src[i*wgLanes+l]
		}
	}
}

// wgTmp holds a tile's intermediate rows: up to 8×8 vectors.
type wgTmp [wgSide * wgSide * wgLanes]float32

// wgTileGo sets the r1×r2 tile of vectors at dst (element (i, k) at
// dst[i·dRow + k·dCol]) to L·X·Rᵀ, or adds it with acc, for the c1×c2 tile
// X at src (element (j, m) at src[j·sRow + m·sCol]), L r1×c1 and R r2×c2:
// first tmp = L·X, a column at a time, then tmp·Rᵀ, a row at a time, each
// by wgApplyGo.
func wgTileGo(dst []float32, dRow, dCol int, src []float32, sRow, sCol int, l []float32, r1, c1 int, r []float32, r2, c2 int, acc bool, tmp *wgTmp) {
	for m := 0; m < c2; m++ {
		wgApplyGo(tmp[m*wgLanes:], c2*wgLanes, src[m*sCol:], sRow, l, r1, c1, false)
	}
	for i := 0; i < r1; i++ {
		wgApplyGo(dst[i*dRow:], dCol, tmp[i*c2*wgLanes:], wgLanes, r, r2, c2, acc)
	}
}

// wgApplyGo sets row i < rows of dst to Σ_j mat[i·cols + j]·(row j of
// src), rows of 16 floats, dst's ds floats apart and src's ss; with acc it
// adds the sum to dst. Each product is added to the sum (from 0), in order
// of j, by a fused multiply-add: wgTileAsm does the same, bit for bit.
func wgApplyGo(dst []float32, ds int, src []float32, ss int, mat []float32, rows, cols int, acc bool) {
	for i := 0; i < rows; i++ {
		var s [wgLanes]float32
		for j := 0; j < cols; j++ {
			c, r := mat[i*cols+j], src[j*ss:j*ss+wgLanes]
			for l := range s {
				s[l] = fma32(c, r[l], s[l])
			}
		}
		d := dst[i*ds : i*ds+wgLanes]
		for l := range s {
			if acc {
				s[l] += d[l]
			}
			d[l] = s[l]
		}
	}
}

// fma32 returns a·b + c rounded once to float32, as the FMA instructions
// do: the product is exact in float64, the sum is rounded to odd there
// (TwoSum gives its error), and rounding that to float32 is then correct
// (Boldo and Melquiond, "Emulation of FMA and correctly rounded sums:
// proved algorithms using rounding to odd", 2008). Compared with
// math/big over 20 million random triples: no difference.
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	r := p + float64(c)
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return float32(r)
	}
	t := r - p
	if e := (p - (r - t)) + (float64(c) - t); e != 0 && math.Float64bits(r)&1 == 0 {
		r = math.Nextafter(r, math.Copysign(math.Inf(1), e))
	}
	return float32(r)
}
