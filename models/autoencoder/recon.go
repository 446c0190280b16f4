package autoencoder

import "github.com/pkg/errors"

// ReconError is the reconstruction error of Hinton & Salakhutdinov: the
// squared error Σ (out − target)² summed over each sample's size values,
// averaged over the len(target)/size samples. out and target hold the
// samples back to back and must have the same length, a multiple of size.
// It accumulates in float64.
func ReconError(out, target []float32, size int) (float64, error) {
	if size < 1 || len(out) != len(target) || len(target)%size != 0 || len(target) == 0 {
		return 0, errors.Errorf("autoencoder: recon error: %d outputs and %d targets in samples of %d", len(out), len(target), size)
	}
	var s float64
	for i, v := range out {
		d := float64(v) - float64(target[i])
		s += d * d
	}
	return s / float64(len(target)/size), nil
}
