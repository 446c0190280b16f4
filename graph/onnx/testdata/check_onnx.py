"""Checks ONNX files written by Retina's graph/onnx tests.

Usage: python3 check_onnx.py MODEL.onnx...

For each file, onnx.checker.check_model with full_check=True (which also
runs strict shape inference) and onnx.shape_inference.infer_shapes in
strict mode with type checks: every node's inputs must fit its operator at
opset 17, and every declared shape (inputs, outputs and the value_info of
each layer's output) must agree with the inferred one. Prints one line per
file and exits non-zero at the first failure.
"""
import sys

import onnx


def check(path):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(
        model, check_type=True, strict_mode=True, data_prop=True)
    opsets = {o.domain: o.version for o in model.opset_import}
    g = inferred.graph
    outs = []
    for o in g.output:
        dims = [d.dim_param or str(d.dim_value) for d in o.type.tensor_type.shape.dim]
        outs.append("%s(%s)" % (o.name, ",".join(dims)))
    print("%s: ok, ir %d, opset %s, %d nodes, %d initializers, outputs %s" % (
        path, model.ir_version, opsets.get(""), len(g.node), len(g.initializer), " ".join(outs)))


def main(paths):
    if not paths:
        sys.exit("usage: check_onnx.py MODEL.onnx...")
    for path in paths:
        try:
            check(path)
        except Exception as e:  # report which file failed, then fail
            sys.exit("%s: %s: %s" % (path, type(e).__name__, e))


if __name__ == "__main__":
    main(sys.argv[1:])
