// Package vec holds elementwise kernels shared by the ops and the graph
// runner, in AVX-512 where the CPU has it.
package vec

// Add sets dst[i] = a[i] + b[i] for i < len(dst); a and b must be at least
// as long. dst may be a or b. The sums are rounded as Go's + rounds them:
// the result is the same, bit for bit, with or without the assembly.
func Add[T float32 | float64](dst, a, b []T) {
	n := len(dst)
	if n == 0 {
		return
	}
	a, b = a[:n], b[:n]
	switch d := any(dst).(type) {
	case []float32:
		if haveAsm {
			addF32(&d[0], &any(a).([]float32)[0], &any(b).([]float32)[0], n)
			return
		}
	case []float64:
		if haveAsm {
			addF64(&d[0], &any(a).([]float64)[0], &any(b).([]float64)[0], n)
			return
		}
	}
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

// AddConst adds b to every element of dst, rounding as Go's + does.
func AddConst[T float32 | float64](dst []T, b T) {
	n := len(dst)
	if n == 0 {
		return
	}
	switch d := any(dst).(type) {
	case []float32:
		if haveAsm {
			addConstF32(&d[0], any(b).(float32), n)
			return
		}
	case []float64:
		if haveAsm {
			addConstF64(&d[0], any(b).(float64), n)
			return
		}
	}
	for i := range dst {
		dst[i] += b
	}
}
