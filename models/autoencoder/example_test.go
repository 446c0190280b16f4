package autoencoder_test

import (
	"fmt"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/models/autoencoder"
)

// PCA of four points (±2, 0), (0, ±1) with one component: the direction of
// largest variance is the x axis, and the reconstruction error — squared
// error per sample — is the discarded eigenvalue.
func ExampleFitPCA() {
	pts := &datasets.Set{Shape: []int{2}, X: []float32{2, 0, -2, 0, 0, 1, 0, -1}}
	p, err := autoencoder.FitPCA(pts, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	e, err := p.ReconError(pts)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("eigenvalues %.2f, explained %.0f%%, reconstruction error %.2f\n",
		p.Eigenvalues, 100*p.ExplainedVariance(), e)
	// Output:
	// eigenvalues [2.00 0.50], explained 80%, reconstruction error 0.50
}

func ExampleHinton() {
	m, err := autoencoder.Hinton()
	if err != nil {
		fmt.Println(err)
		return
	}
	enc, err := autoencoder.Encoder(m)
	if err != nil {
		fmt.Println(err)
		return
	}
	s := m.Summary()
	fmt.Printf("%d weights, %d biases; code %v\n", s.Weights, s.Biases, enc.Outputs()[0])
	// Output:
	// 2833000 weights, 4314 biases; code (30)
}
