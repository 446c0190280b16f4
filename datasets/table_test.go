package datasets

import (
	"slices"
	"strings"
	"testing"
)

// column returns a set of n samples of width w whose sample i holds
// i*w .. i*w+w-1, so a value tells which sample it came from.
func column(n, w int) *Set {
	s := &Set{Shape: []int{w}}
	for i := range n * w {
		s.X = append(s.X, float32(i))
	}
	return s
}

func TestGather(t *testing.T) {
	s := column(5, 2)
	s.Labels, s.Classes = []int{0, 1, 2, 0, 1}, 3
	g := s.Gather([]int{4, 0, 4})
	if want := []float32{8, 9, 0, 1, 8, 9}; !slices.Equal(g.X, want) || !slices.Equal(g.Labels, []int{1, 0, 1}) || g.Classes != 3 {
		t.Fatalf("Gather = %+v, want X %v", g, want)
	}
	g.X[0] = -1
	if s.X[8] != 8 {
		t.Fatal("Gather shares data with its set")
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "idx[1] = 5") {
			t.Fatalf("recovered %v", r)
		}
	}()
	s.Gather([]int{0, 5})
}

// TestTableSplitKeepsRowsTogether splits a table whose columns have
// different widths and share one set: every held-out row of each column is
// the same sample, and the shared set stays shared.
func TestTableSplitKeepsRowsTogether(t *testing.T) {
	a, b := column(50, 1), column(50, 3)
	tab := &Table{Inputs: []*Set{a, b}, Targets: []*Set{a}}
	if err := tab.Validate(); err != nil {
		t.Fatal(err)
	}
	rest, held := tab.Split(10, 7)
	if rest.Len() != 40 || held.Len() != 10 {
		t.Fatalf("split into %d and %d", rest.Len(), held.Len())
	}
	for _, part := range []*Table{rest, held} {
		if part.Inputs[0] != part.Targets[0] {
			t.Fatal("a set used twice became two sets")
		}
		for i := range part.Len() {
			if part.Inputs[0].X[i] != part.Inputs[1].X[3*i]/3 {
				t.Fatalf("row %d: samples %v and %v", i, part.Inputs[0].X[i], part.Inputs[1].X[3*i]/3)
			}
		}
	}
	sub := tab.Subset(5, 8)
	if sub.Len() != 3 || sub.Inputs[1].X[0] != 15 {
		t.Fatalf("Subset(5, 8) = %+v", sub)
	}
}

func TestTableValidate(t *testing.T) {
	for _, tc := range []struct {
		tab  *Table
		want string
	}{
		{&Table{}, "no input column"},
		{&Table{Inputs: []*Set{nil}}, "Inputs[0] is nil"},
		{&Table{Inputs: []*Set{column(3, 2), column(4, 2)}}, "Inputs[1] has 4 samples, Inputs[0] has 3"},
		{&Table{Inputs: []*Set{column(3, 2)}, Targets: []*Set{{X: make([]float32, 5), Shape: []int{2}}}}, "Targets[0]: datasets: len(X) = 5"},
	} {
		if err := tc.tab.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want %q", err, tc.want)
		}
	}
	if err := ValidateColumns(nil); err == nil {
		t.Error("nil source accepted")
	}
}
