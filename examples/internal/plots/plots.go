// Package plots draws the examples' figures.
package plots

import (
	"fmt"
	"image/color"
	"math"

	"github.com/pkg/errors"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// palette holds ten distinguishable colours (Tableau 10), one per digit.
var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}, {148, 103, 189, 255},
	{140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255}, {188, 189, 34, 255}, {23, 190, 207, 255},
}

// Scatter writes a PNG scatter plot of two-dimensional points (x, y pairs
// back to back), one colour per label 0..9, with a legend; xLabel and
// yLabel name the axes.
func Scatter(path, title, xLabel, yLabel string, points []float32, labels []int) error {
	if len(points) != 2*len(labels) {
		return errors.Errorf("%d point values for %d labels", len(points), len(labels))
	}
	byLabel := map[int]plotter.XYs{}
	for i, l := range labels {
		byLabel[l] = append(byLabel[l], plotter.XY{X: float64(points[2*i]), Y: float64(points[2*i+1])})
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	p.Legend.Left = false
	for d := range 10 {
		xys, ok := byLabel[d]
		if !ok {
			continue
		}
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return errors.Wrap(err, "scatter")
		}
		s.GlyphStyle = draw.GlyphStyle{Color: palette[d%len(palette)], Radius: vg.Points(1.2), Shape: draw.CircleGlyph{}}
		p.Add(s)
		// A larger glyph, not plotted, for the legend.
		key, err := plotter.NewScatter(plotter.XYs{{}})
		if err != nil {
			return errors.Wrap(err, "legend")
		}
		key.GlyphStyle = draw.GlyphStyle{Color: palette[d%len(palette)], Radius: vg.Points(4), Shape: draw.CircleGlyph{}}
		p.Legend.Add(fmt.Sprint(d), key)
	}
	// Leave room on the right for the legend.
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := 0; i < len(points); i += 2 {
		lo, hi = math.Min(lo, float64(points[i])), math.Max(hi, float64(points[i]))
	}
	p.X.Min, p.X.Max = lo, hi+0.15*(hi-lo)
	return errors.Wrapf(p.Save(7*vg.Inch, 6*vg.Inch, path), "saving %s", path)
}
