// Package ops holds Retina's own Gorgonia operations, each with its
// gradient expressed as further ops:
//
//   - convolution: Conv2D (fused bias and activation; unrolled chunks of
//     images and matrix multiplies, or, for float32 5×5 filters of stride
//     1 without padding over at least 8 channels, output sides multiples
//     of 4 and batches of at least 32, on AVX-512, Winograd's F(4×4, 5×5),
//     which rounds differently), ConvGrouped
//     (dilation, groups, depthwise), ConvTranspose2D;
//   - pooling and resampling: MaxPool2D (MaxPool2DReLU: of ReLU(x), in one
//     pass), AvgPool2D, GlobalAvgPool2D, Upsample2D (nearest);
//   - Dense (matmul, bias and activation fused);
//   - normalisation: BatchNorm (running statistics as BatchNormState;
//     BatchNormAct with a fused activation), LayerNorm;
//   - activations: Activate (ReLU, sigmoid, tanh), LeakyReLU, ELU, GELU,
//     SiLU, Softplus, Softmax;
//   - losses: SoftmaxCrossEntropy, SigmoidCrossEntropy, MSE;
//   - Dropout, Reshape, and the sum (Add; AddAct with a fused activation)
//     and concatenation (Concat) of several nodes.
//
// Their semantics are PyTorch's; the tests compare each with reference
// vectors PyTorch computed (ops/testdata/torch_ref_*.py write them).
//
// Every op is written one way, as a Def: a name, input and output shapes,
// a kernel per dtype (float32, float64) and a gradient program of further
// Defs (see Grad). Def.Apply makes it an op that implements gorgonia.Op,
// gorgonia.SDOp (so gorgonia.Grad and the TapeMachine can differentiate
// it), gorgonia.ADOp (for the LispMachine) and gorgonia.UsePreallocDoer.
// A user's op is written the same way (see examples/custom-op).
//
// # Layout
//
// Images are (N, C, H, W): batch, channels (feature maps), rows, columns,
// row-major. Filters are (F, C, KH, KW). Dense inputs are (N, features).
//
// # Buffers
//
// An op owns the buffer its Do returns and reuses it on the next call, so a
// training step allocates nothing once warm. The value returned by Do is
// therefore valid only until the op runs again: copy it (or use
// gorgonia.Read) to keep it. This is the same contract as the TapeMachine's
// registers. Create a new op for each node; the constructors here do.
//
// # Errors
//
// The constructors (Conv2D, MaxPool2D, …) check ranks, shapes, strides and
// padding when the graph is built and return an error that states them,
// rather than letting Gorgonia panic later.
//
// Package ops/opcheck checks any op, ours or a user's, against finite
// differences.
package ops
