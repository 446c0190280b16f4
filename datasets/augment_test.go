package datasets

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// images returns n random (c, h, w) images with values in [0, 1).
func images(n, c, h, w int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 3))
	x := make([]float32, n*c*h*w)
	for i := range x {
		x[i] = rng.Float32()
	}
	return x
}

func indices(n, from int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = from + i
	}
	return idx
}

var mnistAugmentation = &Augmentation{Seed: 7, Steps: []Transform{Shift{Max: 2}, Rotate{MaxDegrees: 10}, Elastic{Alpha: 34, Sigma: 4}}}

// TestAugmentationDependsOnSampleOnly checks that a sample's variant
// depends on (seed, epoch, index, column) only: not on the batch it is in,
// its row, or the number of cores; and that each of those changes it.
func TestAugmentationDependsOnSampleOnly(t *testing.T) {
	shape := []int{1, 28, 28}
	const n, size = 12, 784
	src := images(n, 1, 28, 28, 1)
	a := mnistAugmentation
	if err := a.Check(shape); err != nil {
		t.Fatal(err)
	}
	run := func(procs int, rows []int, epoch, column int) [][]float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		x := make([]float32, len(rows)*size)
		for r, i := range rows {
			copy(x[r*size:], src[i*size:(i+1)*size])
		}
		a.Apply(x, rows, shape, epoch, column)
		out := make([][]float32, n)
		for r, i := range rows {
			out[i] = x[r*size : (r+1)*size]
		}
		return out
	}
	want := run(1, indices(n, 0), 3, 0)
	reversed := indices(n, 0)
	slices.Reverse(reversed)
	for _, got := range [][][]float32{run(2, indices(n, 0), 3, 0), run(3, reversed, 3, 0), run(2, []int{5, 2}, 3, 0)} {
		for i, g := range got {
			if g != nil && !slices.Equal(g, want[i]) {
				t.Fatalf("sample %d changes with its batch or the number of cores", i)
			}
		}
	}
	for i := range n {
		if slices.Equal(want[i], src[i*size:(i+1)*size]) {
			t.Fatalf("sample %d unchanged", i)
		}
	}
	other := run(2, indices(n, 0), 4, 0)
	column := run(2, indices(n, 0), 3, 1)
	for i := range n {
		if slices.Equal(other[i], want[i]) || slices.Equal(column[i], want[i]) {
			t.Fatalf("sample %d: the same variant in another epoch or column", i)
		}
	}
}

func TestShift(t *testing.T) {
	shape := []int{2, 5, 6}
	rng := rand.New(rand.NewPCG(1, 1))
	tmp := make([]float32, 6*60)
	moved := map[[2]int]bool{}
	for range 200 {
		x := make([]float32, 60)
		x[2*6+3], x[30+2*6+3] = 1, 2 // (2, 3) in both channels
		Shift{Max: 2}.Transform(x, shape, rng, tmp)
		var at [2]int
		var mass float32
		for ch := range 2 {
			for i, v := range x[ch*30 : (ch+1)*30] {
				if v != 0 {
					at = [2]int{i / 6, i % 6}
					mass += v
				}
			}
		}
		if mass != 3 || x[at[0]*6+at[1]] != 1 || x[30+at[0]*6+at[1]] != 2 {
			t.Fatalf("pixel not moved whole, both channels alike: %v", x)
		}
		dy, dx := at[0]-2, at[1]-3
		if dy < -2 || dy > 2 || dx < -2 || dx > 2 {
			t.Fatalf("moved by (%d, %d)", dy, dx)
		}
		moved[[2]int{dy, dx}] = true
	}
	if len(moved) != 25 {
		t.Fatalf("%d of the 25 shifts seen in 200 draws", len(moved))
	}
}

func TestFlipHorizontal(t *testing.T) {
	shape := []int{1, 2, 3}
	rng := rand.New(rand.NewPCG(2, 2))
	flips := 0
	for range 400 {
		x := []float32{1, 2, 3, 4, 5, 6}
		FlipHorizontal{}.Transform(x, shape, rng, nil)
		switch {
		case slices.Equal(x, []float32{3, 2, 1, 6, 5, 4}):
			flips++
		case !slices.Equal(x, []float32{1, 2, 3, 4, 5, 6}):
			t.Fatalf("flip gave %v", x)
		}
	}
	if flips < 150 || flips > 250 {
		t.Fatalf("%d flips in 400", flips)
	}
}

// TestWarps checks rotation and elastic distortion at their identities,
// and that they move an image without losing it.
func TestWarps(t *testing.T) {
	shape := []int{1, 28, 28}
	src := make([]float32, 784)
	for y := 10; y < 18; y++ {
		for x := 12; x < 16; x++ {
			src[y*28+x] = 1
		}
	}
	rng := rand.New(rand.NewPCG(3, 3))
	tmp := make([]float32, 6*784)
	for _, tr := range []Transform{Rotate{}, Elastic{Alpha: 0, Sigma: 4}} {
		x := slices.Clone(src)
		tr.Transform(x, shape, rng, tmp)
		if !slices.Equal(x, src) {
			t.Errorf("%v is not the identity", tr)
		}
	}
	for _, tr := range []Transform{Rotate{MaxDegrees: 30}, Elastic{Alpha: 34, Sigma: 4}} {
		x := slices.Clone(src)
		tr.Transform(x, shape, rng, tmp)
		var mass float64
		for _, v := range x {
			mass += float64(v)
		}
		if slices.Equal(x, src) || math.Abs(mass-32) > 8 {
			t.Errorf("%v: mass %v of 32, changed %v", tr, mass, !slices.Equal(x, src))
		}
	}
	// A rotation by exactly 90° maps row y to column 27 − y.
	x := slices.Clone(src)
	r := rand.New(rand.NewPCG(1, 1))
	theta := (2*r.Float64() - 1) // the draw Rotate will make
	Rotate{MaxDegrees: 90 / math.Abs(theta)}.Transform(x, shape, rand.New(rand.NewPCG(1, 1)), tmp)
	var mass float64
	for _, v := range x {
		mass += float64(v)
	}
	if math.Abs(mass-32) > 1e-3 {
		t.Fatalf("a quarter turn keeps every pixel: mass %v", mass)
	}
}

// TestBoxBlur checks the three boxes' variance against σ² and that a box
// filter keeps a field's sum away from the borders.
func TestBoxBlur(t *testing.T) {
	for _, tc := range []struct {
		sigma float64
		radii [3]int
	}{{4, [3]int{4, 3, 3}}, {1, [3]int{1, 0, 0}}, {6, [3]int{6, 5, 5}}} {
		if got := boxRadii(tc.sigma); got != tc.radii {
			t.Errorf("boxRadii(%v) = %v, want %v", tc.sigma, got, tc.radii)
		}
	}
	h, w := 9, 11
	src := make([]float32, h*w)
	src[4*w+5] = 1
	a, b := make([]float32, h*w), make([]float32, h*w)
	boxRows(src, a, h, w, 2)
	boxCols(a, b, h, w, 2)
	var sum float32
	for y := range h {
		for x := range w {
			sum += b[y*w+x]
			if want := float32(0); (y < 2 || y > 6 || x < 3 || x > 7) && b[y*w+x] != want {
				t.Fatalf("(%d, %d) = %v outside the 5×5 box", y, x, b[y*w+x])
			}
		}
	}
	if math.Abs(float64(sum)-1) > 1e-6 || math.Abs(float64(b[4*w+5])-1.0/25) > 1e-7 {
		t.Fatalf("sum %v, centre %v", sum, b[4*w+5])
	}
}

func TestAugmentationCheck(t *testing.T) {
	for _, tc := range []struct {
		a     *Augmentation
		shape []int
		want  string
	}{
		{&Augmentation{}, []int{784}, "(C, H, W) images"},
		{&Augmentation{Steps: []Transform{Shift{Max: 28}}}, []int{1, 28, 28}, "Shift.Max = 28"},
		{&Augmentation{Steps: []Transform{Rotate{MaxDegrees: math.NaN()}}}, []int{1, 28, 28}, "MaxDegrees = NaN"},
		{&Augmentation{Steps: []Transform{Elastic{Alpha: 34}}}, []int{1, 28, 28}, "σ"},
		{&Augmentation{Steps: []Transform{nil}}, []int{1, 28, 28}, "step 0 is nil"},
	} {
		if err := tc.a.Check(tc.shape); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v on %v: %v, want %q", tc.a, tc.shape, err, tc.want)
		}
	}
}

func TestStandardize(t *testing.T) {
	s := &Set{X: images(20, 3, 4, 5, 4), Shape: []int{3, 4, 5}}
	for i := range s.X {
		if (i/20)%3 == 1 {
			s.X[i] = 5 + 2*s.X[i] // channel 1 elsewhere
		}
	}
	mean, std, err := ChannelStats(s)
	if err != nil {
		t.Fatal(err)
	}
	if mean[1] < 5 || std[1] < 0.4 {
		t.Fatalf("channel 1: mean %v std %v", mean[1], std[1])
	}
	if err := s.Standardize(mean, std); err != nil {
		t.Fatal(err)
	}
	mean, std, _ = ChannelStats(s)
	for c := range 3 {
		if math.Abs(mean[c]) > 1e-6 || math.Abs(std[c]-1) > 1e-5 {
			t.Fatalf("channel %d after standardising: mean %v std %v", c, mean[c], std[c])
		}
	}
	if err := s.Standardize([]float64{0, 0}, []float64{1, 1}); err == nil {
		t.Fatal("2 means for 3 channels accepted")
	}
	if err := s.Standardize([]float64{0}, []float64{0}); err == nil {
		t.Fatal("zero deviation accepted")
	}
}

// BenchmarkAugmentMNIST augments a batch of 64 digits with shifts,
// rotations and elastic distortions.
func BenchmarkAugmentMNIST(b *testing.B) {
	shape := []int{1, 28, 28}
	src := images(64, 1, 28, 28, 5)
	x := make([]float32, len(src))
	idx := indices(64, 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		copy(x, src)
		mnistAugmentation.Apply(x, idx, shape, i, 0)
	}
}
