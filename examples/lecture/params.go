package main

import (
	"fmt"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/models/mlp"
)

// The lecture's figures for weight sharing (slide 9): "(28×28)×100 = 78400
// to 3×(24×24) = 1728 weights, so 45-fold".
const (
	lectureDenseWeights = 78400
	lectureConvWeights  = 1728
	lectureFold         = 45
)

// paramMetrics are the parameter counts of section 1, all read from the
// models' summaries.
type paramMetrics struct {
	DenseInputHiddenWeights  int64 `json:"dense_input_hidden_weights"`
	DenseInputHiddenBiases   int64 `json:"dense_input_hidden_biases"`
	DenseHidden              int64 `json:"dense_hidden_neurons"`
	DenseHiddenOutputWeights int64 `json:"dense_hidden_output_weights"`
	DenseWeights             int64 `json:"dense_weights"`
	DenseBiases              int64 `json:"dense_biases"`
	DenseParams              int64 `json:"dense_params"`
	DenseInputHiddenMACs     int64 `json:"dense_input_hidden_connections"`

	ConvWeights       int64 `json:"seedcnn_conv_weights"`
	ConvBiases        int64 `json:"seedcnn_conv_biases"`
	ConvHidden        int64 `json:"seedcnn_hidden_neurons"`
	ConvHiddenPerMap  int64 `json:"seedcnn_hidden_neurons_per_map"`
	ConvFilterShape   []int `json:"seedcnn_filter_shape"`
	ConvShape         []int `json:"seedcnn_conv_output_shape"`
	PoolShape         []int `json:"seedcnn_pool_output_shape"`
	ConvConnections   int64 `json:"seedcnn_conv_connections"`
	SeedCNNOutWeights int64 `json:"seedcnn_output_weights"`
	SeedCNNWeights    int64 `json:"seedcnn_weights"`
	SeedCNNBiases     int64 `json:"seedcnn_biases"`
	SeedCNNParams     int64 `json:"seedcnn_params"`
	LeNetWeights      int64 `json:"lenet_weights"`
	LeNetBiases       int64 `json:"lenet_biases"`
	LeNetParams       int64 `json:"lenet_params"`

	LectureRatio   float64 `json:"lecture_ratio_78400_over_1728"`
	TrueRatio      float64 `json:"true_ratio_weights"`
	ConnRatio      float64 `json:"connection_ratio"`
	WholeNetsRatio float64 `json:"whole_networks_ratio"`
}

// countParams declares the three networks and reads their counts.
func countParams() (paramMetrics, graph.Summary, graph.Summary, error) {
	var pm paramMetrics
	dense, err := mlp.Seed()
	if err != nil {
		return pm, graph.Summary{}, graph.Summary{}, errors.Wrap(err, "declaring 784-100-10")
	}
	seed, err := cnn.SeedCNN.Model()
	if err != nil {
		return pm, graph.Summary{}, graph.Summary{}, errors.Wrap(err, "declaring SeedCNN")
	}
	lenet, err := cnn.LeNet.Model()
	if err != nil {
		return pm, graph.Summary{}, graph.Summary{}, errors.Wrap(err, "declaring LeNet")
	}
	ds, ss, ls := dense.Summary(), seed.Summary(), lenet.Summary()

	d1, d2, err := twoRows(ds, "dense")
	if err != nil {
		return pm, ds, ss, errors.Wrap(err, "784-100-10")
	}
	pm.DenseInputHiddenWeights, pm.DenseHiddenOutputWeights = d1.Weights, d2.Weights
	pm.DenseInputHiddenBiases, pm.DenseHidden = d1.Biases, int64(d1.Output.TotalSize())
	pm.DenseInputHiddenMACs = d1.MACs
	pm.DenseWeights, pm.DenseBiases, pm.DenseParams = ds.Weights, ds.Biases, ds.Params()

	conv, err := firstRow(ss, "conv")
	if err != nil {
		return pm, ds, ss, errors.Wrap(err, "SeedCNN")
	}
	out, err := firstRow(ss, "dense")
	if err != nil {
		return pm, ds, ss, errors.Wrap(err, "SeedCNN")
	}
	pool, err := firstRow(ss, "pool")
	if err != nil {
		return pm, ds, ss, errors.Wrap(err, "SeedCNN")
	}
	w := seed.Param(conv.Name + "/W")
	if w == nil {
		return pm, ds, ss, errors.Errorf("SeedCNN: no parameter %s/W", conv.Name)
	}
	pm.ConvFilterShape = w.Value.Shape().Clone()
	pm.PoolShape = pool.Output.Clone()
	pm.ConvShape = conv.Output.Clone()
	pm.ConvWeights, pm.ConvBiases = conv.Weights, conv.Biases
	pm.ConvHidden = int64(conv.Output.TotalSize())
	pm.ConvHiddenPerMap = int64(conv.Output[1] * conv.Output[2])
	pm.ConvConnections = conv.MACs
	pm.SeedCNNOutWeights = out.Weights
	pm.SeedCNNWeights, pm.SeedCNNBiases, pm.SeedCNNParams = ss.Weights, ss.Biases, ss.Params()
	pm.LeNetWeights, pm.LeNetBiases, pm.LeNetParams = ls.Weights, ls.Biases, ls.Params()

	pm.LectureRatio = float64(pm.DenseInputHiddenWeights) / float64(pm.ConvHidden)
	pm.TrueRatio = float64(pm.DenseInputHiddenWeights) / float64(pm.ConvWeights)
	pm.ConnRatio = float64(pm.DenseInputHiddenMACs) / float64(pm.ConvConnections)
	pm.WholeNetsRatio = float64(pm.DenseParams) / float64(pm.SeedCNNParams)
	return pm, ds, ss, nil
}

// firstRow returns the first summary row of the given kind.
func firstRow(s graph.Summary, kind string) (graph.SummaryRow, error) {
	for _, r := range s.Rows {
		if r.Kind == kind {
			return r, nil
		}
	}
	return graph.SummaryRow{}, errors.Errorf("no %s layer", kind)
}

// twoRows returns the first two summary rows of the given kind.
func twoRows(s graph.Summary, kind string) (a, b graph.SummaryRow, err error) {
	var rows []graph.SummaryRow
	for _, r := range s.Rows {
		if r.Kind == kind {
			rows = append(rows, r)
		}
	}
	if len(rows) < 2 {
		return a, b, errors.Errorf("%d %s layers, want 2", len(rows), kind)
	}
	return rows[0], rows[1], nil
}

// reportParams writes section 1.
func reportParams(r *report) (paramMetrics, error) {
	pm, ds, ss, err := countParams()
	if err != nil {
		return pm, errors.Wrap(err, "parameter counts")
	}
	r.section("1. Parameter counts: dense net vs SeedCNN")
	r.para("**Lecture (slides 2, 7, 9).** The 784-100-10 dense net has 784×100 + 100×10 = 79,400 weights; "+
		"weight sharing in a 5×5 convolution with 3 feature maps \"reduced our weights from (28×28)×100 = %s to "+
		"3×(24×24) = %s weights, so %d-fold\".", commas(lectureDenseWeights), commas(lectureConvWeights), lectureFold)
	r.para("**Retina.** Both networks declared and counted by `Model.Summary()`:")
	r.printf("784-100-10 (mlp.Seed):\n\n```\n%s```\n\nSeedCNN (cnn.SeedCNN):\n\n```\n%s```\n\n", ds, ss)
	fs := pm.ConvFilterShape // (maps, channels, rows, columns)
	taps := pm.ConvConnections / pm.ConvHidden
	r.table([]string{"quantity", "dense 784-100-10", "SeedCNN"}, [][]string{
		{"input→hidden weights", commas(pm.DenseInputHiddenWeights),
			fmt.Sprintf("%s (%d filters of %d×%d×%d, shared)", commas(pm.ConvWeights), fs[0], fs[2], fs[3], fs[1])},
		{"input→hidden biases", commas(pm.DenseInputHiddenBiases), commas(pm.ConvBiases)},
		{"hidden neurons", commas(pm.DenseHidden), fmt.Sprintf("%s (%d maps × %s)", commas(pm.ConvHidden), fs[0], commas(pm.ConvHiddenPerMap))},
		{"input→hidden connections (MACs)", commas(pm.DenseInputHiddenMACs),
			fmt.Sprintf("%s (%s neurons × %d inputs)", commas(pm.ConvConnections), commas(pm.ConvHidden), taps)},
		{"hidden→output weights", commas(pm.DenseHiddenOutputWeights),
			fmt.Sprintf("%s (pooled %v → 10)", commas(pm.SeedCNNOutWeights), graph.Shape(pm.PoolShape))},
		{"all weights", commas(pm.DenseWeights), commas(pm.SeedCNNWeights)},
		{"all biases", commas(pm.DenseBiases), commas(pm.SeedCNNBiases)},
		{"all parameters", commas(pm.DenseParams), commas(pm.SeedCNNParams)},
	})
	r.para("**Retina's figures.** The lecture's %s equals the number of **hidden neurons** (the conv layer's "+
		"output shape %v = %s), not of weights: the convolution has **%s** weights (%d filters of %d×%d, each shared "+
		"by all %s positions of its map) plus %s biases. The lecture's ratio %s / %s = **%.1f** (its \"%d-fold\"); "+
		"the true reduction of input→hidden weights is %s / %s = **%s×**. Sparse connectivity alone cuts the "+
		"input→hidden connections only from %s to %s (%.2f×); weight sharing is what cuts the weights. "+
		"Whole networks: %s parameters (dense) vs %s (SeedCNN), %.1f× fewer; LeNet has %s.",
		commas(lectureConvWeights), graph.Shape(pm.ConvShape), commas(pm.ConvHidden),
		commas(pm.ConvWeights), fs[0], fs[2], fs[3], commas(pm.ConvHiddenPerMap), commas(pm.ConvBiases),
		commas(pm.DenseInputHiddenWeights), commas(pm.ConvHidden), pm.LectureRatio, lectureFold,
		commas(pm.DenseInputHiddenWeights), commas(pm.ConvWeights), commasf(pm.TrueRatio, 0),
		commas(pm.DenseInputHiddenMACs), commas(pm.ConvConnections), pm.ConnRatio,
		commas(pm.DenseParams), commas(pm.SeedCNNParams), pm.WholeNetsRatio, commas(pm.LeNetParams))
	switch {
	case pm.ConvWeights == lectureConvWeights:
		r.verdict(verdictAgrees, "The convolution has %s weights, as the lecture says.", commas(pm.ConvWeights))
	case pm.DenseInputHiddenWeights == lectureDenseWeights && pm.ConvHidden == lectureConvWeights:
		r.verdict(verdictPartly, "%s dense input→hidden weights (and %s weights in all) agree, and so does the count "+
			"%s — but it counts neurons: the convolution has %s shared weights, a %s-fold reduction, not %d-fold.",
			commas(pm.DenseInputHiddenWeights), commas(pm.DenseWeights), commas(pm.ConvHidden),
			commas(pm.ConvWeights), commasf(pm.TrueRatio, 0), lectureFold)
	default:
		r.verdict(verdictDisagrees, "Retina counts %s dense input→hidden weights, %s conv weights and %s hidden neurons.",
			commas(pm.DenseInputHiddenWeights), commas(pm.ConvWeights), commas(pm.ConvHidden))
	}
	return pm, nil
}
