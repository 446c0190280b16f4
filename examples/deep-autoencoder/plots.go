package main

import (
	"image"
	"image/color"
	"math"

	"github.com/pkg/errors"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// digitRow is one row of the reconstruction figure: a name and its images,
// each side×side intensities in [0, 1], back to back.
type digitRow struct {
	name   string
	images []float32
}

// saveDigits writes a PNG with one row of digits per entry of rows, each
// row labelled with its name on the left.
func saveDigits(path, title string, rows []digitRow, side int) error {
	if len(rows) == 0 {
		return errors.New("no rows to draw")
	}
	cols := len(rows[0].images) / (side * side)
	p := plot.New()
	p.Title.Text = title
	p.HideX()
	p.Y.Width, p.Y.Tick.Length = 0, 0
	var ticks plot.ConstantTicks
	for r, row := range rows {
		y := float64(len(rows) - 1 - r) // first row on top
		ticks = append(ticks, plot.Tick{Value: y + 0.5, Label: row.name})
		for c := 0; c < cols; c++ {
			img := digitImage(row.images[c*side*side:(c+1)*side*side], side, 4)
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
