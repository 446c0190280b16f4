package opcheck_test

import (
	"fmt"
	"hash"
	"io"
	"strings"
	"testing"

	"github.com/chewxy/hm"
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/ops/opcheck"
)

// squareOp is y = x² elementwise, with knobs that plant the bugs the
// checker must find.
type squareOp struct {
	symFactor  float64      // SymDiff's derivative is symFactor·x (correct: 2)
	doFactor   float64      // DoDiff's derivative is doFactor·x (correct: 2)
	shapeLie   tensor.Shape // InferShape's answer, if set
	name       string
	mutates    bool // Do writes into its input
	ignorePrea bool // UsePreallocDo returns stale data
}

var (
	_ G.SDOp            = squareOp{}
	_ G.ADOp            = squareOp{}
	_ G.UsePreallocDoer = squareOp{}
)

func (op squareOp) Arity() int { return 1 }
func (op squareOp) Type() hm.Type {
	t := G.TensorType{Dims: 1, Of: hm.TypeVariable('a')}
	return hm.NewFnType(t, t)
}
func (op squareOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if op.shapeLie != nil {
		return op.shapeLie, nil
	}
	return in[0].(tensor.Shape).Clone(), nil
}
func (op squareOp) ReturnsPtr() bool      { return false }
func (op squareOp) CallsExtern() bool     { return false }
func (op squareOp) OverwritesInput() int  { return -1 }
func (op squareOp) WriteHash(h hash.Hash) { io.WriteString(h, op.String()) }
func (op squareOp) Hashcode() uint32 {
	if op.name == "collide" {
		return 42
	}
	return uint32(len(op.String())) // distinct for the names used here
}
func (op squareOp) String() string { return "Square" + op.name }

func (op squareOp) Do(vs ...G.Value) (G.Value, error) {
	x := vs[0].(*tensor.Dense)
	y := tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(x.Shape().Clone()...))
	for i, v := range x.Float64s() {
		y.Float64s()[i] = v * v
		if op.mutates {
			x.Float64s()[i] = v + 1
		}
	}
	return y, nil
}

func (op squareOp) UsePreallocDo(p G.Value, vs ...G.Value) (G.Value, error) {
	if op.ignorePrea {
		return p, nil
	}
	y, err := op.Do(vs...)
	if err != nil {
		return nil, err
	}
	copy(p.(*tensor.Dense).Float64s(), y.(*tensor.Dense).Float64s())
	return p, nil
}

func (op squareOp) DiffWRT(int) []bool { return []bool{true} }

func (op squareOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	d, err := G.Mul(in[0], G.NewConstant(op.symFactor))
	if err != nil {
		return nil, err
	}
	dx, err := G.HadamardProd(d, grad)
	return G.Nodes{dx}, err
}

func (op squareOp) DoDiff(_ G.ExecutionContext, in G.Nodes, out *G.Node) error {
	dy, err := out.Grad()
	if err != nil {
		return err
	}
	dx, err := in[0].Grad()
	if err != nil {
		return errors.Wrap(err, "DoDiff")
	}
	x := in[0].Value().(*tensor.Dense).Float64s()
	for i, g := range dy.(*tensor.Dense).Float64s() {
		dx.(*tensor.Dense).Float64s()[i] += op.doFactor * x[i] * g
	}
	return nil
}

func input() *tensor.Dense {
	return tensor.New(tensor.WithBacking([]float64{0.5, -1.25, 2, 0.75, -0.3}), tensor.WithShape(5))
}

func TestCheckGradientsAcceptsAndRejects(t *testing.T) {
	for _, tc := range []struct {
		op      squareOp
		wantErr string
	}{
		{squareOp{symFactor: 2, doFactor: 2}, ""},
		{squareOp{symFactor: 2.01, doFactor: 2}, "gradients disagree"},
		{squareOp{symFactor: 2, doFactor: 1.99}, "gradients disagree"},
	} {
		t.Run(fmt.Sprintf("sym%v/do%v", tc.op.symFactor, tc.op.doFactor), func(t *testing.T) {
			res, err := opcheck.CheckGradients(func(in ...*G.Node) (*G.Node, error) {
				return G.ApplyOp(tc.op, in[0])
			}, []*tensor.Dense{input()}, opcheck.Options{})
			if tc.wantErr == "" {
				if err != nil || res.Max > 1e-6 {
					t.Fatalf("correct op rejected: %v (%v)", err, res)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("buggy op accepted: %v (%v)", err, res)
			}
		})
	}
}

func TestCheckOpFindsBugs(t *testing.T) {
	x := input()
	for _, tc := range []struct {
		name    string
		op      squareOp
		wantErr string
	}{
		{"correct", squareOp{symFactor: 2, doFactor: 2}, ""},
		{"shape", squareOp{shapeLie: tensor.Shape{4}}, "InferShape says (4)"},
		{"mutates", squareOp{mutates: true}, "modified input"},
		{"prealloc", squareOp{ignorePrea: true}, "UsePreallocDo differs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := opcheck.CheckOp(tc.op, x.Clone().(*tensor.Dense))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestCheckHashes(t *testing.T) {
	if err := opcheck.CheckHashes(squareOp{name: "a"}, squareOp{name: "bb"}); err != nil {
		t.Fatal(err)
	}
	if err := opcheck.CheckHashes(squareOp{name: "collide"}, squareOp{name: "collide"}); err == nil {
		t.Fatal("colliding hashes accepted")
	}
}
