package predict_test

import (
	"fmt"
	"log"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/predict"
)

// Classify new samples with a trained model and count how a labelled set
// is classified.
func Example() {
	// A classifier of 2 features into 3 classes, scores x·W + b, with
	// weights set by hand (a trained model's come from weights.Load).
	m, err := graph.Sequential{graph.Dense{Units: 3}}.Declare(graph.Shape{2})
	if err != nil {
		log.Fatal(err)
	}
	copy(m.Param("dense1/W").Value.Data().([]float32), []float32{1, 0, -1, 0, 1, -1}) // W (2, 3)

	p, err := predict.New(m, 64) // evaluation mode, up to 64 samples a batch
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	x := []float32{2, 0, 0, 3, 1, 1} // three samples of 2 features, back to back
	preds, err := p.Classify(x)
	if err != nil {
		log.Fatal(err)
	}
	for i, pr := range preds {
		fmt.Printf("sample %d: logits %v, class %d with probability %.4f %.4f\n", i, pr.Logits, pr.Class, pr.Prob, pr.Probs)
	}

	set := &datasets.Set{X: x, Shape: []int{2}, Labels: []int{0, 1, 2}, Classes: 3}
	conf, err := predict.Evaluate(p, set)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("confusion matrix (true × predicted):", conf.Matrix())
	fmt.Printf("accuracy %.4f, F1 of class 0 %.4f, macro F1 %.4f\n", conf.Accuracy(), conf.F1(0), conf.MacroF1())
	// Output:
	// sample 0: logits [2 0 -2], class 0 with probability 0.8668 [0.8668 0.1173 0.0159]
	// sample 1: logits [0 3 -3], class 1 with probability 0.9503 [0.0473 0.9503 0.0024]
	// sample 2: logits [1 1 -2], class 0 with probability 0.4879 [0.4879 0.4879 0.0243]
	// confusion matrix (true × predicted): [[1 0 0] [0 1 0] [1 0 0]]
	// accuracy 0.6667, F1 of class 0 0.6667, macro F1 0.5556
}
