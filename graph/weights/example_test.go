package weights_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/graph/weights"
)

// Save a model's weights under PyTorch's names and load them into a fresh
// model of the same architecture.
func Example() {
	layers := graph.Sequential{graph.Dense{Units: 3}, graph.ReLU{}, graph.Dense{Units: 2}}
	trained, err := layers.Declare(graph.Shape{4}, graph.WithSeed(1))
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "weights")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")
	if err := weights.Save(path, trained); err != nil { // dense1.weight (3, 4), dense1.bias (3), dense2.…
		log.Fatal(err)
	}

	fresh, err := layers.Declare(graph.Shape{4}, graph.WithSeed(2))
	if err != nil {
		log.Fatal(err)
	}
	if err := weights.Load(path, fresh); err != nil {
		log.Fatal(err)
	}
	w := fresh.Param("dense1/W").Value
	fmt.Println(w.Shape(), w.Data().([]float32)[0] == trained.Param("dense1/W").Value.Data().([]float32)[0])
	fmt.Printf("%.4f\n", w.Data().([]float32)[0])
	// Output:
	// (4, 3) true
	// -0.4843
}
