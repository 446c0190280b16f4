package autoencoder

import (
	"github.com/pkg/errors"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

// Conv returns a convolutional autoencoder for 28×28 images given as 784
// values in [0, 1], with a linear code of k units, as models "encoder" and
// "decoder" called in turn (see Encoder):
//
//	encoder: (1, 28, 28) → conv 3×3 stride 2 pad 1, maps ReLU (maps, 14, 14)
//	         → conv 3×3 stride 2 pad 1, 2·maps ReLU (2·maps, 7, 7) → dense k
//	decoder: k → dense 2·maps·7·7 ReLU → (2·maps, 7, 7)
//	         → transposed conv 3×3 stride 2 pad 1 out-pad 1, maps ReLU (maps, 14, 14)
//	         → transposed conv 3×3 stride 2 pad 1 out-pad 1, 1 map (1, 28, 28)
//	         → sigmoid, as 784 values
//
// Strided convolutions downsample and transposed ones upsample, so the code
// is reached in two spatial steps instead of dense layers over all pixels.
// Weights before ReLUs are He-uniform, the others Glorot-uniform.
func Conv(maps, k int, opts ...graph.Option) (*graph.Model, error) {
	if maps < 1 || k < 1 {
		return nil, errors.Errorf("autoencoder: Conv(%d, %d): want maps and code width ≥ 1", maps, k)
	}
	down := ops.Square(3, 2, 1)
	he := graph.HeUniform
	enc := graph.Sequential{
		graph.Reshape{To: graph.Shape{1, 28, 28}},
		graph.Conv2D{Maps: maps, Window: down, Init: he}, graph.ReLU{},
		graph.Conv2D{Maps: 2 * maps, Window: down, Init: he}, graph.ReLU{},
		graph.Flatten{},
		graph.Dense{Units: k},
	}
	dec := graph.Sequential{
		graph.Dense{Units: 2 * maps * 7 * 7, Init: he}, graph.ReLU{},
		graph.Reshape{To: graph.Shape{2 * maps, 7, 7}},
		graph.ConvTranspose2D{Maps: maps, Window: down, OutputPadding: [2]int{1, 1}, Init: he}, graph.ReLU{},
		graph.ConvTranspose2D{Maps: 1, Window: down, OutputPadding: [2]int{1, 1}},
		graph.Flatten{},
		graph.Sigmoid{},
	}
	return join(784, enc, dec, k, opts)
}
