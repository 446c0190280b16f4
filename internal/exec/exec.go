// Package exec runs a Gorgonia expression graph op after op, in place of
// Gorgonia's TapeMachine, which allocates at every run (a goroutine, two
// channels and an argument slice per instruction). A Plan computes the same
// values with the same ops, bit for bit: it sorts the nodes the roots
// depend on, children first, and calls each op with argument slices made
// once. Retina's ops return buffers they own; any other op that can write
// into a given value (gorgonia.UsePreallocDoer) writes into its previous
// result from the second run on, and the additions gorgonia.Grad inserts
// where gradients meet are computed by the Plan itself, in place. A Plan
// of Retina's ops thus allocates nothing once warm.
package exec

import (
	"reflect"
	"strings"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/internal/par"
	"github.com/retina-ml/retina/internal/vec"
)

// A Plan runs the nodes some roots of a graph depend on. It is not safe for
// concurrent use.
type Plan struct {
	vals  []G.Value // the value of each node: bound tensors for leaves, op results for the others
	steps []step
	slot  map[*G.Node]int
	sum32 sumLoop[float32] // the additions' loops
	sum64 sumLoop[float64]
}

type step struct {
	op   G.Op
	add  bool      // Gorgonia's elementwise addition: computed here, in place
	args []int     // indices into vals
	argv []G.Value // the arguments, reused
	out  int       // index into vals
	name string    // the node's layer path or op, for errors
}

// Compile orders the nodes that roots depend on in g, children first, into
// a Plan. names gives the layer path of some nodes, for errors. A node
// without children and with a value (an input, a parameter, a constant) is
// read, not computed: its value must be bound (gorgonia.Let, or made with
// one) before Compile, and may be changed in place between runs.
func Compile(g *G.ExprGraph, roots G.Nodes, names map[*G.Node]string) (*Plan, error) {
	p := &Plan{slot: map[*G.Node]int{}}
	// Iterative post-order depth-first search: a node is appended once all
	// its children are. The graph is acyclic by construction.
	type frame struct {
		n        *G.Node
		children []*G.Node
		next     int
	}
	childrenOf := func(n *G.Node) []*G.Node {
		var cs []*G.Node
		for it := g.From(n.ID()); it.Next(); {
			if c, ok := it.Node().(*G.Node); ok {
				cs = append(cs, c)
			}
		}
		return cs
	}
	for _, root := range roots {
		if _, done := p.slot[root]; done {
			continue
		}
		stack := []frame{{n: root, children: childrenOf(root)}}
		onStack := map[*G.Node]bool{root: true}
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.next < len(f.children) {
				c := f.children[f.next]
				f.next++
				if _, done := p.slot[c]; done {
					continue
				}
				if onStack[c] {
					return nil, errors.Errorf("the graph has a cycle through %v", c)
				}
				onStack[c] = true
				stack = append(stack, frame{n: c, children: childrenOf(c)})
				continue
			}
			n := f.n
			stack = stack[:len(stack)-1]
			delete(onStack, n)
			p.slot[n] = len(p.vals)
			if len(f.children) == 0 {
				if v := n.Value(); v != nil || n.Op() == nil {
					if v == nil {
						return nil, errors.Errorf("graph node %v has no value bound", n)
					}
					p.vals = append(p.vals, v)
					continue
				}
			}
			p.vals = append(p.vals, nil)
			name := names[n]
			if name == "" {
				name = n.Op().String()
			}
			st := step{op: n.Op(), out: p.slot[n], name: name, argv: make([]G.Value, len(f.children))}
			st.add = isGorgoniaAdd(st.op) && len(f.children) == 2
			for _, c := range f.children {
				st.args = append(st.args, p.slot[c])
			}
			p.steps = append(p.steps, st)
		}
	}
	return p, nil
}

// Run computes every step once, in order.
func (p *Plan) Run() error {
	for i := range p.steps {
		st := &p.steps[i]
		for k, a := range st.args {
			st.argv[k] = p.vals[a]
		}
		prev := p.vals[st.out]
		if st.add && p.addInto(prev, st.argv[0], st.argv[1]) {
			continue
		}
		var v G.Value
		var err error
		if pd, ok := st.op.(G.UsePreallocDoer); ok && prev != nil && !aliases(prev, st.argv) {
			v, err = pd.UsePreallocDo(prev, st.argv...)
		} else {
			v, err = st.op.Do(st.argv...)
		}
		if err != nil {
			return errors.Wrap(err, st.name)
		}
		p.vals[st.out] = v
	}
	return nil
}

// isGorgoniaAdd reports whether op is Gorgonia's elementwise addition, the
// op gorgonia.Grad adds where the gradients of a value's readers meet.
func isGorgoniaAdd(op G.Op) bool {
	return reflect.TypeOf(op).String() == "gorgonia.elemBinOp" && strings.HasPrefix(op.String(), "+ ")
}

// addInto sets dst = a + b elementwise when all three are tensors of one
// shape and dtype (float32 or float64), or scalars of one dtype, dst not
// sharing storage with a or b, and reports whether it did. Gorgonia's own
// addition computes the same bits, on one core, and allocates at every
// call.
func (p *Plan) addInto(dst, a, b G.Value) bool {
	switch d := dst.(type) {
	case *G.F32: // a scalar: a sum of losses
		x, ok1 := a.(*G.F32)
		y, ok2 := b.(*G.F32)
		if ok1 && ok2 && d != x && d != y {
			*d = *x + *y
		}
		return ok1 && ok2 && d != x && d != y
	case *G.F64:
		x, ok1 := a.(*G.F64)
		y, ok2 := b.(*G.F64)
		if ok1 && ok2 && d != x && d != y {
			*d = *x + *y
		}
		return ok1 && ok2 && d != x && d != y
	}
	d, ok1 := dst.(*tensor.Dense)
	x, ok2 := a.(*tensor.Dense)
	y, ok3 := b.(*tensor.Dense)
	if !ok1 || !ok2 || !ok3 || !d.Shape().Eq(x.Shape()) || !d.Shape().Eq(y.Shape()) ||
		d.Dtype() != x.Dtype() || d.Dtype() != y.Dtype() || aliases(d, []G.Value{x, y}) {
		return false
	}
	switch d.Dtype() { // not d.Data(), which allocates
	case tensor.Float32:
		p.sum32.run(d.Float32s(), x.Float32s(), y.Float32s())
	case tensor.Float64:
		p.sum64.run(d.Float64s(), x.Float64s(), y.Float64s())
	default:
		return false
	}
	return true
}

// sumLoop is the state of an addition's loop over the cores, its body
// bound once, so that an addition allocates nothing (see ops.loopPool).
type sumLoop[T float32 | float64] struct {
	o, x, y []T
	body    func(chunk, lo, hi int)
}

// run sets o = x + y on every core; the three have one length.
func (l *sumLoop[T]) run(o, x, y []T) {
	if l.body == nil {
		l.body = l.chunk
	}
	l.o, l.x, l.y = o, x[:len(o)], y[:len(o)]
	par.For(len(o), sumGrain, l.body)
	l.o, l.x, l.y = nil, nil, nil
}

func (l *sumLoop[T]) chunk(_, lo, hi int) {
	vec.Add(l.o[lo:hi], l.x[lo:hi], l.y[lo:hi])
}

// sumGrain is the fewest elements worth handing to another core.
const sumGrain = 1 << 14

// aliases reports whether v shares its storage with one of args: an op
// that returned an input (a view) must not be asked to overwrite it.
func aliases(v G.Value, args []G.Value) bool {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return false
	}
	for _, a := range args {
		if ad, ok := a.(*tensor.Dense); ok && ad.Uintptr() == d.Uintptr() {
			return true
		}
	}
	return false
}

// Value returns the value of node n after the last Run (for a leaf, its
// bound value), or nil if n is not in the plan or has not been computed.
func (p *Plan) Value(n *G.Node) G.Value {
	i, ok := p.slot[n]
	if !ok {
		return nil
	}
	return p.vals[i]
}

// Steps returns the number of ops a Run calls.
func (p *Plan) Steps() int { return len(p.steps) }
