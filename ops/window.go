package ops

import (
	"fmt"

	"github.com/pkg/errors"
)

// Window describes how a 2-D kernel or pooling window slides over the
// spatial plane (H, W) of an (N, C, H, W) tensor.
//
// Padding adds PH rows of zeros above and below the input and PW columns left
// and right. Dilation spaces the window's taps DH rows and DW columns apart
// (PyTorch's dilation), so that a KH×KW window spans (KH−1)·DH + 1 rows.
// The output size along rows is
//
//	OH = (H + 2·PH − (KH−1)·DH − 1)/SH + 1
//
// (integer division: positions where the window would overhang the padded
// input are dropped), and likewise along columns. Strides must be at least 1;
// a dilation of 0 means 1 (no gaps). Use Kernel or Square to build windows
// with the usual defaults. Dilation is supported by ConvGrouped (and
// ConvTranspose2D); Conv2D and the pooling ops take undilated windows.
type Window struct {
	KH, KW int // window size: rows, columns
	SH, SW int // stride: rows, columns (≥ 1)
	PH, PW int // zero padding on each side: rows, columns (≥ 0)
	DH, DW int // dilation: rows, columns (≥ 1; 0 means 1)
}

// Kernel returns a kh×kw window with stride 1 and no padding.
func Kernel(kh, kw int) Window { return Window{KH: kh, KW: kw, SH: 1, SW: 1} }

// Square returns a k×k window with stride s and padding p on every side.
func Square(k, s, p int) Window { return Window{KH: k, KW: k, SH: s, SW: s, PH: p, PW: p} }

// Dilation returns the window's dilation (rows, columns), 0 read as 1.
func (w Window) Dilation() (dh, dw int) {
	dh, dw = w.DH, w.DW
	if dh == 0 {
		dh = 1
	}
	if dw == 0 {
		dw = 1
	}
	return dh, dw
}

// dilated reports whether the window has a dilation other than 1.
func (w Window) dilated() bool {
	dh, dw := w.Dilation()
	return dh != 1 || dw != 1
}

// String formats the window as "5×5 stride 1×1 pad 0×0", followed by
// " dilation 2×2" when the dilation is not 1.
func (w Window) String() string {
	s := fmt.Sprintf("%d×%d stride %d×%d pad %d×%d", w.KH, w.KW, w.SH, w.SW, w.PH, w.PW)
	if w.dilated() {
		dh, dw := w.Dilation()
		s += fmt.Sprintf(" dilation %d×%d", dh, dw)
	}
	return s
}

// check reports whether the window's sizes, strides, padding and dilation
// and the h×w input are valid.
func (w Window) check(h, wd int) error {
	switch {
	case w.KH < 1 || w.KW < 1:
		return errors.Errorf("window %d×%d: size must be at least 1×1", w.KH, w.KW)
	case w.SH < 1 || w.SW < 1:
		return errors.Errorf("stride %d×%d: must be at least 1×1", w.SH, w.SW)
	case w.PH < 0 || w.PW < 0:
		return errors.Errorf("padding %d×%d: must not be negative", w.PH, w.PW)
	case w.DH < 0 || w.DW < 0:
		return errors.Errorf("dilation %d×%d: must be at least 1×1 (0 means 1)", w.DH, w.DW)
	case h < 1 || wd < 1:
		return errors.Errorf("input %d×%d: must be at least 1×1", h, wd)
	}
	return nil
}

// Out returns the output size (OH, OW) of the window slid over an h×w plane,
// or an error that states why the window does not fit.
func (w Window) Out(h, wd int) (oh, ow int, err error) {
	dh, dw := w.Dilation()
	if err := w.check(h, wd); err != nil {
		return 0, 0, err
	}
	ekh, ekw := (w.KH-1)*dh+1, (w.KW-1)*dw+1 // the extent of the dilated window
	if ekh > h+2*w.PH || ekw > wd+2*w.PW {
		if dh == 1 && dw == 1 {
			return 0, 0, errors.Errorf("kernel %d×%d larger than padded input %d×%d (input %d×%d, padding %d×%d)",
				w.KH, w.KW, h+2*w.PH, wd+2*w.PW, h, wd, w.PH, w.PW)
		}
		return 0, 0, errors.Errorf("kernel %d×%d dilated %d×%d spans %d×%d, larger than padded input %d×%d (input %d×%d, padding %d×%d)",
			w.KH, w.KW, dh, dw, ekh, ekw, h+2*w.PH, wd+2*w.PW, h, wd, w.PH, w.PW)
	}
	return (h+2*w.PH-ekh)/w.SH + 1, (wd+2*w.PW-ekw)/w.SW + 1, nil
}

// TransposedOut returns the output size (OH, OW) of a transposed
// convolution (ConvTranspose2D) with this window over an h×w input, with
// outPad (rows, columns) extra rows and columns at the bottom and right:
//
//	OH = (h − 1)·SH − 2·PH + DH·(KH − 1) + outPad[0] + 1
//
// or an error that states why it has none. Each output padding must be
// smaller than the stride or the dilation along its axis (PyTorch's rule).
func (w Window) TransposedOut(h, wd int, outPad [2]int) (oh, ow int, err error) {
	dh, dw := w.Dilation()
	if err := w.check(h, wd); err != nil {
		return 0, 0, err
	}
	switch {
	case outPad[0] < 0 || outPad[1] < 0, outPad[0] >= w.SH && outPad[0] >= dh, outPad[1] >= w.SW && outPad[1] >= dw:
		return 0, 0, errors.Errorf("output padding %d×%d: each must be ≥ 0 and smaller than the stride %d×%d or the dilation %d×%d",
			outPad[0], outPad[1], w.SH, w.SW, dh, dw)
	}
	oh = (h-1)*w.SH - 2*w.PH + dh*(w.KH-1) + outPad[0] + 1
	ow = (wd-1)*w.SW - 2*w.PW + dw*(w.KW-1) + outPad[1] + 1
	if oh < 1 || ow < 1 {
		return 0, 0, errors.Errorf("input %d×%d, window %v, output padding %d×%d: output would be %d×%d",
			h, wd, w, outPad[0], outPad[1], oh, ow)
	}
	return oh, ow, nil
}
