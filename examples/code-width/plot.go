package main

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"github.com/pkg/errors"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// savePlot draws the training and test reconstruction errors of the
// autoencoders, and of PCA with as many components, against the code
// width on a logarithmic axis.
func savePlot(path, title string, results []result) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "code width (units; PCA: components)"
	p.Y.Label.Text = "reconstruction error"
	p.X.Scale = plot.LogScale{}
	var ticks plot.ConstantTicks
	for _, x := range results {
		ticks = append(ticks, plot.Tick{Value: float64(x.Width), Label: fmt.Sprint(x.Width)})
	}
	p.X.Tick.Marker = ticks
	// A logarithmic error axis: overfitting shows as a ratio of errors.
	p.Y.Scale = plot.LogScale{}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range results {
		for _, v := range []float64{x.TrainError, x.TestError, x.PCATrainError, x.PCATestError} {
			if v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	var decades plot.ConstantTicks
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		decades = append(decades, plot.Tick{Value: math.Pow(10, e), Label: strconv.FormatFloat(math.Pow(10, e), 'g', -1, 64)})
	}
	p.Y.Min, p.Y.Max = decades[0].Value, decades[len(decades)-1].Value
	p.Y.Tick.Marker = decades
	p.Add(plotter.NewGrid())
	p.Legend.Top = false
	p.Legend.Left = true
	series := []struct {
		name  string
		value func(result) float64
		color color.RGBA
		dash  bool
	}{
		{"autoencoder, training images", func(x result) float64 { return x.TrainError }, color.RGBA{31, 119, 180, 255}, false},
		{"autoencoder, test images", func(x result) float64 { return x.TestError }, color.RGBA{214, 39, 40, 255}, false},
		{"PCA, training images", func(x result) float64 { return x.PCATrainError }, color.RGBA{31, 119, 180, 255}, true},
		{"PCA, test images", func(x result) float64 { return x.PCATestError }, color.RGBA{214, 39, 40, 255}, true},
	}
	for _, s := range series {
		xys := make(plotter.XYs, len(results))
		for i, x := range results {
			xys[i] = plotter.XY{X: float64(x.Width), Y: s.value(x)}
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return errors.Wrap(err, "plot")
		}
		line.Color, points.Color = s.color, s.color
		line.Width = vg.Points(2)
		points.Shape = draw.CircleGlyph{}
		points.Radius = vg.Points(3)
		if s.dash {
			line.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
			line.Width = vg.Points(1.2)
			points.Shape = draw.RingGlyph{}
		}
		p.Add(line, points)
		p.Legend.Add(s.name, line, points)
	}
	return errors.Wrapf(p.Save(8*vg.Inch, 5.5*vg.Inch, path), "saving %s", path)
}
