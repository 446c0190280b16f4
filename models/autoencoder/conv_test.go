package autoencoder_test

import (
	"math"
	"testing"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/autoencoder"
	"github.com/retina-ml/retina/train"
)

// TestConv checks the convolutional autoencoder's shapes and parameter
// count, and that its encoder and decoder, predicting alone, compose to it.
func TestConv(t *testing.T) {
	m, err := autoencoder.Conv(8, 30, graph.WithSeed(2))
	if err != nil {
		t.Fatal(err)
	}
	s := m.Summary()
	// encoder: 1·8·9 + 8 | 8·16·9 + 16 | 784·30 + 30; decoder: 30·784 + 784 |
	// 16·8·9 + 8 | 8·1·9 + 1.
	want := int64(72+8) + (1152 + 16) + (784*30 + 30) + (30*784 + 784) + (1152 + 8) + (72 + 1)
	if s.Params() != want {
		t.Fatalf("%d parameters, want %d", s.Params(), want)
	}
	if got := kinds(m); got != "reshape conv relu conv relu flatten dense dense relu reshape convtranspose relu convtranspose flatten sigmoid" {
		t.Fatalf("layers %q", got)
	}
	enc, err := autoencoder.Encoder(m)
	if err != nil {
		t.Fatal(err)
	}
	if out := enc.Outputs()[0]; !out.Eq(graph.Shape{30}) {
		t.Fatalf("code %v", out)
	}
	set := &datasets.Set{Shape: []int{784}}
	for i := range 3 * 784 {
		set.X = append(set.X, float32(math.Abs(math.Sin(float64(i)))))
	}
	whole, err := train.Predict(m, set, 2)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := train.Predict(enc, set, 2)
	if err != nil {
		t.Fatal(err)
	}
	out, err := train.Predict(m.Submodel("decoder"), &datasets.Set{X: codes[0], Shape: []int{30}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range out[0] {
		if v != whole[0][i] || v <= 0 || v >= 1 {
			t.Fatalf("value %d: decoder(encoder(x)) = %v, the autoencoder gives %v", i, v, whole[0][i])
		}
	}
	if _, err := autoencoder.Conv(0, 30); err == nil {
		t.Fatal("no feature maps accepted")
	}
}
