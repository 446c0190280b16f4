package datasets

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/pkg/errors"
)

// An Augmentation draws a random variant of every training sample, a fresh
// one in every epoch, by applying its Steps in order. The randomness of
// sample i in epoch e comes from a generator seeded with (Seed, e, i) and
// the input's column only, so an augmented run is as reproducible as a
// plain one: the same whatever the batch size, the number of cores or
// processes, and whether the run was interrupted and resumed.
//
// Samples are images of shape (C, H, W). The zero value changes nothing.
// An Augmentation is a setting: it holds no state and may be shared.
type Augmentation struct {
	Seed  uint64
	Steps []Transform
}

// A Transform changes one (C, H, W) sample x in place, drawing what it
// needs from r. tmp is scratch space of at least 6·len(x) values, its
// contents undefined on entry. Check reports whether the transform applies
// to samples of a shape. Transforms must not keep x, tmp or r.
type Transform interface {
	Transform(x []float32, shape []int, r *rand.Rand, tmp []float32)
	Check(shape []int) error
	String() string
}

func (a *Augmentation) String() string {
	if a == nil || len(a.Steps) == 0 {
		return "none"
	}
	parts := make([]string, len(a.Steps))
	for i, s := range a.Steps {
		parts[i] = s.String()
	}
	return fmt.Sprintf("%s (seed %d)", strings.Join(parts, ", "), a.Seed)
}

// Check reports whether every step applies to samples of shape.
func (a *Augmentation) Check(shape []int) error {
	if len(shape) != 3 || shape[0] < 1 || shape[1] < 1 || shape[2] < 1 {
		return errors.Errorf("datasets: augmentation needs (C, H, W) images, samples have shape %v", shape)
	}
	for i, s := range a.Steps {
		if s == nil {
			return errors.Errorf("datasets: augmentation step %d is nil", i)
		}
		if err := s.Check(shape); err != nil {
			return errors.Wrapf(err, "datasets: augmentation step %d (%v)", i, s)
		}
	}
	return nil
}

// workspace is one goroutine's generator and scratch space.
type workspace struct {
	pcg rand.PCG
	rng *rand.Rand
	tmp []float32
}

var workspaces = sync.Pool{New: func() any {
	w := &workspace{}
	w.rng = rand.New(&w.pcg)
	return w
}}

// Apply transforms rows of x, n samples of shape (C, H, W) back to back,
// in place: row r is sample index[r] of epoch epoch, in input column
// column. Each row's result depends only on its sample and (Seed, epoch,
// index, column). Apply runs on the calling goroutine, allocating nothing
// once warm; the Trainer calls it from a goroutine of its own, on the next
// batch while a step runs. Call Check first: Apply does not.
func (a *Augmentation) Apply(x []float32, index []int, shape []int, epoch, column int) {
	if a == nil || len(a.Steps) == 0 {
		return
	}
	size := shape[0] * shape[1] * shape[2]
	seed := a.Seed ^ (uint64(epoch)+1)*0x9e3779b97f4a7c15 ^ uint64(column)*0xbf58476d1ce4e5b9
	w := workspaces.Get().(*workspace)
	if cap(w.tmp) < 6*size {
		w.tmp = make([]float32, 6*size)
	}
	tmp := w.tmp[:6*size]
	for r, i := range index {
		w.pcg.Seed(seed, uint64(i))
		a.transform(x[r*size:(r+1)*size], shape, w.rng, tmp)
	}
	workspaces.Put(w)
}

// transform applies the steps to one sample. Consecutive geometric steps
// (Shift, Rotate, Elastic) move pixels by displacement fields, which are
// added and applied as one bilinear warp, as Simard et al. (2003) add their
// affine and elastic fields: one resampling, not one per step.
func (a *Augmentation) transform(x []float32, shape []int, r *rand.Rand, tmp []float32) {
	hw := shape[1] * shape[2]
	out, dy, dx, work := tmp[:len(x)], tmp[len(x):len(x)+hw], tmp[len(x)+hw:len(x)+2*hw], tmp[len(x)+2*hw:]
	moved := false
	for _, s := range a.Steps {
		if d, ok := s.(displacer); ok {
			if !moved {
				clear(dy)
				clear(dx)
				moved = true
			}
			d.displace(shape, r, dy, dx, work)
			continue
		}
		if moved {
			warp(x, shape, dy, dx, out)
			moved = false
		}
		s.Transform(x, shape, r, tmp)
	}
	if moved {
		warp(x, shape, dy, dx, out)
	}
}

// A displacer is a geometric transform: displace adds to (dy, dx) where
// each output pixel reads its value from, in pixels, drawing from r; work
// holds at least 3·H·W values.
type displacer interface {
	displace(shape []int, r *rand.Rand, dy, dx, work []float32)
}

// move applies one displacer alone: a Transform by one warp.
func move(d displacer, x []float32, shape []int, r *rand.Rand, tmp []float32) {
	hw := shape[1] * shape[2]
	dy, dx := tmp[len(x):len(x)+hw], tmp[len(x)+hw:len(x)+2*hw]
	clear(dy)
	clear(dx)
	d.displace(shape, r, dy, dx, tmp[len(x)+2*hw:])
	warp(x, shape, dy, dx, tmp[:len(x)])
}

// Shift moves the image by a random whole number of pixels, up to Max in
// each direction, rows and columns drawn independently and uniformly, and
// fills what comes in with 0: torchvision's RandomCrop(size, padding=Max)
// on a zero background.
type Shift struct{ Max int }

func (s Shift) String() string { return fmt.Sprintf("shift ±%d px", s.Max) }

func (s Shift) Check(shape []int) error {
	if s.Max < 0 || s.Max >= shape[1] || s.Max >= shape[2] {
		return errors.Errorf("Shift.Max = %d, want 0 ≤ Max < the image size %d×%d", s.Max, shape[1], shape[2])
	}
	return nil
}

func (s Shift) Transform(x []float32, shape []int, r *rand.Rand, tmp []float32) {
	move(s, x, shape, r, tmp)
}

func (s Shift) displace(shape []int, r *rand.Rand, dy, dx, _ []float32) {
	oy, ox := float32(r.IntN(2*s.Max+1)-s.Max), float32(r.IntN(2*s.Max+1)-s.Max)
	for i := range dy {
		dy[i] -= oy
		dx[i] -= ox
	}
}

// FlipHorizontal mirrors the image left to right with probability one
// half. It suits photographs, not digits.
type FlipHorizontal struct{}

func (FlipHorizontal) String() string          { return "horizontal flip" }
func (FlipHorizontal) Check(shape []int) error { return nil }

func (FlipHorizontal) Transform(x []float32, shape []int, r *rand.Rand, _ []float32) {
	if r.IntN(2) == 0 {
		return
	}
	w := shape[2]
	for row := 0; row < len(x); row += w {
		line := x[row : row+w]
		for i, j := 0, w-1; i < j; i, j = i+1, j-1 {
			line[i], line[j] = line[j], line[i]
		}
	}
}

// Rotate turns the image about its centre by an angle drawn uniformly from
// ±MaxDegrees, sampling bilinearly and filling with 0 outside.
type Rotate struct{ MaxDegrees float64 }

func (t Rotate) String() string { return fmt.Sprintf("rotate ±%g°", t.MaxDegrees) }

func (t Rotate) Check([]int) error {
	if !(t.MaxDegrees >= 0 && t.MaxDegrees <= 180) {
		return errors.Errorf("Rotate.MaxDegrees = %v, want 0 … 180", t.MaxDegrees)
	}
	return nil
}

func (t Rotate) Transform(x []float32, shape []int, r *rand.Rand, tmp []float32) {
	move(t, x, shape, r, tmp)
}

// displace adds the inverse rotation: output pixel (y, x) reads the input
// at (y, x) turned by −θ about the centre.
func (t Rotate) displace(shape []int, r *rand.Rand, dy, dx, _ []float32) {
	theta := (2*r.Float64() - 1) * t.MaxDegrees * math.Pi / 180
	sin, cos := math.Sincos(theta)
	h, w := shape[1], shape[2]
	cy, cx := float64(h-1)/2, float64(w-1)/2
	for y := range h {
		oy := float64(y) - cy
		for xx := range w {
			ox := float64(xx) - cx
			dy[y*w+xx] += float32(cos*oy - sin*ox - oy)
			dx[y*w+xx] += float32(sin*oy + cos*ox - ox)
		}
	}
}

// Elastic applies the elastic distortion of Simard, Steinkraus & Platt
// (2003), the classic augmentation of MNIST: a random displacement field,
// uniform in ±1 per pixel and axis, smoothed by a Gaussian of standard
// deviation Sigma pixels and scaled by Alpha, moves every pixel, sampled
// bilinearly with 0 outside. The paper used σ = 4 and α = 34 on 28×28
// digits. For speed the Gaussian is approximated by three box filters
// (Wells 1986) whose widths give the variance nearest σ² (for σ = 4:
// widths 7, 7 and 9, a standard deviation of 3.83).
type Elastic struct{ Alpha, Sigma float64 }

func (e Elastic) String() string { return fmt.Sprintf("elastic α=%g σ=%g", e.Alpha, e.Sigma) }

func (e Elastic) Check([]int) error {
	if !(e.Sigma > 0 && e.Sigma <= 64) || !(e.Alpha >= 0 && e.Alpha <= 1e3) {
		return errors.Errorf("Elastic{Alpha: %v, Sigma: %v}, want 0 < σ ≤ 64 and 0 ≤ α ≤ 1000", e.Alpha, e.Sigma)
	}
	return nil
}

func (e Elastic) Transform(x []float32, shape []int, r *rand.Rand, tmp []float32) {
	move(e, x, shape, r, tmp)
}

func (e Elastic) displace(shape []int, r *rand.Rand, dy, dx, work []float32) {
	n := shape[1] * shape[2]
	fy, fx, blur := work[:n], work[n:2*n], work[2*n:3*n]
	for i := range n {
		v := r.Uint64()
		// Two uniform values in [−1, 1) from one draw, 32 bits each.
		fy[i] = float32(int32(v)) / (1 << 31)
		fx[i] = float32(int32(v>>32)) / (1 << 31)
	}
	radii := boxRadii(e.Sigma)
	a := float32(e.Alpha)
	for k, f := range [][]float32{fy, fx} {
		for _, rad := range radii {
			boxRows(f, blur, shape[1], shape[2], rad)
			boxCols(blur, f, shape[1], shape[2], rad)
		}
		d := dy
		if k == 1 {
			d = dx
		}
		for i, v := range f {
			d[i] += a * v
		}
	}
}

// boxRadii returns the radii of three box filters, of widths 2r+1, whose
// combined variance Σ r(r+1)/3 is nearest σ².
func boxRadii(sigma float64) [3]int {
	target := 3 * sigma * sigma // Σ r(r+1)
	lo := int(math.Floor((math.Sqrt(1+4*sigma*sigma) - 1) / 2))
	best, bestErr := [3]int{}, math.Inf(1)
	for m := 0; m <= 3; m++ { // m boxes of radius lo+1, 3−m of radius lo
		var rs [3]int
		var sum float64
		for i := range rs {
			rs[i] = lo
			if i < m {
				rs[i] = lo + 1
			}
			sum += float64(rs[i] * (rs[i] + 1))
		}
		if e := math.Abs(sum - target); e < bestErr {
			best, bestErr = rs, e
		}
	}
	return best
}

// boxRows sets dst to the mean of src over a window of 2·rad+1 along each
// row, counting outside values as 0.
func boxRows(src, dst []float32, h, w, rad int) {
	scale := 1 / float32(2*rad+1)
	for y := range h {
		row, out := src[y*w:(y+1)*w], dst[y*w:(y+1)*w]
		var s float32
		for t := 0; t <= rad && t < w; t++ {
			s += row[t]
		}
		for x := range w {
			out[x] = s * scale
			if x+rad+1 < w {
				s += row[x+rad+1]
			}
			if x-rad >= 0 {
				s -= row[x-rad]
			}
		}
	}
}

// boxCols is boxRows along columns.
func boxCols(src, dst []float32, h, w, rad int) {
	scale := 1 / float32(2*rad+1)
	for x := range w {
		var s float32
		for t := 0; t <= rad && t < h; t++ {
			s += src[t*w+x]
		}
		for y := range h {
			dst[y*w+x] = s * scale
			if y+rad+1 < h {
				s += src[(y+rad+1)*w+x]
			}
			if y-rad >= 0 {
				s -= src[(y-rad)*w+x]
			}
		}
	}
}

// warp sets every channel's pixel (y, x) to its value at (y + dispY,
// x + dispX), sampled bilinearly, 0 outside the image; out holds len(x)
// values.
func warp(x []float32, shape []int, dispY, dispX, out []float32) {
	c, h, w := shape[0], shape[1], shape[2]
	plane := h * w
	for y := range h {
		for xx := range w {
			i := y*w + xx
			sy, sx := float32(y)+dispY[i], float32(xx)+dispX[i]
			y0, x0 := floor(sy), floor(sx)
			fy, fx := sy-float32(y0), sx-float32(x0)
			if y0 >= 0 && y0+1 < h && x0 >= 0 && x0+1 < w {
				// All four neighbours inside: the common case.
				j := y0*w + x0
				w00, w01, w10, w11 := (1-fy)*(1-fx), (1-fy)*fx, fy*(1-fx), fy*fx
				for ch := range c {
					img := x[ch*plane : (ch+1)*plane]
					out[ch*plane+i] = w00*img[j] + w01*img[j+1] + w10*img[j+w] + w11*img[j+w+1]
				}
				continue
			}
			// The four neighbours' weights, zero for those outside.
			var w00, w01, w10, w11 float32
			in0, in1 := y0 >= 0 && y0 < h, y0+1 >= 0 && y0+1 < h
			jn0, jn1 := x0 >= 0 && x0 < w, x0+1 >= 0 && x0+1 < w
			if in0 && jn0 {
				w00 = (1 - fy) * (1 - fx)
			}
			if in0 && jn1 {
				w01 = (1 - fy) * fx
			}
			if in1 && jn0 {
				w10 = fy * (1 - fx)
			}
			if in1 && jn1 {
				w11 = fy * fx
			}
			// Clamp the indices so that reads stay inside; their weights
			// are zero where they were outside.
			cy0, cy1 := min(max(y0, 0), h-1), min(max(y0+1, 0), h-1)
			cx0, cx1 := min(max(x0, 0), w-1), min(max(x0+1, 0), w-1)
			for ch := range c {
				img := x[ch*plane : (ch+1)*plane]
				out[ch*plane+i] = w00*img[cy0*w+cx0] + w01*img[cy0*w+cx1] + w10*img[cy1*w+cx0] + w11*img[cy1*w+cx1]
			}
		}
	}
	copy(x, out)
}

// floor returns ⌊v⌋ for |v| < 2³¹.
func floor(v float32) int {
	i := int(v)
	if float32(i) > v {
		i--
	}
	return i
}
