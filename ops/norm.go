package ops

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Batch and layer normalisation.
//
// Both compute their statistics in float64, whatever the data's dtype, and
// split their reductions by the shape alone: a sum over many elements is
// cut into fixed blocks (normGrain elements or more), each summed by one
// goroutine in a fixed order (see norm_lanes.go and norm_cols.go), and the
// blocks' sums are added in order. The results are therefore the same bits
// whatever GOMAXPROCS.

// normGrain is the number of elements a block of a reduction covers at
// least, when the shape allows.
const normGrain = 1 << 14

// BatchNormState is the running state of one batch normalisation, shared by
// every graph the layer is built into (training and evaluation graphs hold
// the same tensors): Mean and Var have shape (C), Batches one element
// (PyTorch's num_batches_tracked), all of the model's dtype.
//
// A BatchNorm op keeps the three tensors it was built with and reads and
// writes their data on every forward pass: to load a checkpoint, copy into
// them rather than replacing them. PyTorch's initial state is Mean 0, Var 1,
// Batches 0 (see NewBatchNormState).
type BatchNormState struct{ Mean, Var, Batches *tensor.Dense }

// NewBatchNormState returns PyTorch's initial state for c channels of
// dtype dt (float32 or float64): running mean 0, running variance 1 and no
// batches tracked.
func NewBatchNormState(c int, dt tensor.Dtype) *BatchNormState {
	st := &BatchNormState{
		Mean:    tensor.New(tensor.Of(dt), tensor.WithShape(c)),
		Var:     tensor.New(tensor.Of(dt), tensor.WithShape(c)),
		Batches: tensor.New(tensor.Of(dt), tensor.WithShape(1)),
	}
	switch v := st.Var.Data().(type) {
	case []float32:
		for i := range v {
			v[i] = 1
		}
	case []float64:
		for i := range v {
			v[i] = 1
		}
	}
	return st
}

// check returns an error unless st holds three distinct contiguous tensors
// of dtype dt: Mean and Var of shape (c), Batches of one element.
func (st *BatchNormState) check(c int, dt tensor.Dtype) error {
	if st == nil {
		return errors.New("state is nil")
	}
	for _, f := range []struct {
		name string
		t    *tensor.Dense
		vec  bool
	}{{"Mean", st.Mean, true}, {"Var", st.Var, true}, {"Batches", st.Batches, false}} {
		switch {
		case f.t == nil:
			return errors.Errorf("state.%s is nil", f.name)
		case f.t.Dtype() != dt:
			return errors.Errorf("state.%s is %v but x is %v", f.name, f.t.Dtype(), dt)
		case f.vec && !sameDims(f.t.Shape(), tensor.Shape{c}):
			return errors.Errorf("state.%s has shape %v, want (%d): one per channel", f.name, f.t.Shape(), c)
		case !f.vec && !(f.t.Shape().IsScalar() || sameDims(f.t.Shape(), tensor.Shape{1})):
			return errors.Errorf("state.%s has shape %v, want (1)", f.name, f.t.Shape())
		case f.t.RequiresIterator():
			return errors.Errorf("state.%s is not contiguous", f.name)
		}
	}
	if n := len(normData[float32](st.Batches)) + len(normData[float64](st.Batches)); n != 1 {
		return errors.Errorf("state.Batches holds %d elements, want 1", n)
	}
	m, v, b := st.Mean.Uintptr(), st.Var.Uintptr(), st.Batches.Uintptr()
	if m == v || m == b || v == b {
		return errors.New("state.Mean, Var and Batches must be distinct tensors")
	}
	return nil
}

// normData returns the data of d as []T; d's dtype must be T's (checked
// when the op is built), else the slice is empty.
func normData[T Float](d *tensor.Dense) []T {
	var z T
	if unsafe.Sizeof(z) == 4 {
		if d.Dtype() != tensor.Float32 {
			return nil
		}
		s := d.Float32s()
		return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
	}
	if d.Dtype() != tensor.Float64 {
		return nil
	}
	s := d.Float64s()
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// BatchNorm returns the batch normalisation of x, PyTorch's
// torch.nn.functional.batch_norm(x, running_mean, running_var, gamma, beta,
// training=train, momentum, eps) with the buffers of st, as in
// nn.BatchNorm1d and nn.BatchNorm2d (PyTorch's defaults: momentum 0.1, eps
// 1e-5):
//
//	y[n,c,…] = γ[c]·(x[n,c,…] − μ[c]) / √(σ²[c] + ε) + β[c]
//
// x is (N, C), (N, C, L) or (N, C, H, W) (any rank ≥ 2: channels are axis
// 1), float32 or float64; gamma (γ) and beta (β) are (C) of x's dtype. Each
// channel is normalised over its n = N·H·W (N·L, N) values.
//
// Train mode (train true): μ and σ² are the batch mean and the biased batch
// variance (1/n)·Σ(x − μ)² of each channel, and every forward pass updates
// the running statistics in place, after computing its output (which they
// do not affect):
//
//	Mean ← (1 − momentum)·Mean + momentum·μ
//	Var  ← (1 − momentum)·Var + momentum·σ²·n/(n − 1)   (unbiased)
//	Batches ← Batches + 1
//
// once per execution of the op (the gradient ops do not touch them). n must
// be at least 2, as PyTorch's "Expected more than 1 value per channel when
// training". The gradient is the one through the batch statistics: with
// x̂ = (x − μ)/√(σ² + ε) and dy = ∂L/∂y, per channel,
//
//	∂L/∂x = (γ/√(σ² + ε))·(dy − (1/n)·Σdy − x̂·(1/n)·Σ(dy·x̂))
//	∂L/∂γ = Σ dy·x̂,  ∂L/∂β = Σ dy
//
// Eval mode (train false): μ and σ² are st.Mean and st.Var, which are not
// changed; the gradient is the affine one, ∂L/∂x = dy·γ/√(Var + ε), with ∂L/∂γ
// and ∂L/∂β as above (the gradient ops read st when they run).
//
// 0 ≤ momentum ≤ 1, eps > 0, and st must hold tensors of x's dtype (see
// BatchNormState); BatchNorm returns an error that states what is wrong
// otherwise. Statistics and sums are computed in float64.
func BatchNorm(x, gamma, beta *G.Node, st *BatchNormState, train bool, momentum, eps float64) (*G.Node, error) {
	return BatchNormAct(x, gamma, beta, st, train, momentum, eps, Linear)
}

// BatchNormAct is BatchNorm followed by the activation f, fused into one
// op: f is applied while the output is written, and its gradient (from the
// output) once, before the normalisation's gradients. The values are
// those of the two ops, bit for bit.
func BatchNormAct(x, gamma, beta *G.Node, st *BatchNormState, train bool, momentum, eps float64, f Activation) (*G.Node, error) {
	const name = "ops.BatchNorm"
	if !f.valid() {
		return nil, errors.Errorf("%s: unknown activation %d", name, int(f))
	}
	s, dt, err := normInput(name, x, gamma, beta, "(N, C), (N, C, L) or (N, C, H, W)")
	if err != nil {
		return nil, err
	}
	c := s[1]
	for _, p := range []struct {
		what string
		n    *G.Node
	}{{"gamma", gamma}, {"beta", beta}} {
		if ps := p.n.Shape(); !sameDims(ps, tensor.Shape{c}) {
			return nil, errors.Errorf("%s: %s has shape %v, want (%d): one per channel of x %v", name, p.what, ps, c, s)
		}
		if p.n.Dtype() != dt {
			return nil, errors.Errorf("%s: %s is %v but x is %v", name, p.what, p.n.Dtype(), dt)
		}
	}
	if !(momentum >= 0 && momentum <= 1) {
		return nil, errors.Errorf("%s: momentum %v not in [0, 1]", name, momentum)
	}
	if !(eps > 0) || math.IsInf(eps, 1) {
		return nil, errors.Errorf("%s: eps %v must be positive and finite", name, eps)
	}
	if err := st.check(c, dt); err != nil {
		return nil, errors.Wrap(err, name)
	}
	if n := s.TotalSize() / c; train && n < 2 {
		return nil, errors.Errorf("%s: Expected more than 1 value per channel when training, got input of shape %v", name, s)
	}
	p := newBNParams(s, dt, st, train, momentum, eps, f)
	return p.def().Apply(x, gamma, beta)
}

// bnLayout views x as (a, c, in): batch, channels, and the trailing dims.
// A channel's sums run over a-blocks of ab rows (na of them), fixed by the
// shape; a unit of work is one a-block of cb channels (nc per a-block),
// which decides the work split only.
type bnLayout struct {
	a, c, in int
	ab, na   int
	cb, nc   int
}

func newBNLayout(s tensor.Shape) bnLayout {
	l := bnLayout{a: s[0], c: s[1]}
	l.in = s.TotalSize() / (l.a * l.c)
	l.ab = min(l.a, max(1, normGrain/l.in))
	l.na = (l.a + l.ab - 1) / l.ab
	l.cb = min(l.c, max(1, normGrain/(l.ab*l.in)))
	l.nc = (l.c + l.cb - 1) / l.cb
	return l
}

// bnParams is what every op of one BatchNorm shares.
type bnParams struct {
	shape    tensor.Shape
	dt       tensor.Dtype
	l        bnLayout
	n        float64 // values per channel
	mean     *tensor.Dense
	vari     *tensor.Dense
	batches  *tensor.Dense
	train    bool
	momentum float64
	eps      float64
	act      Activation // applied to the output
	desc     string     // parameters, for the ops' names
}

func newBNParams(s tensor.Shape, dt tensor.Dtype, st *BatchNormState, train bool, momentum, eps float64, act Activation) *bnParams {
	mode := "eval"
	if train {
		mode = "train"
	}
	return &bnParams{
		shape: s.Clone(), dt: dt, l: newBNLayout(s), n: float64(s.TotalSize() / s[1]),
		mean: st.Mean, vari: st.Var, batches: st.Batches,
		train: train, momentum: momentum, eps: eps, act: act,
		// The tensors' addresses tell apart two layers on the same input.
		desc: fmt.Sprintf("%v %s momentum=%g eps=%g %v state=%p,%p,%p", s, mode, momentum, eps, act, st.Mean, st.Var, st.Batches),
	}
}

type bnStep int

const (
	bnForward   bnStep = iota // y from x, γ, β; updates the state in train mode
	bnGradStats               // (4, C): μ, 1/√(σ²+ε), Σdy, Σdy·x̂ from x, dy
	bnInputGrad               // ∂L/∂x from x, dy, γ and the statistics
)

// kernels sets f's kernel for p's dtype: the state is of that dtype, so
// the other would be an error.
func (p *bnParams) kernels(f *Def, step bnStep) *Def {
	if p.dt == tensor.Float32 {
		f.F32 = newBNKernel[float32](p, step)
	} else {
		f.F64 = newBNKernel[float64](p, step)
	}
	return f
}

func (p *bnParams) def() Def {
	c := p.l.c
	vec := tensor.Shape{c}
	f := &Def{
		Name: "BatchNorm{" + p.desc + "}",
		In:   []tensor.Shape{p.shape, vec, vec},
		Out:  p.shape,
		Grad: func(g *Grad) {
			dy := preActGrad(g, p.act)
			stats := g.Apply(*p.kernels(&Def{
				Name: "BatchNormGradStats{" + p.desc + "}",
				In:   []tensor.Shape{p.shape, p.shape},
				Out:  tensor.Shape{4, c},
			}, bnGradStats), g.Input(0), dy)
			g.Set(0, g.Apply(*p.kernels(&Def{
				Name: "BatchNormInputGrad{" + p.desc + "}",
				In:   []tensor.Shape{p.shape, p.shape, vec, {4, c}},
				Out:  p.shape,
			}, bnInputGrad), g.Input(0), dy, g.Input(1), stats))
			g.Set(1, g.Apply(statsRowDef("BatchNormGammaGrad", c, 3), stats))
			g.Set(2, g.Apply(statsRowDef("BatchNormBetaGrad", c, 2), stats))
		},
	}
	return *p.kernels(f, bnForward)
}

// statsRowDef copies row r of a (4, c) statistics tensor.
func statsRowDef(name string, c, r int) Def {
	return Def{
		Name: fmt.Sprintf("%s{row %d of (4, %d)}", name, r, c),
		In:   []tensor.Shape{{4, c}},
		Out:  tensor.Shape{c},
		F32:  func(out []float32, in [][]float32) { copy(out, in[0][r*c:(r+1)*c]) },
		F64:  func(out []float64, in [][]float64) { copy(out, in[0][r*c:(r+1)*c]) },
	}
}

// phases of bnKernel.units: what a unit of work computes
const (
	bnSum        = iota // p1 = Σx of the unit's block
	bnSqDev             // p1 = Σ(x − μ)²
	bnGrad              // p1, p2, p3 = Σdy, Σ(x − μ)², Σdy·(x − μ)
	bnNorm              // y from x and the coefficients mean, k1, b
	bnDx                // ∂L/∂x from x, dy and the coefficients mean, k1, k2, k3
	bnFwdFused          // the batch statistics of the unit's channels, then y
	bnStatsFused        // the gradient statistics of the unit's channels
)

// bnKernel is the kernel of one BatchNorm op, with its scratch space: the
// loop body is made once, so a call allocates nothing once warm.
//
// Its loops run over units of work, each one a-block of cb channels (see
// bnLayout). A channel's sums are its a-blocks' (rowsSum and the like, or
// column sums for short planes, see norm_cols.go), added in order. When a
// channel has a single a-block (na = 1, the usual case: channels of up to
// normGrain values), a unit computes its channels' statistics and then
// their output in one go, while they are in cache: one loop per op instead
// of three.
type bnKernel[T Float] struct {
	p *bnParams

	// Set for the duration of a call.
	x, dy, y, gamma, beta []T
	out                   []T // the (4, C) statistics (bnStatsFused)
	phase                 int

	p1, p2, p3    []float64 // partial sums, (na, c)
	mean, invstd  []float64 // per channel
	vari          []float64 // per channel: the biased batch variance (train)
	k1, k2, k3, b []float64 // per channel: the coefficients of the elementwise pass

	// Column mode (see norm_cols.go): the coefficients per column of a
	// row of x, (C·in), and the column sums, (na, C·in).
	mcol, k1col, k2col, k3col, bcol []float64
	s1, s2, s3                      []float64

	body, chanBody func(chunk, lo, hi int) // units, channels
}

func newBNKernel[T Float](p *bnParams, step bnStep) func([]T, [][]T) {
	k := &bnKernel[T]{p: p}
	k.body, k.chanBody = k.units, k.channels
	switch step {
	case bnForward:
		return k.forward
	case bnGradStats:
		return k.gradStats
	}
	return k.inputGrad
}

// scratch allocates the scratch space on the first call.
func (k *bnKernel[T]) scratch() {
	if k.mean != nil {
		return
	}
	l := k.p.l
	k.p1, k.p2, k.p3 = make([]float64, l.na*l.c), make([]float64, l.na*l.c), make([]float64, l.na*l.c)
	k.mean, k.invstd, k.vari = make([]float64, l.c), make([]float64, l.c), make([]float64, l.c)
	k.k1, k.k2, k.k3, k.b = make([]float64, l.c), make([]float64, l.c), make([]float64, l.c), make([]float64, l.c)
	if l.colMode() {
		k.colScratch()
	}
}

// run runs phase over every unit of work.
func (k *bnKernel[T]) run(phase int) {
	l := k.p.l
	if l.colMode() && phase != bnSum && phase != bnFwdFused && phase != bnStatsFused {
		k.fillCols(0, l.c)
	}
	k.phase = phase
	parallelFor(l.na*l.nc, 1, k.body)
}

// combine adds up each channel's partial sums p (na, c) in order into s.
func (k *bnKernel[T]) combine(p, s []float64) {
	l := k.p.l
	for c := 0; c < l.c; c++ {
		var a float64
		for ka := 0; ka < l.na; ka++ {
			a += p[ka*l.c+c]
		}
		s[c] = a
	}
}

// units runs the phase on units [lo, hi): for each channel of the unit,
// on the rows of its a-block.
func (k *bnKernel[T]) units(_, lo, hi int) {
	l := k.p.l
	stride := l.c * l.in
	for u := lo; u < hi; u++ {
		ka, kc := u/l.nc, u%l.nc
		a0, a1 := ka*l.ab, min(l.a, (ka+1)*l.ab)
		c0, c1 := kc*l.cb, min(l.c, (kc+1)*l.cb)
		if l.colMode() {
			k.colUnit(ka, a0, a1, c0, c1)
			continue
		}
		rows := a1 - a0
		for c := c0; c < c1; c++ {
			off := (a0*l.c + c) * l.in
			i := ka*l.c + c
			switch k.phase {
			case bnSum:
				k.p1[i] = rowsSum(k.x[off:], l.in, rows, stride)
			case bnSqDev:
				k.p1[i] = rowsSqDev(k.x[off:], l.in, rows, stride, k.mean[c])
			case bnGrad:
				s := rowsGradSums(k.x[off:], k.dy[off:], l.in, rows, stride, k.mean[c])
				k.p1[i], k.p2[i], k.p3[i] = s[0], s[1], s[2]
			case bnNorm:
				bnNormRows(k.y[off:], k.x[off:], l.in, rows, stride, k.mean[c], k.k1[c], k.b[c], k.p.act)
			case bnDx:
				k.dxRows(c, off, rows, stride)
			case bnFwdFused:
				k.fusedForward(c, off, rows, stride)
			case bnStatsFused:
				k.fusedStats(c, off, rows, stride)
			}
		}
	}
}

// setStats sets channel c's mean from Σx and its variance and invstd from
// Σ(x − μ)².
func (k *bnKernel[T]) setStats(c int, sum, sqDev float64) {
	n := k.p.n
	k.mean[c] = sum / n
	v := sqDev / n
	k.vari[c] = v
	k.invstd[c] = 1 / math.Sqrt(v+k.p.eps)
}

// fusedForward computes channel c's batch statistics and output (one
// a-block).
func (k *bnKernel[T]) fusedForward(c, off, rows, stride int) {
	in := k.p.l.in
	x := k.x[off:]
	sum := rowsSum(x, in, rows, stride)
	k.setStats(c, sum, rowsSqDev(x, in, rows, stride, sum/k.p.n))
	sc := float64(k.gamma[c]) * k.invstd[c]
	bnNormRows(k.y[off:], x, in, rows, stride, k.mean[c], sc, float64(k.beta[c]), k.p.act)
}

// fusedStats writes channel c's gradient statistics (one a-block).
func (k *bnKernel[T]) fusedStats(c, off, rows, stride int) {
	in, nc := k.p.l.in, k.p.l.c
	x := k.x[off:]
	sum := rowsSum(x, in, rows, stride)
	m := sum / k.p.n
	s := rowsGradSums(x, k.dy[off:], in, rows, stride, m)
	k.setStats(c, sum, s[1])
	k.out[c] = T(m)
	k.out[nc+c] = T(k.invstd[c])
	k.out[2*nc+c] = T(s[0])
	k.out[3*nc+c] = T(s[2] * k.invstd[c])
}

// fused reports whether a unit computes its channels' statistics in one
// go (train mode, one a-block).
func (k *bnKernel[T]) fused() bool { return k.p.train && k.p.l.na == 1 }

// bnChannelBytes bounds a channel that byChannel takes whole: its values
// (and their gradients) stay in a core's L2 cache from one pass to the
// next.
const bnChannelBytes = 256 << 10

// byChannel reports whether the train-mode passes over channels of several
// a-blocks run a channel at a time (channels): the channel is read from
// memory once, its later passes hit the cache. ResNet's 28×28 stage at
// batch 64 has such channels (4 a-blocks of 20 images, 200 KB).
func (k *bnKernel[T]) byChannel() bool {
	l := k.p.l
	return bnChannels && k.p.train && l.na > 1 && !l.colMode() && l.a*l.in*sizeOf[T]() <= bnChannelBytes
}

// bnChannels, cleared by tests, turns byChannel off.
var bnChannels = true

// channels runs the phase (bnFwdFused or bnStatsFused) on channels
// [lo, hi), each over all its a-blocks in turn: the a-blocks' sums are
// those of the units, added in the same order as combine adds them, so
// the results are the same, bit for bit.
func (k *bnKernel[T]) channels(_, lo, hi int) {
	l := k.p.l
	stride := l.c * l.in
	block := func(c, ka int) (off, rows int) {
		a0, a1 := ka*l.ab, min(l.a, (ka+1)*l.ab)
		return (a0*l.c + c) * l.in, a1 - a0
	}
	for c := lo; c < hi; c++ {
		var sum float64
		for ka := 0; ka < l.na; ka++ {
			off, rows := block(c, ka)
			sum += rowsSum(k.x[off:], l.in, rows, stride)
		}
		m := sum / k.p.n
		if k.phase == bnFwdFused {
			var sq float64
			for ka := 0; ka < l.na; ka++ {
				off, rows := block(c, ka)
				sq += rowsSqDev(k.x[off:], l.in, rows, stride, m)
			}
			k.setStats(c, sum, sq)
			sc := float64(k.gamma[c]) * k.invstd[c]
			for ka := 0; ka < l.na; ka++ {
				off, rows := block(c, ka)
				bnNormRows(k.y[off:], k.x[off:], l.in, rows, stride, k.mean[c], sc, float64(k.beta[c]), k.p.act)
			}
			continue
		}
		var g [3]float64
		for ka := 0; ka < l.na; ka++ {
			off, rows := block(c, ka)
			s := rowsGradSums(k.x[off:], k.dy[off:], l.in, rows, stride, m)
			g[0], g[1], g[2] = g[0]+s[0], g[1]+s[1], g[2]+s[2]
		}
		k.setStats(c, sum, g[1])
		nc := l.c
		k.out[c] = T(k.mean[c])
		k.out[nc+c] = T(k.invstd[c])
		k.out[2*nc+c] = T(g[0])
		k.out[3*nc+c] = T(g[2] * k.invstd[c])
	}
}

// stats sets mean and invstd (and vari) from k.x: the batch statistics in
// train mode, the running ones in eval mode.
func (k *bnKernel[T]) stats() {
	p := k.p
	if !p.train {
		rm, rv := normData[T](p.mean), normData[T](p.vari)
		for c := range k.mean {
			k.mean[c] = float64(rm[c])
			k.invstd[c] = 1 / math.Sqrt(float64(rv[c])+p.eps)
		}
		return
	}
	k.run(bnSum)
	k.combine(k.p1, k.k1)
	for c := range k.mean {
		k.mean[c] = k.k1[c] / p.n
	}
	k.run(bnSqDev)
	k.combine(k.p1, k.k2)
	for c := range k.mean {
		k.setStats(c, k.k1[c], k.k2[c])
	}
}

// forward sets y = (x − μ)·γ/√(σ² + ε) + β and, in train mode, updates the
// running statistics.
func (k *bnKernel[T]) forward(y []T, in [][]T) {
	k.scratch()
	p := k.p
	k.x, k.y, k.gamma, k.beta = in[0], y, in[1], in[2]
	if k.fused() {
		k.run(bnFwdFused)
	} else if k.byChannel() {
		k.phase = bnFwdFused
		parallelFor(k.p.l.c, 1, k.chanBody)
	} else {
		k.stats()
		for c := range k.k1 {
			k.k1[c] = float64(k.gamma[c]) * k.invstd[c]
			k.b[c] = float64(k.beta[c])
		}
		k.run(bnNorm)
	}
	k.x, k.y, k.gamma, k.beta = nil, nil, nil, nil
	if p.train {
		rm, rv, nb := normData[T](p.mean), normData[T](p.vari), normData[T](p.batches)
		m, unbias := p.momentum, p.n/(p.n-1)
		for c := range rm {
			rm[c] = T((1-m)*float64(rm[c]) + m*k.mean[c])
			rv[c] = T((1-m)*float64(rv[c]) + m*k.vari[c]*unbias)
		}
		nb[0]++
	}
}

// gradStats writes the (4, C) statistics of the gradient: μ, 1/√(σ² + ε),
// Σdy and Σdy·x̂ per channel, recomputing the batch statistics from x in
// train mode exactly as the forward pass did.
func (k *bnKernel[T]) gradStats(out []T, in [][]T) {
	k.scratch()
	p, c := k.p, k.p.l.c
	k.x, k.dy, k.out = in[0], in[1], out
	if k.fused() {
		k.run(bnStatsFused)
		k.x, k.dy, k.out = nil, nil, nil
		return
	}
	if k.byChannel() {
		k.phase = bnStatsFused
		parallelFor(c, 1, k.chanBody)
		k.x, k.dy, k.out = nil, nil, nil
		return
	}
	if p.train {
		k.run(bnSum)
		k.combine(k.p1, k.k1)
		for j := range k.mean {
			k.mean[j] = k.k1[j] / p.n
		}
	} else {
		k.stats()
	}
	k.run(bnGrad)
	k.x, k.dy, k.out = nil, nil, nil
	k.combine(k.p1, k.k2)
	k.combine(k.p2, k.k3)
	k.combine(k.p3, k.b)
	for j := 0; j < c; j++ {
		if p.train {
			k.setStats(j, k.k1[j], k.k3[j])
		}
		out[j] = T(k.mean[j])
		out[c+j] = T(k.invstd[j])
		out[2*c+j] = T(k.k2[j])
		out[3*c+j] = T(k.b[j] * k.invstd[j])
	}
}

// inputGrad writes ∂L/∂x from x, dy, γ and the statistics.
func (k *bnKernel[T]) inputGrad(dx []T, in [][]T) {
	k.scratch()
	p, c := k.p, k.p.l.c
	x, dy, gamma, st := in[0], in[1], in[2], in[3]
	for j := 0; j < c; j++ {
		m, is := float64(st[j]), float64(st[c+j])
		k.mean[j] = m
		k.k1[j] = float64(gamma[j]) * is
		if p.train {
			k.k2[j] = float64(st[2*c+j]) / p.n
			k.k3[j] = float64(st[3*c+j]) * is / p.n
		}
	}
	k.x, k.dy, k.y = x, dy, dx
	k.run(bnDx)
	k.x, k.dy, k.y = nil, nil, nil
}

// dxRows writes channel c's rows of ∂L/∂x (into k.y):
// γ·invstd·(dy − Σdy/n − (x − μ)·invstd·Σ(dy·x̂)/n) in train mode,
// γ·invstd·dy in eval mode.
func (k *bnKernel[T]) dxRows(c, off, rows, stride int) {
	in := k.p.l.in
	if k.p.train {
		co := [4]float64{k.mean[c], k.k1[c], k.k2[c], k.k3[c]}
		bnDxRows(k.y[off:], k.dy[off:], k.x[off:], in, rows, stride, &co)
		return
	}
	k1 := k.k1[c]
	for r := 0; r < rows; r++ {
		o := off + r*stride
		dy, dx := k.dy[o:o+in], k.y[o:o+in]
		for i, v := range dy {
			dx[i] = T(float64(v) * k1)
		}
	}
}

// LayerNorm returns the layer normalisation of x, PyTorch's
// torch.nn.functional.layer_norm(x, x.shape[1:], gamma, beta, eps) (nn.LayerNorm
// over every dimension but the batch; PyTorch's default eps is 1e-5):
//
//	y[n,i] = γ[i]·(x[n,i] − μ[n]) / √(σ²[n] + ε) + β[i]
//
// where i runs over the D = d1·d2·… per-sample elements and μ[n], σ²[n] are
// the mean and the biased variance (1/D)·Σ(x − μ)² of sample n. x is (N, d1,
// d2, …), float32 or float64; gamma (γ) and beta (β) have x's per-sample
// shape (d1, d2, …) and dtype; eps > 0. With x̂ = (x − μ)/√(σ² + ε), dy =
// ∂L/∂y and g = γ·dy, per sample,
//
//	∂L/∂x = (1/√(σ² + ε))·(g − (1/D)·Σg − x̂·(1/D)·Σ(g·x̂))
//	∂L/∂γ = Σ_n dy·x̂,  ∂L/∂β = Σ_n dy
//
// Statistics and sums are computed in float64.
func LayerNorm(x, gamma, beta *G.Node, eps float64) (*G.Node, error) {
	const name = "ops.LayerNorm"
	s, dt, err := normInput(name, x, gamma, beta, "(N, d1, …)")
	if err != nil {
		return nil, err
	}
	ps := s[1:].Clone()
	for _, p := range []struct {
		what string
		n    *G.Node
	}{{"gamma", gamma}, {"beta", beta}} {
		if gs := p.n.Shape(); !sameDims(gs, ps) {
			return nil, errors.Errorf("%s: gamma and beta must have the per-sample shape %v of x %v, %s has %v", name, ps, s, p.what, gs)
		}
		if p.n.Dtype() != dt {
			return nil, errors.Errorf("%s: %s is %v but x is %v", name, p.what, p.n.Dtype(), dt)
		}
	}
	if !(eps > 0) || math.IsInf(eps, 1) {
		return nil, errors.Errorf("%s: eps %v must be positive and finite", name, eps)
	}
	return lnDef(s, eps).Apply(x, gamma, beta)
}

type lnStep int

const (
	lnForward   lnStep = iota
	lnStats            // (N, 2): μ, 1/√(σ²+ε) per sample
	lnInputGrad        // ∂L/∂x from x, dy, γ, the statistics
	lnGammaGrad        // Σ_n dy·x̂ from x, dy, the statistics
	lnBetaGrad         // Σ_n dy from dy
)

func lnDef(s tensor.Shape, eps float64) Def {
	s = s.Clone()
	n, ps := s[0], s[1:]
	desc := fmt.Sprintf("%v eps=%g", s, eps)
	def := func(name string, step lnStep, in []tensor.Shape, out tensor.Shape) Def {
		return Def{
			Name: name + "{" + desc + "}", In: in, Out: out,
			F32: newLNKernel[float32](s, eps, step),
			F64: newLNKernel[float64](s, eps, step),
		}
	}
	f := def("LayerNorm", lnForward, []tensor.Shape{s, ps, ps}, s)
	f.Grad = func(g *Grad) {
		stats := g.Apply(def("LayerNormStats", lnStats, []tensor.Shape{s}, tensor.Shape{n, 2}), g.Input(0))
		g.Set(0, g.Apply(def("LayerNormInputGrad", lnInputGrad, []tensor.Shape{s, s, ps, {n, 2}}, s),
			g.Input(0), g.OutputGrad(), g.Input(1), stats))
		g.Set(1, g.Apply(def("LayerNormGammaGrad", lnGammaGrad, []tensor.Shape{s, s, {n, 2}}, ps),
			g.Input(0), g.OutputGrad(), stats))
		g.Set(2, g.Apply(def("LayerNormBetaGrad", lnBetaGrad, []tensor.Shape{s}, ps), g.OutputGrad()))
	}
	return f
}

// lnKernel is the kernel of one LayerNorm op. Rows (samples) are
// independent: each is reduced by one goroutine (rowsSum and the like).
// The parameter gradients sum over the rows for each column, rows in
// order, with blocks of columns split across the goroutines.
type lnKernel[T Float] struct {
	n, d int
	eps  float64

	x, dy, y, gamma, beta, stats []T
	acc                          []float64 // per column
	rowM, rowV                   []float64 // per row: statistics of rows
	gamma64, beta64              []float64 // γ and β in float64

	rowBody, colBody func(chunk, lo, hi int)
	step             lnStep
}

func newLNKernel[T Float](s tensor.Shape, eps float64, step lnStep) func([]T, [][]T) {
	k := &lnKernel[T]{n: s[0], d: s.TotalSize() / s[0], eps: eps, step: step}
	k.rowBody, k.colBody = k.rows, k.cols
	return k.call
}

// lnGrain is the number of elements below which a LayerNorm loop runs on
// one goroutine: handing work to another core costs more than a few
// microseconds of it.
const lnGrain = 1 << 16

// colBlock is the number of columns a unit of the parameter gradients'
// work covers.
func (k *lnKernel[T]) colBlock() int { return min(k.d, max(64, normGrain/k.n)) }

func (k *lnKernel[T]) call(out []T, in [][]T) {
	switch k.step {
	case lnForward:
		k.x, k.gamma, k.beta, k.y = in[0], in[1], in[2], out
	case lnStats:
		k.x, k.stats = in[0], out
	case lnInputGrad:
		k.x, k.dy, k.gamma, k.stats, k.y = in[0], in[1], in[2], in[3], out
	case lnGammaGrad:
		k.x, k.dy, k.stats, k.y = in[0], in[1], in[2], out
	case lnBetaGrad:
		k.dy, k.y = in[0], out
	}
	switch k.step {
	case lnForward, lnStats, lnInputGrad:
		if k.rowM == nil {
			k.rowM, k.rowV = make([]float64, k.n), make([]float64, k.n)
			k.gamma64, k.beta64 = make([]float64, k.d), make([]float64, k.d)
		}
		for i := range k.gamma {
			k.gamma64[i] = float64(k.gamma[i])
		}
		for i := range k.beta {
			k.beta64[i] = float64(k.beta[i])
		}
		parallelFor(k.n, max(1, lnGrain/k.d), k.rowBody)
	default:
		if k.acc == nil {
			k.acc = make([]float64, k.d)
		}
		cb := k.colBlock()
		parallelFor((k.d+cb-1)/cb, max(1, lnGrain/(cb*k.n)), k.colBody)
	}
	k.x, k.dy, k.y, k.gamma, k.beta, k.stats = nil, nil, nil, nil, nil, nil
}

// lnBlock is the number of elements of the rows whose passes a LayerNorm
// loop interleaves: it computes the first statistic of every row of a
// block, then the next, so that the rows' reductions, each a chain of
// dependent additions, overlap, while the block stays in cache.
const lnBlock = 1 << 13

func (k *lnKernel[T]) rows(_, lo, hi int) {
	d := k.d
	fd := float64(d)
	step := max(1, lnBlock/d)
	for b0 := lo; b0 < hi; b0 += step {
		b1 := min(hi, b0+step)
		m, v := k.rowM[b0:b1], k.rowV[b0:b1]
		if k.step == lnInputGrad {
			for r := b0; r < b1; r++ {
				mr, inv := float64(k.stats[2*r]), float64(k.stats[2*r+1])
				s := lnGradSumsRow(k.x[r*d:(r+1)*d], k.dy[r*d:(r+1)*d], k.gamma64, mr)
				m[r-b0], v[r-b0] = s[0]/fd, s[1]*inv/fd
			}
			for r := b0; r < b1; r++ {
				co := [4]float64{float64(k.stats[2*r]), float64(k.stats[2*r+1]), m[r-b0], v[r-b0]}
				lnDxRow(k.y[r*d:(r+1)*d], k.dy[r*d:(r+1)*d], k.x[r*d:(r+1)*d], k.gamma64, &co)
			}
			continue
		}
		// The mean and 1/√(σ² + ε) of each row.
		for r := b0; r < b1; r++ {
			m[r-b0] = rowsSum(k.x[r*d:(r+1)*d], d, 1, d) / fd
		}
		for r := b0; r < b1; r++ {
			v[r-b0] = 1 / math.Sqrt(rowsSqDev(k.x[r*d:(r+1)*d], d, 1, d, m[r-b0])/fd+k.eps)
		}
		for r := b0; r < b1; r++ {
			if k.step == lnStats {
				k.stats[2*r], k.stats[2*r+1] = T(m[r-b0]), T(v[r-b0])
			} else {
				lnNormRow(k.y[r*d:(r+1)*d], k.x[r*d:(r+1)*d], k.gamma64, k.beta64, m[r-b0], v[r-b0])
			}
		}
	}
}

// cols writes the parameter gradients of column blocks [lo, hi).
func (k *lnKernel[T]) cols(_, lo, hi int) {
	cb, d := k.colBlock(), k.d
	j0, j1 := lo*cb, min(d, hi*cb)
	acc := k.acc[j0:j1]
	clear(acc)
	for r := 0; r < k.n; r++ {
		dy := k.dy[r*d+j0 : r*d+j1]
		if k.step == lnBetaGrad {
			colAddRow(acc, dy)
			continue
		}
		m, inv := float64(k.stats[2*r]), float64(k.stats[2*r+1])
		lnColAccRow(acc, dy, k.x[r*d+j0:r*d+j1], m, inv)
	}
	for j, v := range acc {
		k.y[j0+j] = T(v)
	}
}

// normInput checks a normalisation's inputs: none nil, x of rank ≥ 2 with
// positive dimensions (want describes the shapes accepted) and a float
// dtype. It returns x's shape and dtype.
func normInput(name string, x, gamma, beta *G.Node, want string) (tensor.Shape, tensor.Dtype, error) {
	switch {
	case x == nil:
		return nil, tensor.Dtype{}, errors.Errorf("%s: x is nil", name)
	case gamma == nil:
		return nil, tensor.Dtype{}, errors.Errorf("%s: gamma is nil", name)
	case beta == nil:
		return nil, tensor.Dtype{}, errors.Errorf("%s: beta is nil", name)
	}
	s := x.Shape()
	if len(s) < 2 || !positive(s) {
		return nil, tensor.Dtype{}, errors.Errorf("%s: x has shape %v, want %s", name, s, want)
	}
	dt := x.Dtype()
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, tensor.Dtype{}, errors.Errorf("%s: x is %v, want float32 or float64", name, dt)
	}
	return s, dt, nil
}
