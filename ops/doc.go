// Package ops holds Retina's own Gorgonia operations: 2-D convolution,
// max- and average-pooling, a fused dense layer, activations, losses,
// dropout, reshaping, and the sum (Add) and concatenation (Concat) of
// several nodes, each with its gradient expressed as further ops.
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
