package ops

import (
	"runtime"
	"unsafe"
)

// convArgs are the arguments of the assembly im2col and col2im kernels
// (im2col_amd64.s reads the fields through go_asm.h). Lengths are in
// bytes where they step a pointer.
type convArgs struct {
	x, cols unsafe.Pointer // image (or its gradient), column matrix
	lanes   *convLanes     // the per-kw lane tables
	ld      int            // row stride of cols
	c, h    int            // channels, image rows
	kh      int            // kernel rows
	nkw     int            // −8·KW: the kernels' kw counter runs from nkw up to 0 in steps of 8
	ph      int            // row padding
	oh, sh  int            // output rows, row stride
	ow4     int            // OW·4: one output row in cols
	row     int            // W·4: one image row
	shrow   int            // SH·W·4: the image rows of consecutive output rows
	phrow   int            // PH·W·4
	chw     int            // the next channel: H·W·4 in x (im2col), KH·KW·ld in cols (col2im)
	kwld    int            // KW·ld: the cols rows of one kernel row
	khstep  int            // col2im: SH·KW·ld − OW·4, from (kh, oh) to (kh + SH, oh − 1) in cols
	r0, q0  int            // col2im: PH mod SH, PH / SH
	p0      int            // col2im: r0·KW·ld + q0·OW·4
	omask   int            // lanes of an output row in its first 16 floats: OW, at most 16
	omaskhi int            // lanes of an output row in floats 16 to 31: OW − 16, none when OW ≤ 16
	lomask  int            // lanes of an image row in its first 16 floats
	himask  int            // lanes of an image row in floats 16 to 31
	hioff   int            // 64, or 0 when W ≤ 16: the address of those floats, past the row's start
}

// convLanes holds the lane tables of the assembly kernels, indexed by the
// kernel column kw: int32 lane indices for VPERMT2PS/VPERMI2PS/VPERMPS
// and the masks of the lanes that are valid (the rest are zeroed). The
// entry of kw for the lanes 0–15 of a row (an output row in im2col, an
// image row in col2im) is in slot 16 − KW + kw, the one for lanes 16–31
// in slot 32 − KW + kw, so that the kernels address them from the end of
// the tables with a counter that runs up to zero; the masks are 8 bytes
// apart for the same reason. The indices are in [0, 32): lanes of the two
// registers of a row of up to 32 floats (VPERMPS, used when the source is
// one register, reads their low 4 bits, all there is then).
type convLanes struct {
	idx      [32][16]int32
	mask     [32]uint64
	s1       [16]uint16            // the stride-1 kernels' masks, by kw (see convS1Args)
	flat     [convFlatMasks]uint16 // the flat kernels' masks (see convFlatArgs)
	flatRows [convFlatMasks]uint16 // flat, chunk major: entry j·KH·KW + kh·KW + kw (im2rowAsm)
}

// convFlatMasks bounds the flat kernels' mask table: one mask per kernel
// offset (kh, kw) and 16-lane chunk of the P positions of a plane, KH·KW·
// ⌈P/16⌉ masks (3.2 KB): 3×3 kernels on planes up to 2832 positions,
// 5×5 up to 1024 (32×32), 7×7 up to 512.
const convFlatMasks = 1600

// convFlatArgs are the arguments of the flat kernels (im2colFlatAsm,
// col2imFlatAsm), for stride-1 convolutions whose output has the input's
// size (OH = H, OW = W: KH = 2·PH + 1, KW = 2·PW + 1). Output position p
// and input position q = p + (kh − PH)·W + (kw − PW) are then flat indices
// of the same H×W plane, so that a row of cols is the channel's plane
// shifted by a constant and the kernels copy (add) whole planes, 16 lanes
// at a time, with a mask per kernel offset and chunk of lanes: the lanes
// whose row and column both stay inside the plane (the rest are zeroed or
// left out). The masks are in convLanes.flat, kernel offset major: entry
// (kh·KW + kw)·⌈P/16⌉ + j for chunk j.
type convFlatArgs struct {
	x, cols, masks unsafe.Pointer // image (or its gradient), column matrix, lane masks
	ld             int            // row stride of cols, bytes
	c, kh, kw      int            // channels, kernel rows and columns
	nch            int            // chunks of 16 lanes in a plane: ⌈P/16⌉
	tail           int            // mask of the lanes of the last chunk: P − 16·(nch − 1) lanes
	s0             int            // 4·(−PH·W − PW): the shift of (kh, kw) = (0, 0), bytes
	skip           int            // 4·(W − KW): from (kh, KW) to (kh + 1, 0), bytes
	plane          int            // P·4: a channel's plane in x (dx)
	kkld           int            // col2im: KH·KW·ld, a channel's rows of cols
}

// flatAsm reports whether an assembly geometry (asmConvGeom) takes the
// flat col2im kernel: stride 1, output of the input's size, at most
// convFlatMasks masks. The flat kernels beat the others on all of
// ResNet's stride-1 stages (7×7, 14×14 and 28×28 maps, 3×3 pad 1): per
// plane they take one load and one store per 16 positions against one or
// two of each per output row, with no per-row bookkeeping.
func (g convGeom) flatAsm() bool {
	return g.SH == 1 && g.SW == 1 && g.OH == g.H && g.OW == g.W && g.W <= 32 &&
		g.KH*g.KW*((g.p()+15)/16) <= convFlatMasks
}

// flatIm2col reports whether g takes the flat im2col kernel: the flat
// geometries but those with rows of 32 floats, whose rows the lanes
// kernel copies as two aligned loads and stores (the flat kernel's loads
// straddle cache lines for kw ≠ PW) and which it unrolled 4–7% faster
// than the flat one with its masks (32×32 maps, 3×3 pad 1 and 5×5 pad 2).
func (g convGeom) flatIm2col() bool { return g.flatAsm() && g.W != 32 }

// setFlat fills l.flat for the flat kernels of g (g.flatAsm()), with
// col2im's masks when col2im is set. Entry (kh·KW + kw)·⌈P/16⌉ + j has lane
// i set when position 16j + i of the plane (an output position for
// im2col, an input position for col2im) is in both its row range, the
// rows r with r + kh − PH (im2col; r − kh + PH for col2im) in [0, H), and
// its column range, the columns likewise for kw and PW. The callers fill
// the table once per chunk of images (once per image when a chunk is one
// image), so it is built a word at a time: the column masks of the first
// period of chunks (the masks repeat every lcm(16, W) positions), copied
// on, then a copy of them per kernel row cut to its range of positions.
func (l *convLanes) setFlat(g convGeom, col2im bool) {
	W, P := g.W, g.p()
	nch := (P + 15) / 16
	m := l.flat[:g.KH*g.KW*nch]
	period := min(nch, W/min(W&-W, 16)) // lcm(16, W)/16 chunks
	// The column masks first, in the entries of kh = 0: the positions
	// r·W + [lo, hi) of every row r, streamed into the chunks of one
	// period, then copied on, doubling.
	for kw := 0; kw < g.KW; kw++ {
		d := kw - g.PW // im2col reads column ow + d, col2im column iw − d
		if col2im {
			d = -d
		}
		lo, hi := max(0, -d), min(W, W-d)
		e := m[kw*nch : kw*nch+nch]
		var row uint64 // the row's lanes [lo, hi): W ≤ 32 bits
		if lo < hi {
			row = (1<<(hi&63) - 1) &^ (1<<(lo&63) - 1)
		}
		// a stream of bits, row after row, 16 at a time: bits holds n < 16
		// of them before a row comes in
		bits, n := uint64(0), 0
		for j := 0; j < period; {
			bits |= row << (n & 63)
			for n += W; n >= 16 && j < period; n -= 16 {
				e[j] = uint16(bits)
				bits >>= 16
				j++
			}
		}
		for n := period; n < nch; n *= 2 {
			copy(e[n:], e[:n])
		}
	}
	// Then every (kh, kw), the last kernel row first so that the column
	// masks are read before kh = 0 overwrites them: the column mask cut
	// to the rows [rlo, rhi), the positions [a, b) = [rlo·W, rhi·W), in
	// the chunks [ja, jb).
	for kh := g.KH - 1; kh >= 0; kh-- {
		d := kh - g.PH
		if col2im {
			d = -d
		}
		a, b := max(0, -d)*W, min(g.H, g.H-d)*W
		ja, jb := 0, 0
		if a < b {
			ja, jb = a>>4, (b+15)>>4
		}
		first, last := laneMask(a-16*ja, b-16*ja, 16), laneMask(a-16*(jb-1), b-16*(jb-1), 16)
		for kw := 0; kw < g.KW; kw++ {
			dst := m[(kh*g.KW+kw)*nch:][:nch]
			if kh > 0 {
				copy(dst[ja:jb], m[kw*nch+ja:kw*nch+jb])
			}
			if ja > 0 {
				clear(dst[:ja])
			}
			if jb < nch {
				clear(dst[jb:])
			}
			if ja < jb {
				dst[ja] &= first
				dst[jb-1] &= last
			}
		}
	}
}

// flatArgs returns the arguments common to both flat kernels.
func (g convGeom) flatArgs(x, cols []float32, ld int, l *convLanes) convFlatArgs {
	P := g.p()
	_ = x[g.C*P-1]
	_ = cols[(g.ckk()-1)*ld+P-1]
	nch := (P + 15) / 16
	return convFlatArgs{
		x: unsafe.Pointer(&x[0]), cols: unsafe.Pointer(&cols[0]), masks: unsafe.Pointer(&l.flat[0]),
		ld: ld * 4, c: g.C, kh: g.KH, kw: g.KW, nch: nch, tail: int(laneMask(0, P-16*(nch-1), 16)),
		s0: -4 * (g.PH*g.W + g.PW), skip: 4 * (g.W - g.KW), plane: P * 4, kkld: g.KH * g.KW * ld * 4,
	}
}

// convS1Args are the arguments of the stride-1 kernels for image rows of
// at most 16 floats (im2colS1Asm, col2imS1Asm), which shift rows with
// masked loads instead of permuting them and are faster than the general
// kernels there. masks points to convLanes.s1: the lanes of an output row
// (im2col) or an image row (col2im) that kw reads from inside the other.
type convS1Args struct {
	x, cols, masks unsafe.Pointer // image (or its gradient), column matrix, lane masks
	ld             int            // row stride of cols, bytes
	c, h, kh, kw   int
	ph, pw, oh, ow int
	wmask          int // lanes of a row: OW for im2col, W for col2im
	kwld, chw, row int // col2im: KW·ld, KH·KW·ld; both: step to the next channel, the next image row (bytes)
}

// s1Asm reports whether g takes the stride-1 kernels.
func (g convGeom) s1Asm() bool {
	return g.SH == 1 && g.SW == 1 && g.OW <= 16 && g.W <= 16 && g.KW <= 16
}

// The kernels' base addresses in convLanes (see convLanes), the offsets of
// idx[16], mask[16], idx[32] and mask[32]: the entry of kw is 8·(KW − kw)
// bytes before mask[16] and 64·(KW − kw) before idx[16]. Only the
// assembly reads them (go_asm.h's const_convLanesIdx0, …).
const (
	//lint:ignore U1000 read by im2col_amd64.s through go_asm.h
	convLanesIdx0 = 16 * unsafe.Sizeof(convLanes{}.idx[0])
	//lint:ignore U1000 read by im2col_amd64.s through go_asm.h
	convLanesMask0 = unsafe.Offsetof(convLanes{}.mask) + 16*unsafe.Sizeof(convLanes{}.mask[0])
	//lint:ignore U1000 read by im2col_amd64.s through go_asm.h
	convLanesIdx1 = 32 * unsafe.Sizeof(convLanes{}.idx[0])
	//lint:ignore U1000 read by im2col_amd64.s through go_asm.h
	convLanesMask1 = unsafe.Offsetof(convLanes{}.mask) + 32*unsafe.Sizeof(convLanes{}.mask[0])
)

// asmConv reports whether the assembly kernels handle this geometry.
func (g convGeom) asmConv() bool { return haveRowsAsm && g.asmConvGeom() }

// asmConvGeom reports whether the geometry fits the assembly kernels: any
// stride, output rows and image rows of at most 32 floats (two registers;
// the kernels for output rows of at most 16, one register, are separate)
// and at most 16 kernel columns (the lane tables).
func (g convGeom) asmConvGeom() bool {
	return g.C >= 1 && g.H >= 1 && g.W >= 1 && g.W <= 32 &&
		g.KH >= 1 && g.KW >= 1 && g.KW <= 16 && g.SH >= 1 && g.SW >= 1 &&
		g.OH >= 1 && g.OW >= 1 && g.OW <= 32
}

// laneMask returns the 16-bit mask of the lanes i in [lo, hi) ∩ [0, n).
func laneMask(lo, hi, n int) uint16 {
	n = min(n, 16)
	lo, hi = min(max(lo, 0), n), min(max(hi, 0), n)
	return uint16(1<<(hi&31)-1) &^ uint16(1<<(lo&31)-1)
}

// setIm2col fills l for im2colAsm: lane j of kw's entry for lanes 16h to
// 16h + 15 of an output row takes image column iw = ow·SW − PW + kw, ow =
// 16h + j, valid when ow < OW and iw is in [0, W). The entries for lanes
// 16–31 are empty when OW ≤ 16. The flat and stride-1 kernels' masks
// are set instead for their geometries (setFlat, s1).
func (l *convLanes) setIm2col(g convGeom) {
	if g.flatIm2col() {
		l.setFlat(g, false)
		return
	}
	if g.s1Asm() {
		for kw := 0; kw < g.KW; kw++ {
			// output column ow reads input column ow + kw − PW
			l.s1[kw] = laneMask(g.PW-kw, g.W+g.PW-kw, g.OW)
		}
		return
	}
	l.setLanes(g, func(kw, ow int) (int, bool) {
		iw := ow*g.SW - g.PW + kw
		return iw, ow < g.OW && iw >= 0 && iw < g.W
	})
}

// setLanes fills l.idx and l.mask: lane j of kw's entry for lanes 16h to
// 16h + 15 takes index i of the other row where (i, ok) = from(kw, 16h +
// j) has ok set, and is masked out otherwise.
func (l *convLanes) setLanes(g convGeom, from func(kw, lane int) (int, bool)) {
	l.idx, l.mask = [32][16]int32{}, [32]uint64{}
	for kw := 0; kw < g.KW; kw++ {
		for h := 0; h < 2; h++ {
			s := 16*h + 16 - g.KW + kw
			var m uint16
			for j := 0; j < 16; j++ {
				if i, ok := from(kw, 16*h+j); ok {
					l.idx[s][j] = int32(i)
					m |= 1 << j
				}
			}
			l.mask[s] = uint64(m)
		}
	}
}

// setCol2im fills l for col2imAsm: lane j of kw's entry for lanes 16h to
// 16h + 15 of an image row takes output column ow = (iw + PW − kw)/SW, iw
// = 16h + j, valid when iw < W and the division is exact with ow in
// [0, OW); ow ≥ 16 (OW > 16) is in the output row's second register.
// The flat and stride-1 kernels' masks are set instead for their
// geometries (setFlat, s1).
func (l *convLanes) setCol2im(g convGeom) {
	if g.flatAsm() {
		l.setFlat(g, true)
		return
	}
	if g.s1Asm() {
		for kw := 0; kw < g.KW; kw++ {
			// input column iw reads output column iw + PW − kw
			l.s1[kw] = laneMask(kw-g.PW, kw-g.PW+g.OW, g.W)
		}
		return
	}
	l.setLanes(g, func(kw, iw int) (int, bool) {
		t := iw + g.PW - kw
		return t / g.SW, iw < g.W && t >= 0 && t%g.SW == 0 && t/g.SW < g.OW
	})
}

// s1Args returns the arguments common to both stride-1 kernels.
func (g convGeom) s1Args(x, cols []float32, ld int, l *convLanes) convS1Args {
	_ = x[g.C*g.H*g.W-1]
	_ = cols[(g.ckk()-1)*ld+g.p()-1]
	return convS1Args{
		x: unsafe.Pointer(&x[0]), cols: unsafe.Pointer(&cols[0]), masks: unsafe.Pointer(&l.s1[0]),
		ld: ld * 4, c: g.C, h: g.H, kh: g.KH, kw: g.KW, ph: g.PH, pw: g.PW, oh: g.OH, ow: g.OW,
		row: g.W * 4,
	}
}

// asmArgs returns the arguments common to both kernels.
func (g convGeom) asmArgs(x, cols []float32, ld int, l *convLanes) convArgs {
	_ = x[g.C*g.H*g.W-1]
	_ = cols[(g.ckk()-1)*ld+g.p()-1]
	a := convArgs{
		x: unsafe.Pointer(&x[0]), cols: unsafe.Pointer(&cols[0]), lanes: l,
		ld: ld * 4, c: g.C, h: g.H, kh: g.KH, nkw: -8 * g.KW, ph: g.PH, oh: g.OH, sh: g.SH,
		ow4: g.OW * 4, row: g.W * 4, shrow: g.SH * g.W * 4, phrow: g.PH * g.W * 4,
		kwld:  g.KW * ld * 4,
		omask: int(laneMask(0, g.OW, 16)), omaskhi: int(laneMask(0, g.OW-16, 16)),
		lomask: int(laneMask(0, g.W, 16)), himask: int(laneMask(0, g.W-16, 16)),
	}
	if g.W > 16 {
		a.hioff = 64
	}
	return a
}

// im2colAsm is im2col for g.asmConv() geometries, on float32; l must have
// been filled by l.setIm2col(g). It runs the flat kernel for
// g.flatIm2col() geometries, else the stride-1 one for g.s1Asm() ones,
// else the lanes kernel.
func im2colAsm(g convGeom, x, cols []float32, ld int, l *convLanes) {
	if g.flatIm2col() {
		a := g.flatArgs(x, cols, ld, l)
		im2colFlatAsm(&a)
		runtime.KeepAlive(x)
		runtime.KeepAlive(cols)
		return
	}
	if g.s1Asm() {
		a := g.s1Args(x, cols, ld, l)
		a.wmask, a.chw = int(laneMask(0, g.OW, 16)), g.H*g.W*4
		im2colS1Asm(&a)
		runtime.KeepAlive(x)
		runtime.KeepAlive(cols)
		return
	}
	a := g.asmArgs(x, cols, ld, l)
	a.chw = g.H * g.W * 4
	im2colLanesAsm(&a)
	runtime.KeepAlive(x)
	runtime.KeepAlive(cols)
}

// rowsAsm reports whether the filter gradient of g unrolls its images
// transposed (im2rowAsm): float32 (elements of size bytes) on the flat
// geometries.
func (g convGeom) rowsAsm(size int) bool { return size == 4 && g.asmConv() && g.flatAsm() }

// rowsTile returns the scratch space of im2rowAsm, in floats: its tables
// (offs and taps, K rounded up to 16 entries each) and the 16 transposed
// rows of a last, partial chunk of positions.
func (g convGeom) rowsTile() int {
	K := g.ckk()
	k16 := (K + 15) / 16 * 16
	return k16 + (k16+1)/2 + 16*K
}

// setIm2row fills l.flatRows for im2rowAsm (g.rowsAsm()): the flat masks,
// chunk major.
func (l *convLanes) setIm2row(g convGeom) {
	l.setFlat(g, false)
	kk, nch := g.KH*g.KW, (g.p()+15)/16
	for k := 0; k < kk; k++ {
		for j, m := range l.flat[k*nch : (k+1)*nch] {
			l.flatRows[j*kk+k] = m
		}
	}
}

// convRowArgs are the arguments of im2rowFlatAsm (gconv_amd64.s, generated
// by gconv_gen.go).
type convRowArgs struct {
	x, dst, offs, taps, masks unsafe.Pointer // the chunk's position 0, its row 0 in colsT, tables, its masks
	ld                        int            // row stride of colsT, bytes
	blocks, last, chunks      int            // 16-row blocks of cols, the last one's lane mask; chunks of positions
	xstep, dstep, mstep       int            // from chunk to chunk, bytes
}

// rowTables returns im2rowAsm's tables, at the start of tile: per row j
// of cols (K rounded up to 16), offs[j] the byte offset of its source from
// an output position, and taps[j] its kernel offset kh·KW + kw, the index
// of its masks. The rows past K read the position itself under the masks
// of kernel offset 0; their columns are not stored.
func (g convGeom) rowTables(tile []float32) (offs []int32, taps []uint16) {
	k16 := (g.ckk() + 15) / 16 * 16
	offs = unsafe.Slice((*int32)(unsafe.Pointer(&tile[0])), k16)
	taps = unsafe.Slice((*uint16)(unsafe.Pointer(&tile[k16])), k16)
	return offs, taps
}

// setRowTables fills the tables of im2rowAsm in tile (see rowTables).
func (g convGeom) setRowTables(tile []float32) {
	offs, taps := g.rowTables(tile)
	P, s0, j := g.p(), -(g.PH*g.W + g.PW), 0
	for c := 0; c < g.C; c++ {
		for kh := 0; kh < g.KH; kh++ {
			for kw := 0; kw < g.KW; kw++ {
				offs[j], taps[j] = int32(4*(c*P+s0+kh*g.W+kw)), uint16(kh*g.KW+kw)
				j++
			}
		}
	}
	clear(offs[j:])
	clear(taps[j:])
}

// im2rowAsm writes image x's column matrix transposed, a row per output
// position: colsT[p·ld + j] = cols[j][p], im2col's values, for j < K =
// C·KH·KW and p < P, on g.rowsAsm() geometries; l must have been filled
// by l.setIm2row(g), and tile hold g.rowsTile() floats, its tables set by
// g.setRowTables(tile) (once for any number of images). A filter
// gradient's product then reads its B in place instead of packing (and
// transposing) it. im2rowFlatAsm loads each chunk's 16 positions of 16
// rows of cols at a time from x, shifted planes under the flat masks, and
// transposes them in registers; the rows of a last, partial chunk go
// through tile.
func im2rowAsm(g convGeom, x, colsT []float32, ld int, l *convLanes, tile []float32) {
	K, P, kk := g.ckk(), g.p(), g.KH*g.KW
	k16 := (K + 15) / 16 * 16
	offs, taps := g.rowTables(tile)
	part := tile[k16+(k16+1)/2:][:16*K]
	_, _ = x[g.C*P-1], colsT[(P-1)*ld+K-1]
	a := convRowArgs{
		x: unsafe.Pointer(&x[0]), dst: unsafe.Pointer(&colsT[0]), offs: unsafe.Pointer(&offs[0]),
		taps: unsafe.Pointer(&taps[0]), masks: unsafe.Pointer(&l.flatRows[0]),
		ld: 4 * ld, blocks: k16 / 16, last: int(laneMask(0, K-(k16-16), 16)), chunks: P / 16,
		xstep: 64, dstep: 64 * ld, mstep: 2 * kk,
	}
	if a.chunks > 0 {
		im2rowFlatAsm(&a)
	}
	if n := P % 16; n > 0 {
		c := P / 16
		a.x, a.dst, a.masks = unsafe.Pointer(&x[16*c]), unsafe.Pointer(&part[0]), unsafe.Pointer(&l.flatRows[c*kk])
		a.ld, a.chunks = 4*K, 1
		im2rowFlatAsm(&a)
		for r := 0; r < n; r++ {
			copy(colsT[(16*c+r)*ld:][:K], part[r*K:])
		}
	}
	runtime.KeepAlive(x)
	runtime.KeepAlive(colsT)
	runtime.KeepAlive(tile)
	runtime.KeepAlive(l)
}

// col2imAsm overwrites dx with the adjoint of im2colAsm's columns, bit for
// bit what clear(dx) and col2im compute; l must have been filled by
// l.setCol2im(g). It runs the flat kernel for g.flatAsm() geometries,
// else the stride-1 one for g.s1Asm() ones, else the lanes kernel.
func col2imAsm(g convGeom, cols []float32, ld int, dx []float32, l *convLanes) {
	if g.flatAsm() {
		a := g.flatArgs(dx, cols, ld, l)
		col2imFlatAsm(&a)
		runtime.KeepAlive(dx)
		runtime.KeepAlive(cols)
		return
	}
	if g.s1Asm() {
		a := g.s1Args(dx, cols, ld, l)
		a.wmask, a.kwld, a.chw = int(laneMask(0, g.W, 16)), g.KW*ld*4, g.KH*g.KW*ld*4
		col2imS1Asm(&a)
		runtime.KeepAlive(dx)
		runtime.KeepAlive(cols)
		return
	}
	a := g.asmArgs(dx, cols, ld, l)
	a.chw = g.KH * a.kwld
	a.khstep = g.SH*a.kwld - a.ow4
	a.r0, a.q0 = g.PH%g.SH, g.PH/g.SH
	a.p0 = a.r0*a.kwld + a.q0*a.ow4
	col2imLanesAsm(&a)
	runtime.KeepAlive(dx)
	runtime.KeepAlive(cols)
}
