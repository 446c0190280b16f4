package ops

import (
	"runtime"
	"sync"
	"unsafe"
)

// The filter gradient of a grouped convolution whose groups have a
// multiple of 16 filters runs with one filter per lane (gconvBcastAsm):
// for each output position, the output gradients of 16 filters there (a
// row of dy transposed, gconvTransposeAsm) times each tap's input value,
// broadcast from a zero-padded copy of the input. Every lane does useful
// work, and each tap costs one multiply-add with a broadcast load, where
// the row tiles (gconvDotAsm) waste the lanes past a row's end and need
// shifted loads or permutes.
//
//	dw[f][t] += Σ_p dyᵀ[p][f] · xpad[p + offset of tap t]

// gconvBcastArgs are the arguments of a broadcasting filter-gradient
// kernel (gconv_amd64.s reads the fields at fixed offsets): over the oh×ow
// output positions of one image, from x (the padded input at position 0,
// advancing 4 bytes a position and rowAdj more after each output row) and
// dyT (64 bytes a position),
//
//	acc[r·kw + k][l] (+)= Σ_p dyT[p][l] · x[p + rows[r] + k·d]
//
// added to acc unless first is set. Offsets are in bytes.
type gconvBcastArgs struct {
	x, dyT, acc, rows uintptr
	oh, ow, rowAdj, d int
	first             int
}

// gconvTransposeArgs are the arguments of gconvTransposeAsm: 16 planes
// from src, ps bytes apart, to rows of 16 floats from dst, full blocks of
// 16 positions and then, when tail (the lanes of the last, partial block)
// is not 0, one more block of 16 rows.
type gconvTransposeArgs struct {
	src, dst uintptr
	ps, full int
	tail     int
}

// gconvBcastRows is the most kernel rows (c, m) of a broadcasting tile,
// gconvBcastKW the most taps per kernel row (gconv_gen.go's maxBR, maxBK).
const gconvBcastRows, gconvBcastKW = 6, 3

// gconvBcast is the broadcasting filter gradient of geometry g.
type gconvBcast struct {
	g      gconvGeom
	hp, wp int     // the padded input plane
	tiles  []int   // kernel rows per tile
	rows   []int64 // per tile, gconvBcastRows row offsets
	chunks []int   // the chunks of images, as starts and end

	mu   sync.Mutex
	free [][]float32 // task buffers: padded input (zero borders), dyᵀ, sums
}

// gconvBcastApplies reports whether the broadcasting filter gradient
// computes g's.
func gconvBcastApplies(g gconvGeom) bool {
	return haveGconvAsm && g.SW == 1 && g.fg()%16 == 0 && g.KW <= gconvBcastKW
}

// newGConvBcast returns the plan of g's broadcasting filter gradient: the
// padded plane, the tiles of kernel rows (c, m) of one group and the
// chunks of images.
func newGConvBcast(g gconvGeom) *gconvBcast {
	b := &gconvBcast{g: g, hp: (g.OH-1)*g.SH + (g.KH-1)*g.DH + 1, wp: g.OW + (g.KW-1)*g.DW}
	r0 := 0
	for _, nr := range split(g.cg()*g.KH, gconvBcastRows) {
		b.tiles = append(b.tiles, nr)
		var offs [gconvBcastRows]int64
		for r := 0; r < nr; r++ {
			c, m := (r0+r)/g.KH, (r0+r)%g.KH
			offs[r] = int64((c*b.hp + m*g.DH) * b.wp * 4)
		}
		b.rows = append(b.rows, offs[:]...)
		r0 += nr
	}
	// Enough chunks of images for the tasks (chunk, group, block of 16
	// filters) to keep 8 cores busy.
	blocks := g.G * g.fg() / 16
	nch := min(g.N, max(1, (8+blocks-1)/blocks))
	b.chunks, _ = gconvBlocksOf(split(g.N, (g.N+nch-1)/nch))
	return b
}

// sizes returns the lengths of a task buffer's padded input, dyᵀ and
// sums.
func (b *gconvBcast) sizes() (xpad, dyT, acc int) {
	g := b.g
	return g.cg() * b.hp * b.wp, (g.p() + 15) / 16 * 256, len(b.tiles) * gconvBcastRows * gconvBcastKW * 16
}

// get returns a task buffer, from the free list or new (zero).
func (b *gconvBcast) get() []float32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(b.free); n > 0 {
		buf := b.free[n-1]
		b.free = b.free[:n-1]
		return buf
	}
	xpad, dyT, acc := b.sizes()
	return make([]float32, xpad+dyT+acc+16)
}

func (b *gconvBcast) put(buf []float32) {
	b.mu.Lock()
	b.free = append(b.free, buf)
	b.mu.Unlock()
}

// tasks returns the number of tasks: (chunk of images, group, block of 16
// filters).
func (b *gconvBcast) tasks() int { return (len(b.chunks) - 1) * b.g.G * b.g.fg() / 16 }

// run computes tasks [lo, hi): the sums of the chunk's images, for the 16
// filters from f0, into part[f0·K:] (rows of K), where part is dw when
// there is a single chunk, else the chunk's partial sums.
func (b *gconvBcast) run(lo, hi int, x, dy, dw, parts []float32) {
	g := b.g
	HW, P, Cg, Fg, K, KW := g.H*g.W, g.p(), g.cg(), g.fg(), g.k(), g.KW
	nfb := Fg / 16
	buf := b.get()
	xpadLen, dyTLen, _ := b.sizes()
	xpad := buf[:xpadLen]
	// dyᵀ rows start 64-byte aligned.
	mis := int(uintptr(unsafe.Pointer(&buf[xpadLen])) / 4 % 16)
	o := xpadLen + (16-mis)%16
	dyT, acc := buf[o:o+dyTLen], buf[xpadLen+dyTLen+16:]
	hc, wc := min(g.H, b.hp-g.PH), min(g.W, b.wp-g.PW)
	_ = x[g.N*g.C*HW-1]
	_ = dy[g.N*g.F*P-1]
	ta := gconvTransposeArgs{dst: uintptr(unsafe.Pointer(&dyT[0])), ps: P * 4, full: P / 16, tail: int(uint16(1)<<(P%16) - 1)}
	a := gconvBcastArgs{x: uintptr(unsafe.Pointer(&xpad[0])), dyT: ta.dst, d: g.DW * 4, rowAdj: (g.SH*b.wp - g.OW) * 4}
	for t := lo; t < hi; t++ {
		ci, grp, fb := t/nfb/g.G, t/nfb%g.G, t%nfb
		f0 := grp*Fg + 16*fb
		for n := b.chunks[ci]; n < b.chunks[ci+1]; n++ {
			if hc > 0 && wc > 0 {
				for c := 0; c < Cg; c++ {
					copyRows(xpad[(c*b.hp+g.PH)*b.wp+g.PW:], x[(n*g.C+grp*Cg+c)*HW:], wc, hc, b.wp, g.W)
				}
			}
			ta.src = uintptr(unsafe.Pointer(&dy[(n*g.F+f0)*P]))
			gconvTransposeAsm(&ta)
			for ti, nr := range b.tiles {
				a.acc = uintptr(unsafe.Pointer(&acc[ti*gconvBcastRows*gconvBcastKW*16]))
				a.rows = uintptr(unsafe.Pointer(&b.rows[ti*gconvBcastRows]))
				a.oh, a.ow, a.first = g.OH, g.OW, boolInt(n == b.chunks[ci])
				gconvBcastAsm(&a, nr, KW)
			}
		}
		// The sums, lane l of tap t, are filter f0+l's gradient of tap t.
		out := dw
		if len(b.chunks) > 2 {
			out = parts[ci*g.F*K:]
		}
		t0 := 0
		for ti, nr := range b.tiles {
			s := acc[ti*gconvBcastRows*gconvBcastKW*16:]
			for t := 0; t < nr*KW; t++ {
				for l, v := range s[16*t : 16*t+16] {
					out[(f0+l)*K+t0+t] = v
				}
			}
			t0 += nr * KW
		}
	}
	runtime.KeepAlive(x)
	runtime.KeepAlive(dy)
	runtime.KeepAlive(buf)
	runtime.KeepAlive(b)
	b.put(buf)
}

// gconvBcastFilterGradKernel returns the broadcasting filter-gradient
// kernel of g, dw of in = (x, dy): its tasks in parallel, then the chunks'
// partial sums added in order.
func gconvBcastFilterGradKernel(g gconvGeom, ws *convWorkspace) func([]float32, [][]float32) {
	b := newGConvBcast(g)
	var parts []float32
	launch := gconvLaunch(b.tasks(), 1, nil, func(lo, hi int, dw []float32, in [][]float32) {
		b.run(lo, hi, in[0], in[1], dw, parts)
	})
	FK, chunks := g.F*g.k(), len(b.chunks)-1
	return func(dw []float32, in [][]float32) {
		if chunks > 1 {
			parts = partials[float32](ws, chunks*FK)
		}
		launch(dw, in)
		if chunks > 1 {
			sumParts(dw, parts[:chunks*FK], chunks)
		}
		parts = nil
	}
}
