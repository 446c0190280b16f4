package autoencoder

import (
	"math"

	"github.com/pkg/errors"
	"gonum.org/v1/gonum/mat"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
)

// PCA is the principal component analysis of a set of n-dimensional
// samples, computed in float64: the mean-centred samples are projected onto
// the k directions of largest variance.
type PCA struct {
	// Mean is the training samples' mean, (n).
	Mean []float64
	// Components holds the top-k principal directions as orthonormal
	// columns, (n, k), in order of decreasing variance. The sign of each
	// column is arbitrary.
	Components *mat.Dense
	// Eigenvalues are all n eigenvalues of the training covariance
	// Σ_i (x_i − mean)(x_i − mean)ᵀ / N, in decreasing order: the variance
	// along each principal direction.
	Eigenvalues []float64
}

// pcaChunk is the number of samples accumulated into the covariance at once.
const pcaChunk = 1024

// FitPCA computes the top-k principal components of set's samples, each
// flattened to a vector of n = SampleSize() values, with 1 ≤ k ≤ n. It
// forms the n×n covariance in float64 (in chunks of samples, with a
// symmetric rank-k update) and diagonalises it with mat.EigenSym: for MNIST
// 60,000×784 this takes a few seconds and about 12 MB.
func FitPCA(set *datasets.Set, k int) (*PCA, error) {
	if set == nil || set.Len() == 0 {
		return nil, errors.New("autoencoder: PCA of an empty set")
	}
	n, N := set.SampleSize(), set.Len()
	if k < 1 || k > n {
		return nil, errors.Errorf("autoencoder: PCA with %d components of %d-dimensional samples", k, n)
	}
	mean := make([]float64, n)
	for i := 0; i < N; i++ {
		for j, v := range set.X[i*n : (i+1)*n] {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(N)
	}
	cov := mat.NewSymDense(n, nil)
	chunk := mat.NewDense(min(pcaChunk, N), n, nil)
	for lo := 0; lo < N; lo += pcaChunk {
		rows := min(pcaChunk, N-lo)
		c := chunk.Slice(0, rows, 0, n).(*mat.Dense)
		centre(c, set.X[lo*n:(lo+rows)*n], mean)
		cov.SymRankK(cov, 1/float64(N), c.T())
	}
	var eig mat.EigenSym
	if !eig.Factorize(cov, true) {
		return nil, errors.New("autoencoder: PCA: the covariance's eigendecomposition did not converge")
	}
	vals := eig.Values(nil) // ascending
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	p := &PCA{Mean: mean, Components: mat.NewDense(n, k, nil), Eigenvalues: make([]float64, n)}
	for i := range vals {
		p.Eigenvalues[i] = math.Max(vals[n-1-i], 0) // clamp rounding below 0
	}
	for c := 0; c < k; c++ {
		for r := 0; r < n; r++ {
			p.Components.Set(r, c, vecs.At(r, n-1-c))
		}
	}
	return p, nil
}

// centre writes the samples x (back to back) minus mean into the rows of dst.
func centre(dst *mat.Dense, x []float32, mean []float64) {
	rows, n := dst.Dims()
	for i := 0; i < rows; i++ {
		row := dst.RawRowView(i)
		for j := range row {
			row[j] = float64(x[i*n+j]) - mean[j]
		}
	}
}

// K returns the number of components.
func (p *PCA) K() int { _, k := p.Components.Dims(); return k }

// Variances returns the variance along each of the k components, the top
// k eigenvalues.
func (p *PCA) Variances() []float64 { return p.Eigenvalues[:p.K()] }

// TotalVariance returns the trace of the covariance: the mean squared
// distance of a training sample from the mean.
func (p *PCA) TotalVariance() float64 {
	var s float64
	for _, v := range p.Eigenvalues {
		s += v
	}
	return s
}

// ExplainedVariance returns the fraction of the total variance the k
// components capture.
func (p *PCA) ExplainedVariance() float64 {
	var s float64
	for _, v := range p.Variances() {
		s += v
	}
	return s / p.TotalVariance()
}

// ResidualVariance returns the sum of the discarded eigenvalues: PCA's
// reconstruction error on its own training set, the least mean squared
// error any rank-k affine reconstruction can reach there.
func (p *PCA) ResidualVariance() float64 {
	var s float64
	for _, v := range p.Eigenvalues[p.K():] {
		s += v
	}
	return s
}

// Project returns the codes of set's samples, (N, k): (x − mean)·Components.
func (p *PCA) Project(set *datasets.Set) (*mat.Dense, error) {
	if err := p.check(set); err != nil {
		return nil, err
	}
	N, k := set.Len(), p.K()
	z := mat.NewDense(N, k, nil)
	p.chunks(set, func(lo int, codes *mat.Dense) {
		rows, _ := codes.Dims()
		z.Slice(lo, lo+rows, 0, k).(*mat.Dense).Copy(codes)
	})
	return z, nil
}

// Reconstruct returns set's samples projected onto the principal subspace,
// mean + (x − mean)·C·Cᵀ, back to back in float32 like set.X.
func (p *PCA) Reconstruct(set *datasets.Set) ([]float32, error) {
	if err := p.check(set); err != nil {
		return nil, err
	}
	n := len(p.Mean)
	out := make([]float32, set.Len()*n)
	var r mat.Dense
	p.chunks(set, func(lo int, codes *mat.Dense) {
		r.Reset()
		r.Mul(codes, p.Components.T())
		rows, _ := r.Dims()
		for i := 0; i < rows; i++ {
			dst := out[(lo+i)*n : (lo+i+1)*n]
			for j, v := range r.RawRowView(i) {
				dst[j] = float32(v + p.Mean[j])
			}
		}
	})
	return out, nil
}

// ReconError returns PCA's reconstruction error on set: squared error
// summed over each sample's values, averaged over the samples (computed in
// float64 from the unrounded reconstructions).
func (p *PCA) ReconError(set *datasets.Set) (float64, error) {
	if err := p.check(set); err != nil {
		return 0, err
	}
	n := len(p.Mean)
	var s float64
	var r mat.Dense
	p.chunks(set, func(lo int, codes *mat.Dense) {
		r.Reset()
		r.Mul(codes, p.Components.T())
		rows, _ := r.Dims()
		for i := 0; i < rows; i++ {
			x := set.X[(lo+i)*n : (lo+i+1)*n]
			for j, v := range r.RawRowView(i) {
				d := v + p.Mean[j] - float64(x[j])
				s += d * d
			}
		}
	})
	return s / float64(set.Len()), nil
}

// check reports whether set holds samples PCA can project.
func (p *PCA) check(set *datasets.Set) error {
	if set == nil || set.Len() == 0 || set.SampleSize() != len(p.Mean) {
		var shape []int
		var N int
		if set != nil {
			shape, N = set.Shape, set.Len()
		}
		return errors.Errorf("autoencoder: PCA of %d-dimensional samples applied to %d samples of shape %v", len(p.Mean), N, shape)
	}
	return nil
}

// chunks projects set's samples pcaChunk at a time, calling fn with the
// index of each chunk's first sample and its codes (valid during the call),
// so that memory stays bounded whatever the set's size.
func (p *PCA) chunks(set *datasets.Set, fn func(lo int, codes *mat.Dense)) {
	n, N, k := len(p.Mean), set.Len(), p.K()
	x := mat.NewDense(min(pcaChunk, N), n, nil)
	z := mat.NewDense(min(pcaChunk, N), k, nil)
	for lo := 0; lo < N; lo += pcaChunk {
		rows := min(pcaChunk, N-lo)
		xc := x.Slice(0, rows, 0, n).(*mat.Dense)
		zc := z.Slice(0, rows, 0, k).(*mat.Dense)
		centre(xc, set.X[lo*n:(lo+rows)*n], p.Mean)
		zc.Mul(xc, p.Components)
		fn(lo, zc)
	}
}

// PrincipalAngles returns the principal angles, in degrees and increasing
// order, between the column spaces of a (n, p) and b (n, q): min(p, q)
// angles, all 0 when one space contains the other, 90 for directions
// orthogonal to it. Each matrix is orthonormalised by a QR factorisation;
// the cosines of the angles are the singular values of Q_aᵀ·Q_b (Björck &
// Golub 1973) and their sines those of Q_b − Q_a·Q_aᵀ·Q_b, which give
// the angles below 45° accurately (Knyazev & Argentati 2002). a and b must
// have full column rank; for the subspace spanned by the rows of a matrix
// W, pass W.T().
func PrincipalAngles(a, b mat.Matrix) ([]float64, error) {
	na, p := a.Dims()
	nb, q := b.Dims()
	if na != nb || p > na || q > nb {
		return nil, errors.Errorf("autoencoder: principal angles between the columns of %d×%d and %d×%d matrices", na, p, nb, q)
	}
	if q > p { // the angles are symmetric; let b be the smaller space
		a, b, p, q = b, a, q, p
	}
	qa, err := orthonormal(a)
	if err != nil {
		return nil, err
	}
	qb, err := orthonormal(b)
	if err != nil {
		return nil, err
	}
	var c mat.Dense
	c.Mul(qa.T(), qb) // (p, q)
	cosines, err := singularValues(&c)
	if err != nil {
		return nil, err
	}
	var r mat.Dense
	r.Mul(qa, &c)
	r.Sub(qb, &r) // (n, q): the part of Q_b outside span(a)
	sines, err := singularValues(&r)
	if err != nil {
		return nil, err
	}
	angles := make([]float64, q)
	for i := range angles {
		// Cosines come in decreasing order, sines in decreasing order too:
		// the i-th smallest angle has the i-th largest cosine and the
		// i-th smallest sine.
		cos, sin := math.Min(cosines[i], 1), math.Min(sines[q-1-i], 1)
		if cos*cos >= 0.5 {
			angles[i] = math.Asin(sin)
		} else {
			angles[i] = math.Acos(cos)
		}
		angles[i] *= 180 / math.Pi
	}
	return angles, nil
}

// singularValues returns the singular values of m in decreasing order.
func singularValues(m *mat.Dense) ([]float64, error) {
	var svd mat.SVD
	if !svd.Factorize(m, mat.SVDNone) {
		return nil, errors.New("autoencoder: principal angles: SVD did not converge")
	}
	return svd.Values(nil), nil
}

// orthonormal returns an orthonormal basis of a's column space, (n, p),
// from the thin Q of a QR factorisation.
func orthonormal(a mat.Matrix) (*mat.Dense, error) {
	n, p := a.Dims()
	var qr mat.QR
	qr.Factorize(a)
	var r mat.Dense
	qr.RTo(&r)
	var scale float64
	for i := 0; i < p; i++ {
		scale = math.Max(scale, math.Abs(r.At(i, i)))
	}
	for i := 0; i < p; i++ {
		if math.Abs(r.At(i, i)) <= 1e-12*scale {
			return nil, errors.Errorf("autoencoder: principal angles: a %d×%d matrix without full column rank", n, p)
		}
	}
	var q mat.Dense
	qr.QTo(&q)
	return mat.DenseCopyOf(q.Slice(0, n, 0, p)), nil
}

// ParamMatrix returns m's two-dimensional parameter name (a Dense layer's
// weights "denseN/W", shape (in, out)) as a float64 matrix of the same
// shape. The decoder of Linear(n, k) reconstructs in the row space of
// dense2/W, so PrincipalAngles(w.T(), pca.Components) compares it with
// PCA's subspace.
func ParamMatrix(m *graph.Model, name string) (*mat.Dense, error) {
	p := m.Param(name)
	if p == nil {
		return nil, errors.Errorf("autoencoder: the model has no parameter %s", name)
	}
	s := p.Value.Shape()
	if len(s) != 2 {
		return nil, errors.Errorf("autoencoder: parameter %s has shape %v, want a matrix", name, s)
	}
	w := mat.NewDense(s[0], s[1], nil)
	raw := w.RawMatrix().Data
	switch d := p.Value.Data().(type) {
	case []float32:
		for i, v := range d {
			raw[i] = float64(v)
		}
	case []float64:
		copy(raw, d)
	}
	return w, nil
}
