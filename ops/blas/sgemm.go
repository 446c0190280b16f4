package blas

import (
	"sync/atomic"
	"unsafe"

	"github.com/retina-ml/retina/internal/par"
)

// Parallel partitioning. A part is worth a goroutine hand-off (a few µs)
// once it holds at least minPartWork multiply-adds.
const minPartWork = 1 << 19

// A split along k changes how a product is rounded: the depth of its
// blocks and the order of the sums. So that results do not depend on the
// number of threads, a k split is planned from the problem size alone, for
// kSplitThreads threads (rounded down to a power of two, which balances on
// 1, 2, 4 or 8 threads) and chunks at least kSplitDepth deep, which keeps
// the serial sum of the chunks' products (m·n additions per chunk, a few
// percent of the work) cheap even on one thread.
const (
	kSplitThreads = 8
	kSplitDepth   = 1024
)

// sgemmJob is a pure-Go SGEMM problem with its blocking.
type sgemmJob struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a              []float32
	lda            int
	b              []float32
	ldb            int
	c              []float32
	ldc            int

	kern         *kernel
	kcBlk, ncBlk int // blocking depth and width
	inPlace      int // most row panels of A for which B is read in place (unpackedRows, cachedBRows)
}

// sgemmCall is the shared state of a parallel call. Its output is cut into
// a grid of chunks, cm×cn blocks of C times ck ranges of k (see grid),
// usually several per participant; participants claim chunks in turn, so a
// thread slowed down by other load does less of the work.
type sgemmCall struct {
	sgemmJob
	cm, cn, ck int
	next       atomic.Int64 // chunks claimed so far, less one
	parts      []float32    // with a k split: chunk tk > 0 writes its m×n product at (tk−1)·m·n
	done       atomic.Int32 // participants (other than the caller) finished
}

// workspace holds one participant's buffers. Workspaces are recycled
// through a free list, so steady-state calls do not allocate.
type workspace struct {
	a, b  []float32    // packed A panel and packed B block, 64-byte aligned
	c     []float32    // the caller's: partial products of the k chunks after the first
	call  *sgemmCall   // the call a worker takes part in
	own   sgemmCall    // the call of which this is the caller's workspace
	parts []*workspace // the workers' workspaces, for the caller
}

var workspaces freeList[workspace]

func getWorkspace() *workspace { return workspaces.get() }

func putWorkspace(ws *workspace) {
	ws.call = nil
	ws.own.sgemmJob = sgemmJob{} // do not retain the caller's matrices
	clear(ws.parts)
	ws.parts = ws.parts[:0]
	workspaces.put(ws)
}

// reserve makes ws.a and ws.b hold at least na and nb floats.
func (ws *workspace) reserve(na, nb int) {
	if len(ws.a) < na {
		ws.a = alignedFloats(na)
	}
	if len(ws.b) < nb {
		ws.b = alignedFloats(nb)
	}
}

// alignedFloats returns a zeroed slice of n float32 starting on a 64-byte
// boundary.
func alignedFloats(n int) []float32 {
	const align = 64 / 4
	s := make([]float32, n+align)
	off := int(uintptr(unsafe.Pointer(&s[0]))%64) / 4
	if off != 0 {
		off = align - off
	}
	return s[off : off+n : off+n]
}

// Run computes a participant's share of its call: it is the task the
// workers of package internal/par run.
func (ws *workspace) Run() {
	call := ws.call
	call.work(ws, false)
	call.done.Add(1)
}

// sgemmGo computes C = alpha·op(A)·op(B) + beta·C with the pure-Go backend.
// Arguments have been checked; m, n, k > 0 and alpha != 0.
func sgemmGo(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmGoRows(unpackedRows, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmGoRows is sgemmGo reading an untransposed B in place for blocks of
// up to inPlace row panels of A (see unpackedRows).
func sgemmGoRows(inPlace int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	kern := currentKernel()
	job := sgemmJob{
		transA: transA, transB: transB, m: m, n: n, k: k,
		alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
		kern: kern, inPlace: inPlace,
	}
	cm, cn, ck, parts := grid(kern, m, n, k, threads())
	job.setBlocking(cn, ck)
	self := getWorkspace()
	if parts <= 1 && cm*cn*ck == 1 {
		job.block(self, 0, m, 0, n, 0, k, c, ldc, beta)
		putWorkspace(self)
		return
	}

	call := &self.own
	call.sgemmJob = job
	call.cm, call.cn, call.ck = cm, cn, ck
	call.next.Store(0)
	call.done.Store(0)
	if ck > 1 {
		if len(self.c) < (ck-1)*m*n {
			self.c = make([]float32, (ck-1)*m*n)
		}
		call.parts = self.c[:(ck-1)*m*n]
	}
	// Hand out parts-1 jobs to free workers (the pool of package internal/par,
	// shared with the ops' loops); when some are busy the call makes do
	// with fewer.
	for len(self.parts) < parts-1 {
		ws := getWorkspace()
		ws.call = call
		if !par.Offer(ws) {
			putWorkspace(ws)
			break
		}
		self.parts = append(self.parts, ws)
	}
	if len(self.parts) == 0 && cm*cn > 1 {
		// No worker was free (the call runs inside a parallel loop of
		// the caller's, say), and no worker has the call: the caller
		// computes it alone, without the cuts of C planned for more
		// participants, each of which packs A or B again. The k chunks
		// stay: planned from the sizes alone (see grid), they fix the
		// rounding.
		cm, cn, _, _ = grid(kern, m, n, k, 1)
		job.setBlocking(cn, ck)
		if ck == 1 {
			job.block(self, 0, m, 0, n, 0, k, c, ldc, beta)
			putWorkspace(self)
			return
		}
		call.sgemmJob = job
		call.cm, call.cn = cm, cn
	}
	call.work(self, true)
	par.Wait(&call.done, int32(len(self.parts)))
	if ck > 1 {
		// Add the k chunks' partial products to C in chunk order, so the
		// sum does not depend on which participant computed which chunk.
		for i := 0; i < m; i++ {
			ci := c[i*ldc : i*ldc+n]
			for tk := 1; tk < ck; tk++ {
				for j, v := range self.c[(tk-1)*m*n+i*n:][:n] {
					ci[j] += v
				}
			}
		}
	}
	for _, ws := range self.parts {
		putWorkspace(ws)
	}
	putWorkspace(self)
}

// setBlocking sets the cache blocking of j for a grid of cn column
// chunks and ck k chunks. The blocks are balanced: k = 784 with kc = 384
// gives 3×262, not 384+384+16; depths are rounded to 8 for the
// transposing packers. The depth depends on ck alone, which does not
// depend on the threads (see grid).
func (j *sgemmJob) setBlocking(cn, ck int) {
	kern := j.kern
	depth := ceilDiv(j.k, ck)
	j.kcBlk = min(j.k, roundUp(ceilDiv(depth, ceilDiv(depth, kern.kc)), 8))
	width := ceilDiv(ceilDiv(j.n, kern.nr), cn) * kern.nr // widest chunk
	j.ncBlk = roundUp(ceilDiv(width, ceilDiv(width, kern.nc)), kern.nr)
}

// work computes chunks of the call until none is left. The caller (owner)
// takes chunk 0 first. With a k split, the chunks of the first k range write
// C itself (beta·C plus their product) and the others their own region of
// call.parts, which the caller adds in order afterwards: who computes which
// chunk does not change the result.
func (call *sgemmCall) work(ws *workspace, owner bool) {
	chunks := int64(call.cm * call.cn * call.ck)
	t := int64(0)
	if !owner {
		t = call.next.Add(1)
	}
	m, n, k := call.m, call.n, call.k
	nr := call.kern.nr
	tilesN := ceilDiv(n, nr)
	for ; t < chunks; t = call.next.Add(1) {
		tk := int(t) % call.ck
		tn := int(t) / call.ck % call.cn
		tm := int(t) / (call.ck * call.cn)
		i0, i1 := tm*m/call.cm, (tm+1)*m/call.cm
		j0 := tn * tilesN / call.cn * nr
		j1 := min(n, (tn+1)*tilesN/call.cn*nr)
		p0 := min(k, roundUp(tk*k/call.ck, 8))
		p1 := min(k, roundUp((tk+1)*k/call.ck, 8))
		c, ldc, beta := call.c, call.ldc, call.beta
		if tk > 0 {
			c, ldc, beta = call.parts[(tk-1)*m*n:tk*m*n], n, 0
		}
		call.block(ws, i0, i1, j0, j1, p0, p1, c, ldc, beta)
	}
}

// grid cuts a GEMM into cm×cn×ck chunks for parts participants (the
// caller and parts−1 workers). Only a split along k changes the rounding,
// so ck depends on m, n and k alone (see kSplitThreads): the result does
// not depend on threads. A split of C into cm×cn blocks changes no
// element's arithmetic (every kernel rounds an element the same way
// wherever it lies in a tile); it is planned for threads.
func grid(kern *kernel, m, n, k, threads int) (cm, cn, ck, parts int) {
	plan := 1
	for 2*plan <= min(kSplitThreads, k/kSplitDepth) {
		plan *= 2
	}
	if _, _, pk := partition(kern, m, n, k, plan, true); pk > 1 {
		_, _, ck = chunking(kern, m, n, k, 1, 1, pk)
		pm, pn := 1, 1
		if threads > ck {
			// More threads than k chunks: split each chunk's C as well.
			pm, pn, _ = partition(kern, m, n, ceilDiv(k, ck), threads/ck, false)
		}
		return pm, pn, ck, min(threads, pm*pn*ck)
	}
	pm, pn, _ := partition(kern, m, n, k, threads, false)
	cm, cn, _ = chunking(kern, m, n, k, pm, pn, 1)
	return cm, cn, 1, pm * pn
}

// chunking refines a pm×pn×pk partition into chunks, 4 or 2 per part when
// they stay big enough to cost no extra packing worth mentioning.
func chunking(kern *kernel, m, n, k, pm, pn, pk int) (cm, cn, ck int) {
	cm, cn, ck = pm, pn, pk
	tilesN := ceilDiv(n, kern.nr)
	for _, f := range [...]int{4, 2} {
		switch {
		case pn > 1 && pn*f <= tilesN && ceilDiv(tilesN, pn*f)*kern.nr >= 128:
			return pm, pn * f, pk
		case pm > 1 && ceilDiv(m, pm*f) >= max(64, 4*kern.mr):
			return pm * f, pn, pk
		case pk > 1 && ceilDiv(k, pk*f) >= kSplitDepth:
			return pm, pn, pk * f
		}
	}
	return cm, cn, ck
}

// partition splits a GEMM among at most threads parts, as a pm×pn grid of
// C (columns in whole register panels, rows evenly) or, when splitK is set
// and pk > 1, as pk ranges of k whose products are summed. It minimises a
// cost model of the busiest part: padded multiply-adds plus packing and
// reduction traffic.
func partition(kern *kernel, m, n, k, threads int, splitK bool) (pm, pn, pk int) {
	// Costs are in multiply-adds, as float64: m·n·k overflows a 32-bit int.
	work := float64(m) * float64(n) * float64(k)
	parts := int(min(float64(threads), max(1, work/minPartWork)))
	if parts <= 1 {
		return 1, 1, 1
	}
	tilesN := ceilDiv(n, kern.nr)
	// cost of one part computing rows×cols over depth kk: padded
	// multiply-adds plus, at about 8 multiply-adds per element, packing B
	// once and A once per column block.
	cost := func(rows, cols, kk int) float64 {
		padRows := rows
		if !kern.tightA {
			padRows = roundUp(rows, kern.mr)
		}
		return float64(padRows)*float64(roundUp(cols, kern.nr))*float64(kk) +
			8*float64(kk)*float64(rows*ceilDiv(cols, kern.nc)+cols)
	}
	for p := parts; p > 1; p-- {
		best := -1.0
		for qn := 1; qn <= p; qn++ {
			qm := p / qn
			if p%qn != 0 || qn > tilesN || qm > m {
				continue
			}
			cols := min(n, ceilDiv(tilesN, qn)*kern.nr)
			if c := cost(ceilDiv(m, qm), cols, k); best < 0 || c < best {
				best, pm, pn, pk = c, qm, qn, 1
			}
		}
		if splitK && k >= 16*p {
			// Split k; the caller adds p-1 private products to C.
			if c := cost(m, n, ceilDiv(k, p)) + 4*float64(m)*float64(n)*float64(p); best < 0 || c < best {
				best, pm, pn, pk = c, 1, 1, p
			}
		}
		if best >= 0 {
			return pm, pn, pk
		}
	}
	return 1, 1, 1
}

// block computes the block C[i0:i1, j0:j1] over the k range [p0, p1):
//
//	C = alpha·op(A)[i0:i1, p0:p1]·op(B)[p0:p1, j0:j1] + beta·C
//
// where c and ldc give C (the caller's or a private one).
func (j *sgemmJob) block(ws *workspace, i0, i1, j0, j1, p0, p1 int, c []float32, ldc int, beta float32) {
	kern := j.kern
	if kern.tileStrided != nil && !j.transB && j.unpacked(i1-i0) {
		j.blockUnpacked(ws, i0, i1, j0, j1, p0, p1, c, ldc, beta)
		return
	}
	mr, nr := panelRows(kern, i1-i0), kern.nr
	j.reserve(ws)
	for jc := j0; jc < j1; jc += j.ncBlk {
		nc := min(j.ncBlk, j1-jc)
		for pc := p0; pc < p1; pc += j.kcBlk {
			kc := min(j.kcBlk, p1-pc)
			b := beta
			if pc > p0 {
				b = 1
			}
			j.packB(ws.b, pc, kc, jc, nc)
			for ir := i0; ir < i1; ir += mr {
				rows := min(mr, i1-ir)
				stride := mr
				if kern.tightA {
					stride = rows
				}
				j.packA(ws.a, ir, rows, stride, pc, kc)
				ap := &ws.a[0]
				crow := ir*ldc + jc
				for jr := 0; jr < nc; jr += nr {
					kern.tile(kc, ap, &ws.b[jr*kc], &c[crow+jr], ldc, j.alpha, b, rows, min(nr, nc-jr))
				}
			}
		}
	}
}

// panelRows returns the height of the row panels that a block of rows
// rows of C is cut into: full panels of the kernel's mr rows, unless that
// leaves a last panel of 1 to 3 rows, which cannot keep the FMA units busy
// (its 2 to 6 independent sums hide too little of the FMA's latency: 2
// rows ran at a quarter of the 14-row kernel's rate per row in a CPU
// profile of ResNet's 28×28 convolutions). Then the rows are shared out
// evenly: 16 rows are two panels of 8, not 14 and 2. Only a kernel that
// packs partial panels tightly can. Every element of C is computed the
// same way whatever the panel it lies in.
func panelRows(kern *kernel, rows int) int {
	if r := rows % kern.mr; !kern.tightA || r == 0 || r > 3 || rows < kern.mr {
		return kern.mr
	}
	return ceilDiv(rows, ceilDiv(rows, kern.mr))
}

// unpackedRows is the most row panels of A for which block reads B in
// place (blockUnpacked): packing B costs a read and a write of each of its
// elements, which a product of so few rows uses too few times to repay.
// The forward products of convolutions with few filters (F × C·KH·KW by
// C·KH·KW × pixels, B just written by im2col) and of dense layers at
// small batches are such products. On the AVX-512 machine of the README,
// one thread, in place against packed (BenchmarkSgemmUnpacked, medians of
// 3): 20×7488×25 (LeNet's first convolution) 1.28× as fast, 16×784×144
// (ResNet's 28×28 stage) 1.56×, 1×1000×784 2.5×. More rows gained less
// where B was in cache and lost where it was not, a dense layer's weights
// in a training step: reading B in place for up to 5 row panels made
// LeNet's 64×800·800×500 take 0.37 ms instead of 0.29, and the MLP's
// (784-100-10) training step 10% longer.
const unpackedRows = 2

// cachedBRows is unpackedRows for a B in cache (SgemmCachedB). In
// ResNet's forward convolutions (F × C·9 by C·9 × images·pixels, B the
// columns just unrolled) reading B in place for 32 and 64 filters made the
// 14×14 and 7×7 stages' forward passes 5–10% faster (alternated runs of
// BenchmarkConv2DResNet).
const cachedBRows = 5

// unpacked reports whether block reads B in place for a block of rows rows.
func (j *sgemmJob) unpacked(rows int) bool {
	return !packAlways && rows <= j.inPlace*j.kern.mr
}

// packAlways, set by tests, makes block pack B always.
var packAlways bool

// blockUnpacked is block for a B that is not transposed, reading it where
// it lies (kernel.tileStrided) instead of packing it. It packs every row
// panel of A for a k block first, then goes over B one register panel of
// columns at a time, all row panels of A in turn, so that each panel of B
// is read from memory once. Every element of C sees the same k blocks in
// the same order as under block: the results are the same, bit for bit.
func (j *sgemmJob) blockUnpacked(ws *workspace, i0, i1, j0, j1, p0, p1 int, c []float32, ldc int, beta float32) {
	kern := j.kern
	mr, nr := panelRows(kern, i1-i0), kern.nr
	j.reserve(ws)
	for pc := p0; pc < p1; pc += j.kcBlk {
		kc := min(j.kcBlk, p1-pc)
		b := beta
		if pc > p0 {
			b = 1
		}
		for ir := i0; ir < i1; ir += mr {
			rows := min(mr, i1-ir)
			stride := mr
			if kern.tightA {
				stride = rows
			}
			j.packA(ws.a[(ir-i0)*kc:], ir, rows, stride, pc, kc)
		}
		for jr := j0; jr < j1; jr += nr {
			cols := min(nr, j1-jr)
			bp := &j.b[pc*j.ldb+jr]
			for ir := i0; ir < i1; ir += mr {
				kern.tileStrided(kc, &ws.a[(ir-i0)*kc], bp, &c[ir*ldc+jr], ldc, j.alpha, b, min(mr, i1-ir), cols, j.ldb)
			}
		}
	}
}

// reserve sizes ws for either way of computing a block of j (block and
// blockUnpacked): the workspaces go round every call, so one sized for a
// single way would grow again the first time it served the other.
func (j *sgemmJob) reserve(ws *workspace) {
	ws.reserve(max(unpackedRows, cachedBRows)*j.kern.mr*j.kcBlk, j.kcBlk*j.ncBlk)
}

// packA packs op(A)[i0:i0+rows, p0:p0+kc] into dst: for each k step p the
// rows are contiguous, dst[p·stride+i], zero padded up to stride.
func (j *sgemmJob) packA(dst []float32, i0, rows, stride, p0, kc int) {
	dst = dst[:kc*stride]
	if !j.transA {
		// A is m×k: rows of op(A) are rows of A.
		j.kern.transpose(dst, stride, j.a[i0*j.lda+p0:], j.lda, rows, kc)
	} else if j.kern.copyRows != nil && rows == stride {
		j.kern.copyRows(dst, j.a[p0*j.lda+i0:], j.lda, kc, rows)
	} else {
		// A is k×m: each k step is a contiguous run of A.
		for p := 0; p < kc; p++ {
			copy(dst[p*stride:p*stride+rows], j.a[(p0+p)*j.lda+i0:])
		}
	}
	if rows < stride {
		for p := 0; p < kc; p++ {
			clear(dst[p*stride+rows : (p+1)*stride])
		}
	}
}

// packB packs op(B)[p0:p0+kc, j0:j0+nc] into column panels of nr columns:
// panel q occupies dst[q·nr·kc:], with dst[q·nr·kc + p·nr + j], zero padded
// to a whole panel.
func (j *sgemmJob) packB(dst []float32, p0, kc, j0, nc int) {
	nr := j.kern.nr
	panels := ceilDiv(nc, nr)
	dst = dst[:panels*nr*kc]
	if !j.transB {
		// B is k×n: each k step of a panel is a contiguous run of B.
		j.kern.copyPanels(dst, j.b[p0*j.ldb+j0:], j.ldb, kc, nc)
		return
	}
	// B is n×k: panel columns are rows of B.
	for q := 0; q < panels; q++ {
		cols := min(nr, nc-q*nr)
		d := dst[q*nr*kc : (q+1)*nr*kc]
		if j.kern.transposePanel != nil {
			j.kern.transposePanel(d, j.b[(j0+q*nr)*j.ldb+p0:], j.ldb, cols, kc)
			continue
		}
		j.kern.transpose(d, nr, j.b[(j0+q*nr)*j.ldb+p0:], j.ldb, cols, kc)
		if cols < nr {
			for p := 0; p < kc; p++ {
				clear(d[p*nr+cols : (p+1)*nr])
			}
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func roundUp(a, b int) int { return ceilDiv(a, b) * b }
