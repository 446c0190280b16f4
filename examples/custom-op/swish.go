package main

// This file is the guide to extending Retina with your own op: a new
// activation, swish(x) = x·σ(x), with its own gradient op, written outside
// package ops exactly as a user would.
//
// An op needs gorgonia.Op (what it computes), gorgonia.SDOp (its gradient as
// further ops, for gorgonia.Grad and the TapeMachine) and gorgonia.ADOp (its
// gradient as values, for the LispMachine). swish_test.go checks all of it
// with opcheck, and a layer type (swishLayer) puts it in a model.

import (
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"math"

	"github.com/chewxy/hm"
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/graph"
)

// Swish returns swish(x) = x·σ(x) elementwise, for x of any shape.
func Swish(x *G.Node) (*G.Node, error) {
	return G.ApplyOp(swishOp{shape: x.Shape().Clone()}, x)
}

// swishOp is the forward op. Its fields are its parameters: the shape.
type swishOp struct{ shape tensor.Shape }

func (op swishOp) Arity() int { return 1 }

// Type: a tensor of any element type a and rank d maps to the same type.
func (op swishOp) Type() hm.Type {
	t := G.TensorType{Dims: len(op.shape), Of: hm.TypeVariable('a')}
	return hm.NewFnType(t, t)
}

func (op swishOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape.Clone(), nil }
func (op swishOp) ReturnsPtr() bool                               { return false }
func (op swishOp) CallsExtern() bool                              { return false }
func (op swishOp) OverwritesInput() int                           { return -1 }
func (op swishOp) String() string                                 { return fmt.Sprintf("Swish%v", op.shape) }
func (op swishOp) WriteHash(h hash.Hash)                          { io.WriteString(h, op.String()) }
func (op swishOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op swishOp) Do(vs ...G.Value) (G.Value, error) {
	x, err := oneTensor(vs, op)
	if err != nil {
		return nil, err
	}
	y := tensor.New(tensor.Of(x.Dtype()), tensor.WithShape(x.Shape().Clone()...))
	switch x.Dtype() {
	case tensor.Float32:
		for i, v := range x.Float32s() {
			y.Float32s()[i] = float32(swish(float64(v)))
		}
	case tensor.Float64:
		for i, v := range x.Float64s() {
			y.Float64s()[i] = swish(v)
		}
	default:
		return nil, errors.Errorf("%v: unsupported dtype %v", op, x.Dtype())
	}
	return y, nil
}

func swish(x float64) float64 { return x / (1 + math.Exp(-x)) }

// swish′(x) = σ(x)·(1 + x·(1 − σ(x))).
func swishPrime(x float64) float64 {
	s := 1 / (1 + math.Exp(-x))
	return s * (1 + x*(1-s))
}

// DiffWRT: the output depends differentiably on the single input.
func (op swishOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff returns ∂L/∂x as a node: the gradient op applied to x and ∂L/∂y.
func (op swishOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(swishGradOp(op), inputs[0], grad)
	if err != nil {
		return nil, errors.Wrap(err, "swish gradient")
	}
	return G.Nodes{dx}, nil
}

// DoDiff adds ∂L/∂x into the input's gradient, for the LispMachine.
func (op swishOp) DoDiff(_ G.ExecutionContext, inputs G.Nodes, output *G.Node) error {
	dy, err := output.Grad()
	if err != nil {
		return err
	}
	dx, err := swishGradOp(op).Do(inputs[0].Value(), dy)
	if err != nil {
		return err
	}
	acc, err := inputs[0].Grad()
	if err != nil {
		return err
	}
	switch a := acc.Data().(type) {
	case []float32:
		for i, v := range dx.Data().([]float32) {
			a[i] += v
		}
	case []float64:
		for i, v := range dx.Data().([]float64) {
			a[i] += v
		}
	}
	return nil
}

// swishGradOp computes dx = dy ⊙ swish′(x).
type swishGradOp struct{ shape tensor.Shape }

func (op swishGradOp) Arity() int { return 2 }
func (op swishGradOp) Type() hm.Type {
	t := G.TensorType{Dims: len(op.shape), Of: hm.TypeVariable('a')}
	return hm.NewFnType(t, t, t)
}
func (op swishGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape.Clone(), nil }
func (op swishGradOp) ReturnsPtr() bool                               { return false }
func (op swishGradOp) CallsExtern() bool                              { return false }
func (op swishGradOp) OverwritesInput() int                           { return -1 }
func (op swishGradOp) String() string                                 { return fmt.Sprintf("SwishGrad%v", op.shape) }
func (op swishGradOp) WriteHash(h hash.Hash)                          { io.WriteString(h, op.String()) }
func (op swishGradOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op swishGradOp) Do(vs ...G.Value) (G.Value, error) {
	if len(vs) != 2 {
		return nil, errors.Errorf("%v: %d inputs, want 2", op, len(vs))
	}
	x, ok1 := vs[0].(*tensor.Dense)
	dy, ok2 := vs[1].(*tensor.Dense)
	if !ok1 || !ok2 || !x.Shape().Eq(op.shape) || !dy.Shape().Eq(op.shape) || x.Dtype() != dy.Dtype() {
		return nil, errors.Errorf("%v: inputs %T %v, %T %v", op, vs[0], vs[0].Shape(), vs[1], vs[1].Shape())
	}
	dx := tensor.New(tensor.Of(x.Dtype()), tensor.WithShape(op.shape.Clone()...))
	switch x.Dtype() {
	case tensor.Float32:
		for i, v := range x.Float32s() {
			dx.Float32s()[i] = dy.Float32s()[i] * float32(swishPrime(float64(v)))
		}
	case tensor.Float64:
		for i, v := range x.Float64s() {
			dx.Float64s()[i] = dy.Float64s()[i] * swishPrime(v)
		}
	default:
		return nil, errors.Errorf("%v: unsupported dtype %v", op, x.Dtype())
	}
	return dx, nil
}

func oneTensor(vs []G.Value, op fmt.Stringer) (*tensor.Dense, error) {
	if len(vs) != 1 {
		return nil, errors.Errorf("%v: %d inputs, want 1", op, len(vs))
	}
	x, ok := vs[0].(*tensor.Dense)
	if !ok {
		return nil, errors.Errorf("%v: input is %T, want a tensor", op, vs[0])
	}
	return x, nil
}

// swishLayer makes the op a graph layer, so models can use it like
// graph.ReLU{}.
type swishLayer struct{}

func (swishLayer) Kind() string { return "swish" }
func (swishLayer) Declare(in graph.Shape) (graph.Shape, []graph.ParamSpec, error) {
	return in, nil, nil
}
func (swishLayer) Build(_ *graph.Context, x *G.Node, _ []*G.Node) (*G.Node, error) {
	return Swish(x)
}
