package onnx

import (
	"math"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

// layer converts the layer application li, which reads the ONNX values in
// and writes out; nodes are named by li's path, helper values and
// constants "<path>/…".
func (e *exporter) layer(li graph.LayerInfo, in []string, out string) error {
	if op, attrs, ok := simple(li.Layer, len(in)); ok {
		e.node(op, li.Name, in, out, attrs...)
		return nil
	}
	switch l := li.Layer.(type) {
	case graph.Dense:
		return e.dense(li, in[0], out)
	case graph.Conv2D:
		return e.conv(l, li, in[0], out)
	case graph.ConvTranspose2D:
		return e.convTranspose(l, li, in[0], out)
	case graph.BatchNorm:
		return e.batchNorm(l, li, in[0], out)
	case graph.LayerNorm:
		return e.layerNorm(l, li, in[0], out)
	case graph.Reshape:
		return e.reshape(l, li, in[0], out)
	case graph.Upsample2D:
		e.upsample(l, li, in[0], out)
	case graph.GlobalAvgPool2D:
		e.globalAvgPool(li, in[0], out)
	case graph.GELU:
		e.gelu(li, in[0], out)
	case graph.SiLU:
		e.silu(li, in[0], out)
	default:
		return errors.Errorf("onnx: layer %q (%s) has no ONNX form", li.Name, li.Layer.Kind())
	}
	return nil
}

// simple returns the operator and attributes of a layer that becomes one
// node without tensors, given its number of inputs, and whether l is one.
func simple(l graph.Layer, inputs int) (op string, attrs []attribute, ok bool) {
	switch l := l.(type) {
	case graph.ReLU:
		return "Relu", nil, true
	case graph.Sigmoid:
		return "Sigmoid", nil, true
	case graph.Tanh:
		return "Tanh", nil, true
	case graph.Softplus:
		return "Softplus", nil, true
	case graph.Softmax: // over the K scores of (N, K)
		return "Softmax", []attribute{intAttr("axis", 1)}, true
	case graph.LeakyReLU:
		return "LeakyRelu", []attribute{floatAttr("alpha", orDefault(l.Slope, 0.01))}, true
	case graph.ELU:
		return "Elu", []attribute{floatAttr("alpha", orDefault(l.Alpha, 1))}, true
	case graph.Linear, graph.Dropout: // dropout is the identity in inference
		return "Identity", nil, true
	case graph.Flatten:
		return "Flatten", []attribute{intAttr("axis", 1)}, true
	case graph.MaxPool2D:
		return "MaxPool", poolAttrs(l.Window), true
	case graph.AvgPool2D: // padded cells count, as zeros
		return "AveragePool", append(poolAttrs(l.Window), intAttr("count_include_pad", 1)), true
	case graph.Concat: // the per-sample axis, after N
		return "Concat", []attribute{intAttr("axis", l.Axis+1)}, true
	case graph.Add:
		if inputs > 2 {
			return "Sum", nil, true
		}
		return "Add", nil, true
	}
	return "", nil, false
}

// orDefault returns v, or def for 0: the layers' reading of their zero
// fields (LeakyReLU.Slope 0.01, ELU.Alpha 1, the norms' Eps 1e-5).
func orDefault(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

// dense is Gemm(x, weight, bias) with transB=1: the weight is stored (out,
// in), PyTorch's layout; a layer without bias has no third input.
func (e *exporter) dense(li graph.LayerInfo, x, out string) error {
	in, err := e.weightBias(li, x)
	if err != nil {
		return err
	}
	e.node("Gemm", li.Name, in, out, intAttr("transB", 1))
	return nil
}

// conv is Conv with the window, dilation and groups Conv2D applies.
func (e *exporter) conv(l graph.Conv2D, li graph.LayerInfo, x, out string) error {
	in, err := e.weightBias(li, x)
	if err != nil {
		return err
	}
	dh, dw := l.Window.Dilation()
	if l.Dilation > 0 { // Conv2D.Dilation, when set, is the dilation of both axes
		dh, dw = l.Dilation, l.Dilation
	}
	w := l.Window
	e.node("Conv", li.Name, in, out,
		intsAttr("kernel_shape", w.KH, w.KW), intsAttr("strides", w.SH, w.SW),
		intsAttr("pads", w.PH, w.PW, w.PH, w.PW), intsAttr("dilations", dh, dw),
		intAttr("group", max(l.Groups, 1)))
	return nil
}

// convTranspose is ConvTranspose with the window, dilation and output
// padding of the layer.
func (e *exporter) convTranspose(l graph.ConvTranspose2D, li graph.LayerInfo, x, out string) error {
	in, err := e.weightBias(li, x)
	if err != nil {
		return err
	}
	w := l.Window
	dh, dw := w.Dilation()
	e.node("ConvTranspose", li.Name, in, out,
		intsAttr("kernel_shape", w.KH, w.KW), intsAttr("strides", w.SH, w.SW),
		intsAttr("pads", w.PH, w.PW, w.PH, w.PW), intsAttr("dilations", dh, dw),
		intsAttr("output_padding", l.OutputPadding[0], l.OutputPadding[1]), intAttr("group", 1))
	return nil
}

// weightBias returns the inputs of a Gemm, Conv or ConvTranspose node: x,
// the weight, and the bias if the layer has one.
func (e *exporter) weightBias(li graph.LayerInfo, x string) ([]string, error) {
	w, err := e.params(li, "W")
	if err != nil {
		return nil, err
	}
	in := []string{x, w[0]}
	if b, ok := e.param(li, "b"); ok {
		in = append(in, b)
	}
	return in, nil
}

// poolAttrs are the attributes of MaxPool and AveragePool: Retina's
// output sizes round down (ceil_mode 0).
func poolAttrs(w ops.Window) []attribute {
	return []attribute{intsAttr("kernel_shape", w.KH, w.KW), intsAttr("strides", w.SH, w.SW),
		intsAttr("pads", w.PH, w.PW, w.PH, w.PW), intAttr("ceil_mode", 0)}
}

// upsample is Resize with scales (1, 1, SH, SW), nearest neighbour: with
// asymmetric coordinates and floor, output cell (i, j) reads input cell
// (⌊i/SH⌋, ⌊j/SW⌋), as ops.Upsample2D repeats each cell.
func (e *exporter) upsample(l graph.Upsample2D, li graph.LayerInfo, x, out string) {
	sh, sw := l.ScaleH, l.ScaleW
	if sh == 0 {
		sh = l.Scale
	}
	if sw == 0 {
		sw = l.Scale
	}
	scales := e.floatConstant(li.Name+"/scales", 1, 1, float32(sh), float32(sw))
	e.node("Resize", li.Name, []string{x, "", scales}, out,
		stringAttr("mode", "nearest"), stringAttr("coordinate_transformation_mode", "asymmetric"),
		stringAttr("nearest_mode", "floor"))
}

// reshape is Reshape to (0, To…): 0 keeps the batch dimension.
func (e *exporter) reshape(l graph.Reshape, li graph.LayerInfo, x, out string) error {
	shape := []int{0}
	for _, d := range l.To {
		if d < 1 {
			return errors.Errorf("onnx: layer %q (%s): To = %v, want positive sizes", li.Name, li.Layer.Kind(), l.To)
		}
		shape = append(shape, d)
	}
	e.node("Reshape", li.Name, []string{x, e.intConstant(li.Name+"/shape", shape...)}, out)
	return nil
}

// globalAvgPool is GlobalAveragePool, (N, C, H, W) → (N, C, 1, 1), then
// Flatten to (N, C).
func (e *exporter) globalAvgPool(li graph.LayerInfo, x, out string) {
	pooled := e.unique(li.Name + "/pool")
	e.node("GlobalAveragePool", pooled, []string{x}, pooled)
	e.node("Flatten", li.Name, []string{pooled}, out, intAttr("axis", 1))
}

// silu is x·σ(x): Sigmoid, then Mul by x.
func (e *exporter) silu(li graph.LayerInfo, x, out string) {
	sig := e.unique(li.Name + "/sigmoid")
	e.node("Sigmoid", sig, []string{x}, sig)
	e.node("Mul", li.Name, []string{x, sig}, out)
}

// gelu is x·Φ(x) = x·(1 + erf(x/√2))·0.5, as PyTorch exports GELU for
// opsets without a Gelu operator.
func (e *exporter) gelu(li graph.LayerInfo, x, out string) {
	p := li.Name + "/"
	sqrt2, one, half := e.scalar(p+"sqrt2", math.Sqrt2), e.scalar(p+"one", 1), e.scalar(p+"half", 0.5)
	div, erf, add, mul := e.unique(p+"div"), e.unique(p+"erf"), e.unique(p+"add"), e.unique(p+"mul")
	e.node("Div", div, []string{x, sqrt2}, div)
	e.node("Erf", erf, []string{div}, erf)
	e.node("Add", add, []string{erf, one}, add)
	e.node("Mul", mul, []string{x, add}, mul)
	e.node("Mul", li.Name, []string{mul, half}, out)
}

// batchNorm is BatchNormalization in inference mode: the running
// statistics normalise, as in Retina's evaluation graphs.
func (e *exporter) batchNorm(l graph.BatchNorm, li graph.LayerInfo, x, out string) error {
	ps, err := e.params(li, "gamma", "beta", "running_mean", "running_var")
	if err != nil {
		return err
	}
	e.node("BatchNormalization", li.Name, append([]string{x}, ps...), out,
		floatAttr("epsilon", orDefault(l.Eps, 1e-5)))
	return nil
}

// layerNorm is LayerNormalization over every per-sample axis (axis 1).
func (e *exporter) layerNorm(l graph.LayerNorm, li graph.LayerInfo, x, out string) error {
	ps, err := e.params(li, "gamma", "beta")
	if err != nil {
		return err
	}
	e.node("LayerNormalization", li.Name, append([]string{x}, ps...), out,
		intAttr("axis", 1), floatAttr("epsilon", orDefault(l.Eps, 1e-5)))
	return nil
}
