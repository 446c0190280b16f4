// Package ops holds Retina's own Gorgonia operations: 2-D convolution,
// max- and average-pooling, a fused dense layer, activations, losses,
// dropout and reshaping, each with its gradient expressed as further ops.
//
// Every op implements gorgonia.Op, gorgonia.SDOp (so gorgonia.Grad and the
// TapeMachine can differentiate it), gorgonia.ADOp (for the LispMachine)
// and gorgonia.UsePreallocDoer, for float32 and float64 tensors.
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
