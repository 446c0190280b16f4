package graph

import (
	"math"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/ops"
)

// BatchNorm normalises each channel of (C, H, W) images, each feature of
// (F) vectors, or generally each C of (C, …) samples, over the batch (Ioffe
// & Szegedy 2015), as PyTorch's BatchNorm2d and BatchNorm1d: y = γ·(x − μ)/√(σ² + ε) + β. In training, μ
// and σ² are the batch's mean and biased variance over N (and H, W), and the
// running statistics move towards them: mean ← (1 − m)·mean + m·μ, var ←
// (1 − m)·var + m·σ²·n/(n − 1). In evaluation, μ and σ² are the running
// statistics. The output has the input's shape.
//
// Parameters: gamma (C), starting at 1, and beta (C), at 0. State (see
// ParamSpec.State; saved in checkpoints, never trained): running_mean (C)
// from 0, running_var (C) from 1 and num_batches_tracked (1) from 0, the
// names of PyTorch's buffers. An activation layer right after it is fused
// into the same op.
type BatchNorm struct {
	Name     string
	Momentum float64 // m, in [0, 1]; 0 means PyTorch's default 0.1
	Eps      float64 // ε > 0; 0 means 1e-5
}

func (BatchNorm) Kind() string { return "batchnorm" }

func (l BatchNorm) settings() (momentum, eps float64, err error) {
	momentum, eps = l.Momentum, l.Eps
	if momentum == 0 {
		momentum = 0.1
	}
	if eps == 0 {
		eps = 1e-5
	}
	if !(momentum >= 0 && momentum <= 1) {
		return 0, 0, errors.Errorf("Momentum = %v, want 0 ≤ momentum ≤ 1", l.Momentum)
	}
	if !(eps > 0) || math.IsInf(eps, 1) {
		return 0, 0, errors.Errorf("Eps = %v, want a finite ε > 0", l.Eps)
	}
	return momentum, eps, nil
}

func (l BatchNorm) Declare(ins []Shape) (Shape, []ParamSpec, error) {
	in, err := one(ins)
	if err != nil {
		return nil, nil, err
	}
	if len(in) == 0 {
		return nil, nil, errors.New("normalises channels of (C, …) samples, given scalars")
	}
	if _, _, err := l.settings(); err != nil {
		return nil, nil, err
	}
	c := Shape{in[0]}
	return in.Clone(), []ParamSpec{
		{Name: "gamma", Shape: c, Init: Ones},
		{Name: "beta", Shape: c, Bias: true},
		{Name: "running_mean", Shape: c, Init: Zeros, State: true},
		{Name: "running_var", Shape: c, Init: Ones, State: true},
		{Name: "num_batches_tracked", Shape: Shape{1}, Init: Zeros, State: true},
	}, nil
}

func (l BatchNorm) Build(ctx *Context, in []*G.Node, ps []*G.Node) (*G.Node, error) {
	return l.buildAct(ctx, in, ps, ops.Linear)
}

func (l BatchNorm) buildAct(ctx *Context, in []*G.Node, ps []*G.Node, f ops.Activation) (*G.Node, error) {
	momentum, eps, err := l.settings()
	if err != nil {
		return nil, err
	}
	st := &ops.BatchNormState{}
	for i, dst := range []**tensor.Dense{&st.Mean, &st.Var, &st.Batches} {
		t, ok := ps[2+i].Value().(*tensor.Dense)
		if !ok {
			return nil, errors.Errorf("state %s is %T, not a bound tensor", ps[2+i].Name(), ps[2+i].Value())
		}
		*dst = t
	}
	return ops.BatchNormAct(in[0], ps[0], ps[1], st, ctx.Mode == Train, momentum, eps, f)
}

// LayerNorm normalises each sample over all its values (Ba, Kiros & Hinton
// 2016), as PyTorch's LayerNorm over the per-sample shape: y = γ·(x −
// μ)/√(σ² + ε) + β with μ and σ² the sample's mean and biased variance, the
// same in training and evaluation. The output has the input's shape.
//
// Parameters: gamma and beta, of the per-sample shape, starting at 1 and 0.
type LayerNorm struct {
	Name string
	Eps  float64 // ε > 0; 0 means 1e-5
}

func (LayerNorm) Kind() string { return "layernorm" }

func (l LayerNorm) eps() (float64, error) {
	if l.Eps == 0 {
		return 1e-5, nil
	}
	if !(l.Eps > 0) || math.IsInf(l.Eps, 1) {
		return 0, errors.Errorf("Eps = %v, want a finite ε > 0", l.Eps)
	}
	return l.Eps, nil
}

func (l LayerNorm) Declare(ins []Shape) (Shape, []ParamSpec, error) {
	in, err := one(ins)
	if err != nil {
		return nil, nil, err
	}
	if _, err := l.eps(); err != nil {
		return nil, nil, err
	}
	return in.Clone(), []ParamSpec{
		{Name: "gamma", Shape: in.Clone(), Init: Ones},
		{Name: "beta", Shape: in.Clone(), Bias: true},
	}, nil
}

func (l LayerNorm) Build(_ *Context, in []*G.Node, ps []*G.Node) (*G.Node, error) {
	eps, err := l.eps()
	if err != nil {
		return nil, err
	}
	return ops.LayerNorm(in[0], ps[0], ps[1], eps)
}

func (l BatchNorm) LayerName() string { return l.Name }
func (l LayerNorm) LayerName() string { return l.Name }
