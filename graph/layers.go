package graph

import (
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/ops"
)

// Dense is a fully connected layer: y = x·W + b, with W (in, Units) and
// b (Units). Its input must be a vector (features); put Flatten before it.
// An activation layer right after it is fused into the same op.
type Dense struct {
	Name   string // optional; default dense1, dense2, …
	Units  int    // output features
	NoBias bool   // omit b
	Init   Init   // how W is drawn: GlorotUniform (default), or HeUniform before a ReLU
}

func (d Dense) Kind() string { return "dense" }

func (d Dense) Declare(ins []Shape) (Shape, []ParamSpec, error) {
	in, err := one(ins)
	if err != nil {
		return nil, nil, err
	}
	if len(in) != 1 {
		return nil, nil, errors.New("want a vector (features): add Flatten before it")
	}
	if d.Units < 1 {
		return nil, nil, errors.Errorf("Units = %d, want at least 1", d.Units)
	}
	ps := []ParamSpec{{Name: "W", Shape: Shape{in[0], d.Units}, Init: d.Init, FanIn: in[0], FanOut: d.Units}}
	ps = withBias(ps, d.NoBias, d.Units)
	return Shape{d.Units}, ps, nil
}

func (d Dense) Build(ctx *Context, in []*G.Node, p []*G.Node) (*G.Node, error) {
	return d.buildAct(ctx, in, p, ops.Linear)
}

func (d Dense) buildAct(_ *Context, in []*G.Node, p []*G.Node, f ops.Activation) (*G.Node, error) {
	var b *G.Node
	if len(p) > 1 {
		b = p[1]
	}
	return ops.Dense(in[0], p[0], b, f)
}

func (d Dense) MACs(in Shape) int64 { return int64(in[0]) * int64(d.Units) }

// Conv2D is a convolution layer (cross-correlation, as in ops.Conv2D) with
// Maps output feature maps: input (C, H, W), filters W (Maps, C/Groups,
// KH, KW), bias b (Maps), output (Maps, OH, OW). Window gives the kernel
// size, stride and zero padding; build it with ops.Kernel or ops.Square.
// Dilation and Groups are PyTorch's (see ops.ConvGrouped): Groups splits
// the channels and the maps into groups convolved separately (Groups = C
// is a depthwise convolution).
type Conv2D struct {
	Name     string     // optional; default conv1, conv2, …
	Maps     int        // output feature maps (filters)
	Window   ops.Window // kernel size, stride (≥ 1), padding
	Dilation int        // spacing of the kernel's taps, rows and columns (0 means 1, or Window's DH×DW)
	Groups   int        // groups of channels (0 means 1); must divide C and Maps
	NoBias   bool       // omit b
	Init     Init       // how W is drawn: GlorotUniform (default), or HeUniform before a ReLU
}

func (c Conv2D) Kind() string { return "conv" }

func (c Conv2D) Declare(ins []Shape) (Shape, []ParamSpec, error) {
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
	groups := max(c.Groups, 1)
	switch {
	case c.Groups < 0:
		return nil, nil, errors.Errorf("Groups = %d, want at least 1", c.Groups)
	case in[0]%groups != 0:
		return nil, nil, errors.Errorf("Groups = %d does not divide the %d input channels", groups, in[0])
	case c.Maps%groups != 0:
		return nil, nil, errors.Errorf("Groups = %d does not divide Maps = %d", groups, c.Maps)
	}
	win, err := c.window()
	if err != nil {
		return nil, nil, err
	}
	oh, ow, err := win.Out(in[1], in[2])
	if err != nil {
		return nil, nil, err
	}
	k, cg := win.KH*win.KW, in[0]/groups
	ps := []ParamSpec{{Name: "W", Shape: Shape{c.Maps, cg, win.KH, win.KW}, Init: c.Init, FanIn: cg * k, FanOut: c.Maps * k}}
	ps = withBias(ps, c.NoBias, c.Maps)
	return Shape{c.Maps, oh, ow}, ps, nil
}

func (c Conv2D) Build(ctx *Context, in []*G.Node, p []*G.Node) (*G.Node, error) {
	return c.buildAct(ctx, in, p, ops.Linear)
}

func (c Conv2D) buildAct(_ *Context, in []*G.Node, p []*G.Node, f ops.Activation) (*G.Node, error) {
	x := in[0]
	var b *G.Node
	if len(p) > 1 {
		b = p[1]
	}
	w, err := c.window()
	if err != nil {
		return nil, err
	}
	if c.Groups > 1 || w.DH > 1 || w.DW > 1 {
		return ops.ConvGrouped(x, p[0], b, w, c.Groups, f)
	}
	return ops.Conv2DAct(x, p[0], b, [2]int{w.SH, w.SW}, [2]int{w.PH, w.PW}, f)
}

// window returns Window with the dilation set from Dilation, which must
// agree with Window's DH and DW where those are set.
func (c Conv2D) window() (ops.Window, error) {
	w := c.Window
	switch d := c.Dilation; {
	case d < 0:
		return w, errors.Errorf("Dilation = %d, want at least 1", d)
	case d == 0:
	case (w.DH != 0 && w.DH != d) || (w.DW != 0 && w.DW != d):
		return w, errors.Errorf("Dilation = %d but Window has dilation %d×%d", d, w.DH, w.DW)
	default:
		w.DH, w.DW = d, d
	}
	return w, nil
}

func (c Conv2D) MACs(in Shape) int64 {
	out, _, err := c.Declare([]Shape{in})
	if err != nil {
		return 0
	}
	return int64(out.TotalSize()) * int64(in[0]/max(c.Groups, 1)*c.Window.KH*c.Window.KW)
}

// MaxPool2D keeps the largest value of each window of each feature map
// (see ops.MaxPool2D): input (C, H, W), output (C, OH, OW).
type MaxPool2D struct {
	Name   string     // optional; default pool1, pool2, …
	Window ops.Window // window size, stride (≥ 1), padding
}

func (p MaxPool2D) Kind() string { return "pool" }
func (p MaxPool2D) Declare(ins []Shape) (Shape, []ParamSpec, error) {
	in, err := one(ins)
	if err != nil {
		return nil, nil, err
	}
	return poolShape(in, p.Window)
}
func (p MaxPool2D) Build(_ *Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	return ops.MaxPool2D(in[0], p.Window)
}

// AvgPool2D averages each window of each feature map (see ops.AvgPool2D):
// input (C, H, W), output (C, OH, OW).
type AvgPool2D struct {
	Name   string     // optional; default pool1, pool2, …
	Window ops.Window // window size, stride (≥ 1), padding
}

func (p AvgPool2D) Kind() string { return "pool" }
func (p AvgPool2D) Declare(ins []Shape) (Shape, []ParamSpec, error) {
	in, err := one(ins)
	if err != nil {
		return nil, nil, err
	}
	return poolShape(in, p.Window)
}
func (p AvgPool2D) Build(_ *Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	return ops.AvgPool2D(in[0], p.Window)
}

func poolShape(in Shape, w ops.Window) (Shape, []ParamSpec, error) {
	if len(in) != 3 {
		return nil, nil, errors.New("want an image (C, H, W)")
	}
	if w.PH >= w.KH || w.PW >= w.KW {
		return nil, nil, errors.Errorf("padding %d×%d must be smaller than the window %d×%d", w.PH, w.PW, w.KH, w.KW)
	}
	if dh, dw := w.Dilation(); dh != 1 || dw != 1 {
		return nil, nil, errors.Errorf("dilation %d×%d: pooling windows are not dilated", dh, dw)
	}
	oh, ow, err := w.Out(in[1], in[2])
	if err != nil {
		return nil, nil, err
	}
	return Shape{in[0], oh, ow}, nil, nil
}

// Flatten turns each sample into a vector: (C, H, W) → (C·H·W).
type Flatten struct{ Name string }

func (Flatten) Kind() string { return "flatten" }
func (Flatten) Declare(ins []Shape) (Shape, []ParamSpec, error) {
	in, err := one(ins)
	if err != nil {
		return nil, nil, err
	}
	return Shape{in.TotalSize()}, nil, nil
}
func (Flatten) Build(_ *Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	return ops.Flatten(in[0])
}

// Reshape gives each sample a new shape with the same number of elements.
type Reshape struct {
	Name string
	To   Shape // per-sample shape
}

func (Reshape) Kind() string { return "reshape" }
func (r Reshape) Declare(ins []Shape) (Shape, []ParamSpec, error) {
	in, err := one(ins)
	if err != nil {
		return nil, nil, err
	}
	if r.To.TotalSize() != in.TotalSize() || len(r.To) == 0 {
		return nil, nil, errors.Errorf("%d elements cannot be reshaped to %v (%d elements)", in.TotalSize(), r.To, r.To.TotalSize())
	}
	return r.To.Clone(), nil, nil
}
func (r Reshape) Build(_ *Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	return ops.Reshape(in[0], append(tensor.Shape{in[0].Shape()[0]}, r.To...))
}

// Dropout zeroes each element with probability P while training and scales
// the rest by 1/(1−P) (inverted dropout); it is the identity in evaluation.
// Masks are drawn from a seed and the training step (see Built.SetRandom),
// so a resumed run draws the same masks.
type Dropout struct {
	Name string
	P    float64 // drop probability, 0 ≤ P < 1
}

func (Dropout) Kind() string { return "dropout" }
func (d Dropout) Declare(ins []Shape) (Shape, []ParamSpec, error) {
	in, err := one(ins)
	if err != nil {
		return nil, nil, err
	}
	if !(d.P >= 0 && d.P < 1) {
		return nil, nil, errors.Errorf("P = %v, want 0 ≤ P < 1", d.P)
	}
	return in, nil, nil
}
func (d Dropout) Build(ctx *Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	x := in[0]
	if ctx.Mode != Train || d.P == 0 {
		return x, nil
	}
	st := &ops.DropoutState{Seed: uint64(ctx.Index)}
	ctx.RandomState(st)
	return ops.Dropout(x, d.P, st)
}

// ReLU is the layer max(x, 0), elementwise.
type ReLU struct{ Name string }

// Sigmoid is the layer 1/(1 + e^−x), elementwise.
type Sigmoid struct{ Name string }

// Tanh is the layer tanh(x), elementwise.
type Tanh struct{ Name string }

// Linear is the identity layer (a linear unit), useful to make a model's
// diagram explicit.
type Linear struct{ Name string }

func (l ReLU) Kind() string    { return "relu" }
func (l Sigmoid) Kind() string { return "sigmoid" }
func (l Tanh) Kind() string    { return "tanh" }
func (l Linear) Kind() string  { return "linear" }

func (ReLU) Declare(in []Shape) (Shape, []ParamSpec, error)    { return elementwiseShape(in) }
func (Sigmoid) Declare(in []Shape) (Shape, []ParamSpec, error) { return elementwiseShape(in) }
func (Tanh) Declare(in []Shape) (Shape, []ParamSpec, error)    { return elementwiseShape(in) }
func (Linear) Declare(in []Shape) (Shape, []ParamSpec, error)  { return elementwiseShape(in) }

func (ReLU) Build(_ *Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	return ops.Activate(in[0], ops.ReLU)
}
func (Sigmoid) Build(_ *Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	return ops.Activate(in[0], ops.Sigmoid)
}
func (Tanh) Build(_ *Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	return ops.Activate(in[0], ops.Tanh)
}
func (Linear) Build(_ *Context, in []*G.Node, _ []*G.Node) (*G.Node, error) { return in[0], nil }

// elementwiseShape is Declare for one-input layers that keep the shape.
func elementwiseShape(in []Shape) (Shape, []ParamSpec, error) {
	x, err := one(in)
	return x, nil, err
}

// Softmax turns each sample's vector of scores into probabilities. Train
// classifiers with a cross-entropy loss on the scores before it (the trainer
// does this automatically when the model ends in Softmax).
type Softmax struct{ Name string }

func (Softmax) Kind() string { return "softmax" }
func (Softmax) Declare(ins []Shape) (Shape, []ParamSpec, error) {
	in, err := one(ins)
	if err != nil {
		return nil, nil, err
	}
	if len(in) != 1 {
		return nil, nil, errors.New("want a vector of scores")
	}
	return in, nil, nil
}
func (Softmax) Build(_ *Context, in []*G.Node, _ []*G.Node) (*G.Node, error) {
	return ops.Softmax(in[0])
}

// fuser is implemented by the layers an activation can be fused into:
// buildAct is Build with the activation f applied to the output.
type fuser interface {
	buildAct(ctx *Context, in []*G.Node, p []*G.Node, f ops.Activation) (*G.Node, error)
}

// elementwise returns the activation function of an activation layer that
// can be fused into a preceding Dense, Conv2D, BatchNorm or Add, and
// whether it is one.
func elementwise(l Layer) (ops.Activation, bool) {
	switch l.(type) {
	case ReLU:
		return ops.ReLU, true
	case Sigmoid:
		return ops.Sigmoid, true
	case Tanh:
		return ops.Tanh, true
	}
	return ops.Linear, false
}

// Named is implemented by layers that carry an explicit name. The built-in
// layers do: their Name field, when set, replaces the default name.
type Named interface {
	LayerName() string
}

func (l Dense) LayerName() string     { return l.Name }
func (l Conv2D) LayerName() string    { return l.Name }
func (l MaxPool2D) LayerName() string { return l.Name }
func (l AvgPool2D) LayerName() string { return l.Name }
func (l Flatten) LayerName() string   { return l.Name }
func (l Reshape) LayerName() string   { return l.Name }
func (l Dropout) LayerName() string   { return l.Name }
func (l ReLU) LayerName() string      { return l.Name }
func (l Sigmoid) LayerName() string   { return l.Name }
func (l Tanh) LayerName() string      { return l.Name }
func (l Linear) LayerName() string    { return l.Name }
func (l Softmax) LayerName() string   { return l.Name }

// withBias appends a bias b of n values to ps, unless noBias.
func withBias(ps []ParamSpec, noBias bool, n int) []ParamSpec {
	if noBias {
		return ps
	}
	return append(ps, ParamSpec{Name: "b", Shape: Shape{n}, Bias: true})
}
