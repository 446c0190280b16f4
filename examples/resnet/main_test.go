package main

import (
	"testing"

	"github.com/retina-ml/retina/graph"
)

// TestResNet checks the network's stages, shortcuts and counts.
func TestResNet(t *testing.T) {
	m, err := ResNet(4, 2)
	if err != nil {
		t.Fatal(err)
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
		"stage2/block1/conv3": {8, 14, 14}, // the shortcut
		"stage3/block2/relu2": {16, 7, 7},
		"gap1":                {16},
		"dense1":              {10},
	} {
		if got := shapes[name]; !got.Eq(want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	if _, ok := shapes["stage1/block1/conv3"]; ok {
		t.Error("a shortcut convolution where the shape does not change")
	}
	if n := len(m.State()); n != 3*15 {
		t.Errorf("%d state tensors, want 3 per batch norm", n)
	}
	if _, err := ResNet(0, 1); err == nil {
		t.Error("width 0 accepted")
	}
}
