package ops

import (
	"fmt"
	"hash/fnv"
	"io"

	"github.com/chewxy/hm"
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Float is the set of element types every op supports.
type Float interface{ float32 | float64 }

// dense returns v as a contiguous *tensor.Dense.
func dense(v G.Value, what string) (*tensor.Dense, error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, errors.Errorf("%s: expected a *tensor.Dense, got %T", what, v)
	}
	if d.RequiresIterator() {
		// A non-contiguous view (e.g. a transpose): materialise it. Rare; allocates.
		m := d.Materialize()
		md, ok := m.(*tensor.Dense)
		if !ok {
			return nil, errors.Errorf("%s: cannot materialise %T", what, m)
		}
		return md, nil
	}
	return d, nil
}

// checkShape returns an error unless d has exactly the shape want.
func checkShape(d *tensor.Dense, want tensor.Shape, what string) error {
	if !d.Shape().Eq(want) {
		return errors.Errorf("%s: shape %v, want %v", what, d.Shape(), want)
	}
	return nil
}

// outBuf is an op-owned output tensor, reused while shape and dtype match.
type outBuf struct{ t *tensor.Dense }

// get returns a tensor of the given dtype and shape, reusing the previous one
// when possible. Its contents are stale; callers overwrite or zero them.
func (b *outBuf) get(dt tensor.Dtype, shape tensor.Shape) *tensor.Dense {
	if b.t == nil || b.t.Dtype() != dt || !b.t.Shape().Eq(shape) {
		b.t = tensor.New(tensor.Of(dt), tensor.WithShape(shape.Clone()...))
	}
	return b.t
}

// prealloc validates a preallocated value for UsePreallocDo.
func prealloc(p G.Value, dt tensor.Dtype, shape tensor.Shape, what string) (*tensor.Dense, error) {
	d, ok := p.(*tensor.Dense)
	if !ok || d.RequiresIterator() {
		return nil, errors.Errorf("%s: preallocated value is %T, want a contiguous *tensor.Dense", what, p)
	}
	if d.Dtype() != dt || !d.Shape().Eq(shape) {
		return nil, errors.Errorf("%s: preallocated value is %v %v, want %v %v", what, d.Dtype(), d.Shape(), dt, shape)
	}
	return d, nil
}

// scalarBuf is an op-owned scalar output.
type scalarBuf struct {
	f32 G.F32
	f64 G.F64
}

func (b *scalarBuf) set(dt tensor.Dtype, v float64) (G.Value, error) {
	switch dt {
	case tensor.Float32:
		b.f32 = G.F32(v)
		return &b.f32, nil
	case tensor.Float64:
		b.f64 = G.F64(v)
		return &b.f64, nil
	}
	return nil, errors.Errorf("unsupported dtype %v", dt)
}

// tensorType is the Gorgonia type of a tensor of the given rank with element type a.
func tensorType(dims int, a hm.TypeVariable) hm.Type {
	return G.TensorType{Dims: dims, Of: a}
}

// hashString hashes an op's String form, which lists all its parameters.
func hashString(s fmt.Stringer) uint32 {
	h := fnv.New32a()
	io.WriteString(h, s.String())
	return h.Sum32()
}

// dtypeOf returns the element type shared by the values, or an error.
func dtypeOf(what string, vs ...*tensor.Dense) (tensor.Dtype, error) {
	dt := vs[0].Dtype()
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return dt, errors.Errorf("%s: unsupported dtype %v (want float32 or float64)", what, dt)
	}
	for _, v := range vs[1:] {
		if v.Dtype() != dt {
			return dt, errors.Errorf("%s: mixed dtypes %v and %v", what, dt, v.Dtype())
		}
	}
	return dt, nil
}

// addTo adds src into the gradient value dst (dst += src); both contiguous, same dtype and size.
func addTo(dst G.Value, src *tensor.Dense, what string) error {
	d, err := dense(dst, what)
	if err != nil {
		return err
	}
	if d.Size() != src.Size() || d.Dtype() != src.Dtype() {
		return errors.Errorf("%s: gradient is %v %v, update is %v %v", what, d.Dtype(), d.Shape(), src.Dtype(), src.Shape())
	}
	switch a := d.Data().(type) {
	case []float32:
		for i, v := range src.Float32s() {
			a[i] += v
		}
	case []float64:
		for i, v := range src.Float64s() {
			a[i] += v
		}
	default:
		return errors.Errorf("%s: unsupported gradient dtype %v", what, d.Dtype())
	}
	return nil
}
