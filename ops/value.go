package ops

import (
	"fmt"
	"hash/fnv"
	"io"
	"unsafe"

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

// addTo adds src into the gradient value dst (dst += src): tensors or
// Gorgonia scalars of one dtype and size.
func addTo(dst, src G.Value, what string) error {
	d32, d64, err := floats(dst, what)
	if err != nil {
		return err
	}
	s32, s64, err := floats(src, what)
	if err != nil {
		return err
	}
	if len(d32) != len(s32) || len(d64) != len(s64) {
		return errors.Errorf("%s: gradient is %v %v, update is %v %v", what, dst.Dtype(), dst.Shape(), src.Dtype(), src.Shape())
	}
	for i, v := range s32 {
		d32[i] += v
	}
	for i, v := range s64 {
		d64[i] += v
	}
	return nil
}

// floats returns the data of a float32 or float64 value (one of the two
// slices), scalars as one-element slices of the value itself.
func floats(v G.Value, what string) ([]float32, []float64, error) {
	switch s := v.(type) {
	case *G.F32:
		return unsafe.Slice((*float32)(s), 1), nil, nil
	case *G.F64:
		return nil, unsafe.Slice((*float64)(s), 1), nil
	}
	d, err := dense(v, what)
	if err != nil {
		return nil, nil, err
	}
	switch d.Dtype() {
	case tensor.Float32:
		return d.Float32s(), nil, nil
	case tensor.Float64:
		return nil, d.Float64s(), nil
	}
	return nil, nil, errors.Errorf("%s: unsupported dtype %v (want float32 or float64)", what, d.Dtype())
}
