package graph

import (
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"

	"github.com/retina-ml/retina/ops"
)

// ConvTranspose2D is a transposed convolution layer (see
// ops.ConvTranspose2D), the upsampling of decoders and generators: input
// (C, H, W), weight W (C, Maps, KH, KW) as PyTorch lays it out, bias b
// (Maps), output (Maps, OH, OW) with
//
//	OH = (H − 1)·SH − 2·PH + DH·(KH − 1) + OutputPadding[0] + 1
//
// and likewise OW. Window gives the kernel size, stride, padding and
// dilation; OutputPadding adds rows and columns at the bottom and right,
// each smaller than the stride (or the dilation) along its axis. A 4×4
// window of stride 2 and padding 1 doubles the height and width.
type ConvTranspose2D struct {
	Name          string     // optional; default convtranspose1, convtranspose2, …
	Maps          int        // output feature maps
	Window        ops.Window // kernel size, stride (≥ 1), padding, dilation
	OutputPadding [2]int     // extra output rows and columns (bottom, right)
	NoBias        bool       // omit b
	Init          Init       // how W is drawn: GlorotUniform (default), or HeUniform before a ReLU
}

func (c ConvTranspose2D) Kind() string { return "convtranspose" }

// Declare returns the parameters with the fans PyTorch computes from the
// weight (C, Maps, KH, KW): fan-in Maps·KH·KW, fan-out C·KH·KW.
func (c ConvTranspose2D) Declare(ins []Shape) (Shape, []ParamSpec, error) {
	in, err := one(ins)
	if err != nil {
		return nil, nil, err
	}
	if len(in) != 3 {
		return nil, nil, errors.New("want an image (C, H, W)")
	}
	if c.Maps < 1 {
		return nil, nil, errors.Errorf("Maps = %d, want at least 1", c.Maps)
	}
	oh, ow, err := c.Window.TransposedOut(in[1], in[2], c.OutputPadding)
	if err != nil {
		return nil, nil, err
	}
	k := c.Window.KH * c.Window.KW
	ps := []ParamSpec{{Name: "W", Shape: Shape{in[0], c.Maps, c.Window.KH, c.Window.KW}, Init: c.Init, FanIn: c.Maps * k, FanOut: in[0] * k}}
	ps = withBias(ps, c.NoBias, c.Maps)
	return Shape{c.Maps, oh, ow}, ps, nil
}

func (c ConvTranspose2D) Build(_ *Context, in []*G.Node, p []*G.Node) (*G.Node, error) {
	var b *G.Node
	if len(p) > 1 {
		b = p[1]
	}
	return ops.ConvTranspose2D(in[0], p[0], b, c.Window, c.OutputPadding, 1)
}

// MACs counts each input cell times each weight it meets: C·H·W·Maps·KH·KW.
func (c ConvTranspose2D) MACs(in Shape) int64 {
	if _, _, err := c.Declare([]Shape{in}); err != nil {
		return 0
	}
	return int64(in.TotalSize()) * int64(c.Maps*c.Window.KH*c.Window.KW)
}

// Upsample2D repeats each cell of each feature map over a block of
// ScaleH×ScaleW cells (nearest-neighbour upsampling, see ops.Upsample2D):
// input (C, H, W), output (C, H·ScaleH, W·ScaleW). Scale sets both
// factors; ScaleH or ScaleW, when set, replaces it along its axis.
type Upsample2D struct {
	Name           string // optional; default upsample1, upsample2, …
	Scale          int    // factor along rows and columns
	ScaleH, ScaleW int    // factor along rows, columns (0: Scale)
}

func (Upsample2D) Kind() string { return "upsample" }

// factors returns the scale factors along rows and columns.
func (u Upsample2D) factors() (sh, sw int, err error) {
	sh, sw = u.ScaleH, u.ScaleW
	if sh == 0 {
		sh = u.Scale
	}
	if sw == 0 {
		sw = u.Scale
	}
	if sh < 1 || sw < 1 {
		return 0, 0, errors.Errorf("scale %d×%d (Scale = %d, ScaleH = %d, ScaleW = %d): want at least 1×1", sh, sw, u.Scale, u.ScaleH, u.ScaleW)
	}
	return sh, sw, nil
}

func (u Upsample2D) Declare(ins []Shape) (Shape, []ParamSpec, error) {
	in, err := one(ins)
	if err != nil {
		return nil, nil, err
	}
	if len(in) != 3 {
		return nil, nil, errors.New("want an image (C, H, W)")
	}
	sh, sw, err := u.factors()
	if err != nil {
		return nil, nil, err
	}
	return Shape{in[0], in[1] * sh, in[2] * sw}, nil, nil
}

func (u Upsample2D) Build(_ *Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	sh, sw, err := u.factors()
	if err != nil {
		return nil, err
	}
	return ops.Upsample2D(in[0], sh, sw)
}

// GlobalAvgPool2D averages each feature map over all its positions (see
// ops.GlobalAvgPool2D): input (C, H, W), output (C).
type GlobalAvgPool2D struct {
	Name string // optional; default gap1, gap2, …
}

func (GlobalAvgPool2D) Kind() string { return "gap" }

func (GlobalAvgPool2D) Declare(ins []Shape) (Shape, []ParamSpec, error) {
	in, err := one(ins)
	if err != nil {
		return nil, nil, err
	}
	if len(in) != 3 {
		return nil, nil, errors.New("want an image (C, H, W)")
	}
	return Shape{in[0]}, nil, nil
}

func (GlobalAvgPool2D) Build(_ *Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	return ops.GlobalAvgPool2D(in[0])
}

func (l ConvTranspose2D) LayerName() string { return l.Name }
func (l Upsample2D) LayerName() string      { return l.Name }
func (l GlobalAvgPool2D) LayerName() string { return l.Name }
