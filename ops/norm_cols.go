package ops

// Batch normalisation of short planes, column by column.
//
// When a channel's values come in runs of in < normLanes elements (a batch
// norm of (N, C) has in = 1), summing a channel run by run would chain
// dependent additions down the batch, one element at a time, and read one
// element per cache line. Instead a unit of work (an a-block of cb
// channels: a block of rows of the (a, C·in) matrix x, and the unit's
// columns) sweeps its rows in order, each row's columns at once: every
// column has its own float64 sum, down the rows in order, and a channel's
// sum adds its in columns' sums in order. The elementwise passes read a
// coefficient per column. All of it depends on the shape alone.

// colMode reports whether bnKernel works column by column.
func (l bnLayout) colMode() bool { return l.in < normLanes }

// kinds of column sums (bnKernel.colSums)
const (
	colSum   = iota // s1 += x
	colSqDev        // s1 += (x − μ)²
	colGrad         // s1 += dy, s2 += (x − μ)², s3 += dy·(x − μ)
)

// colScratch allocates the column-mode scratch space.
func (k *bnKernel[T]) colScratch() {
	l := k.p.l
	w := l.c * l.in
	k.mcol, k.k1col, k.k2col, k.k3col, k.bcol = make([]float64, w), make([]float64, w), make([]float64, w), make([]float64, w), make([]float64, w)
	k.s1, k.s2, k.s3 = make([]float64, l.na*w), make([]float64, l.na*w), make([]float64, l.na*w)
}

// fillCols copies the per-channel coefficients mean, k1, k2, k3 and b
// into the per-column ones, for channels [c0, c1).
func (k *bnKernel[T]) fillCols(c0, c1 int) {
	in := k.p.l.in
	for c := c0; c < c1; c++ {
		for j := c * in; j < (c+1)*in; j++ {
			k.mcol[j], k.k1col[j], k.k2col[j], k.k3col[j], k.bcol[j] = k.mean[c], k.k1[c], k.k2[c], k.k3[c], k.b[c]
		}
	}
}

// colUnit runs the phase on the unit of a-block ka, rows [a0, a1) and
// channels [c0, c1).
func (k *bnKernel[T]) colUnit(ka, a0, a1, c0, c1 int) {
	l := k.p.l
	in := l.in
	j0, j1 := c0*in, c1*in
	o := ka * l.c * in
	s1, s2, s3 := k.s1[o+j0:o+j1], k.s2[o+j0:o+j1], k.s3[o+j0:o+j1]
	p1, p2, p3 := k.p1[ka*l.c:(ka+1)*l.c], k.p2[ka*l.c:(ka+1)*l.c], k.p3[ka*l.c:(ka+1)*l.c]
	switch k.phase {
	case bnSum:
		k.colSums(colSum, a0, a1, j0, j1, s1, s2, s3)
		colTotals(in, c0, c1, s1, p1)
	case bnSqDev:
		k.colSums(colSqDev, a0, a1, j0, j1, s1, s2, s3)
		colTotals(in, c0, c1, s1, p1)
	case bnGrad:
		k.colSums(colGrad, a0, a1, j0, j1, s1, s2, s3)
		colTotals(in, c0, c1, s1, p1)
		colTotals(in, c0, c1, s2, p2)
		colTotals(in, c0, c1, s3, p3)
	case bnNorm:
		k.colNorm(a0, a1, j0, j1)
	case bnDx:
		k.colDx(a0, a1, j0, j1)
	case bnFwdFused:
		k.colSums(colSum, a0, a1, j0, j1, s1, s2, s3)
		colTotals(in, c0, c1, s1, p1)
		for c := c0; c < c1; c++ {
			k.mean[c] = p1[c] / k.p.n
		}
		k.fillCols(c0, c1)
		k.colSums(colSqDev, a0, a1, j0, j1, s1, s2, s3)
		colTotals(in, c0, c1, s1, p2)
		for c := c0; c < c1; c++ {
			k.setStats(c, p1[c], p2[c])
			k.k1[c] = float64(k.gamma[c]) * k.invstd[c]
			k.b[c] = float64(k.beta[c])
		}
		k.fillCols(c0, c1)
		k.colNorm(a0, a1, j0, j1)
	case bnStatsFused:
		k.colSums(colSum, a0, a1, j0, j1, s1, s2, s3)
		colTotals(in, c0, c1, s1, p1)
		for c := c0; c < c1; c++ {
			k.mean[c] = p1[c] / k.p.n
		}
		k.fillCols(c0, c1)
		k.colSums(colGrad, a0, a1, j0, j1, s1, s2, s3)
		colTotals(in, c0, c1, s1, p2)
		colTotals(in, c0, c1, s2, p3)
		colTotals(in, c0, c1, s3, k.k2)
		nc := l.c
		for c := c0; c < c1; c++ {
			k.setStats(c, p1[c], p3[c])
			k.out[c] = T(k.mean[c])
			k.out[nc+c] = T(k.invstd[c])
			k.out[2*nc+c] = T(p2[c])
			k.out[3*nc+c] = T(k.k2[c] * k.invstd[c])
		}
	}
}

// colTotals sets t[c] to the sum, in order, of the in column sums of
// channel c in s (which starts at channel c0), for c in [c0, c1).
func colTotals(in, c0, c1 int, s, t []float64) {
	for c := c0; c < c1; c++ {
		var a float64
		for _, v := range s[(c-c0)*in : (c-c0+1)*in] {
			a += v
		}
		t[c] = a
	}
}

// colSums sets s1 (s2, s3) to the column sums of the kind over rows
// [a0, a1) and columns [j0, j1).
func (k *bnKernel[T]) colSums(kind, a0, a1, j0, j1 int, s1, s2, s3 []float64) {
	l := k.p.l
	rs := l.c * l.in
	clear(s1)
	if kind == colGrad {
		clear(s2)
		clear(s3)
	}
	m := k.mcol[j0:j1]
	s1, s2, s3 = s1[:len(m)], s2[:len(m)], s3[:len(m)]
	for a := a0; a < a1; a++ {
		x := k.x[a*rs+j0 : a*rs+j1]
		switch kind {
		case colSum:
			for j, v := range x {
				s1[j] += float64(v)
			}
		case colSqDev:
			for j, v := range x {
				e := float64(v) - m[j]
				s1[j] += float64(e * e)
			}
		case colGrad:
			dy := k.dy[a*rs+j0 : a*rs+j1]
			for j, v := range x {
				g, e := float64(dy[j]), float64(v)-m[j]
				s1[j] += g
				s2[j] += float64(e * e)
				s3[j] += float64(g * e)
			}
		}
	}
}

// colNorm writes y = ((x − μ)·k1 + b over rows [a0, a1) and columns
// [j0, j1).
func (k *bnKernel[T]) colNorm(a0, a1, j0, j1 int) {
	rs := k.p.l.c * k.p.l.in
	m, sc, b := k.mcol[j0:j1], k.k1col[j0:j1], k.bcol[j0:j1]
	sc, b = sc[:len(m)], b[:len(m)]
	for a := a0; a < a1; a++ {
		x, y := k.x[a*rs+j0:a*rs+j1], k.y[a*rs+j0:a*rs+j1]
		x = x[:len(m)]
		for j := range y {
			y[j] = T(float64((float64(x[j])-m[j])*sc[j]) + b[j])
		}
		if k.p.act != Linear {
			activateSerial(k.p.act, y, y)
		}
	}
}

// colDx writes ∂L/∂x (into k.y) over rows [a0, a1) and columns [j0, j1),
// as dxRows.
func (k *bnKernel[T]) colDx(a0, a1, j0, j1 int) {
	rs := k.p.l.c * k.p.l.in
	m, k1, k2, k3 := k.mcol[j0:j1], k.k1col[j0:j1], k.k2col[j0:j1], k.k3col[j0:j1]
	k1, k2, k3 = k1[:len(m)], k2[:len(m)], k3[:len(m)]
	for a := a0; a < a1; a++ {
		x, dy, dx := k.x[a*rs+j0:a*rs+j1], k.dy[a*rs+j0:a*rs+j1], k.y[a*rs+j0:a*rs+j1]
		x, dy = x[:len(m)], dy[:len(m)]
		if !k.p.train {
			for j := range dx {
				dx[j] = T(float64(dy[j]) * k1[j])
			}
			continue
		}
		for j := range dx {
			dx[j] = T(k1[j] * ((float64(dy[j]) - k2[j]) - float64((float64(x[j])-m[j])*k3[j])))
		}
	}
}
