package ops

import (
	"fmt"

	"github.com/pkg/errors"
)

// Window describes how a 2-D kernel or pooling window slides over the
// spatial plane (H, W) of an (N, C, H, W) tensor.
//
// Padding adds PH rows of zeros above and below the input and PW columns left
// and right. The output size along rows is
//
//	OH = (H + 2·PH − KH)/SH + 1
//
// (integer division: positions where the window would overhang the padded
// input are dropped), and likewise along columns. Strides must be at least 1;
// use Kernel or Square to build windows with the usual defaults.
type Window struct {
	KH, KW int // window size: rows, columns
	SH, SW int // stride: rows, columns (≥ 1)
	PH, PW int // zero padding on each side: rows, columns (≥ 0)
}

// Kernel returns a kh×kw window with stride 1 and no padding.
func Kernel(kh, kw int) Window { return Window{KH: kh, KW: kw, SH: 1, SW: 1} }

// Square returns a k×k window with stride s and padding p on every side.
func Square(k, s, p int) Window { return Window{KH: k, KW: k, SH: s, SW: s, PH: p, PW: p} }

// String formats the window as "5×5 stride 1×1 pad 0×0".
func (w Window) String() string {
	return fmt.Sprintf("%d×%d stride %d×%d pad %d×%d", w.KH, w.KW, w.SH, w.SW, w.PH, w.PW)
}

// Out returns the output size (OH, OW) of the window slid over an h×w plane,
// or an error that states why the window does not fit.
func (w Window) Out(h, wd int) (oh, ow int, err error) {
	switch {
	case w.KH < 1 || w.KW < 1:
		return 0, 0, errors.Errorf("window %d×%d: size must be at least 1×1", w.KH, w.KW)
	case w.SH < 1 || w.SW < 1:
		return 0, 0, errors.Errorf("stride %d×%d: must be at least 1×1", w.SH, w.SW)
	case w.PH < 0 || w.PW < 0:
		return 0, 0, errors.Errorf("padding %d×%d: must not be negative", w.PH, w.PW)
	case h < 1 || wd < 1:
		return 0, 0, errors.Errorf("input %d×%d: must be at least 1×1", h, wd)
	case w.KH > h+2*w.PH || w.KW > wd+2*w.PW:
		return 0, 0, errors.Errorf("kernel %d×%d larger than padded input %d×%d (input %d×%d, padding %d×%d)",
			w.KH, w.KW, h+2*w.PH, wd+2*w.PW, h, wd, w.PH, w.PW)
	}
	return (h+2*w.PH-w.KH)/w.SH + 1, (wd+2*w.PW-w.KW)/w.SW + 1, nil
}
