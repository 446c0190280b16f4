package mlp_test

import (
	"strings"
	"testing"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/mlp"
)

func TestSeedShape(t *testing.T) {
	m, err := mlp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	s := m.Summary()
	if s.Weights != 79400 || s.Biases != 110 || !m.Outputs()[0].Eq(graph.Shape{10}) {
		t.Fatalf("784-100-10: %d weights, %d biases, output %v", s.Weights, s.Biases, m.Outputs()[0])
	}
	var kinds []string
	for _, r := range s.Rows {
		kinds = append(kinds, r.Kind)
	}
	if got := strings.Join(kinds, " "); got != "dense relu dense" {
		t.Fatalf("layers %q", got)
	}
}

func TestNewWidths(t *testing.T) {
	m, err := mlp.New([]int{5, 4, 3, 2}, graph.Tanh{})
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Summary(); s.Weights != 5*4+4*3+3*2 || s.Biases != 4+3+2 || len(s.Rows) != 5 {
		t.Fatalf("5-4-3-2: %+v", s)
	}
	if _, err := mlp.New([]int{5}, nil); err == nil {
		t.Fatal("one width accepted")
	}
	if _, err := mlp.New([]int{5, 0}, nil); err == nil || !strings.Contains(err.Error(), "Units = 0") {
		t.Fatalf("zero width: %v", err)
	}
}
