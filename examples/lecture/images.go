package main

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"

	"github.com/pkg/errors"
)

// plane is one h×w array of values, row-major: the value at row i, column
// j is V[i·W+j].
type plane struct {
	V    []float32
	H, W int
}

// at returns the value at row i, column j.
func (p plane) at(i, j int) float32 { return p.V[i*p.W+j] }

// planes cuts n·h·w values (n maps of h×w, back to back) into n planes.
func planes(v []float32, n, h, w int) []plane {
	ps := make([]plane, n)
	for k := range ps {
		ps[k] = plane{V: v[k*h*w : (k+1)*h*w], H: h, W: w}
	}
	return ps
}

// extent returns the smallest and largest value of the planes.
func extent(ps ...plane) (lo, hi float32) {
	lo, hi = float32(math.Inf(1)), float32(math.Inf(-1))
	for _, p := range ps {
		for _, v := range p.V {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return lo, hi
}

// grayImage draws p with lo as black and hi as white (values outside are
// clipped), each value as a scale×scale block of pixels. lo == hi draws
// everything black.
func grayImage(p plane, lo, hi float32, scale int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, p.W*scale, p.H*scale))
	span := hi - lo
	for i := 0; i < p.H; i++ {
		for j := 0; j < p.W; j++ {
			var g uint8
			if span > 0 {
				t := (p.at(i, j) - lo) / span
				g = uint8(math.Round(float64(255 * min(max(t, 0), 1))))
			}
			for y := i * scale; y < (i+1)*scale; y++ {
				for x := j * scale; x < (j+1)*scale; x++ {
					img.Pix[y*img.Stride+x] = g
				}
			}
		}
	}
	return img
}

// normalised draws p stretched to its own range: its smallest value black,
// its largest white.
func normalised(p plane, scale int) *image.Gray {
	lo, hi := extent(p)
	return grayImage(p, lo, hi, scale)
}

// signedImage draws signed values with 0 as mid-gray, −limit as black and
// +limit as white. limit ≤ 0 uses the largest |value| of p.
func signedImage(p plane, limit float32, scale int) *image.Gray {
	if limit <= 0 {
		lo, hi := extent(p)
		limit = max(-lo, hi)
	}
	if limit <= 0 {
		limit = 1 // an all-zero plane: all mid-gray
	}
	return grayImage(p, -limit, limit, scale)
}

// gridImage arranges tiles in rows of cols, left to right and top to
// bottom, in cells as large as the largest tile, with pad pixels of
// background gray between and around them.
func gridImage(tiles []*image.Gray, cols, pad int, background uint8) *image.Gray {
	if len(tiles) == 0 || cols < 1 {
		return image.NewGray(image.Rect(0, 0, 0, 0))
	}
	var cw, ch int
	for _, t := range tiles {
		cw, ch = max(cw, t.Bounds().Dx()), max(ch, t.Bounds().Dy())
	}
	cols = min(cols, len(tiles))
	rows := (len(tiles) + cols - 1) / cols
	img := image.NewGray(image.Rect(0, 0, cols*(cw+pad)+pad, rows*(ch+pad)+pad))
	for i := range img.Pix {
		img.Pix[i] = background
	}
	for k, t := range tiles {
		x0, y0 := pad+(k%cols)*(cw+pad), pad+(k/cols)*(ch+pad)
		b := t.Bounds()
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				img.SetGray(x0+x, y0+y, color.Gray{Y: t.GrayAt(b.Min.X+x, b.Min.Y+y).Y})
			}
		}
	}
	return img
}

// writeFiles is false on the ranks other than 0 of a data-parallel run:
// they compute everything but write nothing.
var writeFiles = true

// savePNG writes img to path as a PNG file.
func savePNG(path string, img image.Image) (err error) {
	if !writeFiles {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return errors.Wrap(err, "saving image")
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = errors.Wrapf(cerr, "saving %s", path)
		}
	}()
	return errors.Wrapf(png.Encode(f, img), "encoding %s", path)
}
