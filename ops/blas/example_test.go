package blas_test

import (
	"fmt"

	"github.com/retina-ml/retina/ops/blas"
)

// A dense layer's forward pass, Y = X·Wᵀ, with W stored as out×in, and the
// weight gradient dW = dYᵀ·X.
func Example() {
	const batch, in, out = 2, 3, 2
	x := []float32{ // batch×in
		1, 2, 3,
		4, 5, 6,
	}
	w := []float32{ // out×in
		1, 0, -1,
		0.5, 0.5, 0.5,
	}
	y := make([]float32, batch*out)
	blas.Sgemm(false, true, batch, out, in, 1, x, in, w, in, 0, y, out)
	fmt.Println("Y  =", y)

	dy := []float32{ // batch×out
		1, 0,
		0, 1,
	}
	dw := make([]float32, out*in)
	blas.Sgemm(true, false, out, in, batch, 1, dy, out, x, in, 0, dw, in)
	fmt.Println("dW =", dw)
	// Output:
	// Y  = [-2 3 -2 7.5]
	// dW = [1 2 3 4 5 6]
}
