// Package plots draws the examples' figures.
package plots

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/pkg/errors"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/palette/brewer"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/predict"
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

// DigitRow is one row of a digits figure: a name and its images, each
// side×side intensities in [0, 1], back to back.
type DigitRow struct {
	Name   string
	Images []float32
}

// Digits writes a PNG with one row of digits per entry of rows, each row
// labelled with its name on the left.
func Digits(path, title string, rows []DigitRow, side int) error {
	if len(rows) == 0 {
		return errors.New("no rows to draw")
	}
	cols := len(rows[0].Images) / (side * side)
	p := plot.New()
	p.Title.Text = title
	p.HideX()
	p.Y.Width, p.Y.Tick.Length = 0, 0
	var ticks plot.ConstantTicks
	for r, row := range rows {
		y := float64(len(rows) - 1 - r) // first row on top
		ticks = append(ticks, plot.Tick{Value: y + 0.5, Label: row.Name})
		for c := 0; c < cols; c++ {
			img := digitImage(row.Images[c*side*side:(c+1)*side*side], side, 4)
			p.Add(plotter.NewImage(img, float64(c)+0.04, y+0.04, float64(c+1)-0.04, y+0.96))
		}
	}
	p.Y.Tick.Marker = ticks
	p.X.Min, p.X.Max = 0, float64(cols)
	p.Y.Min, p.Y.Max = 0, float64(len(rows))
	w := vg.Length(cols)*0.75*vg.Inch + 1.3*vg.Inch
	h := vg.Length(len(rows))*0.75*vg.Inch + 0.5*vg.Inch
	return errors.Wrapf(p.Save(w, h, path), "saving %s", path)
}

// digitImage turns side×side intensities into a grey image (white
// background, dark ink) magnified scale times with nearest-neighbour
// sampling, so pixels stay sharp.
func digitImage(px []float32, side, scale int) image.Image {
	img := image.NewGray(image.Rect(0, 0, side*scale, side*scale))
	for y := 0; y < side*scale; y++ {
		for x := 0; x < side*scale; x++ {
			v := math.Min(math.Max(float64(px[(y/scale)*side+x/scale]), 0), 1)
			img.SetGray(x, y, color.Gray{Y: uint8(math.Round(255 * (1 - v)))})
		}
	}
	return img
}

// FirstOfEachDigit returns the first image of each label 0, 1, … of a
// labelled set, in label order, flattened and without labels.
func FirstOfEachDigit(set *datasets.Set) *datasets.Set {
	n := set.SampleSize()
	first := map[int]int{}
	for i, l := range set.Labels {
		if _, ok := first[l]; !ok {
			first[l] = i
		}
	}
	s := &datasets.Set{Shape: []int{n}}
	for d := 0; d < set.Classes; d++ {
		if i, ok := first[d]; ok {
			s.X = append(s.X, set.X[i*n:(i+1)*n]...)
		}
	}
	return s
}

// Confusion writes a PNG heat map of a confusion matrix: true classes as
// rows (the first on top), predicted classes as columns, each cell's count
// written in it (for up to 30 classes) and shaded by log(1 + count), so
// that the few errors off the diagonal show beside its thousands. names
// labels the classes (nil: 0, 1, …).
func Confusion(path, title string, c *predict.Confusion, names []string) error {
	k := c.Classes()
	if k < 1 {
		return errors.New("confusion plot: no classes")
	}
	if names == nil {
		for i := range k {
			names = append(names, fmt.Sprint(i))
		}
	}
	if len(names) != k {
		return errors.Errorf("confusion plot: %d names for %d classes", len(names), k)
	}
	pal, err := brewer.GetPalette(brewer.TypeSequential, "Blues", 9)
	if err != nil {
		return errors.Wrap(err, "confusion plot")
	}
	grid := confusionGrid{c: c, k: k}
	heat := plotter.NewHeatMap(grid, pal)
	heat.Min, heat.Max = 0, math.Max(grid.max(), 1)
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "predicted class"
	p.Y.Label.Text = "true class"
	p.Add(heat)
	var xt, yt plot.ConstantTicks
	for i := range k {
		xt = append(xt, plot.Tick{Value: float64(i), Label: names[i]})
		yt = append(yt, plot.Tick{Value: float64(k - 1 - i), Label: names[i]})
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = xt, yt
	p.X.Min, p.X.Max = -0.5, float64(k)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(k)-0.5
	if k <= 30 {
		counts := &plotter.Labels{}
		size := vg.Points(math.Min(10, 200/float64(k)))
		for t := range k {
			for pr := range k {
				n := c.Count(t, pr)
				counts.XYs = append(counts.XYs, plotter.XY{X: float64(pr), Y: float64(k - 1 - t)})
				counts.Labels = append(counts.Labels, fmt.Sprint(n))
				ink := color.Color(color.Black)
				if grid.Z(pr, k-1-t) > 0.6*heat.Max {
					ink = color.White
				}
				counts.TextStyle = append(counts.TextStyle, text.Style{
					Color: ink, Font: font.From(plotter.DefaultFont, size), Handler: plot.DefaultTextHandler,
					XAlign: draw.XCenter, YAlign: draw.YCenter,
				})
			}
		}
		p.Add(counts)
	}
	side := vg.Length(k)*0.45*vg.Inch + 1.2*vg.Inch
	return errors.Wrapf(p.Save(side, side+0.3*vg.Inch, path), "saving %s", path)
}

// confusionGrid is a confusion matrix as a heat map's grid: column x is
// the predicted class, row y the true class k − 1 − y, the value log(1 +
// count).
type confusionGrid struct {
	c *predict.Confusion
	k int
}

func (g confusionGrid) Dims() (c, r int)   { return g.k, g.k }
func (g confusionGrid) X(c int) float64    { return float64(c) }
func (g confusionGrid) Y(r int) float64    { return float64(r) }
func (g confusionGrid) Z(c, r int) float64 { return math.Log1p(float64(g.c.Count(g.k-1-r, c))) }

func (g confusionGrid) max() float64 {
	m := 0.0
	for c := range g.k {
		for r := range g.k {
			m = math.Max(m, g.Z(c, r))
		}
	}
	return m
}
