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
// cut into fixed blocks (normGrain elements or more), each summed in order
// by one goroutine, and the blocks' sums are added in order. The results
// are therefore the same bits whatever GOMAXPROCS.

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
	const name = "ops.BatchNorm"
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
	p := newBNParams(s, dt, st, train, momentum, eps)
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
	desc     string // parameters, for the ops' names
}

func newBNParams(s tensor.Shape, dt tensor.Dtype, st *BatchNormState, train bool, momentum, eps float64) *bnParams {
	mode := "eval"
	if train {
		mode = "train"
	}
	return &bnParams{
		shape: s.Clone(), dt: dt, l: newBNLayout(s), n: float64(s.TotalSize() / s[1]),
		mean: st.Mean, vari: st.Var, batches: st.Batches,
		train: train, momentum: momentum, eps: eps,
		// The tensors' addresses tell apart two layers on the same input.
		desc: fmt.Sprintf("%v %s momentum=%g eps=%g state=%p,%p,%p", s, mode, momentum, eps, st.Mean, st.Var, st.Batches),
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
			stats := g.Apply(*p.kernels(&Def{
				Name: "BatchNormGradStats{" + p.desc + "}",
				In:   []tensor.Shape{p.shape, p.shape},
				Out:  tensor.Shape{4, c},
			}, bnGradStats), g.Input(0), g.OutputGrad())
			g.Set(0, g.Apply(*p.kernels(&Def{
				Name: "BatchNormInputGrad{" + p.desc + "}",
				In:   []tensor.Shape{p.shape, p.shape, vec, {4, c}},
				Out:  p.shape,
			}, bnInputGrad), g.Input(0), g.OutputGrad(), g.Input(1), stats))
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

// reduction passes of bnKernel.reduce
const (
	passSum   = iota // p1 = Σx
	passSqDev        // p1 = Σ(x − μ)²
	passGrad         // p1 = Σdy, p2 = Σdy·(x − μ)
)

// bnKernel is the kernel of one BatchNorm op, with its scratch space: the
// loop bodies are made once, so a call allocates nothing once warm.
type bnKernel[T Float] struct {
	p *bnParams

	// Set for the duration of a call.
	x, dy, y []T
	pass     int

	p1, p2        []float64 // partial sums, (na, c)
	mean, invstd  []float64 // per channel
	k1, k2, k3, b []float64 // per channel: the coefficients of the elementwise pass

	reduceBody, normBody, dxBody func(chunk, lo, hi int)
}

func newBNKernel[T Float](p *bnParams, step bnStep) func([]T, [][]T) {
	k := &bnKernel[T]{p: p}
	k.reduceBody, k.normBody, k.dxBody = k.reduce, k.normalize, k.inputGradRows
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
	k.p1, k.p2 = make([]float64, l.na*l.c), make([]float64, l.na*l.c)
	k.mean, k.invstd = make([]float64, l.c), make([]float64, l.c)
	k.k1, k.k2, k.k3, k.b = make([]float64, l.c), make([]float64, l.c), make([]float64, l.c), make([]float64, l.c)
}

// run runs one reduction pass over x (and dy) and adds up each channel's
// partial sums in order into s1 (and s2).
func (k *bnKernel[T]) run(pass int, s1, s2 []float64) {
	l := k.p.l
	k.pass = pass
	parallelFor(l.na*l.nc, 1, k.reduceBody)
	for c := 0; c < l.c; c++ {
		var a, b float64
		for ka := 0; ka < l.na; ka++ {
			a += k.p1[ka*l.c+c]
			b += k.p2[ka*l.c+c]
		}
		s1[c] = a
		if s2 != nil {
			s2[c] = b
		}
	}
}

// reduce computes the partial sums of units [lo, hi): each a-block's rows
// in order, each row in order (see normSum).
func (k *bnKernel[T]) reduce(_, lo, hi int) {
	l := k.p.l
	for u := lo; u < hi; u++ {
		ka, kc := u/l.nc, u%l.nc
		a0, a1 := ka*l.ab, min(l.a, (ka+1)*l.ab)
		c0, c1 := kc*l.cb, min(l.c, (kc+1)*l.cb)
		p1, p2 := k.p1[ka*l.c:(ka+1)*l.c], k.p2[ka*l.c:(ka+1)*l.c]
		for c := c0; c < c1; c++ {
			p1[c], p2[c] = 0, 0
		}
		for a := a0; a < a1; a++ {
			for c := c0; c < c1; c++ {
				off := (a*l.c + c) * l.in
				x := k.x[off : off+l.in]
				switch k.pass {
				case passSum:
					p1[c] += normSum(x)
				case passSqDev:
					p1[c] += normSqDev(x, k.mean[c])
				case passGrad:
					s, d := normDotDev(k.dy[off:off+l.in], x, k.mean[c])
					p1[c] += s
					p2[c] += d
				}
			}
		}
	}
}

// stats sets mean and invstd from x: the batch statistics in train mode,
// the running ones in eval mode. It returns the biased batch variances (in
// k.k3) in train mode.
func (k *bnKernel[T]) stats(x []T) {
	p := k.p
	if !p.train {
		rm, rv := normData[T](p.mean), normData[T](p.vari)
		for c := range k.mean {
			k.mean[c] = float64(rm[c])
			k.invstd[c] = 1 / math.Sqrt(float64(rv[c])+p.eps)
		}
		return
	}
	k.x = x
	k.run(passSum, k.mean, nil)
	for c := range k.mean {
		k.mean[c] /= p.n
	}
	k.run(passSqDev, k.k3, nil)
	for c, s := range k.k3 {
		v := s / p.n
		k.k3[c] = v
		k.invstd[c] = 1 / math.Sqrt(v+p.eps)
	}
	k.x = nil
}

// forward sets y = (x − μ)·γ/√(σ² + ε) + β and, in train mode, updates the
// running statistics.
func (k *bnKernel[T]) forward(y []T, in [][]T) {
	k.scratch()
	p, l := k.p, k.p.l
	x, gamma, beta := in[0], in[1], in[2]
	k.stats(x)
	for c := range k.k1 {
		k.k1[c] = float64(gamma[c]) * k.invstd[c]
		k.b[c] = float64(beta[c])
	}
	k.x, k.y = x, y
	parallelFor(l.a*l.c, max(1, ewGrain/l.in), k.normBody)
	k.x, k.y = nil, nil
	if p.train {
		rm, rv, nb := normData[T](p.mean), normData[T](p.vari), normData[T](p.batches)
		m, unbias := p.momentum, p.n/(p.n-1)
		for c := range rm {
			rm[c] = T((1-m)*float64(rm[c]) + m*k.mean[c])
			rv[c] = T((1-m)*float64(rv[c]) + m*k.k3[c]*unbias)
		}
		nb[0]++
	}
}

// normalize writes rows [lo, hi) of y, a row being one (n, c) plane.
func (k *bnKernel[T]) normalize(_, lo, hi int) {
	l := k.p.l
	for r := lo; r < hi; r++ {
		c := r % l.c
		m, sc, b := k.mean[c], k.k1[c], k.b[c]
		x, y := k.x[r*l.in:(r+1)*l.in], k.y[r*l.in:(r+1)*l.in]
		for i, v := range x {
			y[i] = T((float64(v)-m)*sc + b)
		}
	}
}

// gradStats writes the (4, C) statistics of the gradient: μ, 1/√(σ² + ε),
// Σdy and Σdy·x̂ per channel, recomputing the batch statistics from x in
// train mode exactly as the forward pass did.
func (k *bnKernel[T]) gradStats(out []T, in [][]T) {
	k.scratch()
	c := k.p.l.c
	x, dy := in[0], in[1]
	k.stats(x)
	k.x, k.dy = x, dy
	k.run(passGrad, k.k1, k.k2)
	k.x, k.dy = nil, nil
	for j := 0; j < c; j++ {
		out[j] = T(k.mean[j])
		out[c+j] = T(k.invstd[j])
		out[2*c+j] = T(k.k1[j])
		out[3*c+j] = T(k.k2[j] * k.invstd[j])
	}
}

// inputGrad writes ∂L/∂x from x, dy, γ and the statistics.
func (k *bnKernel[T]) inputGrad(dx []T, in [][]T) {
	k.scratch()
	p, l := k.p, k.p.l
	x, dy, gamma, st := in[0], in[1], in[2], in[3]
	c := l.c
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
	parallelFor(l.a*l.c, max(1, ewGrain/l.in), k.dxBody)
	k.x, k.dy, k.y = nil, nil, nil
}

// inputGradRows writes rows [lo, hi) of ∂L/∂x (into k.y):
// γ·invstd·(dy − Σdy/n − (x − μ)·invstd·Σ(dy·x̂)/n) in train mode,
// γ·invstd·dy in eval mode.
func (k *bnKernel[T]) inputGradRows(_, lo, hi int) {
	l := k.p.l
	for r := lo; r < hi; r++ {
		c := r % l.c
		x, dy, dx := k.x[r*l.in:(r+1)*l.in], k.dy[r*l.in:(r+1)*l.in], k.y[r*l.in:(r+1)*l.in]
		k1 := k.k1[c]
		if !k.p.train {
			for i, v := range dy {
				dx[i] = T(float64(v) * k1)
			}
			continue
		}
		m, k2, k3 := k.mean[c], k.k2[c], k.k3[c]
		for i, v := range dy {
			dx[i] = T(k1 * (float64(v) - k2 - (float64(x[i])-m)*k3))
		}
	}
}

// normSum returns Σx in float64, with four accumulators.
func normSum[T Float](x []T) float64 {
	var a, b, c, d float64
	for len(x) >= 4 {
		a += float64(x[0])
		b += float64(x[1])
		c += float64(x[2])
		d += float64(x[3])
		x = x[4:]
	}
	for _, v := range x {
		a += float64(v)
	}
	return (a + b) + (c + d)
}

// normSqDev returns Σ(x − m)² in float64.
func normSqDev[T Float](x []T, m float64) float64 {
	var a, b, c, d float64
	for len(x) >= 4 {
		e, f, g, h := float64(x[0])-m, float64(x[1])-m, float64(x[2])-m, float64(x[3])-m
		a += e * e
		b += f * f
		c += g * g
		d += h * h
		x = x[4:]
	}
	for _, v := range x {
		e := float64(v) - m
		a += e * e
	}
	return (a + b) + (c + d)
}

// normDotDev returns Σdy and Σdy·(x − m) in float64.
func normDotDev[T Float](dy, x []T, m float64) (float64, float64) {
	x = x[:len(dy)]
	var s0, s1, d0, d1 float64
	i := 0
	for ; i+2 <= len(dy); i += 2 {
		g0, g1 := float64(dy[i]), float64(dy[i+1])
		s0 += g0
		s1 += g1
		d0 += g0 * (float64(x[i]) - m)
		d1 += g1 * (float64(x[i+1]) - m)
	}
	for ; i < len(dy); i++ {
		g := float64(dy[i])
		s0 += g
		d0 += g * (float64(x[i]) - m)
	}
	return s0 + s1, d0 + d1
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
// independent: each is reduced in order by one goroutine. The parameter
// gradients sum over the rows for each column, a column at a time in
// order, with the columns split across the goroutines.
type lnKernel[T Float] struct {
	n, d int
	eps  float64

	x, dy, y, gamma, beta, stats []T
	acc                          []float64 // per column

	rowBody, colBody func(chunk, lo, hi int)
	step             lnStep
}

func newLNKernel[T Float](s tensor.Shape, eps float64, step lnStep) func([]T, [][]T) {
	k := &lnKernel[T]{n: s[0], d: s.TotalSize() / s[0], eps: eps, step: step}
	k.rowBody, k.colBody = k.rows, k.cols
	return k.call
}

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
		parallelFor(k.n, max(1, ewGrain/k.d), k.rowBody)
	default:
		if k.acc == nil {
			k.acc = make([]float64, k.d)
		}
		cb := k.colBlock()
		parallelFor((k.d+cb-1)/cb, 1, k.colBody)
	}
	k.x, k.dy, k.y, k.gamma, k.beta, k.stats = nil, nil, nil, nil, nil, nil
}

// rowStats returns the mean and 1/√(σ² + ε) of a row.
func (k *lnKernel[T]) rowStats(x []T) (m, inv float64) {
	d := float64(len(x))
	m = normSum(x) / d
	return m, 1 / math.Sqrt(normSqDev(x, m)/d+k.eps)
}

func (k *lnKernel[T]) rows(_, lo, hi int) {
	d := k.d
	for r := lo; r < hi; r++ {
		x := k.x[r*d : (r+1)*d]
		switch k.step {
		case lnForward:
			m, inv := k.rowStats(x)
			y, gamma, beta := k.y[r*d:(r+1)*d], k.gamma[:d], k.beta[:d]
			for i, v := range x {
				y[i] = T((float64(v)-m)*inv*float64(gamma[i]) + float64(beta[i]))
			}
		case lnStats:
			m, inv := k.rowStats(x)
			k.stats[2*r], k.stats[2*r+1] = T(m), T(inv)
		case lnInputGrad:
			m, inv := float64(k.stats[2*r]), float64(k.stats[2*r+1])
			dy, dx, gamma := k.dy[r*d:(r+1)*d], k.y[r*d:(r+1)*d], k.gamma[:d]
			var sg, sgx float64
			for i, v := range x {
				g := float64(dy[i]) * float64(gamma[i])
				sg += g
				sgx += g * (float64(v) - m)
			}
			c1, c2 := sg/float64(d), sgx*inv/float64(d)
			for i, v := range x {
				g := float64(dy[i]) * float64(gamma[i])
				dx[i] = T(inv * (g - c1 - (float64(v)-m)*inv*c2))
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
			for j, g := range dy {
				acc[j] += float64(g)
			}
			continue
		}
		m, inv := float64(k.stats[2*r]), float64(k.stats[2*r+1])
		x := k.x[r*d+j0 : r*d+j1]
		for j, g := range dy {
			acc[j] += float64(g) * ((float64(x[j]) - m) * inv)
		}
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
