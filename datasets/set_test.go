package datasets

import (
	"slices"
	"strings"
	"testing"
)

// synth returns a labelled set of n samples of shape [2 3] in which every
// value of sample i is float32(i) and its label is i mod classes.
func synth(n, classes int) *Set {
	s := &Set{X: make([]float32, n*6), Shape: []int{2, 3}, Labels: make([]int, n), Classes: classes}
	for i := range n {
		for j := range 6 {
			s.X[i*6+j] = float32(i)
		}
		s.Labels[i] = i % classes
	}
	return s
}

// sampleIDs returns the sample number each row of X encodes (see synth),
// checking that every value of a row agrees.
func sampleIDs(t *testing.T, x []float32, ss int) []int {
	t.Helper()
	ids := make([]int, len(x)/ss)
	for r := range ids {
		ids[r] = int(x[r*ss])
		for j := range ss {
			if x[r*ss+j] != x[r*ss] {
				t.Fatalf("row %d mixes samples: %v", r, x[r*ss:(r+1)*ss])
			}
		}
	}
	return ids
}

func TestSetLenSampleSize(t *testing.T) {
	tests := []struct {
		name       string
		set        Set
		len, ssize int
	}{
		{"zero value", Set{}, 0, 1},
		{"scalars", Set{X: make([]float32, 5)}, 5, 1},
		{"unlabelled images", Set{X: make([]float32, 3*784), Shape: []int{1, 28, 28}}, 3, 784},
		{"labelled", Set{X: make([]float32, 12), Shape: []int{4}, Labels: []int{0, 1, 0}, Classes: 2}, 3, 4},
		{"zero dim", Set{X: make([]float32, 12), Shape: []int{0}}, 0, 0},
	}
	for _, tt := range tests {
		if got := tt.set.Len(); got != tt.len {
			t.Errorf("%s: Len() = %d, want %d", tt.name, got, tt.len)
		}
		if got := tt.set.SampleSize(); got != tt.ssize {
			t.Errorf("%s: SampleSize() = %d, want %d", tt.name, got, tt.ssize)
		}
	}
}

func TestSetValidate(t *testing.T) {
	tests := []struct {
		name string
		set  Set
		want string // "" for valid
	}{
		{"zero value", Set{}, ""},
		{"synthetic", *synth(10, 3), ""},
		{"unlabelled with classes", Set{X: make([]float32, 6), Shape: []int{3}, Classes: 4}, ""},
		{"bad shape", Set{X: make([]float32, 6), Shape: []int{3, -1}}, "Shape[1] = -1"},
		{"ragged X", Set{X: make([]float32, 7), Shape: []int{3}}, "len(X) = 7 is not a multiple of the sample size 3"},
		{"label count", Set{X: make([]float32, 6), Shape: []int{3}, Labels: []int{0}}, "1 labels but len(X) = 6 holds 2 samples"},
		{"label range", Set{X: make([]float32, 6), Shape: []int{3}, Labels: []int{0, 2}, Classes: 2}, "Labels[1] = 2, expected 0..1"},
		{"negative label", Set{X: make([]float32, 3), Shape: []int{3}, Labels: []int{-1}, Classes: 2}, "Labels[0] = -1"},
		{"negative classes", Set{Classes: -1}, "Classes = -1"},
	}
	for _, tt := range tests {
		err := tt.set.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestSubset(t *testing.T) {
	s := synth(10, 3)
	tests := []struct{ lo, hi int }{{0, 10}, {0, 0}, {3, 7}, {9, 10}, {10, 10}}
	for _, tt := range tests {
		sub := s.Subset(tt.lo, tt.hi)
		if sub.Len() != tt.hi-tt.lo || !slices.Equal(sub.Shape, s.Shape) || sub.Classes != s.Classes {
			t.Errorf("Subset(%d, %d): len %d shape %v classes %d", tt.lo, tt.hi, sub.Len(), sub.Shape, sub.Classes)
			continue
		}
		if err := sub.Validate(); err != nil {
			t.Errorf("Subset(%d, %d): %v", tt.lo, tt.hi, err)
		}
		for k, id := range sampleIDs(t, sub.X, 6) {
			if id != tt.lo+k || sub.Labels[k] != s.Labels[tt.lo+k] {
				t.Errorf("Subset(%d, %d): sample %d is %d with label %d", tt.lo, tt.hi, k, id, sub.Labels[k])
			}
		}
	}

	// Shared memory, but appends do not clobber the parent.
	sub := s.Subset(2, 4)
	sub.X[0] = -1
	if s.X[2*6] != -1 {
		t.Error("Subset copied X")
	}
	sub.Labels = append(sub.Labels, 99)
	if s.Labels[4] == 99 {
		t.Error("append to a Subset's labels overwrote the parent")
	}
	sub.Shape[0] = 7
	if s.Shape[0] != 2 {
		t.Error("Subset shares Shape")
	}

	// Unlabelled sets.
	u := &Set{X: []float32{0, 1, 2, 3, 4}}
	if got := u.Subset(1, 3); got.Labels != nil || !slices.Equal(got.X, []float32{1, 2}) {
		t.Errorf("unlabelled Subset: %+v", got)
	}
}

func TestSubsetPanics(t *testing.T) {
	s := synth(5, 2)
	for _, r := range [][2]int{{-1, 2}, {3, 2}, {0, 6}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Subset(%d, %d) did not panic", r[0], r[1])
				}
			}()
			s.Subset(r[0], r[1])
		}()
	}
}

func TestSplit(t *testing.T) {
	s := synth(100, 10)
	tests := []struct{ n int }{{0}, {1}, {20}, {99}, {100}}
	for _, tt := range tests {
		rest, held := s.Split(tt.n, 42)
		if held.Len() != tt.n || rest.Len() != 100-tt.n {
			t.Fatalf("Split(%d): %d held, %d rest", tt.n, held.Len(), rest.Len())
		}
		for _, part := range []*Set{rest, held} {
			if err := part.Validate(); err != nil {
				t.Errorf("Split(%d): %v", tt.n, err)
			}
			if !slices.Equal(part.Shape, s.Shape) || part.Classes != 10 {
				t.Errorf("Split(%d): shape %v classes %d", tt.n, part.Shape, part.Classes)
			}
		}
		heldIDs, restIDs := sampleIDs(t, held.X, 6), sampleIDs(t, rest.X, 6)
		if !slices.IsSorted(heldIDs) || !slices.IsSorted(restIDs) {
			t.Errorf("Split(%d): parts not in original order", tt.n)
		}
		all := slices.Sorted(slices.Values(append(slices.Clone(heldIDs), restIDs...)))
		for i, id := range all {
			if id != i {
				t.Fatalf("Split(%d): parts are not a partition: %v", tt.n, all)
			}
		}
		for k, id := range heldIDs {
			if held.Labels[k] != id%10 {
				t.Errorf("Split(%d): held sample %d has label %d", tt.n, id, held.Labels[k])
			}
		}
	}

	// Deterministic per seed, different across seeds, a real shuffle.
	_, h1 := s.Split(20, 1)
	_, h1again := s.Split(20, 1)
	_, h2 := s.Split(20, 2)
	a, b, c := sampleIDs(t, h1.X, 6), sampleIDs(t, h1again.X, 6), sampleIDs(t, h2.X, 6)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different split: %v vs %v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 1 and 2 hold out the same samples %v", a)
	}
	if slices.Equal(a, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}) {
		t.Error("held-out samples are the first 20: no shuffling")
	}

	// Copies, not views.
	rest, held := s.Split(50, 3)
	held.X[0], rest.X[0] = -5, -5
	if slices.Contains(s.X, -5) {
		t.Error("Split shares memory with its input")
	}
}

func TestSplitPanics(t *testing.T) {
	s := synth(5, 2)
	for _, n := range []int{-1, 6} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Split(%d) did not panic", n)
				}
			}()
			s.Split(n, 0)
		}()
	}
}

// TestPermutationUniform is a coarse check of the shuffle: over many seeds,
// each element lands in each position about equally often.
func TestPermutationUniform(t *testing.T) {
	const n, trials = 5, 20000
	var counts [n][n]int
	for seed := range uint64(trials) {
		for pos, v := range permutation(n, newPCG(seed)) {
			counts[v][pos]++
		}
	}
	for v := range n {
		for pos := range n {
			if c := counts[v][pos]; c < trials/n*9/10 || c > trials/n*11/10 {
				t.Errorf("value %d at position %d %d times in %d trials", v, pos, c, trials)
			}
		}
	}
}
