package graph_test

import (
	"fmt"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

// The lecture's network: a 5×5 convolution with 3 feature maps, 2×2
// max-pooling, and a dense layer of 10.
func ExampleSequential_Declare() {
	m, err := graph.Sequential{
		graph.Conv2D{Maps: 3, Window: ops.Kernel(5, 5)},
		graph.ReLU{},
		graph.MaxPool2D{Window: ops.Square(2, 2, 0)},
		graph.Flatten{},
		graph.Dense{Units: 10},
	}.Declare(graph.Shape{1, 28, 28})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(m.Summary())
	// Output:
	// #  layer          output  weights  biases    MACs
	//    input     (1, 28, 28)
	// 0  conv1     (3, 24, 24)       75       3  43,200
	// 1  relu1     (3, 24, 24)        0       0       0
	// 2  pool1     (3, 12, 12)        0       0       0
	// 3  flatten1        (432)        0       0       0
	// 4  dense1           (10)    4,320      10   4,320
	//    total                    4,395      13  47,520
	// parameters: 4,408
}

func ExampleSequential_Declare_error() {
	_, err := graph.Sequential{
		graph.Conv2D{Maps: 20, Window: ops.Kernel(5, 5)},
		graph.Dense{Units: 10},
	}.Declare(graph.Shape{1, 28, 28})
	fmt.Println(err)
	// Output:
	// graph: layer 1 (dense1): input (20, 24, 24): want a vector (features): add Flatten before it
}

// A residual block, relu(x + conv(relu(conv(x)))), declared as a function.
func ExampleFunc() {
	block := func(s *graph.Scope, x *graph.Value) *graph.Value {
		h := s.Apply(graph.Conv2D{Maps: 8, Window: ops.Square(3, 1, 1), Init: graph.HeUniform}, x)
		h = s.Apply(graph.ReLU{}, h)
		h = s.Apply(graph.Conv2D{Maps: 8, Window: ops.Square(3, 1, 1)}, h)
		return s.Apply(graph.ReLU{}, s.Apply(graph.Add{}, x, h))
	}
	m, err := graph.Func([]graph.Shape{{8, 14, 14}}, func(s *graph.Scope, in []*graph.Value) []*graph.Value {
		return []*graph.Value{block(s.Sub("block1"), in[0])}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(m.Summary())
	// Output:
	// #  layer              output  weights  biases     MACs  inputs
	//    input         (8, 14, 14)
	// 0  block1/conv1  (8, 14, 14)      576       8  112,896  input
	// 1  block1/relu1  (8, 14, 14)        0       0        0  block1/conv1
	// 2  block1/conv2  (8, 14, 14)      576       8  112,896  block1/relu1
	// 3  block1/add1   (8, 14, 14)        0       0        0  input, block1/conv2
	// 4  block1/relu2  (8, 14, 14)        0       0        0  block1/add1
	//    total                        1,152      16  225,792
	// outputs: block1/relu2
	// parameters: 1,168
}
