package autoencoder_test

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/autoencoder"
	"github.com/retina-ml/retina/train"
)

// randomOrthonormal returns an (n, p) matrix with orthonormal columns
// spanning a random subspace that is orthogonal to the all-ones vector
// when skipOnes is set.
func randomOrthonormal(rng *rand.Rand, n, p int, skipOnes bool) *mat.Dense {
	first := 0
	if skipOnes {
		first = 1
	}
	a := mat.NewDense(n, p+first, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < p+first; j++ {
			if j < first {
				a.Set(i, j, 1)
			} else {
				a.Set(i, j, rng.NormFloat64())
			}
		}
	}
	var qr mat.QR
	qr.Factorize(a)
	var q mat.Dense
	qr.QTo(&q)
	return mat.DenseCopyOf(q.Slice(0, n, first, p+first))
}

// spectrumSet returns N samples of dimension n, mean + U·diag(s)·Vᵀ with
// U (N, n) orthonormal and orthogonal to the ones vector, so the samples'
// mean is exactly mean and their covariance exactly V·diag(s²/N)·Vᵀ: the
// eigenvalues are s²/N and the principal directions V's columns.
func spectrumSet(seed uint64, N int, s, mean []float64) (*datasets.Set, *mat.Dense) {
	rng := rand.New(rand.NewPCG(seed, 7))
	n := len(s)
	u := randomOrthonormal(rng, N, n, true)
	v := randomOrthonormal(rng, n, n, false)
	var x mat.Dense
	x.Mul(u, mat.NewDiagDense(n, s))
	x.Mul(&x, v.T())
	set := &datasets.Set{Shape: []int{n}, X: make([]float32, N*n)}
	for i := 0; i < N; i++ {
		for j := 0; j < n; j++ {
			set.X[i*n+j] = float32(x.At(i, j) + mean[j])
		}
	}
	return set, v
}

func TestPCAOracle(t *testing.T) {
	const N, n, k = 500, 12, 4
	s := []float64{40, 30, 25, 20, 8, 6, 5, 4, 3, 2, 1, 0.5}
	mean := make([]float64, n)
	for j := range mean {
		mean[j] = 0.1 * float64(j)
	}
	set, v := spectrumSet(1, N, s, mean)
	p, err := autoencoder.FitPCA(set, k)
	if err != nil {
		t.Fatal(err)
	}
	// float32 samples: relative agreement to ~1e-6.
	for j, m := range p.Mean {
		if math.Abs(m-mean[j]) > 1e-5 {
			t.Fatalf("mean[%d] = %v, want %v", j, m, mean[j])
		}
	}
	var discarded, total float64
	for i, si := range s {
		want := si * si / N
		if got := p.Eigenvalues[i]; math.Abs(got-want) > 1e-5*want+1e-9 {
			t.Fatalf("eigenvalue %d = %v, want %v (all %v)", i, got, want, p.Eigenvalues)
		}
		total += want
		if i >= k {
			discarded += want
		}
	}
	if len(p.Variances()) != k || p.K() != k {
		t.Fatalf("K = %d, %d variances", p.K(), len(p.Variances()))
	}
	if math.Abs(p.TotalVariance()-total) > 1e-5*total || math.Abs(p.ExplainedVariance()-(total-discarded)/total) > 1e-6 {
		t.Fatalf("total variance %v (want %v), explained %v", p.TotalVariance(), total, p.ExplainedVariance())
	}
	// The components are orthonormal and are V's first k columns, up to sign.
	var gram mat.Dense
	gram.Mul(p.Components.T(), p.Components)
	if !mat.EqualApprox(&gram, eye(k), 1e-10) {
		t.Fatalf("components not orthonormal: %v", mat.Formatted(&gram))
	}
	for c := 0; c < k; c++ {
		dot := mat.Dot(p.Components.ColView(c), v.ColView(c))
		if math.Abs(math.Abs(dot)-1) > 1e-6 {
			t.Fatalf("component %d · v%d = %v, want ±1", c, c, dot)
		}
	}
	angles, err := autoencoder.PrincipalAngles(p.Components, v.Slice(0, n, 0, k))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Max(angles) > 1e-3 {
		t.Fatalf("principal angles to the true subspace %v°", angles)
	}
	// On its training set PCA's reconstruction error is the sum of the
	// discarded eigenvalues.
	e, err := p.ReconError(set)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(e-discarded) > 1e-5*discarded || math.Abs(p.ResidualVariance()-discarded) > 1e-5*discarded {
		t.Fatalf("training recon error %v, residual variance %v; want %v", e, p.ResidualVariance(), discarded)
	}
	// Projecting and reconstructing agree with ReconError.
	rec, err := p.Reconstruct(set)
	if err != nil {
		t.Fatal(err)
	}
	if e2, err := autoencoder.ReconError(rec, set.X, n); err != nil || math.Abs(e2-e) > 1e-4*e {
		t.Fatalf("ReconError(Reconstruct) = %v, %v; PCA.ReconError %v", e2, err, e)
	}
	z, err := p.Project(set)
	if err != nil {
		t.Fatal(err)
	}
	if r, c := z.Dims(); r != N || c != k {
		t.Fatalf("codes %d×%d", r, c)
	}
	// The codes are uncorrelated with variances the top eigenvalues.
	var zz mat.Dense
	zz.Mul(z.T(), z)
	zz.Scale(1.0/N, &zz)
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			want := 0.0
			if i == j {
				want = p.Eigenvalues[i]
			}
			if math.Abs(zz.At(i, j)-want) > 1e-4*p.Eigenvalues[0] {
				t.Fatalf("code covariance %v", mat.Formatted(&zz))
			}
		}
	}

	if _, err := autoencoder.FitPCA(set, 0); err == nil {
		t.Error("k = 0 accepted")
	}
	if _, err := autoencoder.FitPCA(set, n+1); err == nil {
		t.Error("k > n accepted")
	}
	if _, err := autoencoder.FitPCA(&datasets.Set{Shape: []int{3}}, 1); err == nil {
		t.Error("empty set accepted")
	}
	if _, err := p.ReconError(&datasets.Set{Shape: []int{n + 1}, X: make([]float32, n+1)}); err == nil {
		t.Error("samples of the wrong size accepted")
	}
}

// TestPCAChunks fits more samples than one covariance chunk and compares
// with a covariance computed naively.
func TestPCAChunks(t *testing.T) {
	const N, n = 2500, 5
	rng := rand.New(rand.NewPCG(2, 2))
	set := &datasets.Set{Shape: []int{n}, X: make([]float32, N*n)}
	for i := range set.X {
		set.X[i] = float32(rng.Float64() * float64(1+i%n))
	}
	p, err := autoencoder.FitPCA(set, n)
	if err != nil {
		t.Fatal(err)
	}
	mean := make([]float64, n)
	for i := 0; i < N; i++ {
		for j := 0; j < n; j++ {
			mean[j] += float64(set.X[i*n+j]) / N
		}
	}
	cov := mat.NewSymDense(n, nil)
	for i := 0; i < N; i++ {
		for a := 0; a < n; a++ {
			for b := a; b < n; b++ {
				cov.SetSym(a, b, cov.At(a, b)+(float64(set.X[i*n+a])-mean[a])*(float64(set.X[i*n+b])-mean[b])/N)
			}
		}
	}
	// C·diag(λ)·Cᵀ rebuilds the covariance.
	var rebuilt mat.Dense
	rebuilt.Mul(p.Components, mat.NewDiagDense(n, p.Eigenvalues))
	rebuilt.Mul(&rebuilt, p.Components.T())
	if !mat.EqualApprox(&rebuilt, cov, 1e-9) {
		t.Fatalf("covariance\n%v\nrebuilt\n%v", mat.Formatted(cov), mat.Formatted(&rebuilt))
	}
	if !slices.IsSortedFunc(p.Eigenvalues, func(a, b float64) int { return -cmpF(a, b) }) {
		t.Fatalf("eigenvalues not decreasing: %v", p.Eigenvalues)
	}

	// Projections and errors, computed chunk by chunk, against a direct
	// computation sample by sample.
	p2, err := autoencoder.FitPCA(set, 2)
	if err != nil {
		t.Fatal(err)
	}
	z, err := p2.Project(set)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := p2.Reconstruct(set)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for i := 0; i < N; i++ {
		for c := 0; c < 2; c++ {
			var code float64
			for j := 0; j < n; j++ {
				code += (float64(set.X[i*n+j]) - p2.Mean[j]) * p2.Components.At(j, c)
			}
			if math.Abs(code-z.At(i, c)) > 1e-9 {
				t.Fatalf("code (%d, %d) = %v, want %v", i, c, z.At(i, c), code)
			}
		}
		for j := 0; j < n; j++ {
			r := p2.Mean[j] + z.At(i, 0)*p2.Components.At(j, 0) + z.At(i, 1)*p2.Components.At(j, 1)
			if math.Abs(r-float64(rec[i*n+j])) > 1e-5 {
				t.Fatalf("reconstruction (%d, %d) = %v, want %v", i, j, rec[i*n+j], r)
			}
			d := r - float64(set.X[i*n+j])
			sum += d * d
		}
	}
	if e, err := p2.ReconError(set); err != nil || math.Abs(e-sum/N) > 1e-9*sum/N || math.Abs(e-p2.ResidualVariance()) > 1e-9*e {
		t.Fatalf("ReconError = %v, %v; want %v (= residual variance %v)", e, err, sum/N, p2.ResidualVariance())
	}
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func eye(n int) *mat.Dense {
	d := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		d.Set(i, i, 1)
	}
	return d
}

func TestPrincipalAngles(t *testing.T) {
	e := func(n int, cols ...[]float64) *mat.Dense {
		d := mat.NewDense(n, len(cols), nil)
		for j, c := range cols {
			d.SetCol(j, c)
		}
		return d
	}
	near := func(got, want []float64) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-9 {
				return false
			}
		}
		return true
	}
	for _, tc := range []struct {
		name string
		a, b *mat.Dense
		want []float64
	}{
		{"same line", e(3, []float64{1, 0, 0}), e(3, []float64{-2, 0, 0}), []float64{0}},
		{"45°", e(3, []float64{1, 0, 0}), e(3, []float64{1, 1, 0}), []float64{45}},
		{"60°", e(2, []float64{1, 0}), e(2, []float64{0.5, math.Sqrt(3) / 2}), []float64{60}},
		{"orthogonal", e(3, []float64{1, 0, 0}), e(3, []float64{0, 0, 5}), []float64{90}},
		{"planes sharing a line", e(3, []float64{1, 0, 0}, []float64{0, 1, 0}), e(3, []float64{1, 0, 0}, []float64{0, 0, 1}), []float64{0, 90}},
		{"same plane, other basis", e(3, []float64{1, 0, 0}, []float64{0, 1, 0}), e(3, []float64{1, 1, 0}, []float64{3, -1, 0}), []float64{0, 0}},
		{"line in a plane", e(3, []float64{1, 1, 0}), e(3, []float64{1, 0, 0}, []float64{0, 1, 0}), []float64{0}},
		{"line at 30° to a plane", e(3, []float64{math.Sqrt(3), 0, 1}), e(3, []float64{1, 0, 0}, []float64{0, 1, 0}), []float64{30}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := autoencoder.PrincipalAngles(tc.a, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if !near(got, tc.want) {
				t.Fatalf("angles %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := autoencoder.PrincipalAngles(e(3, []float64{1, 0, 0}, []float64{2, 0, 0}), e(3, []float64{1, 0, 0})); err == nil {
		t.Error("rank-deficient matrix accepted")
	}
	if _, err := autoencoder.PrincipalAngles(e(3, []float64{1, 0, 0}), e(2, []float64{1, 0})); err == nil {
		t.Error("matrices of different heights accepted")
	}
}

// TestLinearAutoencoderLearnsPCA trains Linear(n, k) by gradient descent on
// data with a known, well-separated spectrum, and checks the lecture's
// claim: the decoder's subspace is PCA's top-k subspace, within 1°, and the
// reconstruction error is PCA's.
func TestLinearAutoencoderLearnsPCA(t *testing.T) {
	const N, n, k = 1024, 8, 3
	s := []float64{3, 2.5, 2, 0.5, 0.4, 0.3, 0.2, 0.1} // × √N: variances 9, 6.25, 4 | 0.25, …
	mean := []float64{0.5, -1, 0.2, 0, 0.3, 1, -0.4, 0.1}
	for i := range s {
		s[i] *= math.Sqrt(N)
	}
	set, v := spectrumSet(3, N, s, mean)
	p, err := autoencoder.FitPCA(set, k)
	if err != nil {
		t.Fatal(err)
	}
	m, err := autoencoder.Linear(n, k, graph.WithSeed(5))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := train.New(m, train.Config{
		Loss: train.MSE, Reconstruct: true,
		Optimizer: &train.Adam{LearningRate: 0.01}, Schedule: train.Cosine{},
		Epochs: 100, Batch: 32, Seed: 2, Progress: io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.Fit(context.Background(), train.Data{Train: set}); err != nil {
		t.Fatal(err)
	}
	w, err := autoencoder.ParamMatrix(m, "decoder/dense1/W")
	if err != nil {
		t.Fatal(err)
	}
	angles, err := autoencoder.PrincipalAngles(w.T(), p.Components)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("principal angles between the decoder's and PCA's subspaces: %.4f°", angles)
	if slices.Max(angles) > 1 {
		t.Fatalf("principal angles %v°: want all below 1°", angles)
	}
	// And PCA's subspace is the true one.
	if a, err := autoencoder.PrincipalAngles(p.Components, v.Slice(0, n, 0, k)); err != nil || slices.Max(a) > 1e-3 {
		t.Fatalf("PCA vs the true subspace: %v°, %v", a, err)
	}
	got, err := tr.Evaluate(set)
	if err != nil {
		t.Fatal(err)
	}
	pe := p.ResidualVariance()
	t.Logf("reconstruction error: autoencoder %.5f, PCA %.5f", got.ReconError, pe)
	if got.ReconError < pe*(1-1e-4) || got.ReconError > pe*1.01 {
		t.Fatalf("autoencoder's reconstruction error %v, PCA's %v: want within 1%% (and not below)", got.ReconError, pe)
	}
}
