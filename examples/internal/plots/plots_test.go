package plots_test

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/retina-ml/retina/examples/internal/plots"
	"github.com/retina-ml/retina/predict"
)

// TestConfusion draws a 10-class matrix and a 40-class one (counts left
// out), and refuses class names that do not fit.
func TestConfusion(t *testing.T) {
	for _, k := range []int{10, 40} {
		c, err := predict.NewConfusion(k)
		if err != nil {
			t.Fatal(err)
		}
		for tr := range k {
			for range 100 + tr {
				c.Add(tr, tr)
			}
			c.Add(tr, (tr+3)%k)
		}
		path := filepath.Join(t.TempDir(), "confusion.png")
		if err := plots.Confusion(path, "test", c, nil); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width < 30*k || cfg.Height <= cfg.Width {
			t.Errorf("%d classes: %+v, %v", k, cfg, err)
		}
	}
	c, err := predict.NewConfusion(3)
	if err != nil {
		t.Fatal(err)
	}
	if err := plots.Confusion(filepath.Join(t.TempDir(), "c.png"), "test", c, []string{"cat", "dog"}); err == nil || !strings.Contains(err.Error(), "2 names for 3 classes") {
		t.Errorf("names: %v", err)
	}
	if err := plots.Confusion(filepath.Join(t.TempDir(), "c.png"), "test", &predict.Confusion{}, nil); err == nil {
		t.Error("a matrix of no class drawn")
	}
}
