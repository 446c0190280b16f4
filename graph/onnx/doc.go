// Package onnx exports Retina models as ONNX files, for inference in ONNX
// Runtime and the other tools that read ONNX.
//
// # Exporting to ONNX
//
// Export(path, m) writes the model m to path, atomically; Write(w, m)
// writes the same bytes to w. The file holds the inference graph: the
// layers as a graph.Eval build applies them (dropout is the identity,
// batch normalisation normalises with its running statistics), with the
// model's parameters as initializers, so it computes what train.Predict
// computes:
//
//	m, err := cnn.LeNet.Model()
//	// … train m …
//	err = onnx.Export("lenet.onnx", m)
//
// The file is an ONNX ModelProto of IR version 8 with opset 17 of the
// default domain and producer "retina", readable by ONNX 1.12 and later
// and by runtimes that implement opset 17 (the tests run it in ONNX
// Runtime 1.30). It uses no operator of another domain.
//
// # Names and shapes
//
// The graph is named after the model (graph.WithName). Its inputs are
// "input", "input2", … and its outputs "output", "output2", … in the
// model's order, tensors of the model's element type: FLOAT for float32
// models, DOUBLE for float64 ones. Each has the batch as its first
// dimension, the symbolic "N", then the per-sample shape: (N, 1, 28, 28)
// for MNIST images, (N, 10) for ten logits. Every other value is named by
// the path of the layer that writes it ("conv1", "block2/bn1",
// "tower/dense1#2" for a model's second call), and declared with its
// shape (value_info); values inside a layer that becomes several nodes,
// and constants, are named "<path>/…". A name already taken (a layer named
// "output", say) gets a suffix "_1", "_2", ….
//
// The initializers are the model's tensors named and laid out as
// graph/weights saves them in safetensors files, PyTorch's state_dict
// names: conv1.weight (Maps, C/Groups, KH, KW), conv1.bias, dense1.weight
// as (out, in) — transposed from Retina's (in, out) —, block2.bn1.weight,
// block2.bn1.running_mean, …, with the same bytes. A tensor of a model
// called twice is one initializer that both applications read.
// num_batches_tracked, which inference does not use, is left out.
//
// # Layers
//
// Each layer of Retina becomes these operators; the attributes are the
// values the layer itself resolves from its fields, defaults included:
//
//	Dense            Gemm(x, weight, bias) with transB=1; without bias, Gemm(x, weight)
//	Conv2D           Conv: kernel_shape, strides, pads [PH, PW, PH, PW], dilations
//	                 (Dilation, else the Window's), group (Groups, default 1)
//	ConvTranspose2D  ConvTranspose: kernel_shape, strides, pads, dilations,
//	                 output_padding (OutputPadding), group 1
//	MaxPool2D        MaxPool: kernel_shape, strides, pads, ceil_mode 0 (sizes round down)
//	AvgPool2D        AveragePool: the same, and count_include_pad 1 (padded cells count
//	                 as zeros and the divisor is always KH·KW, as ops.AvgPool2D)
//	GlobalAvgPool2D  GlobalAveragePool, then Flatten(axis 1): (N, C, H, W) → (N, C)
//	Upsample2D       Resize(x, "", scales [1, 1, SH, SW]): mode nearest,
//	                 coordinate_transformation_mode asymmetric, nearest_mode floor
//	Flatten          Flatten(axis 1)
//	Reshape          Reshape(x, shape [0, To…]): 0 keeps the batch dimension
//	BatchNorm        BatchNormalization(x, weight, bias, running_mean, running_var):
//	                 epsilon (Eps, default 1e-5), inference mode; for (C, …) samples
//	LayerNorm        LayerNormalization(x, weight, bias): axis 1 (every per-sample
//	                 axis), epsilon (Eps, default 1e-5)
//	ReLU, Sigmoid, Tanh, Softplus  Relu, Sigmoid, Tanh, Softplus
//	Softmax          Softmax(axis 1): over the K scores of (N, K)
//	LeakyReLU        LeakyRelu: alpha (Slope, default 0.01)
//	ELU              Elu: alpha (Alpha, default 1)
//	GELU             x·(1 + erf(x/√2))·0.5 as Div, Erf, Add, Mul, Mul (opset 17 has
//	                 no Gelu)
//	SiLU             Sigmoid, then Mul by x
//	Linear, Dropout  Identity
//	Add              Add for two inputs, Sum for more
//	Concat           Concat: axis = Axis + 1 (after the batch dimension)
//
// A model output that is a model input, or a value the model returns
// twice, goes through an Identity node. Float attributes (epsilon, alpha)
// are float32, as ONNX defines them, in float64 models too. Softplus has
// no threshold in ONNX: above 20, where Retina returns x, ONNX computes
// log(1 + eˣ), which differs by less than 2.1·10⁻⁹.
//
// # Errors
//
// Errors begin "onnx: ". A layer of any other type — a user's own
// implementation of graph.Layer, or a pointer to a layer — has no ONNX
// form, and the export fails naming it by path and kind:
//
//	onnx: layer "block1/swish1" (swish) has no ONNX form
//
// So does a model whose dtype is neither float32 nor float64, a layer
// named like a model input ("input"), two tensors that map to one PyTorch
// name, and a model over the 2 GiB a protobuf message may hold (ONNX's
// external data is not written). The whole model is converted before
// anything is written: on error Export creates no file and leaves an
// existing one as it was, and Write writes nothing.
package onnx
