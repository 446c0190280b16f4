package cnn_test

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/cnn"
)

// TestResNet checks the network's stages, shortcuts, shapes and counts.
func TestResNet(t *testing.T) {
	m, err := cnn.ResNet(4, 2)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name() != "resnet" || !m.Inputs()[0].Eq(graph.Shape{1, 28, 28}) || !m.Outputs()[0].Eq(graph.Shape{10}) {
		t.Fatalf("model %s: inputs %v, outputs %v", m.Name(), m.Inputs(), m.Outputs())
	}
	kinds := map[string]int{}
	shapes := map[string]graph.Shape{}
	for _, l := range m.Layers() {
		kinds[l.Layer.Kind()]++
		shapes[l.Name] = l.Out
	}
	// stem conv + 3 stages × 2 blocks × 2 convs + 2 shortcut convs.
	if kinds["conv"] != 1+12+2 || kinds["batchnorm"] != 15 || kinds["add"] != 6 || kinds["gap"] != 1 || kinds["dense"] != 1 {
		t.Fatalf("layer kinds %v", kinds)
	}
	for name, want := range map[string]graph.Shape{
		"stem/conv1":          {4, 28, 28},
		"stage1/block2/relu2": {4, 28, 28},
		"stage2/block1/conv1": {8, 14, 14},
		"stage2/block1/conv3": {8, 14, 14}, // the shortcut
		"stage3/block1/conv3": {16, 7, 7},
		"stage3/block2/relu2": {16, 7, 7},
		"gap1":                {16},
		"dense1":              {10},
	} {
		if got := shapes[name]; !got.Eq(want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{"stage1/block1/conv3", "stage2/block2/conv3"} {
		if _, ok := shapes[name]; ok {
			t.Errorf("%s: a shortcut convolution where the shape does not change", name)
		}
	}
	if n := len(m.State()); n != 3*15 {
		t.Errorf("%d state tensors, want 3 per batch norm", n)
	}
}

// TestResNetCounts checks parameter counts against the layer arithmetic and
// the values against those examples/resnet drew before the network moved
// here (SHA-256 of every tensor's name and float32 bits, seed 3): the same
// names and the same draws.
func TestResNetCounts(t *testing.T) {
	for _, tc := range []struct {
		width, blocks   int
		weights, biases int64
		layers          int
		sum             string
	}{
		{4, 2, 11152, 150, 51, "16a6c64001777422b2f86bd4b15828d57fc2a5f361e053a9f18cb392597840be"},
		{16, 2, 174400, 570, 51, "4bf4d0f195c057b9050396653bae1e08e62a960ce33dc2e70363cd5d040c8cde"},
		{2, 1, 0, 0, 0, ""},
	} {
		m, err := cnn.ResNet(tc.width, tc.blocks, graph.WithSeed(3))
		if err != nil {
			t.Fatal(err)
		}
		s := m.Summary()
		// Convolutions: stem 9w; per stage c (maps wc = w·2^c): the first
		// block 9·in·wc + 9·wc² (+ a 1×1 shortcut in·wc for c > 0), the
		// others 18·wc²; batch norms' γ count as weights, β as biases;
		// dense 4w·10 + 10.
		w, b := int64(tc.width), int64(tc.blocks)
		weights, biases := 9*w+w, w // stem conv, bn
		in := w
		for c := range int64(3) {
			wc := w << c
			weights += 9*in*wc + 9*wc*wc + 2*wc
			biases += 2 * wc
			if c > 0 {
				weights += in*wc + wc
				biases += wc
			}
			weights += (b - 1) * (18*wc*wc + 2*wc)
			biases += (b - 1) * 2 * wc
			in = wc
		}
		weights += 4 * w * 10
		biases += 10
		if s.Weights != weights || s.Biases != biases {
			t.Errorf("ResNet(%d, %d): %d weights + %d biases, want %d + %d", tc.width, tc.blocks, s.Weights, s.Biases, weights, biases)
		}
		if tc.sum == "" {
			continue
		}
		if s.Weights != tc.weights || s.Biases != tc.biases || len(m.Layers()) != tc.layers {
			t.Errorf("ResNet(%d, %d): %d weights, %d biases, %d layers; want %d, %d, %d",
				tc.width, tc.blocks, s.Weights, s.Biases, len(m.Layers()), tc.weights, tc.biases, tc.layers)
		}
		h := sha256.New()
		for _, p := range append(m.Params(), m.State()...) {
			h.Write([]byte(p.Name))
			for _, v := range p.Value.Data().([]float32) {
				binary.Write(h, binary.LittleEndian, math.Float32bits(v))
			}
		}
		if got := fmt.Sprintf("%x", h.Sum(nil)); got != tc.sum {
			t.Errorf("ResNet(%d, %d) seed 3: parameters hash to %s, want %s (names or values changed)", tc.width, tc.blocks, got, tc.sum)
		}
	}
}

func TestResNetErrors(t *testing.T) {
	for _, tc := range [][2]int{{0, 2}, {-1, 2}, {16, 0}, {16, -3}, {cnn.MaxResNetSize + 1, 1}, {1, cnn.MaxResNetSize + 1}} {
		m, err := cnn.ResNet(tc[0], tc[1])
		want := fmt.Sprintf("cnn: ResNet width %d and blocks %d, want 1 to %d", tc[0], tc[1], cnn.MaxResNetSize)
		if m != nil || err == nil || err.Error() != want {
			t.Errorf("ResNet(%d, %d): %v, %v; want %q", tc[0], tc[1], m, err, want)
		}
	}
	_, err := cnn.ResNet(4, 1, graph.WithName("a/b"))
	if err == nil || !strings.Contains(err.Error(), "cnn: ResNet: graph: model name") {
		t.Errorf("bad name: %v", err)
	}
}
