package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAdd checks Add and AddConst against Go's + bit for bit, for float32
// and float64:
// every length up to 200 (whole blocks, single vectors and masked tails),
// unaligned starts, dst apart from and equal to a or b, with infinities,
// NaNs and signed zeros among the values, and nothing written past the
// end.
func TestAdd(t *testing.T) {
	testAdd[float32](t)
	testAdd[float64](t)
}

func testAdd[T float32 | float64](t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	special := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), 1e-40, -3}
	value := func() T {
		if rng.IntN(6) == 0 {
			return T(special[rng.IntN(len(special))])
		}
		return T(rng.NormFloat64())
	}
	same := func(x, y T) bool {
		if v, ok := any(x).(float32); ok {
			return math.Float32bits(v) == math.Float32bits(any(y).(float32))
		}
		return math.Float64bits(any(x).(float64)) == math.Float64bits(any(y).(float64))
	}
	const guard = 9
	for n := 0; n <= 200; n++ {
		for _, off := range []int{0, 3} {
			a, b := make([]T, off+n+guard), make([]T, off+n+guard)
			for i := range a {
				a[i], b[i] = value(), value()
			}
			want := make([]T, n)
			for i := range want {
				want[i] = a[off+i] + b[off+i]
			}
			c := value()
			wantC := make([]T, n)
			for i := range wantC {
				wantC[i] = a[off+i] + c
			}
			x := append([]T(nil), a...)
			past := append([]T(nil), x[off+n:]...)
			AddConst(x[off:off+n], c)
			for i, v := range wantC {
				if !same(x[off+i], v) {
					t.Fatalf("%T n=%d offset %d: AddConst element %d is %v, want %v", v, n, off, i, x[off+i], v)
				}
			}
			for i, v := range x[off+n:] {
				if !same(v, past[i]) {
					t.Fatalf("%T n=%d offset %d: AddConst wrote element %d past the end", v, n, off, n+i)
				}
			}
			for _, into := range []string{"new", "a", "b"} {
				dst := make([]T, off+n+guard)
				for i := range dst {
					dst[i] = 7
				}
				x, y := append([]T(nil), a...), append([]T(nil), b...)
				switch into {
				case "a":
					dst = x
				case "b":
					dst = y
				}
				past := append([]T(nil), dst[off+n:]...)
				Add(dst[off:off+n], x[off:], y[off:])
				for i, v := range want {
					if !same(dst[off+i], v) {
						t.Fatalf("%T n=%d offset %d into %s: element %d is %v, want %v", v, n, off, into, i, dst[off+i], v)
					}
				}
				for i, v := range dst[off+n:] {
					if !same(v, past[i]) {
						t.Fatalf("%T n=%d offset %d into %s: wrote element %d past the end", v, n, off, into, n+i)
					}
				}
			}
		}
	}
}

func BenchmarkAdd(b *testing.B) {
	x := make([]float32, 64*16*28*28)
	y := make([]float32, len(x))
	b.SetBytes(int64(12 * len(x)))
	for b.Loop() {
		Add(x, x, y)
	}
}
